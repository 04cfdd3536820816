package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/store"
)

// TestListen delivers the payloads of a channel's notifications, returns nil when its
// context ends and the error when its connection is killed.
func TestListen(t *testing.T) {
	pool := openPostgres(t)
	channel := fmt.Sprintf("store_test_%d", time.Now().UnixNano()) // unique: runs may overlap

	listen := func(ctx context.Context, got chan<- string) <-chan error {
		ready, done := make(chan struct{}), make(chan error, 1)
		go func() {
			done <- store.Listen(ctx, pool, channel, func() { close(ready) }, func(p string) { got <- p })
		}()
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("Listen ended before it listened: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("Listen did not get ready")
		}
		return done
	}
	notify := func(payload string) {
		if _, err := pool.Exec(t.Context(), "SELECT pg_notify($1, $2)", channel, payload); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan string, 10)
	done := listen(ctx, got)
	notify("a")
	notify("b")
	for _, want := range []string{"a", "b"} {
		select {
		case p := <-got:
			if p != want {
				t.Fatalf("payload %q, want %q", p, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("notification %q did not arrive", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Listen after cancel: %v, want nil", err)
	}

	done = listen(t.Context(), got)
	if _, err := pool.Exec(t.Context(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1",
		`LISTEN "`+channel+`"`); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Listen returned nil after its connection was killed, want the error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Listen did not return after its connection was killed")
	}
}
