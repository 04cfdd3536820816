package views_test

import (
	"context"
	"slices"
	"strings"
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

// TestSpeedChanges: every statement that inserts, updates or deletes speed rows
// announces their entity ids, however many (in payloads under NOTIFY's limit).
func TestSpeedChanges(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := t.Context()
	got := make(chan []string, 100)
	ready := make(chan struct{})
	listenCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		done <- views.NewSpeed(pool).ListenChanges(listenCtx, func() { close(ready) }, func(ids []string) { got <- ids })
	}()
	<-ready
	// told collects the ids announced until want of them came, or a timeout.
	told := func(want int) []string {
		var ids []string
		for len(ids) < want {
			select {
			case more := <-got:
				ids = append(ids, more...)
			case <-time.After(5 * time.Second):
				t.Fatalf("told %d ids, want %d", len(ids), want)
			}
		}
		slices.Sort(ids)
		return ids
	}
	long := strings.Repeat("x", 200)
	if _, err := pool.Exec(ctx, `INSERT INTO speed_view (entity_id, kafka_partition, covered_offset, last_event_at, as_of, delta_state)
		SELECT $1 || '-' || lpad(i::text, 4, '0'), 0, 1, now(), now(), '\x01' FROM generate_series(0, 999) i`, long); err != nil {
		t.Fatal(err)
	}
	if ids := told(1000); len(ids) != 1000 || ids[0] != long+"-0000" || ids[999] != long+"-0999" {
		t.Fatalf("insert of 1000 rows (200 KB of ids): told %d ids", len(ids))
	}
	if _, err := pool.Exec(ctx, "UPDATE speed_view SET covered_offset = 2 WHERE entity_id IN ($1, $2)", long+"-0001", long+"-0002"); err != nil {
		t.Fatal(err)
	}
	if ids := told(2); !slices.Equal(ids, []string{long + "-0001", long + "-0002"}) {
		t.Errorf("update: told %v", ids)
	}
	if _, err := pool.Exec(ctx, "DELETE FROM speed_view WHERE entity_id = $1", long+"-0003"); err != nil {
		t.Fatal(err)
	}
	if ids := told(1); !slices.Equal(ids, []string{long + "-0003"}) {
		t.Errorf("delete: told %v", ids)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenChanges ended with %v after its context", err)
	}
}
