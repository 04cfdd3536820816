package backoff_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/backoff"
)

func TestRetryDoublesUntilSuccess(t *testing.T) {
	var waits []time.Duration
	n := 0
	err := backoff.Retry(context.Background(), time.Millisecond, 3*time.Millisecond, func() error {
		if n++; n < 5 {
			return errors.New("not yet")
		}
		return nil
	}, func(_ error, wait time.Duration) { waits = append(waits, wait) })
	want := []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond}
	if err != nil || len(waits) != len(want) {
		t.Fatalf("Retry = %v after waits %v, want nil after %v", err, waits, want)
	}
	for i := range want {
		if waits[i] != want[i] {
			t.Errorf("wait %d = %v, want %v", i, waits[i], want[i])
		}
	}
}

func TestRetryStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	failure := errors.New("down")
	err := backoff.Retry(ctx, 5*time.Millisecond, time.Second, func() error { return failure }, func(error, time.Duration) {})
	if !errors.Is(err, failure) {
		t.Errorf("Retry = %v, want the last failure once the context ended", err)
	}
}
