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
	defer close(stop)
	busy := cost.OnThread(func() {
		for deadline := time.Now().Add(200 * time.Millisecond); time.Now().Before(deadline); {
		}
	})
	idle := cost.OnThread(func() { time.Sleep(200 * time.Millisecond) })
	if busy < 0.1 || busy > 0.3 {
		t.Errorf("200 ms of spinning cost %.3f CPU s on its thread, want about 0.2", busy)
	}
	if idle > 0.02 {
		t.Errorf("200 ms of sleep cost %.3f CPU s on its thread, want about 0", idle)
	}
}
