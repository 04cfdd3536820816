package registry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/inference/registry"
)

func TestActivateAndRollback(t *testing.T) {
	reg := newRegistry(t)
	ctx := t.Context()
	for i := range 3 {
		if _, err := reg.Register(ctx, "m", featureNames(width), fp32(t, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	// expect checks the active version and every version's status.
	expect := func(step string, active int64) {
		t.Helper()
		vs, err := reg.Versions(ctx, "m")
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			want := registry.Registered
			switch {
			case v.Version == active:
				want = registry.Active
			case v.Status == registry.Retired:
				want = registry.Retired // once active, retired stays retired until reactivated
			}
			if v.Status != want {
				t.Errorf("%s: version %d is %s, want %s", step, v.Version, v.Status, want)
			}
		}
		a, err := reg.Active(ctx, "m")
		if err != nil || a.Version != active {
			t.Fatalf("%s: active %d, %v; want %d", step, a.Version, err, active)
		}
		models, err := reg.Models(ctx)
		if err != nil || models[0].ActiveVersion != active {
			t.Fatalf("%s: models %+v, %v; want active version %d", step, models, err, active)
		}
	}
	activate := func(v int64) {
		t.Helper()
		if err := reg.Activate(ctx, "m", v); err != nil {
			t.Fatal(err)
		}
	}
	rollback := func(want int64) {
		t.Helper()
		got, err := reg.Rollback(ctx, "m")
		if err != nil || got != want {
			t.Fatalf("rollback: %d, %v; want %d", got, err, want)
		}
	}

	if _, err := reg.Rollback(ctx, "m"); !errors.Is(err, registry.ErrNoPrevious) {
		t.Fatalf("rollback before any activation: %v, want ErrNoPrevious", err)
	}
	activate(1)
	expect("activate 1", 1)
	activate(1) // no-op: no second history entry
	activate(2)
	activate(3)
	expect("activate 2, 3", 3)
	rollback(2)
	expect("rollback", 2)
	rollback(1)
	expect("second rollback", 1)
	if _, err := reg.Rollback(ctx, "m"); !errors.Is(err, registry.ErrNoPrevious) {
		t.Fatalf("rollback past the first activation: %v, want ErrNoPrevious", err)
	}
	activate(3)
	rollback(1) // 2 and 3 were rolled back from or over: back to 1
	expect("activate 3, rollback", 1)

	for name, err := range map[string]error{
		"activate missing version": reg.Activate(ctx, "m", 9),
		"activate missing model":   reg.Activate(ctx, "nope", 1),
		"rollback missing model":   second(reg.Rollback(ctx, "nope")),
	} {
		if !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	expect("after failed calls", 1)
}

func TestNotifyOnActivation(t *testing.T) {
	reg := newRegistry(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for range 2 {
		if _, err := reg.Register(ctx, "m", featureNames(width), fp32(t, 1)); err != nil {
			t.Fatal(err)
		}
	}
	ready, got := make(chan struct{}), make(chan string, 10)
	done := make(chan error)
	go func() { done <- reg.Listen(ctx, func() { close(ready) }, func(m string) { got <- m }) }()
	<-ready
	if err := reg.Activate(ctx, "m", 1); err != nil {
		t.Fatal(err)
	}
	if err := reg.Activate(ctx, "m", 1); err != nil { // unchanged: no notification
		t.Fatal(err)
	}
	if err := reg.Activate(ctx, "m", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Rollback(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		select {
		case m := <-got:
			if m != "m" {
				t.Fatalf("notification %d for %q, want m", i, m)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("notification %d did not arrive", i)
		}
	}
	select {
	case m := <-got:
		t.Fatalf("extra notification for %q", m)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Listen after cancel: %v, want nil", err)
	}
}
