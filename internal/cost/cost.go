// Package cost measures what a piece of work costs the process doing it: wall time,
// CPU seconds (user + system, getrusage) and peak Go heap (runtime/metrics, sampled).
// The CPU seconds are the whole process's: exact when the work has the process to
// itself (`lambda batch run`), an upper bound when other components share it
// (`lambda up`).
package cost

import (
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Cost is what a piece of work cost.
type Cost struct {
	Wall          time.Duration
	CPUSeconds    float64
	PeakHeapBytes int64
}

// sampleEvery is how often the heap is sampled for its peak.
const sampleEvery = 50 * time.Millisecond

const heapMetric = "/memory/classes/heap/objects:bytes"

// Meter measures from Start until Stop.
type Meter struct {
	began time.Time
	cpu   float64
	stop  chan struct{}
	done  sync.WaitGroup
	peak  atomic.Int64
}

// Start starts measuring.
func Start() *Meter {
	m := &Meter{began: time.Now(), cpu: cpuSeconds(), stop: make(chan struct{})}
	m.peak.Store(heap())
	m.done.Go(func() {
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.sample()
			}
		}
	})
	return m
}

// sample keeps the heap's peak.
func (m *Meter) sample() {
	h := heap()
	for p := m.peak.Load(); h > p && !m.peak.CompareAndSwap(p, h); p = m.peak.Load() {
	}
}

// Read returns the cost so far; the measure goes on.
func (m *Meter) Read() Cost {
	m.sample()
	return Cost{Wall: time.Since(m.began), CPUSeconds: cpuSeconds() - m.cpu, PeakHeapBytes: m.peak.Load()}
}

// Stop ends the measure and returns it. Call it once.
func (m *Meter) Stop() Cost {
	close(m.stop)
	m.done.Wait()
	return m.Read()
}

// cpuSeconds is the process's user + system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// heap is the bytes of live and not yet swept heap objects.
func heap() int64 {
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}
