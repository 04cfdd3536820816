package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/replays"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/internal/tradeoffs"
	"github.com/lambda-platform/lambda/internal/views"
)

// TestReplayEqualsBatchRun: a Kappa replay (`lambda kappa replay`, run by `lambda up`'s
// jobs) over a stream with late events and producer retries folds every entity to the
// same feature state as a batch run over the same log, and at the run's as_of gives the
// same vector and a score within 1e-6; its progress reaches the whole log.
func TestReplayEqualsBatchRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	pool, env, token := freshPlatform(t)
	env = append(env, "LAMBDA_MODEL="+e2eModel)
	run(t, ctx, env, "migrate")
	run(t, ctx, env, "model", "train", "--activate", "--events", "20000", "--entities", "100")
	up := start(t, env, "up")
	api := up.waitLine(t, "api", time.Minute)
	brokers := strings.Fields(up.waitLine(t, "kafka", time.Second))[0]
	testenv.WaitFor(t, time.Minute, "GET /readyz = 200", func() bool { code, _ := get(t, api+"/readyz"); return code == http.StatusOK })

	// A stream with late events (demogen's 2%) and producer retries: 300 events sent again.
	g := demogen.New(demogen.Config{Entities: 100, Seed: 21, Start: time.Now().Add(-2 * time.Hour), EventsPerSecond: 2})
	evs := take(g, 6000)
	r := rand.New(rand.NewPCG(21, 1))
	for range 300 {
		evs = append(evs, evs[r.IntN(len(evs))])
	}
	w, err := kafka.NewWriter([]string{brokers}, e2eTopic)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	waitCommitted(t, ctx, brokers, e2eArchiver)
	runID := triggerRun(t, api, token)

	out := run(t, ctx, env, "kappa", "replay")
	t.Logf("lambda kappa replay:\n%s", out)
	var id int64
	if _, err := fmt.Sscanf(out, "replay %d started", &id); err != nil {
		t.Fatalf("lambda kappa replay printed %q", out)
	}
	rep, err := replays.Get(ctx, pool, id)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := kafka.EndOffsets(ctx, []string{brokers}, e2eTopic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range ends {
		total += n
	}
	if rep.Status != replays.Ready || rep.OffsetsDone != total || rep.OffsetsTotal != total {
		t.Errorf("replay %d: %s, %d/%d offsets; want ready with the whole log, %d", id, rep.Status, rep.OffsetsDone, rep.OffsetsTotal, total)
	}

	checkReplayEqualsRun(t, ctx, pool, envValue(env, "LAMBDA_CLICKHOUSE_DATABASE"), id, runID)
	checkRolloutReport(t, ctx, pool, env, runID, id)
	checkTradeoffsComparison(t, ctx, pool, api, runID, id)
	if list := run(t, ctx, env, "kappa", "list"); !strings.Contains(list, "replay "+strconv.FormatInt(id, 10)+" ready") {
		t.Errorf("lambda kappa list:\n%s\nwant replay %d ready", list, id)
	}

	// Readers switch to the replay and back while events keep coming: no 5xx, and no
	// answer goes back in coverage.
	ids := make([]string, 0, 100)
	for i := range 100 {
		ids = append(ids, fmt.Sprintf("user-%06d", i))
	}
	readers := startReaders(t, api, ids, 4)
	more := take(g, 2000)
	w, err = kafka.NewWriter([]string{brokers}, e2eTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	go func() {
		for i := 0; i < len(more) && ctx.Err() == nil; i += 100 {
			_ = w.WriteEvents(ctx, more[i:i+100])
			time.Sleep(50 * time.Millisecond)
		}
	}()
	// A second replay over REST, switched to once it has caught up.
	if code, _, _ := call(t, http.MethodPost, api+"/v1/kappa/replays", "", nil, []byte(`{"switch":true}`)); code != http.StatusUnauthorized {
		t.Errorf("POST /v1/kappa/replays without the admin token = %d, want 401", code)
	}
	code, _, body := call(t, http.MethodPost, api+"/v1/kappa/replays", "Bearer "+token, nil, []byte(`{"model":"demo@x"}`))
	if code != http.StatusBadRequest || !strings.Contains(string(body), "NAME@VERSION") {
		t.Errorf("POST /v1/kappa/replays with model demo@x = %d %s, want 400 naming NAME@VERSION", code, body)
	}
	code, _, body = call(t, http.MethodPost, api+"/v1/kappa/replays", "Bearer "+token, nil, []byte(`{"switch":true,"requested_by":"kappa test"}`))
	var second struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	if code != http.StatusAccepted || json.Unmarshal(body, &second) != nil || second.Status != replays.Replaying {
		t.Fatalf("POST /v1/kappa/replays = %d %s, want 202 replaying", code, body)
	}
	testenv.WaitFor(t, 30*time.Second, fmt.Sprintf("replay %d live", second.ID), func() bool {
		_, body := get(t, fmt.Sprintf("%s/v1/kappa/replays/%d", api, second.ID))
		return json.Unmarshal([]byte(body), &second) == nil && second.Status == replays.Live
	})
	testenv.WaitFor(t, 30*time.Second, "answers from the replay", func() bool { return readers.sources()["kappa"] > 0 })
	// Every entity, quiet ones too (their rows were last written long before the view's
	// position), once the events stop and the replay covers what the other views do.
	testenv.WaitFor(t, 30*time.Second, "every answer from the replay", func() bool {
		s := readers.sources()
		readers.reset()
		return s["kappa"] > 0 && s["batch"]+s["speed"] == 0
	})
	if code, _ := get(t, api+"/v1/kappa/replays/999"); code != http.StatusNotFound {
		t.Errorf("GET /v1/kappa/replays/999 = %d, want 404", code)
	}
	// The Lambda views count coverage their own way (a batch row covers its run's cutoff,
	// however far the speed layer has read a quiet entity's partition): what a reader saw
	// from the replay is not compared with what it sees after the release.
	readers.pause()
	t.Logf("lambda kappa release: %s", run(t, ctx, env, "kappa", "release"))
	readers.reset()
	testenv.WaitFor(t, 30*time.Second, "answers from the Lambda views again", func() bool {
		s := readers.sources()
		readers.reset()
		return s["kappa"] == 0 && s["batch"]+s["speed"] > 0
	})
	readers.resume()
	time.Sleep(time.Second) // answers from the Lambda views alone, checked again
	readers.stop(t)
	up.stop(t, 30*time.Second)
}

// readers ask for predictions of ids over and over, checking every answer.
type readers struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []string
	count  map[string]int // answers by source since the last reset
	total  int
	epoch  atomic.Int64 // a reader forgets the coverage it saw when it changes
	paused atomic.Bool  // coverage is not checked meanwhile
}

