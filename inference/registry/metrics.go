package registry

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the watchers' metrics, shared by every watcher of a process; a nil *Metrics
// records nothing.
type Metrics struct {
	swaps      *prometheus.CounterVec
	syncErrors *prometheus.CounterVec
	loaded     *prometheus.GaugeVec
}

// NewMetrics registers the watcher metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		swaps: f.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_inference_model_swaps_total",
			Help: "Model versions a watcher loaded and swapped into its holder.",
		}, []string{"model"}),
		syncErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_inference_model_sync_errors_total",
			Help: "Failed attempts of a watcher to read or load the active model version.",
		}, []string{"model"}),
		loaded: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lambda_inference_model_loaded_version",
			Help: "The model version a watcher's holder serves.",
		}, []string{"model"}),
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
