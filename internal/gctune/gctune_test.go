package gctune_test

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/gctune"
)

func TestStart(t *testing.T) {
	const headroom = 64 << 20
	debug.SetGCPercent(50)
	defer debug.SetGCPercent(100)
	stop := gctune.Start(headroom)
	defer stop()

	// A test binary's live heap is a few MB: the headroom is many times it.
	if p := percentAfterGC(t, func(p int) bool { return p > 500 }); p <= 500 {
		t.Fatalf("GOGC %d with a live heap of %d bytes; want > 500", p, live())
	}

	// A live heap larger than the headroom gets the default.
	ballast := make([][]byte, 96)
	for i := range ballast {
		ballast[i] = make([]byte, 1<<20)
	}
	if p := percentAfterGC(t, func(p int) bool { return p == 100 }); p != 100 {
		t.Errorf("GOGC %d with a live heap of %d bytes; want 100", p, live())
	}
	runtime.KeepAlive(ballast)

	stop()
	runtime.GC()
	if p := gogc(); p != 50 {
		t.Errorf("GOGC %d after stop; want the 50 of before", p)
	}
}

// percentAfterGC collects until GOGC satisfies ok (the tuner runs just after a
// collection), for at most a second, and returns GOGC.
func percentAfterGC(t *testing.T, ok func(int) bool) int {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if p := gogc(); ok(p) || time.Now().After(deadline) {
			return p
		}
	}
}

func gogc() int { return int(read("/gc/gogc:percent")) }

func live() uint64 { return read("/gc/heap/live:bytes") }

func read(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
