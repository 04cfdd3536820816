package inference

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/internal/promshare"
)

// RunMetrics is an Observer that exports every run as the Prometheus metrics listed in
// the package documentation.
type RunMetrics struct {
	duration *prometheus.HistogramVec
	rows     *prometheus.HistogramVec
}

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
	m.duration.WithLabelValues(model).Observe(took.Seconds())
	m.rows.WithLabelValues(model).Observe(float64(rows))
}
