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
