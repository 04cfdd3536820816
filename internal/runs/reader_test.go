package runs_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// TestReader: what the speed and serving layers read of the registry — the published
// run with its cutoff, a notification at each publish, the run and the run list.
func TestReader(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := t.Context()
	r := runs.NewReader(pool)
	if run, ok, err := r.Published(ctx); err != nil || ok || run.ID != 0 {
		t.Fatalf("Published before any run: %+v, ok %v, err %v", run, ok, err)
	}
	notified := make(chan struct{}, 10)
	ready := make(chan struct{})
	listenCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		done <- r.ListenPublished(listenCtx, func() { close(ready) }, func() { notified <- struct{}{} })
	}()
	<-ready
	started, err := runs.Start(ctx, pool, runs.TriggerCLI, "test")
	if err != nil {
		t.Fatal(err)
	}
	asOf := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	if err := runs.SetCutoff(ctx, pool, started.ID, runs.Cutoff{Offsets: []int64{4, -1, 9}, Imported: -1, EventTime: asOf,
		ModelName: "demo", ModelVersion: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := runs.Publish(ctx, pool, started.ID, runs.Counts{EventsRead: 11}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-notified:
	case <-time.After(5 * time.Second):
		t.Fatal("no notification of the publish")
	}
	run, ok, err := r.Published(ctx)
	if err != nil || !ok || run.ID != started.ID || !slices.Equal(run.CutoffOffsets, []int64{4, -1, 9}) ||
		!run.CutoffEventTime.Equal(asOf) || run.PublishedAt.IsZero() || run.ModelName != "demo" || run.ModelVersion != 3 {
		t.Fatalf("Published = %+v, %v, %v; want run %d with cutoff [4 -1 9] as of %s", run, ok, err, started.ID, asOf)
	}
	if run.CutoffOf(1) != -1 || run.CutoffOf(2) != 9 || run.CutoffOf(7) != -1 {
		t.Errorf("CutoffOf: %d %d %d", run.CutoffOf(1), run.CutoffOf(2), run.CutoffOf(7))
	}
	if got, err := r.Run(ctx, started.ID); err != nil || got.EventsRead != 11 || got.Status != runs.StatusPublished {
		t.Errorf("Run = %+v, %v", got, err)
	}
	if list, err := r.Runs(ctx, 10); err != nil || len(list) != 1 || list[0].ID != started.ID {
		t.Errorf("Runs = %+v, %v", list, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenPublished ended with %v after its context", err)
	}
}
