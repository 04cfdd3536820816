package speedlayer_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/speedlayer"
)

// coverageSampler reads, in one snapshot at a time, the published run and every
// speed row, and checks that no entity's coverage as the serving layer sees it
// (the more of speed row and batch row of the published run) ever goes down, and
// that no speed row's covered offset does.
type coverageSampler struct {
	t    *testing.T
	pool *pgxpool.Pool

	mu      sync.Mutex
	runs    map[int64]batchRun // the runs the test wrote, before it publishes them
	samples int
	bases   map[int64]int // rows per base run in the last sample
}

func (s *coverageSampler) addRun(b batchRun) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs[b.run.ID] = b
}

// run samples until ctx ends.
func (s *coverageSampler) run(ctx context.Context) {
	served, speed := map[string]int64{}, map[string]int64{}
	for ctx.Err() == nil {
		runID, rows, err := s.snapshot(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.t.Errorf("sample: %v", err)
			}
			return
		}
		s.mu.Lock()
		b := s.runs[runID]
		s.mu.Unlock()
		now := map[string]int64{}
		bases := map[int64]int{}
		for id, r := range rows {
			if prev, ok := speed[id]; ok && r.covered < prev {
				s.t.Errorf("entity %s: speed row covered offset went down from %d to %d", id, prev, r.covered)
			}
			speed[id] = r.covered
			now[id] = r.covered
			bases[r.base]++
		}
		for id := range b.entities {
			now[id] = max(now[id], b.run.CutoffOf(kafka.PartitionFor([]byte(id), testPartitions)))
		}
		for id, prev := range served {
			if c, ok := now[id]; !ok || c < prev {
				s.t.Errorf("entity %s: served coverage went down from %d to %d (run %d)", id, prev, c, runID)
			}
		}
		served = now
		s.mu.Lock()
		s.samples++
		s.bases = bases
		s.mu.Unlock()
	}
}

type sampledRow struct {
	covered int64
	base    int64
}

func (s *coverageSampler) snapshot(ctx context.Context) (int64, map[string]sampledRow, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var runID int64
	err = tx.QueryRow(ctx, `SELECT id FROM batch_runs WHERE status = 'published' ORDER BY published_at DESC LIMIT 1`).Scan(&runID)
	if err != nil {
		return 0, nil, err
	}
	rows, err := tx.Query(ctx, `SELECT entity_id, covered_offset, coalesce(base_run_id, 0) FROM speed_view`)
	if err != nil {
		return 0, nil, err
	}
	out := map[string]sampledRow{}
	for rows.Next() {
		var id string
		var r sampledRow
		if err := rows.Scan(&id, &r.covered, &r.base); err != nil {
			return 0, nil, err
		}
		out[id] = r
	}
	return runID, out, rows.Err()
}

func (s *coverageSampler) state() (int, map[int64]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples, s.bases
}

// sample runs a coverageSampler, starting from run b, until the returned stop is
// called.
func sample(ctx context.Context, t *testing.T, pool *pgxpool.Pool, b batchRun) (*coverageSampler, func()) {
	sampler := &coverageSampler{t: t, pool: pool, runs: map[int64]batchRun{b.run.ID: b}}
	sctx, cancel := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		sampler.run(sctx)
	}()
	return sampler, func() {
		cancel()
		<-sampled
	}
}

// produceSlowly produces evs in the background, 300 every pause; the channel is
// closed once all are.
func (e *env) produceSlowly(ctx context.Context, evs []event.Event, pause time.Duration) <-chan struct{} {
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := 0; i < len(evs); i += 300 {
			e.produce(ctx, e.topic, eventMessages(evs[i:min(i+300, len(evs))])...)
			time.Sleep(pause)
		}
	}()
	return produced
}

// writeRunNow records a running batch run of every message produced so far and
// writes its batch view (writeRun).
func (e *env) writeRunNow(ctx context.Context) batchRun {
	e.t.Helper()
	ends := e.ends(ctx)
	return e.writeRun(ctx, e.readLog(ctx, ends), lastOffsets(ends))
}

// settleOn waits until every event is produced and committed and the sampler has
// seen every speed row based on b's run, stops sampling, and checks the rows against
// the oracle's.
func (e *env) settleOn(ctx context.Context, t *testing.T, produced <-chan struct{}, sampler *coverageSampler, stopSampling func(), b batchRun) {
	t.Helper()
	<-produced
	final := e.ends(ctx)
	e.waitCommitted(ctx, "speed", final)
	waitBasedOn(ctx, t, sampler, b)
	stopSampling()
	compareRows(t, speedRows(ctx, t, e.pool), e.expected(ctx, e.readLog(ctx, final), b))
}

