package batchstore_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/internal/views"
	"github.com/lambda-platform/lambda/servinglayer/batchstore"
)

// row is entity i's row of run, as the tests write it.
func row(run int64, i int, asOf time.Time) views.Record {
	return views.Record{RunID: run, EntityID: fmt.Appendf(nil, "user-%06d", i),
		Coverage: views.Coverage{Partition: int32(i % 6), Offset: int64(1000 + i), LastEvent: asOf.Add(-time.Duration(i) * time.Millisecond)},
		AsOf:     asOf, Vector: []float32{float32(i), 0.5, -float32(i)}, Score: float32(i%1000) / 1000, ModelName: "demo", ModelVersion: 4}
}

// TestLoad: every row of the run, and only of that run, is found with every field
// exact; a retried write answers with its newest copy; absent ids are not found.
func TestLoad(t *testing.T) {
	conn, db := testenv.ClickHouse(t)
	asOf := time.Date(2026, 3, 1, 12, 0, 0, 123000, time.UTC)
	const n = 5000
	var rows []views.Record
	for i := range n {
		rows = append(rows, row(7, i, asOf), row(8, i, asOf.Add(time.Hour)))
	}
	odd := row(7, n, asOf)
	odd.EntityID = []byte(`o'dd\ id ü`)
	retried := row(7, 3, asOf)
	retried.Score, retried.WrittenAt = 0.999, time.Now().Add(time.Minute)
	rows = append(rows, odd, retried)
	testenv.InsertBatchView(t, conn, db, rows...)

	run := runs.Run{ID: 7, Counts: runs.Counts{RowsWritten: n + 2}}
	s, err := batchstore.Load(t.Context(), views.NewBatch(testenv.ClickHouseStream(""), db), run)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != n+1 || s.Run().ID != 7 {
		t.Fatalf("Len %d, run %d; want %d rows of run 7", s.Len(), s.Run().ID, n+1)
	}
	want := map[string]views.Record{string(odd.EntityID): odd}
	for i := range n {
		want[string(rows[2*i].EntityID)] = rows[2*i]
	}
	want["user-000003"] = retried
	for id, w := range want {
		got, ok := s.Get(id)
		if !ok || got.EntityID != id || got.RunID != 7 || got.Coverage != w.Coverage || !got.AsOf.Equal(asOf) ||
			!slices.Equal(got.Vector, w.Vector) || got.Score != w.Score || got.ModelName != "demo" || got.ModelVersion != 4 {
			t.Fatalf("%s: %+v, %v; want %+v", id, got, ok, w)
		}
	}
	for _, id := range []string{"", "user-", "user-0000001", "nobody"} {
		if _, ok := s.Get(id); ok {
			t.Errorf("%q found", id)
		}
	}
	if b := s.Bytes(); b < int64(n*40) || b > int64(n*200) {
		t.Errorf("Bytes = %d for %d rows", b, n)
	}

	empty, err := batchstore.Load(t.Context(), views.NewBatch(testenv.ClickHouseStream(""), db), runs.Run{ID: 9})
	if err != nil || empty.Len() != 0 {
		t.Fatalf("a run without rows: Len %d, %v", empty.Len(), err)
	}
	if _, ok := empty.Get("user-000001"); ok {
		t.Error("found in an empty store")
	}
}

// TestLoadRejectsInconsistentRuns: a run whose rows disagree on what is the same for a
// whole run is not loaded, with a message naming the entity.
func TestLoadRejectsInconsistentRuns(t *testing.T) {
	conn, db := testenv.ClickHouse(t)
	asOf := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	wide := row(1, 2, asOf)
	wide.Vector = append(wide.Vector, 1)
	other := row(2, 2, asOf)
	other.ModelVersion = 5
	testenv.InsertBatchView(t, conn, db, row(1, 1, asOf), wide, row(2, 1, asOf), other)
	src := views.NewBatch(testenv.ClickHouseStream(""), db)
	for _, id := range []int64{1, 2} {
		_, err := batchstore.Load(t.Context(), src, runs.Run{ID: id})
		if !errors.Is(err, batchstore.ErrInconsistent) || !strings.Contains(err.Error(), "user-000002") {
			t.Errorf("run %d: %v; want ErrInconsistent naming user-000002", id, err)
		}
	}
}
