package forward

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/lambda-platform/lambda/internal/kafka"
)

// Stages of the errors metric.
const (
	stageFetch   = "fetch"
	stageProduce = "produce"
	stageCommit  = "commit"
)

// metrics are the forwarder's, listed in the package doc.
type metrics struct {
	home, stray, invalid prometheus.Counter
	forwarded            *prometheus.CounterVec
	dead                 *prometheus.CounterVec
	lag                  *prometheus.GaugeVec
	errors               *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	placed := f.NewCounterVec(prometheus.CounterOpts{Name: "lambda_ingest_messages_total",
		Help: "Messages of the events topic read by the forwarder, by placement: home, stray (forwarded) or invalid (dead-lettered)."},
		[]string{"placement"})
	m := &metrics{
		home:    placed.WithLabelValues("home"),
		stray:   placed.WithLabelValues("stray"),
		invalid: placed.WithLabelValues("invalid"),
		forwarded: f.NewCounterVec(prometheus.CounterOpts{Name: "lambda_ingest_forwarded_events_total",
			Help: "Stray events copied to their home partition, by the partition they were found in."},
			[]string{"from_partition"}),
		dead: f.NewCounterVec(prometheus.CounterOpts{Name: "lambda_ingest_dead_letters_total",
			Help: "Invalid messages copied to the dead-letter topic, by reason."},
			[]string{"reason"}),
		lag: f.NewGaugeVec(prometheus.GaugeOpts{Name: "lambda_ingest_forwarder_lag_messages",
			Help: "Per partition: messages after the last one the forwarder committed, as of its fetch."},
			[]string{"partition"}),
		errors: f.NewCounterVec(prometheus.CounterOpts{Name: "lambda_ingest_forwarder_errors_total",
			Help: "Forwarder steps that failed and were retried, by stage."},
			[]string{"stage"}),
	}
	for _, r := range []string{kafka.ReasonSyntax, kafka.ReasonField, kafka.ReasonTooLarge, kafka.ReasonClockSkew} {
		m.dead.WithLabelValues(r)
	}
	return m
}
