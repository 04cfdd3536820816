package batchrun

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Failure reasons, the values of the reason label.
const (
	reasonCutoff    = "cutoff"
	reasonModel     = "model"
	reasonRead      = "read"
	reasonScore     = "score"
	reasonWrite     = "write"
	reasonPublish   = "publish"
	reasonCanceled  = "canceled"
	reasonAbandoned = "abandoned"
	reasonShard     = "shard" // a shard worker failed or went away
)

type metrics struct {
	duration        *prometheus.HistogramVec
	eventsRead      prometheus.Counter
	copies          prometheus.Counter
	entitiesScored  prometheus.Counter
	rowsWritten     prometheus.Counter
	failures        *prometheus.CounterVec
	published       prometheus.Counter
	inProgress      prometheus.Gauge
	lastPublish     prometheus.Gauge
	cutoffEvent     prometheus.Gauge
	dropped         prometheus.Counter
	registryRetries prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lambda_batch_run_duration_seconds",
			Help:    "Duration of finished batch runs, by outcome.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14), // 1 s to about 2.3 h
		}, []string{"outcome"}),
		eventsRead: f.NewCounter(prometheus.CounterOpts{
			Name: "lambda_batch_run_events_read_total",
			Help: "Master dataset rows folded by batch runs.",
		}),
		copies: f.NewCounter(prometheus.CounterOpts{
			Name: "lambda_batch_run_copies_skipped_total",
			Help: "Repeated (kafka_partition, kafka_offset) rows skipped by batch runs.",
		}),
		entitiesScored: f.NewCounter(prometheus.CounterOpts{
			Name: "lambda_batch_run_entities_scored_total",
			Help: "Entities scored by batch runs.",
		}),
		rowsWritten: f.NewCounter(prometheus.CounterOpts{
			Name: "lambda_batch_run_rows_written_total",
			Help: "batch_view rows inserted by batch runs.",
		}),
		failures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_batch_run_failures_total",
			Help: "Failed batch runs, by reason.",
		}, []string{"reason"}),
		published: f.NewCounter(prometheus.CounterOpts{
			Name: "lambda_batch_runs_published_total",
			Help: "Batch runs published.",
		}),
		inProgress: f.NewGauge(prometheus.GaugeOpts{
			Name: "lambda_batch_run_in_progress",
			Help: "1 while this process executes a batch run.",
		}),
		lastPublish: f.NewGauge(prometheus.GaugeOpts{
			Name: "lambda_batch_last_publish_timestamp_seconds",
			Help: "Unix time the served batch run was published.",
		}),
		cutoffEvent: f.NewGauge(prometheus.GaugeOpts{
			Name: "lambda_batch_cutoff_event_timestamp_seconds",
			Help: "Newest event time included in the served batch run; staleness is time() minus this.",
		}),
		registryRetries: f.NewCounter(prometheus.CounterOpts{
			Name: "lambda_batch_run_registry_retries_total",
			Help: "Attempts to record a batch run's end (publish or failure) retried because PostgreSQL was unavailable.",
		}),
		dropped: f.NewCounter(prometheus.CounterOpts{
			Name: "lambda_batch_retention_dropped_runs_total",
			Help: "batch_view partitions dropped by retention.",
		}),
	}
	for _, r := range []string{reasonCutoff, reasonModel, reasonRead, reasonScore, reasonWrite, reasonPublish, reasonCanceled, reasonAbandoned, reasonShard} {
		m.failures.WithLabelValues(r)
	}
	return m
}
