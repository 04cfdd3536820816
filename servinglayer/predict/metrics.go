package predict

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	cacheHits, cacheMisses prometheus.Counter
	readDuration           *prometheus.HistogramVec
	viewErrors             *prometheus.CounterVec
	servedRun              prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, entries *atomic.Int64) *metrics {
	f := promauto.With(reg)
	cache := f.NewCounterVec(prometheus.CounterOpts{
		Name: "lambda_serving_batch_cache_requests_total",
		Help: "Batch-view lookups of one entity, by result: hit (answered from the cache) or miss (read from ClickHouse).",
	}, []string{"result"})
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "lambda_serving_batch_cache_entries",
		Help: "Entities cached for the served batch run, rows and known absences.",
	}, func() float64 { return float64(entries.Load()) })
	m := &metrics{
		cacheHits:   cache.WithLabelValues("hit"),
		cacheMisses: cache.WithLabelValues("miss"),
		readDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lambda_serving_view_read_duration_seconds",
			Help:    "Duration of one read of a view, by view: batch (ClickHouse) or speed (PostgreSQL).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16), // 50 µs to 1.6 s
		}, []string{"view"}),
		viewErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_serving_view_errors_total",
			Help: "Failed reads, by view: batch (ClickHouse), speed (PostgreSQL) or runs (the published batch run).",
		}, []string{"view"}),
		servedRun: f.NewGauge(prometheus.GaugeOpts{
			Name: "lambda_serving_served_run_id",
			Help: "Id of the published batch run whose view is served, 0 when none is.",
		}),
	}
	for _, v := range []string{string(Batch), string(Speed), "runs"} {
		m.viewErrors.WithLabelValues(v)
	}
	return m
}