// waitBasedOn waits until the sampler has seen every speed row based on b's run.
func waitBasedOn(ctx context.Context, t *testing.T, sampler *coverageSampler, b batchRun) {
	t.Helper()
	for {
		samples, bases := sampler.state()
		if samples > 20 && len(bases) == 1 && bases[b.run.ID] > 0 {
			t.Logf("%d coverage samples; every speed row is based on run %d", samples, b.run.ID)
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("rows are not all based on run %d after %d samples: rows per base run %v", b.run.ID, samples, bases)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rebaseStart gives a test 24,000 demo events of seed (300 of them duplicated), the
// first 3,000 produced and folded by a published run, a coverage sampler running
// from that run until stopSampling, and 2 minutes.
func rebaseStart(t *testing.T, seed int64) (e *env, ctx context.Context, evs []event.Event, sampler *coverageSampler, stopSampling func()) {
	e = newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	evs = withDuplicates(demoEvents(24000, seed), 300, uint64(seed))
	e.produce(ctx, e.topic, eventMessages(evs[:3000])...)
	b1 := e.writeRunNow(ctx)
	e.publishRun(ctx, b1)
	sampler, stopSampling = sample(ctx, t, e.pool, b1)
	t.Cleanup(stopSampling)
	return e, ctx, evs, sampler, stopSampling
}

func TestRebaseOnPublishKeepsCoverage(t *testing.T) {
	e, ctx, evs, sampler, stopSampling := rebaseStart(t, 2)

	// The rebuilds replay the log (the run's cutoff is not seen before it publishes),
	// and with CatchUp 1 the records taken meanwhile are applied off the loop first.
	e.runs = publishedOnly{runs.NewReader(e.pool)}
	r := e.start("speed", e.pool, speedlayer.Config{MaxBatch: 500, MaxWait: 10 * time.Millisecond, PruneDelay: 300 * time.Millisecond, CatchUp: 1})
	// Events keep flowing, about 6000/s, while a new run is published.
	produced := e.produceSlowly(ctx, evs[3000:], 50*time.Millisecond)
	time.Sleep(1500 * time.Millisecond)
	b2 := e.writeRunNow(ctx)
	sampler.addRun(b2)
	e.publishRun(ctx, b2)
	t.Logf("published run %d with cutoff %v while events flow", b2.run.ID, b2.run.CutoffOffsets)
	e.settleOn(ctx, t, produced, sampler, stopSampling, b2)
	if n := r.metric(t, "lambda_speed_rebase_duration_seconds", "kind", "rebase"); n != testPartitions {
		t.Errorf("%v rebases observed, want one per partition (%d)", n, testPartitions)
	}
	if n := r.metric(t, "lambda_speed_rebuild_catchup_records_total"); n == 0 {
		t.Error("no record taken during the rebuilds was applied off the loop (lambda_speed_rebuild_catchup_records_total = 0)")
	} else {
		t.Logf("%v records taken during the rebuilds applied off the loop", n)
	}
	if id := r.metric(t, "lambda_speed_base_run_id"); id != float64(b2.run.ID) {
		t.Errorf("lambda_speed_base_run_id = %v, want %d", id, b2.run.ID)
	}
}

// TestPrebuildWhileARunRuns keeps events flowing while batch runs are in progress:
// the speed layer prebuilds each run's deltas from its recorded cutoff and folds the
// micro-batches into them too, drops them when the run fails, and, when a run
// publishes, installs its prebuilt deltas without replaying the log. The rows equal
// the oracle's, and no coverage goes down.
func TestPrebuildWhileARunRuns(t *testing.T) {
	e, ctx, evs, sampler, stopSampling := rebaseStart(t, 5)
	r := e.start("speed", e.pool, speedlayer.Config{MaxBatch: 500, MaxWait: 10 * time.Millisecond, PruneDelay: 300 * time.Millisecond, CatchUp: 1})
	produced := e.produceSlowly(ctx, evs[3000:], 100*time.Millisecond)
	prebuilt := func(n int) {
		t.Helper()
		testenv.WaitFor(t, 20*time.Second, fmt.Sprintf("%d delta prebuilds", n), func() bool {
			return r.metric(t, "lambda_speed_rebase_duration_seconds", "kind", "prebuild") >= float64(n)
		})
	}

	// Run A takes its cutoff and fails after the speed layer prebuilt its deltas.
	time.Sleep(time.Second)
	a := e.writeRunNow(ctx)
	prebuilt(testPartitions)
	if err := runs.Fail(ctx, e.pool, a.run.ID, "the test fails it", runs.Counts{}); err != nil {
		t.Fatal(err)
	}
	// Run B takes a later cutoff and publishes a second after its deltas were
	// prebuilt, while the micro-batches fold into them.
	time.Sleep(500 * time.Millisecond)
	b := e.writeRunNow(ctx)
	sampler.addRun(b)
	prebuilt(2 * testPartitions)
	time.Sleep(time.Second)
	e.publishRun(ctx, b)
	t.Logf("run %d failed, run %d published with cutoff %v while events flow", a.run.ID, b.run.ID, b.run.CutoffOffsets)
	select {
	case <-produced:
		t.Fatal("every event was produced before run B published: the test no longer publishes while events flow")
	default:
	}
	e.settleOn(ctx, t, produced, sampler, stopSampling, b)
	for kind, want := range map[string]float64{"prebuild": 2 * testPartitions, "prebuilt": testPartitions, "rebase": 0} {
		if n := r.metric(t, "lambda_speed_rebase_duration_seconds", "kind", kind); n != want {
			t.Errorf("%v delta rebuilds of kind %s, want %v", n, kind, want)
		}
	}
}

// TestAssignmentCommitsUpToTheCutoff starts a group after a run that covers every
// message was published: no message comes after the cutoff, yet the group commits
// the whole topic and reports no lag.
func TestAssignmentCommitsUpToTheCutoff(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	e.produce(ctx, e.topic, eventMessages(demoEvents(2000, 4))...)
	ends := e.ends(ctx)
	e.publish(ctx, e.readLog(ctx, ends), lastOffsets(ends))
	r := e.start("speed", e.pool, speedlayer.Config{})
	waitCtx, cancelWait := context.WithTimeout(ctx, 20*time.Second)
	defer cancelWait()
	e.waitCommitted(waitCtx, "speed", ends)
	testenv.WaitFor(t, 5*time.Second, "every partition to report no lag", func() bool {
		return len(r.samples(t, "lambda_speed_consumer_lag_messages")) == testPartitions &&
			r.metric(t, "lambda_speed_consumer_lag_messages") == 0
	})
}
