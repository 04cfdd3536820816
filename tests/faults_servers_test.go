package tests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/internal/testenv"
)

const (
	serverSeed     = 15  // of the event stream
	serverChunk    = 100 // events per chunk, a quarter of them sent twice
	pgDowntime     = 3 * time.Second
	chDowntime     = 2 * time.Second
	serverRecovery = 20 * time.Second // patience for reads to succeed again once a server is back
)

// TestServerRestarts (issue 15) runs the platform of TestFaultsAtScale on a
// PostgreSQL and a ClickHouse of its own and restarts them under load:
//
//   - PostgreSQL stopped immediately (a crash: connections cut, no checkpoint) and
//     started again after 3 s, while events flow in through REST and Kafka and readers
//     read from both API replicas. Reads may fail while it is down and both replicas
//     report not ready; once it is back every process reconnects by itself, reads
//     succeed again and readiness turns green (the recovery time is logged).
//   - ClickHouse SIGKILLed during a single and a 2-shard batch run, with events
//     arriving while it is down, and started again 2 s later. The run fails (or, had it
//     finished its ClickHouse work, publishes complete); the served run does not
//     change until a complete run publishes, and reads never fail (ClickHouse is not
//     on the read path).
//   - PostgreSQL stopped immediately during a batch run and started again after 3 s:
//     the run fails or publishes a complete view, and is never left marked running.
//
// Afterwards the master dataset holds every home message of the log (each log
// position once, however often the archiver retried) and every unique event, a
// later run publishes, and every entity's answer from both replicas equals the fold
// of its unique events: nothing lost, nothing counted twice.
func TestServerRestarts(t *testing.T) {
	began := time.Now()
	pg, ch := testenv.StartPostgres(t), testenv.StartClickHouse(t)
	t.Setenv(store.EnvPostgresURL, pg.URL)
	t.Setenv(store.EnvClickHouseAddr, ch.Addr)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	f, p, model := newFaultPlatform(t, ctx)
	gen := demogen.New(demogen.Config{Entities: faultEntities, Seed: serverSeed, Start: time.Now().Add(-time.Hour), EventsPerSecond: 2})
	chunk := 0
	next := func() {
		f.send(p, take(gen, serverChunk), chunk)
		chunk++
	}

	matrix := []string{matrixLine(fmt.Sprintf("PostgreSQL immediate stop, %s down", pgDowntime), serverSeed, f.restartPostgres(pg, next))}
	f.waitCaughtUp()
	for i, api := range f.urls {
		p.checkAnswers(api, model, fmt.Sprintf("API replica %d, speed layer after the PostgreSQL restart", i+1))
	}
	f.publish()
	for shards := 1; shards <= 2; shards++ {
		next()
		kind := "single"
		if shards > 1 {
			kind = fmt.Sprintf("%d-shard", shards)
		}
		fault := fmt.Sprintf("ClickHouse SIGKILL, %s run, %s down", kind, chDowntime)
		matrix = append(matrix, matrixLine(fault, serverSeed, f.killClickHouseMidRun(ch, shards, next)))
	}
	matrix = append(matrix, matrixLine(fmt.Sprintf("PostgreSQL immediate stop mid-run, %s down", pgDowntime), serverSeed, f.restartPostgresMidRun(pg)))
	f.waitCaughtUp()
	matrix = append(matrix, matrixLine("(master dataset after the kills)", serverSeed, f.checkArchive(p)))
	matrix = append(matrix, matrixLine("(batch run after the kills)", serverSeed, f.publish()+"; "+f.checkNoFailedViews()))
	for i, api := range f.urls {
		p.checkAnswers(api, model, fmt.Sprintf("API replica %d, after a run following the ClickHouse kills", i+1))
	}
	logMatrix(t, p, matrix, began)
}

