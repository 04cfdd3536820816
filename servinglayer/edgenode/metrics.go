package edgenode

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Reasons of failed syncs, the label of lambda_edge_sync_errors_total.
const (
	reasonUnreachable = "unreachable"
	reasonStatus      = "status"
	reasonManifest    = "manifest"
	reasonChecksum    = "checksum"
	reasonLoad        = "load"
	reasonDisk        = "disk"
)

var reasons = []string{reasonUnreachable, reasonStatus, reasonManifest, reasonChecksum, reasonLoad, reasonDisk}

type metrics struct {
	version    *prometheus.GaugeVec
	swaps      *prometheus.CounterVec
	lastSync   prometheus.Gauge
	syncErrors *prometheus.CounterVec
}

// newMetrics registers the mirror's metrics; age returns the seconds since the last
// successful sync, -1 before any.
func newMetrics(reg prometheus.Registerer, age func() float64) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		version: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lambda_edge_model_version",
			Help: "Version of each mirrored model the edge node serves.",
		}, []string{"model"}),
		swaps: f.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_edge_model_swaps_total",
			Help: "Versions downloaded, verified and swapped in, by model.",
		}, []string{"model"}),
		lastSync: f.NewGauge(prometheus.GaugeOpts{
			Name: "lambda_edge_last_sync_timestamp_seconds",
			Help: "Unix time when every mirrored model last matched the upstream's active version.",
		}),
		syncErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_edge_sync_errors_total",
			Help: "Failed syncs with the upstream, by reason: unreachable, status, manifest, checksum, load or disk.",
		}, []string{"reason"}),
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "lambda_edge_last_sync_age_seconds",
		Help: "Seconds since every mirrored model last matched the upstream's active version; -1 before any sync.",
	}, age)
	for _, r := range reasons {
		m.syncErrors.WithLabelValues(r)
	}
	return m
}

func (m *metrics) synced(t time.Time) {
	m.lastSync.Set(float64(t.UnixNano()) / 1e9)
}
