package predict

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/lambda-platform/lambda/servinglayer/batchstore"
)

type metrics struct {
	speedHits, speedMisses prometheus.Counter
	readDuration           *prometheus.HistogramVec
	viewErrors             *prometheus.CounterVec
	loads                  *prometheus.CounterVec
	loadDuration           prometheus.Histogram
	servedRun              prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, store func() *batchstore.Store, speedBytes *atomic.Int64) *metrics {
	f := promauto.With(reg)
	speed := f.NewCounterVec(prometheus.CounterOpts{
		Name: "lambda_serving_speed_cache_requests_total",
		Help: "Speed-view lookups of one entity, by result: hit (answered from the speed cache) or miss (read from PostgreSQL).",
	}, []string{"result"})
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "lambda_serving_speed_cache_bytes",
		Help: "Bytes of speed rows (and of entities without one) cached until they change.",
	}, func() float64 { return float64(speedBytes.Load()) })
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "lambda_serving_batch_store_entities",
		Help: "Entities in the served batch view, loaded in memory.",
	}, func() float64 {
		if st := store(); st != nil {
			return float64(st.Len())
		}
		return 0
	})
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "lambda_serving_batch_store_bytes",
		Help: "Memory held by the served batch view.",
	}, func() float64 {
		if st := store(); st != nil {
			return float64(st.Bytes())
		}
		return 0
	})
	m := &metrics{
		speedHits:   speed.WithLabelValues("hit"),
		speedMisses: speed.WithLabelValues("miss"),
		readDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lambda_serving_view_read_duration_seconds",
			Help:    "Duration of one read of the speed view (PostgreSQL), by view.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16), // 50 µs to 1.6 s
		}, []string{"view"}),
		viewErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_serving_view_errors_total",
			Help: "Failed reads, by view: batch (a load of the batch view), speed (PostgreSQL) or runs (the published batch run).",
		}, []string{"view"}),
		loads: f.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_serving_batch_loads_total",
			Help: "Loads of a published run's batch view into memory, by result (ok, error).",
		}, []string{"result"}),
		loadDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "lambda_serving_batch_load_duration_seconds",
			Help:    "Duration of a successful load of a published run's batch view, from ClickHouse into memory.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14), // 10 ms to 82 s
		}),
		servedRun: f.NewGauge(prometheus.GaugeOpts{
			Name: "lambda_serving_served_run_id",
			Help: "Id of the published batch run whose view is served, 0 when none is.",
		}),
	}
	for _, v := range []string{string(Batch), string(Speed), "runs"} {
		m.viewErrors.WithLabelValues(v)
	}
	for _, r := range []string{"ok", "error"} {
		m.loads.WithLabelValues(r)
	}
	return m
}
