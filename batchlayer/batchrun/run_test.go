package batchrun_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/batchlayer/batchrun"
	"github.com/lambda-platform/lambda/batchlayer/view"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/master"
	"github.com/lambda-platform/lambda/internal/master/mastertest"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// TestRunMatchesDirectFold checks a run against the direct fold of exactly the events
// of its cutoff: archived copies of a record count once, events past the archiver's
// coverage are left out, and imported rows are in.
func TestRunMatchesDirectFold(t *testing.T) {
	f := newFixture(t)
	logged := f.produce(t, 6000, 1)
	f.Insert(t, logged[1000:2500]) // redelivered and archived again
	f.frozen = f.coverage()
	f.produce(t, 2000, 2) // not archived yet as far as the cutoff knows

	g := demogen.New(demogen.Config{Entities: 50, Seed: 3})
	var imported []mastertest.Logged
	for i := range 500 {
		imported = append(imported, mastertest.Logged{Event: g.Next(), Partition: master.ImportPartition, Offset: int64(i)})
	}
	f.Insert(t, imported)
	f.logged = append(f.logged, imported...)

	r := f.runner(t, batchrun.Config{ChunkRows: 2000}, nil) // several chunks
	run := runToEnd(t, r)
	if run.Status != runs.StatusPublished || run.Error != "" {
		t.Fatalf("run %d is %s: %s", run.ID, run.Status, run.Error)
	}
	if want := []int64{f.frozen[0] - 1, f.frozen[1] - 1, f.frozen[2] - 1, f.frozen[3] - 1}; !slices.Equal(run.CutoffOffsets, want) || run.CutoffImported != 499 {
		t.Errorf("cutoff %v imported %d, want %v and 499", run.CutoffOffsets, run.CutoffImported, want)
	}
	if run.EventsRead != 6500 {
		t.Errorf("events read %d, want 6500 (6000 archived once each + 500 imported)", run.EventsRead)
	}
	f.checkView(t, run)
	served, err := runs.Published(t.Context(), f.Postgres)
	if err != nil || served.ID != run.ID {
		t.Errorf("Published = %d, %v; want %d", served.ID, err, run.ID)
	}
}

