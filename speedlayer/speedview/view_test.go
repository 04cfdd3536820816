package speedview_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/speedlayer"
	"github.com/lambda-platform/lambda/speedlayer/speedview"
)

type stored struct {
	base    *int64
	covered int64
	score   *float32
	vector  []float32
	model   *string
	state   []byte
}

func read(ctx context.Context, t *testing.T, pool *pgxpool.Pool, id string) (stored, bool) {
	t.Helper()
	var s stored
	err := pool.QueryRow(ctx, `SELECT base_run_id, covered_offset, score, vector, model_name, delta_state
		FROM speed_view WHERE entity_id = $1`, id).Scan(&s.base, &s.covered, &s.score, &s.vector, &s.model, &s.state)
	if err != nil {
		return stored{}, false
	}
	return s, true
}

func TestUpsertIsGuardedByCoverage(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := context.Background()
	v := speedview.New(pool)
	m1, m2 := speedlayer.Model{Name: "m", Version: 1}, speedlayer.Model{Name: "m", Version: 2}
	now := time.Now().Truncate(time.Microsecond)
	row := func(covered, base int64, score float32) speedlayer.Row {
		return speedlayer.Row{EntityID: "e", BaseRunID: base, Partition: 2, CoveredOffset: covered, LastEventAt: now,
			AsOf: now, DeltaState: []byte{byte(covered), byte(base)}, Vector: []float32{1, 2, score}, Score: score}
	}
	steps := []struct {
		name    string
		model   speedlayer.Model
		row     speedlayer.Row
		changed int64
		want    speedlayer.Row
	}{
		{"first", m1, row(10, 1, 0.1), 1, row(10, 1, 0.1)},
		{"replayed", m1, row(10, 1, 0.9), 0, row(10, 1, 0.1)},
		{"older", m1, row(9, 1, 0.9), 0, row(10, 1, 0.1)},
		{"rebased", m1, row(10, 2, 0.2), 1, row(10, 2, 0.2)},
		{"rescored", m2, row(10, 2, 0.3), 1, row(10, 2, 0.3)},
		{"newer", m2, row(11, 2, 0.4), 1, row(11, 2, 0.4)},
	}
	for _, s := range steps {
		n, err := v.Upsert(ctx, s.model, []speedlayer.Row{s.row})
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if n != s.changed {
			t.Errorf("%s: %d rows changed, want %d", s.name, n, s.changed)
		}
		got, _ := read(ctx, t, pool, "e")
		w := s.want
		if got.covered != w.CoveredOffset || *got.base != w.BaseRunID || *got.score != w.Score ||
			len(got.vector) != 3 || got.vector[2] != w.Score || string(got.state) != string(w.DeltaState) {
			t.Errorf("%s: stored covered=%d base=%d score=%v vector=%v state=%v, want %+v",
				s.name, got.covered, *got.base, *got.score, got.vector, got.state, w)
		}
	}
}

func TestUnscoredRowsAndDeleteDominated(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := context.Background()
	v := speedview.New(pool)
	now := time.Now()
	rows := []speedlayer.Row{
		{EntityID: "a", BaseRunID: 0, Partition: 1, CoveredOffset: 5, LastEventAt: now, AsOf: now, DeltaState: []byte{1}},
		{EntityID: "b", BaseRunID: 3, Partition: 1, CoveredOffset: 9, LastEventAt: now, AsOf: now, DeltaState: []byte{1}},
		{EntityID: "c", BaseRunID: 3, Partition: 1, CoveredOffset: 20, LastEventAt: now, AsOf: now, DeltaState: []byte{1}},
		{EntityID: "d", BaseRunID: 4, Partition: 1, CoveredOffset: 12, LastEventAt: now, AsOf: now, DeltaState: []byte{1}},
		{EntityID: "e", BaseRunID: 3, Partition: 2, CoveredOffset: 1, LastEventAt: now, AsOf: now, DeltaState: []byte{1}},
	}
	if n, err := v.Upsert(ctx, speedlayer.Model{Name: "ignored", Version: 1}, rows); err != nil || n != 5 {
		t.Fatalf("upsert: %d rows, %v", n, err)
	}
	a, _ := read(ctx, t, pool, "a")
	if a.base != nil || a.score != nil || a.vector != nil || a.model != nil {
		t.Errorf("unscored row without base: base %v score %v vector %v model %v, want NULLs", a.base, a.score, a.vector, a.model)
	}
	// Run 4 with cutoff 15 in partition 1 dominates a and b; c covers more, d is run 4's.
	n, err := v.DeleteDominated(ctx, 1, 4, 15)
	if err != nil || n != 2 {
		t.Fatalf("DeleteDominated: %d rows, %v; want 2", n, err)
	}
	for id, want := range map[string]bool{"a": false, "b": false, "c": true, "d": true, "e": true} {
		if _, ok := read(ctx, t, pool, id); ok != want {
			t.Errorf("row %s present = %v, want %v", id, ok, want)
		}
	}
}
