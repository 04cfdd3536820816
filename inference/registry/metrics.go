package registry

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/internal/promshare"
)

// Metrics are the watchers' metrics, shared by every watcher of a process; a nil *Metrics
// records nothing.
type Metrics struct {
	swaps      *prometheus.CounterVec
	syncErrors *prometheus.CounterVec
	loaded     *prometheus.GaugeVec
}

// NewMetrics registers the watcher metrics on reg, or shares those already registered
// there, so that every watcher of a process may ask for them.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	return &Metrics{
		swaps: promshare.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_inference_model_swaps_total",
			Help: "Model versions a watcher loaded and swapped into its holder.",
		}, []string{"model"})),
		syncErrors: promshare.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_inference_model_sync_errors_total",
			Help: "Failed attempts of a watcher to read or load the active model version.",
		}, []string{"model"})),
		loaded: promshare.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lambda_inference_model_loaded_version",
			Help: "The model version a watcher's holder serves.",
		}, []string{"model"})),
	}
}

// watching exports the model's counters from 0 on, so that rates and increases see the
// first swap and the first error.
func (m *Metrics) watching(model string) {
	if m != nil {
		m.swaps.WithLabelValues(model)
		m.syncErrors.WithLabelValues(model)
	}
}

func (m *Metrics) swapped(model string, version int64) {
	if m != nil {
		m.swaps.WithLabelValues(model).Inc()
		m.loaded.WithLabelValues(model).Set(float64(version))
	}
}

func (m *Metrics) syncFailed(model string) {
	if m != nil {
		m.syncErrors.WithLabelValues(model).Inc()
	}
}
