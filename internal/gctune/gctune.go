// Package gctune keeps a floor under the garbage collector's heap headroom.
//
// With the default GOGC=100 the collector runs whenever the heap has grown by as much
// as it held live after the last collection. A serving process keeps a small live heap
// (tens of MB) and allocates a few KB per request, so at thousands of requests per
// second it collects several times a second; on a machine of two cores each collection
// takes one core for its mark phase (a few ms), and the requests that arrive meanwhile
// wait — that is most of the API's p99. Start raises GOGC while the live heap is small,
// so the heap may grow by at least a fixed headroom between collections, and leaves the
// default once the live heap is larger than the headroom: memory is bounded by
// live + max(live, headroom), and a GOMEMLIMIT still caps it.
package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// DefaultHeadroomMB is the headroom `lambda serve` and `lambda edge` keep, in MiB.
const DefaultHeadroomMB = 128

// FoldHeadroomMB is the headroom, in MiB, of the processes that fold streams and batch
// runs (`lambda up`, `lambda speed`): their allocation would otherwise start a
// collection, and its mark phase, many times a second. The speed layer spent 15% less
// CPU per event with it than with Go's default (BenchmarkSpeedLayer).
const FoldHeadroomMB = 512

// basePercent is the GOGC Start never goes below: the runtime's default.
const basePercent = 100

const liveMetric = "/gc/heap/live:bytes"

// Start sets GOGC after every collection to the larger of 100 and the percentage of
// the live heap that headroom bytes are, until stop, which restores the GOGC of before.
func Start(headroom int64) (stop func()) {
	t := &tuner{headroom: headroom, before: debug.SetGCPercent(basePercent)}
	t.sample[0].Name = liveMetric
	t.tune()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if !t.stopped {
			t.stopped = true
			debug.SetGCPercent(t.before)
		}
	}
}

type tuner struct {
	headroom int64
	before   int

	mu      sync.Mutex
	stopped bool
	sample  [1]metrics.Sample
}

// tune sets GOGC for the live heap of the last collection, and makes the next
// collection call it again: a cleanup runs once the collector has found its object
// unreachable, which it does at the first collection after.
func (t *tuner) tune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	runtime.AddCleanup(new([64]byte), (*tuner).tune, t)
	metrics.Read(t.sample[:])
	live := int64(t.sample[0].Value.Uint64())
	if live <= 0 {
		return
	}
	debug.SetGCPercent(int(max(basePercent, t.headroom*100/live)))
}
