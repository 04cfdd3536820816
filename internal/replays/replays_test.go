package replays_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/replays"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// TestLifecycle walks replays through their statuses on a real PostgreSQL: one live at
// a time, a switch retires the one before, only caught-up replays switch, ended ones'
// views are dropped.
func TestLifecycle(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tableExists := func(id int64) bool {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = $1", replays.Table(id)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	a, err := replays.Create(ctx, pool, replays.Request{ModelName: "demo", RequestedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != replays.Replaying || !tableExists(a.ID) {
		t.Fatalf("new replay %+v (view created: %v), want replaying with its view", a, tableExists(a.ID))
	}
	if err := replays.Switch(ctx, pool, a.ID); !errors.Is(err, replays.ErrState) {
		t.Errorf("switch to a replay still replaying: %v, want ErrState", err)
	}
	if a, err = replays.MarkReady(ctx, pool, a.ID, replays.Cost{CPUSeconds: 1.5, EventsRead: 10}); err != nil || a.Status != replays.Ready ||
		a.CPUSeconds != 1.5 || a.EventsRead != 10 {
		t.Fatalf("MarkReady = %+v, %v; want ready with its cost (not switched: it did not ask)", a, err)
	}
	b, err := replays.Create(ctx, pool, replays.Request{ModelName: "demo", ModelVersion: 2, Switch: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := replays.Switch(ctx, pool, a.ID); err != nil {
		t.Fatal(err)
	}
	if b, err = replays.MarkReady(ctx, pool, b.ID, replays.Cost{}); err != nil || b.Status != replays.Live {
		t.Fatalf("MarkReady of a replay created with Switch = %+v, %v; want live", b, err)
	}
	if a, _ = replays.Get(ctx, pool, a.ID); a.Status != replays.Retired {
		t.Errorf("the replay live before the switch is %s, want retired", a.Status)
	}
	if live, ok, err := replays.LiveReplay(ctx, pool); err != nil || !ok || live.ID != b.ID || live.ModelVersion != 2 {
		t.Errorf("LiveReplay = %+v %v %v, want replay %d at version 2", live, ok, err, b.ID)
	}
	if err := replays.Stop(ctx, pool, b.ID); !errors.Is(err, replays.ErrState) {
		t.Errorf("stop the live replay: %v, want ErrState (release it first)", err)
	}
	if id, err := replays.Release(ctx, pool); err != nil || id != b.ID {
		t.Errorf("Release = %d, %v; want %d", id, err, b.ID)
	}
	if _, ok, _ := replays.LiveReplay(ctx, pool); ok {
		t.Error("a replay is live after the release")
	}
	if err := replays.Stop(ctx, pool, b.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{a.ID, b.ID} {
		if err := replays.DropView(ctx, pool, id); err != nil || tableExists(id) {
			t.Errorf("DropView(%d) = %v, table left: %v", id, err, tableExists(id))
		}
	}
	if err := replays.DropView(ctx, pool, a.ID); !errors.Is(err, replays.ErrState) {
		t.Errorf("second DropView: %v, want ErrState", err)
	}
	pending, err := replays.Pending(ctx, pool)
	if err != nil || len(pending) != 0 {
		t.Errorf("Pending = %v, %v; want none", pending, err)
	}
	if _, err := replays.Get(ctx, pool, 999); !errors.Is(err, replays.ErrNotFound) {
		t.Errorf("Get(999) = %v, want ErrNotFound", err)
	}
}
