package predict_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/servinglayer/predict"
)

// fakeViews are in-memory views whose reads can be made to fail.
type fakeViews struct {
	mu         sync.Mutex
	runs       map[int64]map[string]predict.BatchRow
	speed      map[string]predict.SpeedRow
	published  predict.ServedRun // ID 0: none
	batchErr   error
	speedErr   error
	runsErr    error
	batchReads []string
	publishes  chan struct{}
}

func newFakeViews() *fakeViews {
	return &fakeViews{runs: map[int64]map[string]predict.BatchRow{}, speed: map[string]predict.SpeedRow{}, publishes: make(chan struct{}, 10)}
}

func (f *fakeViews) BatchRows(_ context.Context, runID int64, ids []string) ([]predict.BatchRow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.batchErr != nil {
		return nil, f.batchErr
	}
	f.batchReads = append(f.batchReads, ids...)
	var out []predict.BatchRow
	for _, id := range ids {
		if r, ok := f.runs[runID][id]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeViews) SpeedRows(_ context.Context, ids []string) ([]predict.SpeedRow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.speedErr != nil {
		return nil, f.speedErr
	}
	var out []predict.SpeedRow
	for _, id := range ids {
		if r, ok := f.speed[id]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeViews) Published(context.Context) (predict.ServedRun, bool, error) {
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

// publish adds run id with rows and makes it the published run.
func (f *fakeViews) publish(id int64, rows ...predict.BatchRow) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs[id] = map[string]predict.BatchRow{}
	for _, r := range rows {
		r.RunID = id
		f.runs[id][r.EntityID] = r
	}
	f.published = predict.ServedRun{ID: id, PublishedAt: time.Now()}
	f.publishes <- struct{}{}
}

func (f *fakeViews) set(fn func(f *fakeViews)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeViews) reads() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.batchReads)
}

func batchRow(id string, offset int64, score float32) predict.BatchRow {
	return predict.BatchRow{EntityID: id, Coverage: predict.Coverage{Partition: 1, Offset: offset}, Score: score}
}

func speedRow(id string, offset int64, score float32) predict.SpeedRow {
	return predict.SpeedRow{EntityID: id, Coverage: predict.Coverage{Partition: 1, Offset: offset}, Scored: true, Score: score}
}

func newService(t *testing.T, f *fakeViews) *predict.Service {
	t.Helper()
	s := predict.New(f, f, f, predict.Config{CacheEntries: 1000}, nil, nil)
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

func TestLookupCachesPublishedRun(t *testing.T) {
	f := newFakeViews()
	f.publish(1, batchRow("a", 10, 0.1))
	s := newService(t, f)
	ctx := t.Context()

	s.Lookup(ctx, []string{"a", "absent"})
	s.Lookup(ctx, []string{"a", "absent"})
	if got := f.reads(); !slices.Equal(got, []string{"a", "absent"}) {
		t.Fatalf("batch view read %v; want each entity read once, later lookups from the cache", got)
	}

	// While ClickHouse is down, cached entities are answered as before.
	f.set(func(f *fakeViews) { f.batchErr = errors.New("clickhouse down") })
	check(t, summarize(s.Lookup(ctx, []string{"a", "absent"})), map[string]summary{
		"a":      {source: predict.Batch, score: 0.1},
		"absent": {err: predict.ErrNotFound},
	})
	f.set(func(f *fakeViews) { f.batchErr = nil })

	// Publishing run 2 invalidates: its rows are read, and they answer.
	f.publish(2, batchRow("a", 20, 0.2), batchRow("absent", 20, 0.3))
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
	if got := f.reads(); len(got) != 4 {
		t.Errorf("batch view reads %v; want the new run read once more", got)
	}
}

func TestLookupDegraded(t *testing.T) {
	f := newFakeViews()
	f.publish(1, batchRow("both", 10, 0.1), batchRow("cached", 10, 0.2), batchRow("batch-only", 10, 0.3),
		batchRow("batch-fresh", 10, 0.5))
	f.speed["both"] = speedRow("both", 12, 0.11)
	f.speed["speed-only"] = speedRow("speed-only", 5, 0.4)
	f.speed["speed-fresh"] = speedRow("speed-fresh", 5, 0.6)
	s := newService(t, f)
	ctx := t.Context()
	s.Lookup(ctx, []string{"cached"})

	t.Run("speed view down", func(t *testing.T) {
		f.set(func(f *fakeViews) { f.speedErr = errors.New("postgres down") })
		defer f.set(func(f *fakeViews) { f.speedErr = nil })
		check(t, summarize(s.Lookup(ctx, []string{"both", "batch-only", "speed-only"})), map[string]summary{
			"both":       {source: predict.Batch, score: 0.1, degraded: true},
			"batch-only": {source: predict.Batch, score: 0.3, degraded: true},
			"speed-only": {err: predict.ErrUnavailable, degraded: true},
		})
	})
	t.Run("batch view down", func(t *testing.T) {
		f.set(func(f *fakeViews) { f.batchErr = errors.New("clickhouse down") })
		defer f.set(func(f *fakeViews) { f.batchErr = nil })
		// Entities not read before are not cached; "cached" is.
		check(t, summarize(s.Lookup(ctx, []string{"speed-fresh", "batch-fresh", "cached"})), map[string]summary{
			"speed-fresh": {source: predict.Speed, score: 0.6, degraded: true},
			"batch-fresh": {err: predict.ErrUnavailable, degraded: true},
			"cached":      {source: predict.Batch, score: 0.2},
		})
	})
	t.Run("both down", func(t *testing.T) {
		f.set(func(f *fakeViews) {
			f.batchErr, f.speedErr = errors.New("clickhouse down"), errors.New("postgres down")
		})
		defer f.set(func(f *fakeViews) { f.batchErr, f.speedErr = nil, nil })
		check(t, summarize(s.Lookup(ctx, []string{"speed-fresh", "cached"})), map[string]summary{
			"speed-fresh": {err: predict.ErrUnavailable, degraded: true},
			"cached":      {source: predict.Batch, score: 0.2, degraded: true},
		})
	})
	t.Run("recovered", func(t *testing.T) {
		check(t, summarize(s.Lookup(ctx, []string{"both", "speed-fresh", "batch-fresh"})), map[string]summary{
			"both":        {source: predict.Speed, score: 0.11},
			"speed-fresh": {source: predict.Speed, score: 0.6},
			"batch-fresh": {source: predict.Batch, score: 0.5},
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
