package runs_test

import (
	"errors"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
)

func TestLifecycle(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := t.Context()
	if _, err := runs.Published(ctx, pool); !errors.Is(err, runs.ErrNoPublished) {
		t.Fatalf("Published on an empty registry: %v", err)
	}
	if _, err := runs.Start(ctx, pool, "webhook", "x"); !errors.Is(err, runs.ErrInvalidTrigger) {
		t.Errorf("Start with trigger webhook: %v", err)
	}
	r, err := runs.Start(ctx, pool, runs.TriggerCLI, "me")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runs.Start(ctx, pool, runs.TriggerCron, "schedule"); err == nil {
		t.Error("a second running run was recorded")
	}
	cut := runs.Cutoff{Offsets: []int64{4, -1, 9}, Imported: 2, EventTime: time.UnixMicro(1_767_225_600_123_456).UTC(), ModelName: "m", ModelVersion: 2}
	if err := runs.SetCutoff(ctx, pool, r.ID, cut); err != nil {
		t.Fatal(err)
	}
	if running, err := runs.Running(ctx, pool); err != nil || running.ID != r.ID {
		t.Fatalf("Running = %d, %v", running.ID, err)
	}
	pub, err := runs.Publish(ctx, pool, r.ID, runs.Counts{EventsRead: 10, EntitiesScored: 3, RowsWritten: 3})
	if err != nil {
		t.Fatal(err)
	}
	if pub.Status != runs.StatusPublished || pub.PublishedAt.IsZero() || !pub.CutoffEventTime.Equal(cut.EventTime) ||
		pub.CutoffImported != 2 || len(pub.CutoffOffsets) != 3 || pub.CutoffOffsets[2] != 9 || pub.EventsRead != 10 || pub.ModelVersion != 2 {
		t.Errorf("published run %+v", pub)
	}
	if err := runs.Fail(ctx, pool, r.ID, "late", runs.Counts{}); !errors.Is(err, runs.ErrNotRunning) {
		t.Errorf("Fail of a published run: %v, want ErrNotRunning", err)
	}
	if _, err := runs.Publish(ctx, pool, r.ID, runs.Counts{}); !errors.Is(err, runs.ErrNotRunning) {
		t.Errorf("Publish twice: %v, want ErrNotRunning", err)
	}
	if got, err := runs.Published(ctx, pool); err != nil || got.ID != r.ID {
		t.Errorf("Published = %d, %v", got.ID, err)
	}
	if _, err := runs.Get(ctx, pool, 999); !errors.Is(err, runs.ErrNotFound) {
		t.Errorf("Get of a missing run: %v", err)
	}
}

func TestLocks(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := t.Context()
	l, ok, err := runs.TryLock(ctx, pool)
	if err != nil || !ok {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	if _, ok, err := runs.TryLock(ctx, pool); err != nil || ok {
		t.Errorf("second TryLock = %v, %v; want false", ok, err)
	}
	l.Release(ctx)
	l2, ok, err := runs.TryLock(ctx, pool)
	if err != nil || !ok {
		t.Fatalf("TryLock after Release = %v, %v", ok, err)
	}
	l2.Release(ctx)

	imp, err := runs.LockImports(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan time.Time)
	go func() {
		l, err := runs.LockImports(ctx, pool)
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		got <- time.Now()
		l.Release(ctx)
	}()
	time.Sleep(100 * time.Millisecond)
	released := time.Now()
	imp.Release(ctx)
	if at := <-got; at.Before(released) {
		t.Error("a second importer took the import lock while the first held it")
	}
}
