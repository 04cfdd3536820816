package batchrun_test

import (
	"context"
	"log/slog"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/batchlayer/batchrun"
	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/master"
	"github.com/lambda-platform/lambda/internal/master/mastertest"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/views"
)

const partitions = 4

// fixture is a test's databases, master dataset and model.
type fixture struct {
	*mastertest.Env
	spec   *features.Spec
	model  *inference.Model
	logged []mastertest.Logged
	next   map[int]int64 // next offset per partition
	frozen map[int]int64 // when set, the archiver's coverage instead of next
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{Env: mastertest.New(t), spec: features.DefaultSpec(), next: map[int]int64{}}
	f.model = mastertest.Model(t, mastertest.LR(f.spec.Len()), f.spec)
	return f
}

// produce appends n demo events to the log and the master dataset.
func (f *fixture) produce(t *testing.T, n int, seed int64) []mastertest.Logged {
	g := demogen.New(demogen.Config{Entities: 300, Seed: seed})
	events := make([]event.Event, n)
	for i := range events {
		events[i] = g.Next()
	}
	logged := mastertest.Log(events, partitions, f.next)
	f.Insert(t, logged)
	f.logged = append(f.logged, logged...)
	return logged
}

// coverage is what the archiver reports: frozen, or everything so far.
func (f *fixture) coverage() map[int]int64 {
	if f.frozen != nil {
		return f.frozen
	}
	c := map[int]int64{}
	for p := range partitions {
		c[p] = f.next[p]
	}
	return c
}

// models serves the fixture's model, passing it through wrap when set.
type models struct {
	f    *fixture
	wrap func(batchrun.Model) batchrun.Model
}

func (m *models) UseActive(_ context.Context, fn func(batchrun.Model, *features.Spec) error) error {
	var model batchrun.Model = m.f.model
	if m.wrap != nil {
		model = m.wrap(model)
	}
	return fn(model, m.f.spec)
}

// runner returns a Runner on the fixture whose cutoff is coverage().
func (f *fixture) runner(t *testing.T, cfg batchrun.Config, ms batchrun.Models) *batchrun.Runner {
	cfg.Database = f.Database
	if ms == nil {
		ms = &models{f: f}
	}
	r, err := batchrun.New(t.Context(), batchrun.Deps{
		Postgres: f.Postgres, ClickHouse: f.ClickHouse, Events: f.Events, Models: ms,
		Coverage:   batchrun.CoverageFunc(func(context.Context) (map[int]int64, error) { return f.coverage(), nil }),
		Registerer: prometheus.NewRegistry(), Log: slog.New(slog.NewTextHandler(t.Output(), nil)),
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// runToEnd triggers a run and waits for its end.
func runToEnd(t *testing.T, r *batchrun.Runner) runs.Run {
	t.Helper()
	run, started, err := r.Trigger(t.Context(), runs.TriggerCLI, t.Name())
	if err != nil || !started {
		t.Fatalf("Trigger = %d, started %v, %v", run.ID, started, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	done, err := r.Wait(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	return done
}

// viewRows reads run id's batch view.
func (f *fixture) viewRows(t *testing.T, id int64) map[string]views.Record {
	t.Helper()
	got := map[string]views.Record{}
	err := views.NewBatch(f.Stream, f.Database).Scan(t.Context(), id, views.Scores|views.States, func(r *views.Record) error {
		c := *r
		c.EntityID, c.State, c.Vector = slices.Clone(r.EntityID), slices.Clone(r.State), slices.Clone(r.Vector)
		got[string(c.EntityID)] = c
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// checkView compares run's batch view with the direct fold of the events its cutoff includes.
func (f *fixture) checkView(t *testing.T, run runs.Run) {
	t.Helper()
	cutoff := master.Cutoff{Offsets: run.CutoffOffsets, Imported: run.CutoffImported}
	want, asOf := mastertest.Expect(t, f.spec, f.model, f.logged, cutoff)
	if !run.CutoffEventTime.Equal(asOf) {
		t.Errorf("cutoff event time %v, want %v", run.CutoffEventTime, asOf)
	}
	got := f.viewRows(t, run.ID)
	if len(got) != len(want) || int64(len(want)) != run.EntitiesScored || run.RowsWritten != int64(len(want)) {
		t.Fatalf("%d rows (run says %d scored, %d written), want %d", len(got), run.EntitiesScored, run.RowsWritten, len(want))
	}
	worst := 0.0
	for _, id := range slices.Sorted(maps.Keys(want)) {
		w, g := want[id], got[id]
		if d := math.Abs(float64(g.Score - w.Score)); d > worst {
			worst = d
		}
		switch {
		case string(g.State) != string(w.State):
			t.Errorf("%s: state differs from the direct fold", id)
		case !slices.Equal(g.Vector, w.Vector):
			t.Errorf("%s: vector %v, want %v", id, g.Vector, w.Vector)
		case !g.LastEvent.Equal(w.LastEvent) || !g.AsOf.Equal(asOf):
			t.Errorf("%s: last event %v as of %v, want %v as of %v", id, g.LastEvent, g.AsOf, w.LastEvent, asOf)
		case g.Offset != run.CutoffOffsets[g.Partition]:
			t.Errorf("%s: covered offset %d of partition %d, cutoff %v", id, g.Offset, g.Partition, run.CutoffOffsets)
		case g.ModelName != "test" || g.ModelVersion != 1:
			t.Errorf("%s: model %s@%d", id, g.ModelName, g.ModelVersion)
		}
	}
	if worst > 1e-6 {
		t.Errorf("largest score difference %g, want ≤ 1e-6", worst)
	}
}
