package tests

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
)

const (
	faultEntities = 40
	faultPerSeed  = 600 // events per seed, a quarter of them sent twice
	faultChunks   = 6
)

// faultPlatform is one platform of `lambda up --roles` processes: the broker, the
// archiver with the forwarder, two API replicas and two speed processes.
type faultPlatform struct {
	t        *testing.T
	ctx      context.Context
	pool     *pgxpool.Pool
	env      []string
	broker   *process
	brokers  string
	archiver *process // with the forwarder
	apis     []*process
	urls     []string
	speeds   []*process
}

// TestFaultsAtScale SIGKILLs, for each of 3 seeds and at seed-chosen points, one of
// two speed processes (then restarts it), one of two API replicas (then restarts it,
// while readers read from the other and see no 5xx) and one worker of a 2-shard batch
// run (the run fails and publishes nothing; a retried run publishes). Events go in
// with duplicates. After each seed, every entity's answer from both replicas equals
// the fold of its unique events (nothing lost, nothing counted twice). The fault
// matrix is logged.
func TestFaultsAtScale(t *testing.T) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	f, p, model := newFaultPlatform(t, ctx)
	var matrix []string
	for seed := uint64(1); seed <= 3; seed++ {
		rng := rand.New(rand.NewPCG(seed, 15))
		speedAt, apiAt := rng.IntN(faultChunks), rng.IntN(faultChunks)
		speedVictim, apiVictim := rng.IntN(2), rng.IntN(2)
		gen := demogen.New(demogen.Config{Entities: faultEntities, Seed: int64(100 + seed), Start: time.Now().Add(-time.Hour), EventsPerSecond: 2})
		evs := take(gen, faultPerSeed)
		size := len(evs) / faultChunks
		var speedOutcome, apiOutcome string
		for c := range faultChunks {
			f.send(p, evs[c*size:(c+1)*size], c)
			if c == speedAt {
				speedOutcome = f.killSpeed(speedVictim)
			}
			if c == apiAt {
				apiOutcome = f.killAPI(apiVictim)
			}
		}
		f.waitCaughtUp()
		for i, api := range f.urls {
			p.checkAnswers(api, model, fmt.Sprintf("seed %d, API replica %d, speed layer after the kills", seed, i+1))
		}
		shardOutcome := f.killShardWorker(rng)
		for i, api := range f.urls {
			p.checkAnswers(api, model, fmt.Sprintf("seed %d, API replica %d, after the retried run", seed, i+1))
		}
		matrix = append(matrix,
			matrixLine(fmt.Sprintf("speed process %d SIGKILL after chunk %d/%d", speedVictim+1, speedAt+1, faultChunks), seed, speedOutcome),
			matrixLine(fmt.Sprintf("API replica %d SIGKILL after chunk %d/%d", apiVictim+1, apiAt+1, faultChunks), seed, apiOutcome),
			matrixLine("shard worker SIGKILL mid-run", seed, shardOutcome))
	}
	logMatrix(t, p, matrix, began)
}

// newFaultPlatform migrates fresh databases (on the servers LAMBDA_POSTGRES_URL and
// LAMBDA_CLICKHOUSE_ADDR name), trains and activates a model, starts the platform's
// processes and waits until both API replicas are ready. It returns the platform,
// producers on its broker and the active model.
func newFaultPlatform(t *testing.T, ctx context.Context) (*faultPlatform, *producers, *inference.Model) {
	t.Helper()
	pool, env, _ := freshPlatform(t)
	env = append(env, "LAMBDA_MODEL="+e2eModel, "LAMBDA_SPEED_SESSION_TIMEOUT=6s", "LAMBDA_METRICS_ADDR=127.0.0.1:0")
	run(t, ctx, env, "migrate")
	run(t, ctx, env, "model", "train", "--activate", "--events", "20000", "--entities", strconv.Itoa(faultEntities))
	model := activeModel(t, ctx, pool)

	f := &faultPlatform{t: t, ctx: ctx, pool: pool}
	f.broker = start(t, env, "up", "--roles", "broker")
	f.brokers = f.broker.waitLine(t, "kafka", 30*time.Second)
	f.env = append(env, "LAMBDA_KAFKA_EMBEDDED_ADDR="+f.brokers)
	f.archiver = start(t, f.env, "up", "--roles", "archiver,forwarder")
	for range 2 {
		f.apis = append(f.apis, start(t, f.env, "up", "--roles", "api"))
		f.speeds = append(f.speeds, start(t, f.env, "up", "--roles", "speed"))
	}
	f.urls = make([]string, 2)
	for i := range f.apis {
		f.urls[i] = f.waitReady(f.apis[i])
	}
	p := &producers{t: t, ctx: ctx, brokers: f.brokers, unique: map[string]map[string]event.Event{}}
	return f, p, model
}

// send sends chunk c of a stream: half of it over REST, one quarter to each replica
// (which replica takes which quarter alternates with c), the other half with
// kafka-go's round-robin Writer, and a quarter of it once more (duplicates).
func (f *faultPlatform) send(p *producers, part []event.Event, c int) {
	p.rest(f.urls[c%2], every(part, 0))
	p.rest(f.urls[(c+1)%2], every(part, 1))
	p.kafkaGo(append(every(part, 2), every(part, 3)...), false)
	p.kafkaGo(every(part, c%4), false)
}

// matrixLine is one row of a fault matrix: the fault, the seed, the outcome.
func matrixLine(fault string, seed uint64, outcome string) string {
	return fmt.Sprintf("%-42s| seed %d | %s; answers = fold", fault, seed, outcome)
}

