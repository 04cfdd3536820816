package refresh_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/refresh"
)

// TestLoop: a read at once, a new subscription after a failed one, a read per
// notification and per poll; Loop returns when ctx ends.
func TestLoop(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var reads, listens, lost atomic.Int32
	notified := make(chan func(), 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		refresh.Loop(ctx, 50*time.Millisecond,
			func(ctx context.Context, notify func()) error {
				if listens.Add(1) == 1 {
					return errors.New("connection lost") // the first subscription fails at once
				}
				notified <- notify
				<-ctx.Done()
				return ctx.Err()
			},
			func(context.Context) { reads.Add(1) },
			func(error) { lost.Add(1) })
	}()
	notify := <-notified // subscribed again after the poll interval
	if lost.Load() != 1 || listens.Load() != 2 {
		t.Fatalf("lost %d, listens %d; want 1 and 2", lost.Load(), listens.Load())
	}
	before := reads.Load()
	if before < 1 {
		t.Errorf("no read at once")
	}
	notify()
	deadline := time.Now().Add(time.Second)
	for reads.Load() == before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if reads.Load() == before {
		t.Error("no read after a notification")
	}
	polled := reads.Load()
	time.Sleep(175 * time.Millisecond) // about 3 polls, no notification
	if got := reads.Load() - polled; got < 2 {
		t.Errorf("%d reads in 3 poll intervals, want ≥ 2", got)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Loop did not return after ctx ended")
	}
}
