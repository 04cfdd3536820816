package cost_test

import (
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/cost"
)

var sink [][]byte

func TestMeterSeesWork(t *testing.T) {
	m := cost.Start()
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) { // CPU and 64 MiB of heap
		if len(sink) < 64 {
			sink = append(sink, make([]byte, 1<<20))
		}
	}
	c := m.Stop()
	if c.Wall < 200*time.Millisecond || c.CPUSeconds < 0.1 || c.PeakHeapBytes < 64<<20 {
		t.Errorf("cost %+v: want at least 200 ms wall, 0.1 CPU seconds and 64 MiB peak heap", c)
	}
	sink = nil
}

func TestOnThreadCountsOnlyItsOwnWork(t *testing.T) {
	spin := func() {
		for deadline := time.Now().Add(200 * time.Millisecond); time.Now().Before(deadline); {
		}
	}
	stop := make(chan struct{})
	go func() { // another goroutine burning CPU the whole time
		for {
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	m := cost.Start()
	busy := cost.OnThread(spin)
	process := m.Stop().CPUSeconds
	close(stop)
	idle := cost.OnThread(func() { time.Sleep(200 * time.Millisecond) })
	// Under load the thread gets less than the 200 ms it spins, but never more than
	// the process, and the other goroutine's share is not in it.
	if busy <= 0.01 || busy > process-0.02 {
		t.Errorf("200 ms of spinning cost %.3f CPU s on its thread, the process %.3f with another goroutine spinning; want some, and less than the process", busy, process)
	}
	if idle > 0.01 {
		t.Errorf("200 ms of sleep cost %.3f CPU s on its thread, want about 0", idle)
	}
}

// BenchmarkOnThread is the meter's own cost: a thread lock and two getrusage calls,
// paid once per speed-layer micro-batch and once per infer request.
func BenchmarkOnThread(b *testing.B) {
	for b.Loop() {
		cost.OnThread(func() {})
	}
}

func TestSamplerEstimatesEveryCall(t *testing.T) {
	s := cost.Sampler{N: 4}
	var total float64
	var metered int
	for range 40 {
		c := s.Run(func() {
			for deadline := time.Now().Add(2 * time.Millisecond); time.Now().Before(deadline); {
			}
		})
		if c > 0 {
			metered++
		}
		total += c
	}
	if metered != 10 || total <= 0 || total > 0.2 {
		t.Errorf("40 calls of 2 ms: %d metered, %.3f CPU s estimated; want 10 metered and at most the 80 ms of wall time (plus slack)", metered, total)
	}
}