func startReaders(t *testing.T, api string, ids []string, n int) *readers {
	ctx, cancel := context.WithCancel(t.Context())
	r := &readers{cancel: cancel, count: map[string]int{}}
	body, _ := json.Marshal(map[string]any{"ids": ids})
	for range n {
		r.wg.Go(func() {
			seen := map[string]e2eCoverage{} // this reader's: its answers come one after another
			epoch := r.epoch.Load()
			for ctx.Err() == nil {
				if e := r.epoch.Load(); e != epoch {
					epoch, seen = e, map[string]e2eCoverage{}
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, api+"/v1/predictions:batchGet", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						r.fail(err.Error())
					}
					return
				}
				var got struct {
					Predictions []e2ePrediction `json:"predictions"`
				}
				err = json.NewDecoder(resp.Body).Decode(&got)
				resp.Body.Close()
				switch {
				case ctx.Err() != nil: // stopped mid-answer
					return
				case resp.StatusCode != http.StatusOK || err != nil:
					r.fail(fmt.Sprintf("batchGet = %d (%v)", resp.StatusCode, err))
					continue
				}
				if r.epoch.Load() != epoch {
					continue // sent before the readers resumed: not compared with what comes after
				}
				r.record(got.Predictions, seen)
			}
		})
	}
	return r
}

func (r *readers) fail(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, msg)
}

// record checks a reader's answers against the highest coverage it was answered
// before for each entity, seen, and counts them.
func (r *readers) record(ps []e2ePrediction, seen map[string]e2eCoverage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	for _, p := range ps {
		r.count[p.Source]++
		prev, ok := seen[p.EntityID]
		if ok && !r.paused.Load() && p.Coverage.Partition == prev.Partition && p.Coverage.Offset < prev.Offset {
			r.errs = append(r.errs, fmt.Sprintf("%s: coverage went back from offset %d to %d (source %s)", p.EntityID, prev.Offset, p.Coverage.Offset, p.Source))
		}
		if !ok || p.Coverage.Offset > prev.Offset {
			seen[p.EntityID] = p.Coverage
		}
	}
}

