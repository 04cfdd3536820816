package predict_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/internal/views"
	"github.com/lambda-platform/lambda/servinglayer/predict"
)

// fakeViews are in-memory views whose reads can be made to fail or wait.
type fakeViews struct {
	mu        sync.Mutex
	runs      map[int64][]predict.BatchRow
	speed     map[string]predict.SpeedRow
	published runs.Run // ID 0: none
	batchErr  error
	speedErr  error
	runsErr   error
	scans     []int64       // the runs scanned, in order
	gate      chan struct{} // when set, a scan waits for it to close
	publishes chan struct{}
	speedRead []string // the ids read from the speed view, in order
	// speedDelay is how long a speed view read takes; speedCalls counts the reads and
	// maxInFlight the most at once.
	speedDelay            time.Duration
	speedCalls            int
	inFlight, maxInFlight int
	changes               chan []string // speed view changes announced to the listener
	listenErr             chan error    // ends the listener with an error
}

func newFakeViews() *fakeViews {
	return &fakeViews{runs: map[int64][]predict.BatchRow{}, speed: map[string]predict.SpeedRow{}, publishes: make(chan struct{}, 10),
		changes: make(chan []string), listenErr: make(chan error)}
}

func (f *fakeViews) Scan(ctx context.Context, runID int64, _ views.Fields, fn func(*views.Record) error) error {
	f.mu.Lock()
	gate, err, rows := f.gate, f.batchErr, f.runs[runID]
	f.scans = append(f.scans, runID)
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := fn(&views.Record{RunID: runID, EntityID: []byte(r.EntityID), Coverage: r.Coverage, AsOf: r.AsOf,
			Vector: r.Vector, Score: r.Score, ModelName: r.ModelName, ModelVersion: r.ModelVersion}); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeViews) SpeedRows(_ context.Context, ids []string) ([]predict.SpeedRow, error) {
	f.mu.Lock()
	f.speedCalls++
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	delay := f.speedDelay
	f.mu.Unlock()
	time.Sleep(delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight--
	if f.speedErr != nil {
		return nil, f.speedErr
	}
	f.speedRead = append(f.speedRead, ids...)
	var out []predict.SpeedRow
	for _, id := range ids {
		if r, ok := f.speed[id]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeViews) Published(context.Context) (runs.Run, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.published, f.published.ID != 0, f.runsErr
}

func (f *fakeViews) ListenPublished(ctx context.Context, ready, notify func()) error {
	ready()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-f.publishes:
			notify()
		}
	}
}

func (f *fakeViews) ListenChanges(ctx context.Context, ready func(), changed func(ids []string)) error {
	ready()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ids := <-f.changes:
			changed(ids)
			f.changes <- nil // told
		case err := <-f.listenErr:
			return err
		}
	}
}

// speedReads returns the ids read from the speed view since the last call.
func (f *fakeViews) speedReads() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	read := f.speedRead
	f.speedRead = nil
	return read
}

// publish adds run id with rows and makes it the published run.
func (f *fakeViews) publish(id int64, rows ...predict.BatchRow) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs[id] = rows
	f.published = runs.Run{ID: id, PublishedAt: time.Now()}
	f.publishes <- struct{}{}
}

func (f *fakeViews) set(fn func(f *fakeViews)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeViews) scanned() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.scans)
}

func batchRow(id string, offset int64, score float32) predict.BatchRow {
	return predict.BatchRow{EntityID: id, Coverage: predict.Coverage{Partition: 1, Offset: offset}, Score: score}
}

func speedRow(id string, offset int64, score float32) predict.SpeedRow {
	return predict.SpeedRow{EntityID: id, Coverage: predict.Coverage{Partition: 1, Offset: offset}, Scored: true, Score: score}
}