// restartPostgres stops PostgreSQL immediately while chunks of events go in, starts it
// again after pgDowntime, and waits until reads from both replicas succeed and both
// are ready again. It returns what readers and readiness saw.
func (f *faultPlatform) restartPostgres(pg *testenv.PrivatePostgres, next func()) string {
	t := f.t
	reads := f.probe("/v1/entities/user-%06d/prediction")
	ready := f.probe("/readyz")
	next()
	down := time.Now()
	pg.StopImmediate(t)
	next()
	time.Sleep(time.Until(down.Add(pgDowntime)))
	restart := time.Now()
	pg.Start(t)
	up := time.Now()
	next()
	testenv.Eventually(t, serverRecovery, "reads and readiness of both replicas to succeed for 2 s", func() error {
		for _, pr := range []*probe{reads, ready} {
			if !pr.cleanFor(2 * time.Second) {
				return fmt.Errorf("last failure: %s", pr.lastFailure())
			}
		}
		return nil
	})
	reads.stop()
	ready.stop()
	for i := range f.urls {
		if ready.failedOf(i, down, up.Add(serverRecovery)) == 0 {
			t.Errorf("API replica %d stayed ready while PostgreSQL was down", i+1)
		}
	}
	outcome := fmt.Sprintf("down %s, accepting %s after its start; %d reads: %d failed while down, %d after; "+
		"last failed read %s and both /readyz red, then green %s after the start",
		restart.Sub(down).Round(10*time.Millisecond), up.Sub(restart).Round(10*time.Millisecond), reads.count(),
		reads.failed(down, up), reads.failed(up, time.Now()), reads.recovered(restart), ready.recovered(restart))
	t.Logf("PostgreSQL restart: %s (first failure: %s)", outcome, reads.firstFailure())
	return outcome
}

// killClickHouseMidRun starts a batch run with shards shards, SIGKILLs ClickHouse once
// the run has recorded its cutoff (it then reads, folds, scores and writes), sends
// events while it is down and starts it again after chDowntime. The run must fail and
// leave the served run in place, or publish a complete view; reads from both replicas
// never fail meanwhile.
func (f *faultPlatform) killClickHouseMidRun(ch *testenv.PrivateClickHouse, shards int, next func()) string {
	t := f.t
	reads := f.probe("/v1/entities/user-%06d/prediction")
	run := f.startRun(shards)
	retried := f.archiver.count(archiverRetryLine)
	ch.Kill(t)
	killed := time.Now()
	next()
	time.Sleep(time.Until(killed.Add(chDowntime)))
	ch.Start(t)
	outcome := f.endRun(run, "ClickHouse's kill")
	reads.stop()
	if n := reads.failed(time.Time{}, time.Now()); n > 0 {
		t.Errorf("%d of %d reads failed while ClickHouse was down; first: %s", n, reads.count(), reads.firstFailure())
	}
	return outcome + fmt.Sprintf("; archiver retried %d inserts; %d reads, none failed", f.archiver.count(archiverRetryLine)-retried, reads.count())
}

// restartPostgresMidRun starts a batch run, stops PostgreSQL immediately once the run
// has recorded its cutoff and starts it again after pgDowntime. The run must fail and
// leave the served run in place, or publish a complete view (it retries recording its
// end until PostgreSQL is back); it must not be left marked running.
func (f *faultPlatform) restartPostgresMidRun(pg *testenv.PrivatePostgres) string {
	run := f.startRun(1)
	down := time.Now()
	pg.StopImmediate(f.t)
	time.Sleep(time.Until(down.Add(pgDowntime)))
	pg.Start(f.t)
	outcome := f.endRun(run, "PostgreSQL's restart")
	return outcome + fmt.Sprintf("; its end recorded after %d retries", run.proc.count("batch run registry unavailable, retrying"))
}

// faultyRun is a `lambda batch run` under a fault.
type faultyRun struct {
	proc   *process
	id     int64
	served int64 // the run served when it started
}

// startRun starts `lambda batch run --shards shards` and waits until the run has
// recorded its cutoff: its read is planned.
func (f *faultPlatform) startRun(shards int) faultyRun {
	t, ctx := f.t, f.ctx
	r := faultyRun{served: f.servedRun()}
	var last int64
	if err := f.pool.QueryRow(ctx, "SELECT coalesce(max(id), 0) FROM batch_runs").Scan(&last); err != nil {
		t.Fatal(err)
	}
	r.proc = start(t, f.env, "batch", "run", "--shards", fmt.Sprint(shards), "--kafka-brokers="+f.brokers)
	testenv.WaitFor(t, time.Minute, "the batch run to record its cutoff", func() bool {
		return f.pool.QueryRow(ctx, "SELECT id FROM batch_runs WHERE id > $1 AND cutoff_offsets <> '{}'", last).Scan(&r.id) == nil
	})
	return r
}

