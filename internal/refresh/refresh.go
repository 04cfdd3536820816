// Package refresh runs the loop that keeps a process's copy of some shared state current:
// read it at once, then again on every notification and at every poll, and subscribe
// again after the notification channel fails. The model registry's watcher and the
// serving layer's published-run tracker both use it.
package refresh

import (
	"context"
	"sync"
	"time"
)

// Listen subscribes to notifications: it calls notify for every relevant one and after
// every (re)connection, when some may have been missed, and returns when the
// subscription fails or ctx ends.
type Listen func(ctx context.Context, notify func()) error

// Loop calls read at once, then on every notification and every poll, until ctx ends.
// When listen fails, lost is told and listen is called again after poll; the polls go
// on meanwhile, so a lost channel delays a refresh by at most poll.
func Loop(ctx context.Context, poll time.Duration, listen Listen, read func(context.Context), lost func(error)) {
	wake := make(chan struct{}, 1)
	notify := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { subscribe(ctx, poll, listen, notify, lost) })
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		read(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-wake:
		}
	}
}

func subscribe(ctx context.Context, poll time.Duration, listen Listen, notify func(), lost func(error)) {
	for {
		err := listen(ctx, notify)
		if ctx.Err() != nil {
			return
		}
		lost(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(poll):
		}
	}
}
