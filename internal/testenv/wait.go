package testenv

import (
	"errors"
	"testing"
	"time"
)

// pollInterval is how often Eventually checks again.
const pollInterval = 20 * time.Millisecond

// Eventually calls check until it returns nil, failing tb with what and check's last
// error once timeout has passed.
func Eventually(tb testing.TB, timeout time.Duration, what string, check func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(pollInterval)
	}
}

// WaitFor is Eventually of a condition.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	Eventually(tb, timeout, what, func() error {
		if !cond() {
			return errNotYet
		}
		return nil
	})
}

var errNotYet = errors.New("not yet")
