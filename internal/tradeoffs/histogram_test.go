package tradeoffs

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// observed is the histogram of vs, through the Prometheus client.
func observed(t *testing.T, vs ...float64) hist {
	t.Helper()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h", Buckets: prometheus.LinearBuckets(1, 1, 100)})
	for _, v := range vs {
		h.Observe(v)
	}
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return histOf(&m)
}

func TestQuantileOfTheWindowOnly(t *testing.T) {
	before := make([]float64, 0, 1000)
	for range 1000 {
		before = append(before, 90) // all before the window
	}
	old := observed(t, before...)
	within := make([]float64, 0, 100)
	for i := 1; i <= 100; i++ {
		within = append(within, float64(i)-0.5)
	}
	now := observed(t, append(before, within...)...)
	d := now.minus(old)
	if d.count != 100 {
		t.Fatalf("count %v, want the 100 observed within the window", d.count)
	}
	for q, want := range map[float64]float64{0.5: 50, 0.99: 99} {
		if got := d.quantile(q); got == nil || math.Abs(*got-want) > 1 {
			t.Errorf("q%.2f = %v, want about %v", q, fig(got), want)
		}
	}
	if m := d.mean(); m == nil || math.Abs(*m-50) > 1e-9 {
		t.Errorf("mean %v, want 50", fig(m))
	}
}

func TestRestartCountsFromZero(t *testing.T) {
	old := observed(t, 1, 2, 3, 4)
	now := observed(t, 5) // the process restarted: fewer observations than before
	if d := now.minus(old); d.count != 1 || d.sum != 5 {
		t.Errorf("after a restart: count %v sum %v, want what the new process observed (1, 5)", d.count, d.sum)
	}
	if got := (hist{}).quantile(0.5); got != nil {
		t.Errorf("quantile of nothing = %v, want no data", *got)
	}
}

func fig(v *float64) any {
	if v == nil {
		return "no data"
	}
	return *v
}
