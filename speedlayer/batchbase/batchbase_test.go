package batchbase_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/batchlayer/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/speedlayer/batchbase"
)

func TestPublishedRun(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := context.Background()
	r := batchbase.Runs{DB: pool}
	run, err := r.PublishedRun(ctx)
	if err != nil || run.ID != 0 || run.Cutoff != nil {
		t.Fatalf("no run published: got %+v, %v; want the zero Run", run, err)
	}
	started, err := runs.Start(ctx, pool, runs.TriggerCLI, "test")
	if err != nil {
		t.Fatal(err)
	}
	asOf := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	if err := runs.SetCutoff(ctx, pool, started.ID, runs.Cutoff{Offsets: []int64{4, -1, 9}, Imported: -1, EventTime: asOf}); err != nil {
		t.Fatal(err)
	}
	if _, err := runs.Publish(ctx, pool, started.ID, runs.Counts{}); err != nil {
		t.Fatal(err)
	}
	run, err = r.PublishedRun(ctx)
	if err != nil || run.ID != started.ID || !slices.Equal(run.Cutoff, []int64{4, -1, 9}) || !run.AsOf.Equal(asOf) {
		t.Fatalf("got %+v, %v; want run %d with cutoff [4 -1 9] as of %s", run, err, started.ID, asOf)
	}
	if run.CutoffOf(1) != -1 || run.CutoffOf(2) != 9 || run.CutoffOf(7) != -1 {
		t.Errorf("CutoffOf: %d %d %d", run.CutoffOf(1), run.CutoffOf(2), run.CutoffOf(7))
	}
}

func TestBaseStates(t *testing.T) {
	conn, db := testenv.ClickHouse(t)
	ctx := context.Background()
	ins, err := conn.PrepareBatch(ctx, "INSERT INTO `"+db+"`.batch_view (run_id, entity_id, state, written_at)")
	if err != nil {
		t.Fatal(err)
	}
	// Long ids, so that one lookup is split by the query size bound.
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
	got, err := batchbase.NewStates(conn, db).BaseStates(ctx, 7, append(ids, "missing"))
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

func TestArchiveEventIDs(t *testing.T) {
	conn, db := testenv.ClickHouse(t)
	ctx := context.Background()
	ins, err := conn.PrepareBatch(ctx, "INSERT INTO `"+db+"`.events (kafka_partition, kafka_offset, event_id, entity_id, ts)")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	for off := range int64(10) {
		for _, p := range []int32{0, 1} {
			ts := now
			if off == 6 {
				ts = now.Add(-100 * 24 * time.Hour) // too late to be checked
			}
			for range 2 { // a redelivered copy
				if err := ins.Append(p, off, fmt.Sprintf("ev-%d-%d", p, off), "user", ts); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := ins.Send(); err != nil {
		t.Fatal(err)
	}
	var got []string
	err = batchbase.NewArchive(conn, db).EventIDs(ctx, 1, 3, 7, now.Add(-time.Hour), func(entity, event string) {
		got = append(got, entity+"/"+event)
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"user/ev-1-4", "user/ev-1-5", "user/ev-1-7"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