func (r *readers) sources() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.count)
}

// pause stops checking coverage; resume checks it again, each reader forgetting what
// it saw before.
func (r *readers) pause() { r.paused.Store(true) }

func (r *readers) resume() {
	r.epoch.Add(1)
	r.paused.Store(false)
}

func (r *readers) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.count)
}

func (r *readers) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	r.wg.Wait()
	for _, e := range r.errs[:min(len(r.errs), 10)] {
		t.Error(e)
	}
	t.Logf("readers: %d batchGets, %d errors", r.total, len(r.errs))
}

// checkReplayEqualsRun checks that every entity's feature state in replay id's view is
// the one in batch run runID's view, and that at the run's as_of it gives the run's
// vector and its score within 1e-6.
func checkReplayEqualsRun(t *testing.T, ctx context.Context, pool *pgxpool.Pool, chDB string, id, runID int64) {
	t.Helper()
	rep, err := replays.Get(ctx, pool, id)
	if err != nil {
		t.Fatal(err)
	}
	spec := features.DefaultSpec()
	model := activeModel(t, ctx, pool)
	kappaRows := readKappaView(t, ctx, pool, rep)
	var checked int
	var maxDelta float64
	err = views.NewBatch(testenv.ClickHouseStream(""), chDB).Scan(ctx, runID, views.Scores|views.States, func(b *views.Record) error {
		id := string(b.EntityID)
		k, ok := kappaRows[id]
		if !ok {
			return fmt.Errorf("%s: in the batch view, not in the replay's", id)
		}
		delete(kappaRows, id)
		if !bytes.Equal(k.state, b.State) {
			return fmt.Errorf("%s: the replay's feature state differs from the batch run's", id)
		}
		st, err := spec.Decode(k.state)
		if err != nil {
			return err
		}
		vec := st.Vector(b.AsOf)
		for i := range vec {
			if vec[i] != b.Vector[i] {
				return fmt.Errorf("%s: feature %d at the run's as_of: replay %v, batch %v", id, i, vec[i], b.Vector[i])
			}
		}
		score, err := model.ScoreOne(ctx, vec)
		if err != nil {
			return err
		}
		d := math.Abs(float64(score - b.Score))
		maxDelta = max(maxDelta, d)
		if d > 1e-6 {
			return fmt.Errorf("%s: score %v from the replay's state, %v in the batch view", id, score, b.Score)
		}
		checked++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(kappaRows) > 0 || checked == 0 {
		t.Errorf("%d entities checked, %d in the replay's view only; want every entity of the log in both", checked, len(kappaRows))
	}
	t.Logf("replay %d equals batch run %d on %d entities (max |Δscore| %.2g)", id, runID, checked, maxDelta)
}

type kappaRow struct {
	state []byte
}

// readKappaView reads the feature states of rep's view.
func readKappaView(t *testing.T, ctx context.Context, pool *pgxpool.Pool, rep replays.Replay) map[string]kappaRow {
	t.Helper()
	rows, err := pool.Query(ctx, "SELECT entity_id, delta_state FROM "+pgx.Identifier{rep.Table()}.Sanitize())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]kappaRow{}
	for rows.Next() {
		var id string
		var state []byte
		if err := rows.Scan(&id, &state); err != nil {
			t.Fatal(err)
		}
		out[id] = kappaRow{state: state}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// envValue is the value of key in env (KEY=value entries; the last one counts).
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// TestReplayKilledHalfway: `lambda up` killed while a replay is half-way leaves the
// Lambda views answering when it comes back — the replay is not switched to before it
// has caught up — and the replay goes on from where its group had committed, to a view
// equal to the batch run's.
func TestReplayKilledHalfway(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	pool, env, token := freshPlatform(t)
	env = append(env, "LAMBDA_SPEED_MAX_BATCH=2000") // commits often, so a kill finds it part of the way
	env = append(env, "LAMBDA_MODEL="+e2eModel)
	run(t, ctx, env, "migrate")
	run(t, ctx, env, "model", "train", "--activate", "--events", "20000", "--entities", "1000")
	up := start(t, env, "up")
	api := up.waitLine(t, "api", time.Minute)
	brokers := strings.Fields(up.waitLine(t, "kafka", time.Second))[0]
	run(t, ctx, env, "produce", "--seed", "31", "--entities", "1000", "--events", "300000", "--kafka-brokers", brokers)
	waitCommitted(t, ctx, brokers, e2eArchiver)
	runID := triggerRun(t, api, token)

	out := run(t, ctx, env, "kappa", "replay", "--switch", "--detach")
	var id int64
	if _, err := fmt.Sscanf(out, "replay %d started", &id); err != nil {
		t.Fatalf("lambda kappa replay printed %q", out)
	}
	// Kill it once its group has committed a part of the log, not all of it.
	ends, err := kafka.EndOffsets(ctx, []string{brokers}, e2eTopic)
	if err != nil {
		t.Fatal(err)
	}
	var total, done int64
	for _, n := range ends {
		total += n
	}
	testenv.WaitFor(t, time.Minute, "the replay a part of the way", func() bool {
		committed, err := kafka.Committed(ctx, []string{brokers}, fmt.Sprintf("lambda-kappa-%d", id), e2eTopic)
		done = 0
		for _, n := range committed {
			done += n
		}
		return err == nil && done > 0
	})
	if done >= total {
		t.Fatalf("replay %d had committed all %d offsets at the first look: the log is too short to kill it half-way", id, total)
	}
	_ = up.cmd.Process.Signal(syscall.SIGKILL)
	<-up.done
	t.Logf("lambda up killed with replay %d at %d/%d offsets", id, done, total)

	up = start(t, env, "up")
	api = up.waitLine(t, "api", time.Minute)
	testenv.WaitFor(t, time.Minute, "GET /readyz = 200 after the restart", func() bool { code, _ := get(t, api+"/readyz"); return code == http.StatusOK })
	if r, _ := replays.Get(ctx, pool, id); r.Status == replays.Replaying {
		if code, body := get(t, api+"/v1/entities/user-000001/prediction"); code != http.StatusOK || strings.Contains(body, `"source":"kappa"`) {
			t.Errorf("while replay %d is still replaying: GET prediction = %d %s, want 200 from the Lambda views", id, code, body)
		}
	}
	testenv.WaitFor(t, 2*time.Minute, fmt.Sprintf("replay %d live", id), func() bool {
		r, err := replays.Get(ctx, pool, id)
		return err == nil && r.Status == replays.Live
	})
	checkReplayEqualsRun(t, ctx, pool, envValue(env, "LAMBDA_CLICKHOUSE_DATABASE"), id, runID)
	if code, body := get(t, api+"/v1/entities/user-000001/prediction"); code != http.StatusOK {
		t.Errorf("GET prediction after the replay went live = %d %s", code, body)
	}
	up.stop(t, 30*time.Second)
}

// TestKappaArchitecture runs `lambda up` with LAMBDA_ARCHITECTURE=kappa: no batch layer,
// one replay started at start-up answers every entity (source kappa) with the fold of
// its unique events, from any producer; a second replay replaces it under concurrent
// readers (no 5xx, no coverage going back) and the first one's view is dropped.
func TestKappaArchitecture(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed: `make services-up` installs it")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	pool, env, token := freshPlatform(t)
	// No batch layer: nothing may need ClickHouse, which this address does not reach.
	env = append(env, "LAMBDA_MODEL="+e2eModel, "LAMBDA_ARCHITECTURE=kappa", "LAMBDA_KAPPA_DROP_GRACE=2s",
		"LAMBDA_CLICKHOUSE_ADDR=127.0.0.1:1")
	run(t, ctx, env, "migrate")
	run(t, ctx, env, "model", "train", "--activate", "--events", "20000", "--entities", strconv.Itoa(anyEntities))
	model := activeModel(t, ctx, pool)
	up := start(t, env, "up")
	api := up.waitLine(t, "api", time.Minute)
	brokers := strings.Fields(up.waitLine(t, "kafka", time.Second))[0]
	p := &producers{t: t, ctx: ctx, kcatBin: kcat, brokers: brokers, unique: map[string]map[string]event.Event{}}
	gen := demogen.New(demogen.Config{Entities: anyEntities, Seed: 41, Start: time.Now().Add(-3 * time.Hour), EventsPerSecond: 1})
	evs := take(gen, 2000)
	p.kcat(every(evs, 0))
	p.kafkaGo(every(evs, 1), true)
	p.kafkaGo(every(evs, 2), false)
	p.rest(api, every(evs, 3))
	testenv.WaitFor(t, time.Minute, "GET /readyz = 200 (a replay is live)", func() bool { code, _ := get(t, api+"/readyz"); return code == http.StatusOK })
	waitCommitted(t, ctx, brokers, anyForwarder)
	waitCommitted(t, ctx, brokers, "lambda-kappa-1")
	p.checkAnswers(api, model, "kappa architecture, replay 1")
	if code, body := get(t, api+"/v1/entities/user-000001/prediction"); code != http.StatusOK || !strings.Contains(body, `"source":"kappa"`) {
		t.Errorf("GET prediction = %d %s, want 200 with source kappa", code, body)
	}
	if code, _, body := call(t, http.MethodPost, api+"/v1/batch/runs", "Bearer "+token, nil, nil); code != http.StatusServiceUnavailable {
		t.Errorf("POST /v1/batch/runs without a batch layer = %d %s, want 503", code, body)
	}

	// A second replay replaces the first (switched to by default in this architecture).
	ids := make([]string, 0, len(p.unique))
	for id := range p.unique {
		ids = append(ids, id)
	}
	readers := startReaders(t, api, ids, 4)
	out := run(t, ctx, env, "kappa", "replay")
	if !strings.Contains(out, "replay 2 live") {
		t.Fatalf("lambda kappa replay:\n%s\nwant replay 2 live", out)
	}
	testenv.WaitFor(t, 30*time.Second, "replay 1's view dropped", func() bool {
		r, err := replays.Get(ctx, pool, 1)
		return err == nil && r.Status == replays.Retired && !r.DroppedAt.IsZero()
	})
	readers.stop(t)
	p.checkAnswers(api, model, "kappa architecture, replay 2")
	checkKappaTradeoffs(t, api)
	up.stop(t, 30*time.Second)
}

// checkKappaTradeoffs checks GET /v1/tradeoffs without a batch layer: no batch or
// speed view row, the kappa view's answers measured, no batch run to compare.
func checkKappaTradeoffs(t *testing.T, api string) {
	t.Helper()
	code, body := get(t, api+"/v1/tradeoffs?window=5m")
	var r tradeoffs.Report
	if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil {
		t.Fatalf("GET /v1/tradeoffs = %d %s", code, body)
	}
	var patterns []string
	for _, row := range r.Rows {
		patterns = append(patterns, row.Pattern)
	}
	if r.Architecture != "kappa" || !slices.Equal(patterns, []string{"kappa view", "online inference", "edge"}) {
		t.Errorf("trade-offs of the kappa architecture: %s with rows %v; want kappa view, online inference, edge", r.Architecture, patterns)
	}
	if k := rowOf(t, r, "kappa view"); k.StalenessP50 == nil {
		t.Errorf("kappa view row %+v: want the staleness of the answers served", k)
	}
	if c := r.LambdaVsKappa; c.Lambda.What != "" || c.Kappa.What != "replay 2" || c.Divergence != nil {
		t.Errorf("Lambda vs Kappa %+v: want no batch run, replay 2, no divergence", c)
	}
}

// activeModel loads the active version of the test model, as the platform scores with it.
func activeModel(t *testing.T, ctx context.Context, pool *pgxpool.Pool) *inference.Model {
	t.Helper()
	models := registry.New(pool, quiet)
	active, err := models.Active(ctx, e2eModel)
	if err != nil {
		t.Fatal(err)
	}
	fp32, _, err := models.ONNX(ctx, e2eModel, active.Version, registry.FP32)
	if err != nil {
		t.Fatal(err)
	}
	model, err := inference.LoadModel(fp32, active.Meta(), inference.Options{Sessions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = model.Close() })
	return model
}

// checkRolloutReport runs `lambda report rollout` on run runID and replay id and checks
// that its figures are those the two recorded, and that the views agree.
// checkTradeoffsComparison checks the Lambda-vs-Kappa part of GET /v1/tradeoffs: the
// latest run and replay as recorded, and their answers compared (no divergence on one log).
func checkTradeoffsComparison(t *testing.T, ctx context.Context, pool *pgxpool.Pool, api string, runID, id int64) {
	t.Helper()
	code, body := get(t, api+"/v1/tradeoffs?window=1m")
	var r tradeoffs.Report
	if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil {
		t.Fatalf("GET /v1/tradeoffs = %d %s", code, body)
	}
	batch, rep := recorded(t, ctx, pool, runID, id)
	l, k, d := r.LambdaVsKappa.Lambda, r.LambdaVsKappa.Kappa, r.LambdaVsKappa.Divergence
	if l.What != fmt.Sprintf("batch run %d", runID) || fig(l.WallSeconds) != fig(ptr(batch.FinishedAt.Sub(batch.StartedAt).Seconds())) ||
		fig(l.CPUSeconds) != fig(&batch.CPUSeconds) || fig(l.Events) != fig(ptr(float64(batch.EventsRead))) {
		t.Errorf("trade-offs, Lambda side: %+v; want batch run %d as recorded (%+v)", l, runID, batch.Counts)
	}
	if k.What != fmt.Sprintf("replay %d", id) || fig(k.WallSeconds) != fig(ptr(rep.ReadyAt.Sub(rep.CreatedAt).Seconds())) ||
		fig(k.CPUSeconds) != fig(&rep.CPUSeconds) || fig(k.Events) != fig(ptr(float64(rep.EventsRead))) {
		t.Errorf("trade-offs, Kappa side: %+v; want replay %d as recorded (%+v)", k, id, rep)
	}
	if d == nil || d.Run != runID || d.Replay != id || d.Entities == 0 || d.StatesEqual != d.Entities || d.MaxAbsDelta > 1e-6 {
		t.Errorf("trade-offs divergence: %+v; want run %d against replay %d, every entity's state equal, |Δscore| ≤ 1e-6", d, runID, id)
	}
}

func ptr(v float64) *float64 { return &v }

// recorded is what batch run runID and replay id recorded.
func recorded(t *testing.T, ctx context.Context, pool *pgxpool.Pool, runID, id int64) (runs.Run, replays.Replay) {
	t.Helper()
	batch, err := runs.Get(ctx, pool, runID)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := replays.Get(ctx, pool, id)
	if err != nil {
		t.Fatal(err)
	}
	return batch, rep
}

func checkRolloutReport(t *testing.T, ctx context.Context, pool *pgxpool.Pool, env []string, runID, id int64) {
	t.Helper()
	out := run(t, ctx, env, "report", "rollout", "--run", strconv.FormatInt(runID, 10), "--replay", strconv.FormatInt(id, 10))
	t.Logf("lambda report rollout:\n%s", out)
	batch, rep := recorded(t, ctx, pool, runID, id)
	lines := map[string][]string{}
	for _, l := range strings.Split(out, "\n") {
		if name, rest, ok := strings.Cut(l, "  "); ok {
			lines[name] = strings.Fields(rest)
		}
	}
	for name, want := range map[string][]string{
		"events read":           {strconv.FormatInt(batch.EventsRead, 10), strconv.FormatInt(rep.EventsRead, 10)},
		"rows written":          {strconv.FormatInt(batch.RowsWritten, 10), strconv.FormatInt(rep.RowsWritten, 10)},
		"CPU seconds (process)": {fmt.Sprintf("%.2f", batch.CPUSeconds), fmt.Sprintf("%.2f", rep.CPUSeconds)},
		"wall time": {batch.FinishedAt.Sub(batch.StartedAt).Round(time.Millisecond).String(),
			rep.ReadyAt.Sub(rep.CreatedAt).Round(time.Millisecond).String()},
	} {
		if got := lines[name]; !slices.Equal(got, want) {
			t.Errorf("report line %q: %v, want the recorded %v", name, got, want)
		}
	}
	if batch.EventsRead == 0 || rep.EventsRead == 0 || rep.BytesRead == 0 || batch.BytesRead == 0 || batch.CPUSeconds <= 0 || rep.CPUSeconds <= 0 {
		t.Errorf("recorded costs: run %+v, replay %+v; want events, bytes and CPU seconds on both sides", batch.Counts, rep)
	}
	if !strings.Contains(out, "|Δscore| over the entities with the same state: max 0, mean 0") {
		t.Errorf("report: want no score difference between the views of the same log")
	}
}
