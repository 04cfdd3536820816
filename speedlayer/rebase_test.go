package speedlayer_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/internal/kafka"
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

func TestRebaseOnPublishKeepsCoverage(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	evs := withDuplicates(demoEvents(24000, 2), 300, 2)
	e.produce(ctx, e.topic, eventMessages(evs[:3000])...)
	cut := e.ends(ctx)
	for p := range cut {
		cut[p]--
	}
	b1 := e.publish(ctx, e.readLog(ctx, e.ends(ctx)), cut)
	sampler := &coverageSampler{t: t, pool: e.pool, runs: map[int64]batchRun{b1.run.ID: b1}}
	sctx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		sampler.run(sctx)
	}()
	defer func() {
		stopSampling()
		<-sampled
	}()

	// CatchUp 1: the records taken during the rebuilds are applied off the loop first.
	r := e.start("speed", e.pool, speedlayer.Config{MaxBatch: 500, MaxWait: 10 * time.Millisecond, PruneDelay: 300 * time.Millisecond, CatchUp: 1})
	// Events keep flowing, about 6000/s, while a new run is published.
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		rest := evs[3000:]
		for i := 0; i < len(rest); i += 300 {
			e.produce(ctx, e.topic, eventMessages(rest[i:min(i+300, len(rest))])...)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	ends := e.ends(ctx)
	cut2 := make([]int64, len(ends))
	for p := range ends {
		cut2[p] = ends[p] - 1
	}
	b2 := e.writeRun(ctx, e.readLog(ctx, ends), cut2)
	sampler.addRun(b2)
	e.publishRun(ctx, b2)
	t.Logf("published run %d with cutoff %v while events flow", b2.run.ID, cut2)
	<-produced

	final := e.ends(ctx)
	e.waitCommitted(ctx, "speed", final)
	for {
		samples, bases := sampler.state()
		if samples > 20 && len(bases) == 1 && bases[b2.run.ID] > 0 {
			t.Logf("%d coverage samples; every speed row is based on run %d", samples, b2.run.ID)
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("rows are not all based on run %d after %d samples: rows per base run %v", b2.run.ID, samples, bases)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopSampling()
	<-sampled
	compareRows(t, speedRows(ctx, t, e.pool), e.expected(ctx, e.readLog(ctx, final), b2))
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
