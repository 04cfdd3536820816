package view_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/batchlayer/view"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/internal/views"
)

// TestWriteReadDrop writes two runs, one of them twice (a retried write), reads one
// row per entity back through the shared reader, and drops a run's partition.
func TestWriteReadDrop(t *testing.T) {
	conn, db := testenv.ClickHouse(t)
	asOf := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	write := func(id uint64) {
		w := view.NewWriter(conn, db, view.Run{ID: id, AsOf: asOf, ModelName: "m", ModelVersion: 1}, 7)
		for i := range 20 {
			if err := w.Add(t.Context(), view.Row{EntityID: fmt.Sprintf("e%02d", i), KafkaPartition: 1, CoveredOffset: 5,
				LastEvent: asOf, State: []byte{byte(i)}, Vector: []float32{float32(i)}, Score: 0.5}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if w.Written() != 20 {
			t.Fatalf("Written = %d", w.Written())
		}
	}
	write(1)
	write(1)
	write(2)
	var ids []string
	err := views.NewBatch(testenv.ClickHouseStream(""), db).Scan(t.Context(), 1, views.Scores|views.States, func(r *views.Record) error {
		if r.RunID != 1 || !r.AsOf.Equal(asOf) || fmt.Sprintf("e%02d", r.State[0]) != string(r.EntityID) || r.ModelName != "m" {
			t.Errorf("row %+v", r)
		}
		ids = append(ids, string(r.EntityID))
		return nil
	})
	if err != nil || len(ids) != 20 || !slices.IsSorted(ids) {
		t.Fatalf("Read: %d rows %v, %v; want 20 sorted", len(ids), ids, err)
	}
	parts, err := view.Partitions(t.Context(), conn, db)
	slices.Sort(parts)
	if err != nil || !slices.Equal(parts, []uint64{1, 2}) {
		t.Fatalf("Partitions = %v, %v", parts, err)
	}
	for _, id := range []uint64{1, 1, 99} { // dropping twice, or what never existed, is fine
		if err := view.DropRun(t.Context(), conn, db, id); err != nil {
			t.Fatal(err)
		}
	}
	if parts, err := view.Partitions(t.Context(), conn, db); err != nil || !slices.Equal(parts, []uint64{2}) {
		t.Errorf("Partitions after drop = %v, %v", parts, err)
	}
}