// endRun waits for the run's process to exit and checks that the run failed (the
// process exits non-zero, both replicas still serve the run served before) or
// published a complete view; fault names the fault for messages.
func (f *faultPlatform) endRun(run faultyRun, fault string) string {
	t := f.t
	var runErr error
	select {
	case runErr = <-run.proc.done:
	case <-time.After(time.Minute):
		t.Fatalf("lambda batch run %d still runs a minute after %s", run.id, fault)
	}
	r, err := runs.Get(f.ctx, f.pool, run.id)
	if err != nil {
		t.Fatal(err)
	}
	outcome := fmt.Sprintf("run %d %s", run.id, r.Status)
	switch r.Status {
	case runs.StatusFailed:
		if runErr == nil {
			t.Errorf("run %d failed, but lambda batch run exited 0", run.id)
		}
		for _, api := range f.urls {
			if now := servedRun(t, api); now != run.served {
				t.Errorf("%s serves run %d after failed run %d, want %d", api, now, run.id, run.served)
			}
		}
		outcome += fmt.Sprintf(" (%.60s), run %d still served", r.Error, run.served)
	case runs.StatusPublished:
		outcome += ", " + f.checkComplete(r)
	default:
		t.Fatalf("run %d is %s after %s: %s (lambda batch run: %v)", run.id, r.Status, fault, r.Error, runErr)
	}
	return outcome
}

// archiverRetryLine is what the archiver logs when it retries a failed insert.
const archiverRetryLine = "clickhouse insert failed, retrying"

