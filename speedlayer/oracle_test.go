package speedlayer_test

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
)

// row is a speed_view row as the tests compare it (updated_at left out).
type row struct {
	BaseRunID     *int64
	Partition     int32
	CoveredOffset int64
	LastEventAt   time.Time
	AsOf          time.Time
	DeltaState    []byte
	Vector        []float32
	Score         *float32
	ModelName     *string
	ModelVersion  *int32
}

// speedRows reads every row of pool's speed_view.
func speedRows(ctx context.Context, t testing.TB, pool *pgxpool.Pool) map[string]row {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT entity_id, base_run_id, kafka_partition, covered_offset, last_event_at, as_of,
		delta_state, vector, score, model_name, model_version FROM speed_view`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]row{}
	for rows.Next() {
		var id string
		var r row
		if err := rows.Scan(&id, &r.BaseRunID, &r.Partition, &r.CoveredOffset, &r.LastEventAt, &r.AsOf,
			&r.DeltaState, &r.Vector, &r.Score, &r.ModelName, &r.ModelVersion); err != nil {
			t.Fatal(err)
		}
		r.LastEventAt, r.AsOf = r.LastEventAt.UTC(), r.AsOf.UTC()
		out[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// expected computes, from the log alone, the row every entity with valid events
// after the run's cutoff must have once the speed layer has read the whole log:
// coverage = its last valid offset X, state = fold of all its valid events up to X,
// delta = fold of those after the cutoff but copies of events before it, as_of = the partition's watermark at X
// (at least the run's as_of), and the model's score of the vector as of as_of.
func (e *env) expected(ctx context.Context, log [][]logRecord, b batchRun) map[string]row {
	e.t.Helper()
	out := map[string]row{}
	for p, recs := range log {
		cut := b.run.CutoffOf(p)
		all, after := map[string][]event.Event{}, map[string][]event.Event{}
		covered, asOf := map[string]int64{}, map[string]time.Time{}
		inBatch := map[[2]string]bool{}
		wm := b.run.CutoffEventTime
		for _, r := range recs {
			if !r.valid {
				continue
			}
			id := r.ev.EntityID
			all[id] = append(all[id], r.ev)
			if r.offset <= cut {
				inBatch[[2]string{id, r.ev.EventID}] = true
				continue
			}
			if r.ev.TS.After(wm) {
				wm = r.ev.TS
			}
			if !inBatch[[2]string{id, r.ev.EventID}] {
				after[id] = append(after[id], r.ev)
			} else if after[id] == nil {
				after[id] = []event.Event{}
			}
			covered[id], asOf[id] = r.offset, wm.Truncate(time.Microsecond)
		}
		for id, evs := range after {
			full, delta := fold(e.spec, all[id]), fold(e.spec, evs)
			newest, ok := full.Newest()
			if !ok {
				continue
			}
			vec := full.Vector(asOf[id])
			score, err := e.holder.ScoreOne(ctx, vec)
			if err != nil {
				e.t.Fatal(err)
			}
			state, _ := delta.AppendBinary(nil)
			var base *int64
			if b.run.ID != 0 {
				base = &b.run.ID
			}
			name, version := modelName, int32(1)
			out[id] = row{BaseRunID: base, Partition: int32(p), CoveredOffset: covered[id], LastEventAt: newest,
				AsOf: asOf[id], DeltaState: state, Vector: vec, Score: &score, ModelName: &name, ModelVersion: &version}
		}
	}
	return out
}

func fold(spec *features.Spec, evs []event.Event) *features.State {
	f := features.NewFolder(spec)
	for _, ev := range evs {
		f.Add(ev)
	}
	for _, st := range f.States() {
		return st
	}
	return spec.NewState()
}

// compareRows reports the differences between got and want, failing the test
// after the first ten.
func compareRows(t testing.TB, got, want map[string]row) {
	t.Helper()
	for i, d := range rowDiffs(got, want) {
		if i == 10 {
			t.Fatalf("more differences left out")
		}
		t.Error(d)
	}
}

// rowDiffs describes every difference between got and want.
func rowDiffs(got, want map[string]row) []string {
	var diffs []string
	for _, id := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[id]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("entity %s: no speed row, want %s", id, want[id]))
			continue
		}
		if gs, ws := g.String(), want[id].String(); gs != ws {
			diffs = append(diffs, fmt.Sprintf("entity %s:\n got  %s\n want %s", id, gs, ws))
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("entity %s: unexpected speed row %s", id, g))
		}
	}
	return diffs
}

func (r row) String() string {
	deref := func(p any) any {
		switch v := p.(type) {
		case *int64:
			if v != nil {
				return *v
			}
		case *float32:
			if v != nil {
				return fmt.Sprintf("%v(%08x)", *v, math.Float32bits(*v))
			}
		case *string:
			if v != nil {
				return *v
			}
		case *int32:
			if v != nil {
				return *v
			}
		}
		return nil
	}
	return fmt.Sprintf("base=%v p=%d covered=%d last=%s as_of=%s delta=%x vector=%v score=%v model=%v@%v",
		deref(r.BaseRunID), r.Partition, r.CoveredOffset, r.LastEventAt.Format(time.RFC3339Nano), r.AsOf.Format(time.RFC3339Nano),
		r.DeltaState, r.Vector, deref(r.Score), deref(r.ModelName), deref(r.ModelVersion))
}
