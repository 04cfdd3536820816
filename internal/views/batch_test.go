package views_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/internal/views"
)

// scan reads a run, or the rows of ids when ids is not nil, copying each row.
func scan(t *testing.T, b *views.Batch, run int64, ids []string, f views.Fields) []views.Record {
	t.Helper()
	var out []views.Record
	keep := func(r *views.Record) error {
		c := *r
		c.EntityID, c.Vector, c.State = slices.Clone(r.EntityID), slices.Clone(r.Vector), slices.Clone(r.State)
		out = append(out, c)
		return nil
	}
	var err error
	if ids == nil {
		err = b.Scan(t.Context(), run, f, keep)
	} else {
		err = b.ScanIDs(t.Context(), run, ids, f, keep)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBatchScan: every field of a row comes back, each entity once with its newest
// written copy, in entity order, for a whole run or some ids (quotes and backslashes
// in ids included), and only the asked-for columns are filled.
func TestBatchScan(t *testing.T) {
	conn, db := testenv.ClickHouse(t)
	asOf := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	last := asOf.Add(-time.Hour)
	written := time.Now().Add(-time.Minute).Truncate(time.Second)
	ids := []string{"a", "b", `o'dd\ id`}
	var rows []views.Record
	for _, run := range []int64{1, 2} {
		for _, id := range ids {
			rows = append(rows, views.Record{RunID: run, EntityID: []byte(id), Coverage: views.Coverage{Partition: 3, Offset: 100 * run, LastEvent: last},
				AsOf: asOf, Vector: []float32{float32(run), 1}, Score: float32(run) / 10, ModelName: "demo", ModelVersion: 2,
				State: []byte("s-" + id), WrittenAt: written})
		}
	}
	// A retried write of run 2's "a" with a newer written_at wins over the first copy.
	rows = append(rows, views.Record{RunID: 2, EntityID: []byte("a"), Coverage: views.Coverage{Partition: 3, Offset: 200, LastEvent: last},
		AsOf: asOf, Vector: []float32{2, 7}, Score: 0.25, ModelName: "demo", ModelVersion: 2, State: []byte("retried"),
		WrittenAt: written.Add(time.Second)})
	testenv.InsertBatchView(t, conn, db, rows...)

	b := views.NewBatch(testenv.ClickHouseStream(""), db)
	all := scan(t, b, 2, nil, views.Scores|views.States|views.WrittenAt)
	if len(all) != 3 || string(all[0].EntityID) != "a" || string(all[2].EntityID) != `o'dd\ id` {
		t.Fatalf("got %d rows %+v, want a, b and o'dd\\ id of run 2 in order", len(all), all)
	}
	a := all[0]
	if a.RunID != 2 || a.Coverage != (views.Coverage{Partition: 3, Offset: 200, LastEvent: last}) || !a.AsOf.Equal(asOf) ||
		!slices.Equal(a.Vector, []float32{2, 7}) || a.Score != 0.25 || a.ModelName != "demo" || a.ModelVersion != 2 ||
		string(a.State) != "retried" || !a.WrittenAt.Equal(written.Add(time.Second)) {
		t.Errorf("a: %+v, want the retried copy", a)
	}
	if all[1].Score != 0.2 || string(all[1].State) != "s-b" {
		t.Errorf("b: %+v, want run 2's row", all[1])
	}

	some := scan(t, b, 2, []string{`o'dd\ id`, "absent", "a"}, views.Scores)
	if len(some) != 2 || string(some[0].EntityID) != "a" || some[0].Score != 0.25 || string(some[1].EntityID) != `o'dd\ id` {
		t.Fatalf("by ids: %+v", some)
	}
	if some[0].State != nil || !some[0].WrittenAt.IsZero() {
		t.Errorf("columns not asked for were filled: %+v", some[0])
	}
	if none := scan(t, b, 3, nil, views.Scores); len(none) != 0 {
		t.Errorf("run 3 has no rows, got %d", len(none))
	}
}

// TestBatchStates: a lookup longer than one query's bound is split, and the newest
// write of each entity wins.
func TestBatchStates(t *testing.T) {
	conn, db := testenv.ClickHouse(t)
	ctx := t.Context()
	ins, err := conn.PrepareBatch(ctx, "INSERT INTO `"+db+"`.batch_view (run_id, entity_id, state, written_at)")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 200)
	var ids []string
	for i := range 2000 {
		id := fmt.Sprintf("%s-%04d", long, i)
		ids = append(ids, id)
		for _, row := range []struct {
			run   uint64
			state string
			at    time.Time
		}{
			{7, "old-" + id, time.Unix(1000, 0)}, // a retried write: the newest copy wins
			{7, "new-" + id, time.Unix(2000, 0)},
			{8, "other-run", time.Unix(3000, 0)},
		} {
			if err := ins.Append(row.run, id, row.state, row.at); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := ins.Send(); err != nil {
		t.Fatal(err)
	}
	got, err := views.NewBatch(testenv.ClickHouseStream(""), db).States(ctx, 7, append(ids, "missing"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Fatalf("%d states, want %d", len(got), len(ids))
	}
	for _, id := range ids {
		if string(got[id]) != "new-"+id {
			t.Fatalf("state of %s = %q, want the newest write", id, got[id])
		}
	}
}