// logMatrix logs a fault matrix with the events it ran on and the test's time so far.
func logMatrix(t *testing.T, p *producers, matrix []string, began time.Time) {
	t.Logf("fault matrix (fault | seed | outcome), %d unique events of %d entities, in %s:\n%s",
		countUnique(p.unique), len(p.unique), time.Since(began).Round(100*time.Millisecond), strings.Join(matrix, "\n"))
}

func countUnique(unique map[string]map[string]event.Event) int {
	n := 0
	for _, evs := range unique {
		n += len(evs)
	}
	return n
}

// waitReady waits for an API replica to listen and be ready, and returns its URL.
func (f *faultPlatform) waitReady(api *process) string {
	url := api.waitLine(f.t, "api", time.Minute)
	testenv.WaitFor(f.t, time.Minute, url+"/readyz = 200", func() bool { code, _ := get(f.t, url+"/readyz"); return code == http.StatusOK })
	return url
}

// waitCaughtUp waits until the forwarder, the speed layer and the archiver have
// committed every event.
func (f *faultPlatform) waitCaughtUp() {
	waitCommittedFor(f.t, f.ctx, f.brokers, anyForwarder, 30*time.Second)
	waitCommittedFor(f.t, f.ctx, f.brokers, e2eSpeed, 45*time.Second)
	waitCommittedFor(f.t, f.ctx, f.brokers, e2eArchiver, 30*time.Second)
}

// killSpeed SIGKILLs speed process i and starts another in its place.
func (f *faultPlatform) killSpeed(i int) string {
	f.speeds[i].kill(f.t)
	f.speeds[i] = start(f.t, f.env, "up", "--roles", "speed")
	return "restarted"
}

// killAPI SIGKILLs API replica i and starts another in its place while readers read
// from the other replica, which must answer every read.
func (f *faultPlatform) killAPI(i int) string {
	live := f.urls[1-i]
	var reads, bad atomic.Int64
	var firstBad atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				url := fmt.Sprintf("%s/v1/entities/user-%06d/prediction", live, (r*7+n)%faultEntities)
				resp, err := http.Get(url)
				reads.Add(1)
				if err != nil || resp.StatusCode >= 500 {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, fmt.Sprintf("GET %s: %v %v", url, err, resp))
				}
				if err == nil {
					_ = resp.Body.Close()
				}
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	f.apis[i].kill(f.t)
	f.apis[i] = start(f.t, f.env, "up", "--roles", "api")
	f.urls[i] = f.waitReady(f.apis[i])
	close(stop)
	wg.Wait()
	if bad.Load() > 0 {
		f.t.Errorf("%d of %d reads from the live replica failed while the other was down; first: %v", bad.Load(), reads.Load(), firstBad.Load())
	}
	return fmt.Sprintf("restarted; %d reads from the other replica, %d failed", reads.Load(), bad.Load())
}

// killShardWorker runs `lambda batch run --shards 2 --workers external` with two
// `lambda batch worker` processes and SIGKILLs one of them a seed-chosen moment after
// it claimed its shard: the run fails and the served run stays; a retried run
// publishes and both replicas serve it.
func (f *faultPlatform) killShardWorker(rng *rand.Rand) string {
	t, ctx := f.t, f.ctx
	served := f.servedRun()
	victim, delay := rng.IntN(2), time.Duration(rng.IntN(30))*time.Millisecond
	kafka := "--kafka-brokers=" + f.brokers
	coordinator := start(t, f.env, "batch", "run", "--shards", "2", "--workers", "external", kafka)
	var id int64
	testenv.WaitFor(t, time.Minute, "the run to record its shards", func() bool {
		return f.pool.QueryRow(ctx, "SELECT run_id FROM batch_run_shards WHERE shard = 1 AND run_id > $1", served).Scan(&id) == nil
	})
	runFlag := "--run=" + strconv.FormatInt(id, 10)
	workers := []*process{
		start(t, f.env, "batch", "worker", runFlag, "--shard", "0/2", kafka),
		start(t, f.env, "batch", "worker", runFlag, "--shard", "1/2", kafka),
	}
	testenv.WaitFor(t, time.Minute, fmt.Sprintf("shard %d to be claimed", victim), func() bool {
		var status string
		return f.pool.QueryRow(ctx, "SELECT status FROM batch_run_shards WHERE run_id = $1 AND shard = $2", id, victim).Scan(&status) == nil &&
			status != string(runs.ShardPending)
	})
	time.Sleep(delay)
	if err := workers[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for _, w := range workers {
		<-w.done
	}
	coordErr := <-coordinator.done
	r, err := runs.Get(ctx, f.pool, id)
	if err != nil {
		t.Fatal(err)
	}
	now := f.servedRun()
	outcome := fmt.Sprintf("shard %d killed %s after its claim: run %d %s", victim, delay, id, r.Status)
	switch {
	case r.Status == runs.StatusFailed:
		if coordErr == nil || now != served {
			t.Errorf("run %d failed, but lambda batch run returned %v and run %d is published, want %d", id, coordErr, now, served)
		}
		outcome += ", nothing published"
	case r.Status == runs.StatusPublished: // the worker had finished its shard before the kill
		outcome += " (the shard ended before the kill)"
	default:
		t.Fatalf("run %d is %s after its worker's kill: %s", id, r.Status, r.Error)
	}
	retried := publishedRun(t, ctx, f.pool, run(t, ctx, f.env, "batch", "run", "--shards", "2", kafka))
	f.waitServed(retried.ID)
	return outcome + fmt.Sprintf("; retried run %d published %d entities", retried.ID, retried.EntitiesScored)
}

// servedRun is the id of the published run readers use, 0 for none.
func (f *faultPlatform) servedRun() int64 {
	r, err := runs.Published(f.ctx, f.pool)
	if errors.Is(err, runs.ErrNoPublished) {
		return 0
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return r.ID
}