// TestRunReplacesLeftoverRows: rows already under the id the registry hands a run (its
// PostgreSQL database was reset, ClickHouse kept the batch view) are not in its view.
func TestRunReplacesLeftoverRows(t *testing.T) {
	f := newFixture(t)
	f.produce(t, 2000, 1)
	f.frozen = f.coverage()
	stale := view.NewWriter(f.ClickHouse, f.Database, view.Run{ID: 1, AsOf: time.Unix(1000, 0), ModelName: "old", ModelVersion: 9}, 0)
	for _, id := range []string{"user-000001", "left-over"} {
		if err := stale.Add(t.Context(), view.Row{EntityID: id, Vector: []float32{1}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := stale.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	run := runToEnd(t, f.runner(t, batchrun.Config{}, nil))
	if run.ID != 1 || run.Status != runs.StatusPublished {
		t.Fatalf("run %d is %s (%s); want run 1 published", run.ID, run.Status, run.Error)
	}
	f.checkView(t, run)
	served, err := runs.Published(t.Context(), f.Postgres)
	if err != nil || served.ID != run.ID {
		t.Errorf("Published = %d, %v; want %d", served.ID, err, run.ID)
	}
}

// failingModel fails every score call with err, or with what fail returns.
type failingModel struct {
	batchrun.Model
	fail func() error
}

func (m failingModel) ScoreFlat(ctx context.Context, x []float32, width int) ([]float32, error) {
	if err := m.fail(); err != nil {
		return nil, err
	}
	return m.Model.ScoreFlat(ctx, x, width)
}

// TestFailedRunsPublishNothing fails runs midway (a scorer error, then a ClickHouse
// error on write): each is marked failed with its error, its partial view is
// dropped, the run before stays served, and the next run succeeds.
func TestFailedRunsPublishNothing(t *testing.T) {
	f := newFixture(t)
	f.produce(t, 3000, 1)
	ok := f.runner(t, batchrun.Config{}, nil)
	first := runToEnd(t, ok)

	f.produce(t, 1000, 2)
	scoreErr := errors.New("injected scorer failure")
	// Score batches of 50 with rows flushed every 100, so the view is half written
	// when the third score call fails.
	calls := 0
	bad := f.runner(t, batchrun.Config{ScoreBatch: 50, FlushRows: 100}, &models{f: f, wrap: func(m batchrun.Model) batchrun.Model {
		return failingModel{Model: m, fail: func() error {
			if calls++; calls == 3 {
				return scoreErr
			}
			return nil
		}}
	}})
	failed := runToEnd(t, bad)
	checkFailed(t, failed, "score: ", scoreErr.Error())

	renamed := false
	chErr := f.runner(t, batchrun.Config{}, &models{f: f, wrap: func(m batchrun.Model) batchrun.Model {
		return failingModel{Model: m, fail: func() error {
			if !renamed { // the view table vanishes before the first insert
				renamed = true
				return f.ClickHouse.Exec(context.Background(), "RENAME TABLE "+f.Database+".batch_view TO "+f.Database+".batch_view_away")
			}
			return nil
		}}
	}})
	failed2 := runToEnd(t, chErr)
	checkFailed(t, failed2, "write: ", "batch_view")
	if err := f.ClickHouse.Exec(t.Context(), "RENAME TABLE "+f.Database+".batch_view_away TO "+f.Database+".batch_view"); err != nil {
		t.Fatal(err)
	}
	checkServed(t, f, first.ID)

	next := runToEnd(t, ok)
	if next.Status != runs.StatusPublished {
		t.Fatalf("run after the failures is %s: %s", next.Status, next.Error)
	}
	f.checkView(t, next)
	checkServed(t, f, next.ID)
	checkPartitions(t, f, first.ID, next.ID)
}

// TestKilledQueryFailsRun kills the run's ClickHouse query while it streams.
func TestKilledQueryFailsRun(t *testing.T) {
	f := newFixture(t)
	f.produce(t, 3000, 1)
	first := runToEnd(t, f.runner(t, batchrun.Config{}, nil))
	for i := range 6 {
		f.produce(t, 50_000, int64(10+i))
	}
	// The first entity scored holds its chunk's goroutine (and so the run) until the
	// gate opens, while the other goroutine reads the next chunks, small ones, one
	// query after another: some query is always about to be in flight to be killed.
	// (A chunk is read whole before it is folded, so a held fold alone leaves no
	// query running.)
	gate := make(chan struct{})
	var held atomic.Bool
	r := f.runner(t, batchrun.Config{ScoreBatch: 1, ChunkRows: 2000}, &models{f: f, wrap: func(m batchrun.Model) batchrun.Model {
		return failingModel{Model: m, fail: func() error {
			if held.CompareAndSwap(false, true) {
				<-gate
			}
			return nil
		}}
	}})
	run, _, err := r.Trigger(t.Context(), runs.TriggerCLI, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	killed := killQueries(t, f, fmt.Sprintf("lambda-batch-run-%d-chunk-", run.ID))
	close(gate)
	if killed == 0 {
		t.Fatal("the run's queries were not found in system.processes")
	}
	done, err := r.Wait(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkFailed(t, done, "read: ", "")
	checkServed(t, f, first.ID)
	checkPartitions(t, f, first.ID)
}

// killQueries kills the queries whose id starts with prefix as they show up, until
// none has for a second after a kill (the run stopped reading), and returns how many
// kills it sent.
func killQueries(t *testing.T, f *fixture, prefix string) int {
	kills := 0
	quiet := time.Now()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && (kills == 0 || time.Since(quiet) < time.Second); {
		var n uint64
		q := "SELECT count() FROM system.processes WHERE startsWith(query_id, '" + prefix + "')"
		if err := f.ClickHouse.QueryRow(t.Context(), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		if err := f.ClickHouse.Exec(t.Context(), "KILL QUERY WHERE startsWith(query_id, '"+prefix+"') SYNC"); err != nil {
			t.Fatal(err)
		}
		kills++
		quiet = time.Now()
	}
	return kills
}

// TestAbandonedRunIsFailed leaves a run 'running' with a partial view, as a process
// killed mid-run does: the next trigger marks it failed, drops its view and runs.
func TestAbandonedRunIsFailed(t *testing.T) {
	f := newFixture(t)
	f.produce(t, 2000, 1)
	lock, ok, err := runs.TryLock(t.Context(), f.Postgres)
	if err != nil || !ok {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	dead, err := runs.Start(t.Context(), f.Postgres, runs.TriggerCron, "a process about to die")
	lock.Release(t.Context()) // the process dies: its session, and the lock, go away
	if err != nil {
		t.Fatal(err)
	}
	// What it wrote before it died.
	w := view.NewWriter(f.ClickHouse, f.Database, view.Run{ID: uint64(dead.ID), ModelName: "test", ModelVersion: 1}, 0)
	if err := w.Add(t.Context(), view.Row{EntityID: "half-written", State: []byte{1}, Vector: []float32{1}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}

	next := runToEnd(t, f.runner(t, batchrun.Config{}, nil))
	if next.Status != runs.StatusPublished {
		t.Fatalf("new run is %s: %s", next.Status, next.Error)
	}
	old, err := runs.Get(t.Context(), f.Postgres, dead.ID)
	if err != nil {
		t.Fatal(err)
	}
	if old.Status != runs.StatusFailed || !strings.Contains(old.Error, "abandoned") {
		t.Errorf("abandoned run is %s: %q", old.Status, old.Error)
	}
	checkPartitions(t, f, next.ID)
}

// TestConcurrentTriggersStartOneRun triggers from two replicas at once, while a run
// is held midway: one run starts, every other trigger gets its id.
func TestConcurrentTriggersStartOneRun(t *testing.T) {
	f := newFixture(t)
	f.produce(t, 2000, 1)
	gate := make(chan struct{})
	hold := &models{f: f, wrap: func(m batchrun.Model) batchrun.Model {
		return failingModel{Model: m, fail: func() error { <-gate; return nil }}
	}}
	replicas := []*batchrun.Runner{f.runner(t, batchrun.Config{}, hold), f.runner(t, batchrun.Config{}, hold)}
	type result struct {
		run     runs.Run
		started bool
		err     error
		replica int
	}
	results := make(chan result, 6)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			run, started, err := replicas[i%2].Trigger(t.Context(), runs.TriggerREST, fmt.Sprint("caller ", i))
			results <- result{run, started, err, i % 2}
		})
	}
	wg.Wait()
	close(results)
	var startedBy *batchrun.Runner
	ids := map[int64]bool{}
	for r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		ids[r.run.ID] = true
		if r.started {
			if startedBy != nil {
				t.Error("two triggers started a run")
			}
			startedBy = replicas[r.replica]
		}
	}
	if startedBy == nil || len(ids) != 1 {
		t.Fatalf("started %v, run ids %v; want one run, one id", startedBy != nil, slices.Collect(maps.Keys(ids)))
	}
	var id int64
	for id = range ids {
	}
	// The run plans (and learns its total) after Trigger returns; it then waits at gate.
	testenv.Eventually(t, 10*time.Second, "the run's progress", func() error {
		if p, ok := startedBy.Progress(); !ok || p.RunID != id || p.TotalEvents != 2000 {
			return fmt.Errorf("Progress = %+v, %v", p, ok)
		}
		return nil
	})
	close(gate)
	done, err := startedBy.Wait(t.Context(), id)
	if err != nil || done.Status != runs.StatusPublished {
		t.Fatalf("run %d: %s, %v", id, done.Status, err)
	}
	all, err := runs.List(t.Context(), f.Postgres, 10)
	if err != nil || len(all) != 1 {
		t.Fatalf("%d runs recorded, %v; want 1", len(all), err)
	}
}

// TestRetentionKeepsNewestRuns runs four times with retention 2.
func TestRetentionKeepsNewestRuns(t *testing.T) {
	f := newFixture(t)
	f.produce(t, 500, 1)
	r := f.runner(t, batchrun.Config{Retention: 2}, nil)
	var ids []int64
	for range 4 {
		ids = append(ids, runToEnd(t, r).ID)
	}
	for i, id := range ids {
		run, err := runs.Get(t.Context(), f.Postgres, id)
		if err != nil {
			t.Fatal(err)
		}
		want := runs.StatusPublished
		if i < 2 {
			want = runs.StatusExpired
		}
		if run.Status != want {
			t.Errorf("run %d is %s, want %s", id, run.Status, want)
		}
	}
	checkPartitions(t, f, ids[2], ids[3])
	checkServed(t, f, ids[3])
}

// TestCloseCancelsRun closes the Runner while its run waits: the run fails as canceled.
func TestCloseCancelsRun(t *testing.T) {
	f := newFixture(t)
	f.produce(t, 500, 1)
	started := make(chan struct{})
	r := f.runner(t, batchrun.Config{}, &models{f: f, wrap: func(m batchrun.Model) batchrun.Model {
		return blockingModel{Model: m, started: started}
	}})
	run, _, err := r.Trigger(t.Context(), runs.TriggerCron, "schedule")
	if err != nil {
		t.Fatal(err)
	}
	<-started
	r.Close()
	done, err := runs.Get(t.Context(), f.Postgres, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkFailed(t, done, "canceled: ", "")
	if _, _, err := r.Trigger(t.Context(), runs.TriggerCron, "schedule"); !errors.Is(err, runs.ErrTriggerClosed) {
		t.Errorf("Trigger after Close: %v, want ErrClosed", err)
	}
}

// blockingModel blocks scoring until its context ends.
type blockingModel struct {
	batchrun.Model
	started chan struct{}
}

func (m blockingModel) ScoreFlat(ctx context.Context, _ []float32, _ int) ([]float32, error) {
	close(m.started)
	<-ctx.Done()
	return nil, ctx.Err()
}

func checkFailed(t *testing.T, run runs.Run, prefix, contains string) {
	t.Helper()
	if run.Status != runs.StatusFailed || !strings.HasPrefix(run.Error, prefix) || !strings.Contains(run.Error, contains) {
		t.Fatalf("run %d is %s with error %q; want failed, %q…%q", run.ID, run.Status, run.Error, prefix, contains)
	}
}

func checkServed(t *testing.T, f *fixture, id int64) {
	t.Helper()
	served, err := runs.Published(t.Context(), f.Postgres)
	if err != nil || served.ID != id {
		t.Fatalf("served run %d, %v; want %d", served.ID, err, id)
	}
}

// checkPartitions checks that batch_view holds exactly the runs ids.
func checkPartitions(t *testing.T, f *fixture, ids ...int64) {
	t.Helper()
	parts, err := view.Partitions(t.Context(), f.ClickHouse, f.Database)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, p := range parts {
		got = append(got, int64(p))
	}
	slices.Sort(got)
	if !slices.Equal(got, ids) {
		t.Errorf("batch_view partitions %v, want %v", got, ids)
	}
}