// checkNoFailedViews checks that batch_view holds no row of a failed run (a failed run
// drops its rows, or the next published run does when ClickHouse was down).
func (f *faultPlatform) checkNoFailedViews() string {
	conn := f.clickHouse()
	defer conn.Close()
	rows, err := conn.Query(f.ctx, "SELECT DISTINCT run_id FROM batch_view ORDER BY run_id")
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var held []uint64
	for rows.Next() {
		var id uint64
		if err := rows.Scan(&id); err != nil {
			f.t.Fatal(err)
		}
		held = append(held, id)
		if r, err := runs.Get(f.ctx, f.pool, int64(id)); err != nil || r.Status == runs.StatusFailed {
			f.t.Errorf("batch_view holds rows of run %d (%s, %v)", id, r.Status, err)
		}
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return fmt.Sprintf("batch_view holds runs %v only", held)
}

// checkComplete checks that published run r has a batch_view row for every entity
// it scored, and scored every entity with a featured (non-label) event in its cutoff.
func (f *faultPlatform) checkComplete(r runs.Run) string {
	conn := f.clickHouse()
	defer conn.Close()
	var cutoff []string
	for p, off := range r.CutoffOffsets {
		cutoff = append(cutoff, fmt.Sprintf("(kafka_partition = %d AND kafka_offset <= %d)", p, off))
	}
	var rows, entities uint64
	if err := conn.QueryRow(f.ctx, "SELECT count() FROM batch_view WHERE run_id = ?", uint64(r.ID)).Scan(&rows); err != nil {
		f.t.Fatal(err)
	}
	if err := conn.QueryRow(f.ctx, "SELECT uniqExact(entity_id) FROM events WHERE type != 'label' AND ("+strings.Join(cutoff, " OR ")+")").
		Scan(&entities); err != nil {
		f.t.Fatal(err)
	}
	if rows != uint64(r.EntitiesScored) || rows != entities {
		f.t.Errorf("published run %d has %d batch_view rows for %d entities scored, want %d (the entities of its cutoff)", r.ID, rows, r.EntitiesScored, entities)
	}
	return fmt.Sprintf("complete (%d rows = entities of its cutoff)", rows)
}

// checkArchive checks that the master dataset holds each home message of the log at
// its log position and every unique event sent.
func (f *faultPlatform) checkArchive(p *producers) string {
	t := f.t
	ends, err := kafka.EndOffsets(f.ctx, []string{f.brokers}, e2eTopic)
	if err != nil {
		t.Fatal(err)
	}
	home := 0
	for _, m := range readTopic(t, f.ctx, f.brokers, e2eTopic) {
		if kafka.ReadEvent(m, len(ends), event.DefaultMaxClockSkew).Placement == kafka.Home {
			home++
		}
	}
	conn := f.clickHouse()
	defer conn.Close()
	var rows, positions, ids uint64
	if err := conn.QueryRow(f.ctx, "SELECT count(), uniqExact(kafka_partition, kafka_offset), uniqExact(event_id) FROM events").
		Scan(&rows, &positions, &ids); err != nil {
		t.Fatal(err)
	}
	if positions != uint64(home) || ids != uint64(countUnique(p.unique)) {
		t.Errorf("master dataset: %d log positions and %d event ids, want the log's %d home messages and %d unique events",
			positions, ids, home, countUnique(p.unique))
	}
	return fmt.Sprintf("%d rows: %d log positions = home messages, %d event ids = unique events, %d redelivered copies",
		rows, positions, ids, rows-positions)
}

// clickHouse connects to the platform's ClickHouse database.
func (f *faultPlatform) clickHouse() driver.Conn {
	conn, err := store.OpenClickHouse(f.ctx, os.Getenv(store.EnvClickHouseAddr), envValue(f.env, store.EnvClickHouseDatabase), store.ClickHouseAuth{})
	if err != nil {
		f.t.Fatal(err)
	}
	return conn
}

// publish runs a batch run to publication and waits until both replicas serve it.
func (f *faultPlatform) publish() string {
	r := publishedRun(f.t, f.ctx, f.pool, run(f.t, f.ctx, f.env, "batch", "run", "--kafka-brokers="+f.brokers))
	for _, api := range f.urls {
		testenv.WaitFor(f.t, 30*time.Second, fmt.Sprintf("%s serves run %d", api, r.ID), func() bool { return servedRun(f.t, api) == r.ID })
	}
	return fmt.Sprintf("run %d published %d entities, both replicas serve it", r.ID, r.EntitiesScored)
}

// probe reads a path from both replicas in a loop until stopped and records when each
// read failed (an error or a 5xx status). A %06d in path is filled with
// entity numbers in turn.
type probe struct {
	stopped chan struct{}
	wg      sync.WaitGroup
	n       atomic.Int64
	mu      sync.Mutex
	fails   []probeFailure
	began   time.Time
}

type probeFailure struct {
	at      time.Time
	replica int
	what    string
}

// probe starts two readers per replica on path.
func (f *faultPlatform) probe(path string) *probe {
	pr := &probe{stopped: make(chan struct{}), began: time.Now()}
	client := &http.Client{Timeout: 5 * time.Second}
	for r := range 4 {
		replica, url := r%2, f.urls[r%2]
		pr.wg.Go(func() {
			for i := r; ; i += 4 {
				select {
				case <-pr.stopped:
					return
				case <-time.After(20 * time.Millisecond):
				}
				target := url + path
				if strings.Contains(path, "%") {
					target = url + fmt.Sprintf(path, i%faultEntities)
				}
				resp, err := client.Get(target)
				pr.n.Add(1)
				if err == nil {
					body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
					_ = resp.Body.Close()
					if resp.StatusCode < 500 {
						continue
					}
					err = fmt.Errorf("%s %s", resp.Status, body)
				}
				pr.mu.Lock()
				pr.fails = append(pr.fails, probeFailure{at: time.Now(), replica: replica, what: fmt.Sprintf("GET %s: %v", target, err)})
				pr.mu.Unlock()
			}
		})
	}
	return pr
}

func (pr *probe) stop() {
	close(pr.stopped)
	pr.wg.Wait()
}

func (pr *probe) count() int64 { return pr.n.Load() }

// failedOf counts the failed reads from replica (-1: either) in [from, to).
func (pr *probe) failedOf(replica int, from, to time.Time) int {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	n := 0
	for _, fl := range pr.fails {
		if (replica < 0 || fl.replica == replica) && !fl.at.Before(from) && fl.at.Before(to) {
			n++
		}
	}
	return n
}

// failed counts the failed reads from either replica in [from, to).
func (pr *probe) failed(from, to time.Time) int { return pr.failedOf(-1, from, to) }

// last is the time of the last failure, zero for none.
func (pr *probe) last() time.Time {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if len(pr.fails) == 0 {
		return time.Time{}
	}
	return pr.fails[len(pr.fails)-1].at
}

func (pr *probe) lastFailure() string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if len(pr.fails) == 0 {
		return "none"
	}
	return pr.fails[len(pr.fails)-1].what
}

// cleanFor reports whether no read failed in the last d.
func (pr *probe) cleanFor(d time.Duration) bool {
	since := pr.last()
	if since.Before(pr.began) {
		since = pr.began
	}
	return time.Since(since) >= d
}

// recovered is how long after t the last failure happened (0: none after t): the
// time to recover from an outage that ended at t.
func (pr *probe) recovered(t time.Time) time.Duration {
	return max(0, pr.last().Sub(t)).Round(10 * time.Millisecond)
}

func (pr *probe) firstFailure() string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if len(pr.fails) == 0 {
		return "none"
	}
	return pr.fails[0].what
}
