package inference

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/internal/promshare"
)

// RunMetrics is an Observer that exports every run as the Prometheus metrics listed in
// the package documentation.
type RunMetrics struct {
	duration *prometheus.HistogramVec
	rows     *prometheus.HistogramVec
	models   sync.Map // model name → runObservers, to skip the label lookups per run
}

// runObservers are one model's histograms.
type runObservers struct{ duration, rows prometheus.Observer }

// NewRunMetrics registers the run metrics on reg, or shares those already registered
// there, so that every layer of one process may ask for them.
func NewRunMetrics(reg prometheus.Registerer) *RunMetrics {
	return &RunMetrics{
		duration: promshare.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lambda_inference_run_duration_seconds",
			Help:    "Duration of one ONNX Runtime run, by model.",
			Buckets: prometheus.ExponentialBuckets(0.000001, 4, 12), // 1 µs to 4.2 s
		}, []string{"model"})),
		rows: promshare.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lambda_inference_run_rows",
			Help:    "Rows computed by one ONNX Runtime run (its batch size, padding included), by model.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8), // 1 to 16384
		}, []string{"model"})),
	}
}

// ObserveRun records one run.
func (m *RunMetrics) ObserveRun(model string, rows int, took time.Duration) {
	o, ok := m.models.Load(model)
	if !ok {
		o, _ = m.models.LoadOrStore(model, runObservers{m.duration.WithLabelValues(model), m.rows.WithLabelValues(model)})
	}
	obs := o.(runObservers)
	obs.duration.Observe(took.Seconds())
	obs.rows.Observe(float64(rows))
}
