// Package backoff retries a step with exponential backoff, and waits under a context:
// the loops the platform's consumers run around each step that talks to a server.
package backoff

import (
	"context"
	"time"
)

// Sleep waits d and reports whether ctx is still live (false when it ended first).
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Retry calls fn until it succeeds or ctx ends, waiting first, doubling up to last,
// between attempts, and telling failed of each failure with the wait before the next.
// It returns nil, or fn's last error once ctx has ended.
func Retry(ctx context.Context, first, last time.Duration, fn func() error, failed func(err error, wait time.Duration)) error {
	wait := first
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		failed(err, wait)
		if !Sleep(ctx, wait) {
			return err
		}
		wait = min(2*wait, last)
	}
}