func newService(t *testing.T, f *fakeViews) *predict.Service {
	t.Helper()
	s := predict.New(f, f, f, predict.Config{}, nil, nil)
	if err := s.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// summary is what a test checks of an answer.
type summary struct {
	source   predict.Source
	score    float32
	err      error
	degraded bool
}

func summarize(answers []predict.Answer) map[string]summary {
	out := map[string]summary{}
	for _, a := range answers {
		s := summary{source: a.Source}
		if a.Err == nil {
			s.score = a.Score()
		} else if errors.Is(a.Err, predict.ErrNotFound) {
			s.err = predict.ErrNotFound
		} else if errors.Is(a.Err, predict.ErrUnavailable) {
			s.err = predict.ErrUnavailable
		}
		_, s.degraded = a.Degraded()
		out[a.EntityID] = s
	}
	return out
}

func check(t *testing.T, got map[string]summary, want map[string]summary) {
	t.Helper()
	for id, w := range want {
		if g := got[id]; g != w {
			t.Errorf("%s: got %+v, want %+v", id, g, w)
		}
	}
}

func TestLookupMerges(t *testing.T) {
	f := newFakeViews()
	f.publish(7, batchRow("b-only", 10, 0.1), batchRow("tie", 10, 0.2), batchRow("speed-ahead", 10, 0.3), batchRow("batch-ahead", 10, 0.4))
	f.speed["tie"] = speedRow("tie", 10, 0.22)
	f.speed["speed-ahead"] = speedRow("speed-ahead", 11, 0.33)
	f.speed["batch-ahead"] = speedRow("batch-ahead", 9, 0.44)
	f.speed["s-only"] = speedRow("s-only", 3, 0.5)
	s := newService(t, f)

	answers := s.Lookup(t.Context(), []string{"b-only", "tie", "speed-ahead", "batch-ahead", "s-only", "nobody"})
	check(t, summarize(answers), map[string]summary{
		"b-only":      {source: predict.Batch, score: 0.1},
		"tie":         {source: predict.Batch, score: 0.2},
		"speed-ahead": {source: predict.Speed, score: 0.33},
		"batch-ahead": {source: predict.Batch, score: 0.4},
		"s-only":      {source: predict.Speed, score: 0.5},
		"nobody":      {err: predict.ErrNotFound},
	})
	if a := answers[1]; a.Batch == nil || a.Speed == nil || a.Batch.RunID != 7 {
		t.Errorf("tie: both views' rows should be in the answer: %+v", a)
	}
}

// TestLookupFromLoadedRun: a published run's view is read once, when it is loaded;
// lookups then answer from memory, also while ClickHouse is down; a run published
// while ClickHouse is down is loaded once it is back, the previous one served meanwhile.
func TestLookupFromLoadedRun(t *testing.T) {
	f := newFakeViews()
	f.publish(1, batchRow("a", 10, 0.1))
	s := newService(t, f)
	ctx := t.Context()
	want1 := map[string]summary{"a": {source: predict.Batch, score: 0.1}, "absent": {err: predict.ErrNotFound}}
	check(t, summarize(s.Lookup(ctx, []string{"a", "absent"})), want1)
	check(t, summarize(s.Lookup(ctx, []string{"a", "absent"})), want1)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.scanned(); !slices.Equal(got, []int64{1}) {
		t.Fatalf("batch view scans %v; want run 1 read once", got)
	}

	f.set(func(f *fakeViews) { f.batchErr = errors.New("clickhouse down") })
	check(t, summarize(s.Lookup(ctx, []string{"a", "absent"})), want1)
	f.publish(2, batchRow("a", 20, 0.2), batchRow("absent", 20, 0.3))
	if err := s.Sync(ctx); err == nil {
		t.Fatal("Sync succeeded while the batch view cannot be read")
	}
	if got := s.ServedRun().ID; got != 1 {
		t.Fatalf("served run %d after a failed load, want 1", got)
	}
	check(t, summarize(s.Lookup(ctx, []string{"a", "absent"})), want1)
	if err := s.Ready(); err != nil {
		t.Errorf("not ready after a failed load of a later run: %v", err)
	}

	f.set(func(f *fakeViews) { f.batchErr = nil })
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.ServedRun().ID; got != 2 {
		t.Fatalf("served run %d, want 2", got)
	}
	check(t, summarize(s.Lookup(ctx, []string{"a", "absent"})), map[string]summary{
		"a":      {source: predict.Batch, score: 0.2},
		"absent": {source: predict.Batch, score: 0.3},
	})
}

// TestNotReadyUntilLoaded: a service is not ready, and answers from the speed view
// only, until its first load is complete; a later load does not interrupt answers.
func TestNotReadyUntilLoaded(t *testing.T) {
	f := newFakeViews()
	f.publish(1, batchRow("a", 10, 0.1), batchRow("b", 10, 0.2))
	f.speed["b"] = speedRow("b", 12, 0.22)
	gate := make(chan struct{})
	f.gate = gate
	s := predict.New(f, f, f, predict.Config{}, nil, nil)
	ctx := t.Context()
	synced := make(chan error)
	go func() { synced <- s.Sync(ctx) }()
	testenv.WaitFor(t, 5*time.Second, "the load starts", func() bool { return len(f.scanned()) == 1 })

	if err := s.Ready(); err == nil || !strings.Contains(err.Error(), "run 1 is loading") {
		t.Errorf("Ready while loading = %v, want run 1 is loading", err)
	}
	check(t, summarize(s.Lookup(ctx, []string{"a", "b"})), map[string]summary{
		"a": {err: predict.ErrUnavailable, degraded: true},
		"b": {source: predict.Speed, score: 0.22, degraded: true},
	})
	close(gate)
	if err := <-synced; err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(); err != nil {
		t.Errorf("Ready after the load = %v", err)
	}

	// Run 2 loads while run 1 answers.
	gate = make(chan struct{})
	f.set(func(f *fakeViews) { f.gate = gate })
	f.publish(2, batchRow("a", 20, 0.3), batchRow("b", 20, 0.4))
	go func() { synced <- s.Sync(ctx) }()
	testenv.WaitFor(t, 5*time.Second, "the second load starts", func() bool { return len(f.scanned()) == 2 })
	check(t, summarize(s.Lookup(ctx, []string{"a", "b"})), map[string]summary{
		"a": {source: predict.Batch, score: 0.1},
		"b": {source: predict.Speed, score: 0.22},
	})
	close(gate)
	if err := <-synced; err != nil {
		t.Fatal(err)
	}
	check(t, summarize(s.Lookup(ctx, []string{"a", "b"})), map[string]summary{
		"a": {source: predict.Batch, score: 0.3},
		"b": {source: predict.Batch, score: 0.4},
	})
}

func TestLookupDegraded(t *testing.T) {
	f := newFakeViews()
	f.publish(1, batchRow("both", 10, 0.1), batchRow("batch-only", 10, 0.3))
	f.speed["both"] = speedRow("both", 12, 0.11)
	f.speed["speed-only"] = speedRow("speed-only", 5, 0.4)
	s := newService(t, f)
	ctx := t.Context()

	t.Run("speed view down", func(t *testing.T) {
		f.set(func(f *fakeViews) { f.speedErr = errors.New("postgres down") })
		defer f.set(func(f *fakeViews) { f.speedErr = nil })
		check(t, summarize(s.Lookup(ctx, []string{"both", "batch-only", "speed-only"})), map[string]summary{
			"both":       {source: predict.Batch, score: 0.1, degraded: true},
			"batch-only": {source: predict.Batch, score: 0.3, degraded: true},
			"speed-only": {err: predict.ErrUnavailable, degraded: true},
		})
	})
	t.Run("recovered", func(t *testing.T) {
		check(t, summarize(s.Lookup(ctx, []string{"both", "batch-only", "speed-only"})), map[string]summary{
			"both":       {source: predict.Speed, score: 0.11},
			"batch-only": {source: predict.Batch, score: 0.3},
			"speed-only": {source: predict.Speed, score: 0.4},
		})
	})
}

func TestPublishedRunUnknown(t *testing.T) {
	f := newFakeViews()
	f.publish(1, batchRow("a", 10, 0.1))
	f.speed["b"] = speedRow("b", 3, 0.2)
	f.runsErr = errors.New("postgres down")
	s := predict.New(f, f, f, predict.Config{}, nil, nil)
	ctx := t.Context()
	if err := s.Sync(ctx); err == nil {
		t.Fatal("Sync succeeded while the run registry is down")
	}
	check(t, summarize(s.Lookup(ctx, []string{"a", "b"})), map[string]summary{
		"a": {err: predict.ErrUnavailable, degraded: true},
		"b": {source: predict.Speed, score: 0.2, degraded: true},
	})

	f.set(func(f *fakeViews) { f.runsErr = nil })
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	check(t, summarize(s.Lookup(ctx, []string{"a", "b"})), map[string]summary{
		"a": {source: predict.Batch, score: 0.1},
		"b": {source: predict.Speed, score: 0.2},
	})

	// Once known, the run keeps being served while the registry is down again.
	f.set(func(f *fakeViews) { f.runsErr = errors.New("postgres down") })
	if err := s.Sync(ctx); err == nil {
		t.Fatal("Sync succeeded while the run registry is down")
	}
	if got := s.ServedRun().ID; got != 1 {
		t.Errorf("served run %d, want 1 still", got)
	}
}

func TestNoRunPublished(t *testing.T) {
	f := newFakeViews()
	f.speed["b"] = speedRow("b", 3, 0.2)
	s := newService(t, f)
	check(t, summarize(s.Lookup(t.Context(), []string{"a", "b"})), map[string]summary{
		"a": {err: predict.ErrNotFound},
		"b": {source: predict.Speed, score: 0.2},
	})
}

func TestRunFollowsPublishes(t *testing.T) {
	f := newFakeViews()
	f.publish(1)
	s := predict.New(f, f, f, predict.Config{RunPoll: time.Hour}, nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	for _, want := range []int64{1, 2, 3} {
		if want > 1 {
			f.publish(want)
		}
		deadline := time.Now().Add(5 * time.Second)
		for s.ServedRun().ID != want {
			if time.Now().After(deadline) {
				t.Fatalf("served run %d, want %d after its publish notification", s.ServedRun().ID, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// TestSpeedCache: while the speed view's changes are announced, an entity's speed row (or
// its absence) is read once and then answered from memory until a change of it is
// announced; while they cannot be, every lookup reads PostgreSQL.
func TestSpeedCache(t *testing.T) {
	f := newFakeViews()
	f.publish(1, batchRow("a", 10, 0.1), batchRow("b", 10, 0.2))
	f.speed["a"] = speedRow("a", 11, 0.11)
	s := predict.New(f, f, f, predict.Config{RunPoll: 50 * time.Millisecond}, nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	testenv.WaitFor(t, 5*time.Second, "run 1 served", func() bool { return s.ServedRun().ID == 1 })
	want := map[string]summary{"a": {source: predict.Speed, score: 0.11}, "b": {source: predict.Batch, score: 0.2}}
	testenv.Eventually(t, 5*time.Second, "a and b cached", func() error {
		f.speedReads()
		check(t, summarize(s.Lookup(ctx, []string{"a", "b"})), want)
		if read := f.speedReads(); len(read) > 0 {
			return fmt.Errorf("read %v", read)
		}
		return nil
	})

	f.set(func(f *fakeViews) { f.speed["b"] = speedRow("b", 12, 0.22) })
	check(t, summarize(s.Lookup(ctx, []string{"b"})), map[string]summary{"b": want["b"]}) // unannounced: not seen
	f.changes <- []string{"b"}
	<-f.changes
	check(t, summarize(s.Lookup(ctx, []string{"a", "b"})), map[string]summary{
		"a": {source: predict.Speed, score: 0.11}, "b": {source: predict.Speed, score: 0.22}})
	if read := f.speedReads(); !slices.Equal(read, []string{"b"}) {
		t.Errorf("after b changed, read %v from the speed view; want b alone", read)
	}

	f.listenErr <- errors.New("connection lost")
	testenv.Eventually(t, 5*time.Second, "the listener back", func() error {
		f.speedReads()
		s.Lookup(ctx, []string{"a"})
		s.Lookup(ctx, []string{"a"})
		if read := f.speedReads(); len(read) != 1 {
			return fmt.Errorf("read %v for two lookups of a", read)
		}
		return nil
	})
}

// TestConcurrentMissesShareReads looks up 400 entities at once, each in a lookup of
// its own, against a speed view whose reads take 20 ms: every answer is right, no
// more than 4 reads run at once, and the lookups share far fewer reads than 400.
func TestConcurrentMissesShareReads(t *testing.T) {
	f := newFakeViews()
	f.publish(1)
	const n = 400
	for i := range n {
		id := fmt.Sprintf("user-%03d", i)
		f.speed[id] = speedRow(id, 5, float32(i))
	}
	f.speedDelay = 20 * time.Millisecond
	s := newService(t, f)
	var wg sync.WaitGroup
	got := make([]map[string]summary, n)
	for i := range n {
		wg.Go(func() { got[i] = summarize(s.Lookup(t.Context(), []string{fmt.Sprintf("user-%03d", i)})) })
	}
	wg.Wait()
	for i := range n {
		id := fmt.Sprintf("user-%03d", i)
		check(t, got[i], map[string]summary{id: {source: predict.Speed, score: float32(i)}})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.maxInFlight > 4 || f.speedCalls > n/4 {
		t.Errorf("%d lookups made %d speed view reads, %d at once; want at most %d reads, 4 at once", n, f.speedCalls, f.maxInFlight, n/4)
	}
	t.Logf("%d lookups, %d speed view reads, at most %d at once", n, f.speedCalls, f.maxInFlight)
}
