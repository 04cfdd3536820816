package views_test

import (
	"slices"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/internal/views"
)

func TestSpeedRows(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := t.Context()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, err := pool.Exec(ctx, `INSERT INTO speed_view
		(entity_id, base_run_id, kafka_partition, covered_offset, last_event_at, as_of, delta_state, vector, score, model_name, model_version, updated_at)
		VALUES ('scored', 4, 2, 120, $1, $2, '\x01', '{1.5,2}', 0.75, 'demo', 3, $2),
		       ('unscored', NULL, 5, 7, $1, $2, '\x01', NULL, NULL, NULL, NULL, $2)`, at, at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	s := views.NewSpeed(pool)
	rows, err := s.SpeedRows(ctx, []string{"scored", "unscored", "absent"})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(rows, func(a, b views.SpeedRow) int { return len(a.EntityID) - len(b.EntityID) })
	want := []views.SpeedRow{
		{EntityID: "scored", BaseRunID: 4, Coverage: views.Coverage{Partition: 2, Offset: 120, LastEvent: at},
			AsOf: at.Add(time.Second), UpdatedAt: at.Add(time.Second), Scored: true, Vector: []float32{1.5, 2}, Score: 0.75,
			ModelName: "demo", ModelVersion: 3},
		{EntityID: "unscored", Coverage: views.Coverage{Partition: 5, Offset: 7, LastEvent: at},
			AsOf: at.Add(time.Second), UpdatedAt: at.Add(time.Second)},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i := range want {
		if !equalSpeed(rows[i], want[i]) {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, rows[i], want[i])
		}
	}
	one, err := s.SpeedRows(ctx, []string{"scored"})
	if err != nil || len(one) != 1 || !equalSpeed(one[0], want[0]) {
		t.Errorf("one id: %+v, %v", one, err)
	}
}

func equalSpeed(a, b views.SpeedRow) bool {
	return a.EntityID == b.EntityID && a.BaseRunID == b.BaseRunID && a.Partition == b.Partition && a.Offset == b.Offset &&
		a.LastEvent.Equal(b.LastEvent) && a.AsOf.Equal(b.AsOf) && a.UpdatedAt.Equal(b.UpdatedAt) && a.Scored == b.Scored &&
		slices.Equal(a.Vector, b.Vector) && a.Score == b.Score && a.ModelName == b.ModelName && a.ModelVersion == b.ModelVersion
}
