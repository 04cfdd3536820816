package archiver

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/lambda-platform/lambda/internal/kafka"
)

// reasonStray is the skipped metric's reason for a stray event, which is archived
// as its forwarded copy; the other reasons say why a message is invalid (kafka's
// Reason constants).
const reasonStray = "stray"

// metrics are the archiver's Prometheus metrics, listed in the package doc.
type metrics struct {
	rows          prometheus.Counter
	batches       prometheus.Counter
	insertSeconds prometheus.Histogram
	insertRetries prometheus.Counter
	skipped       *prometheus.CounterVec
	commitErrors  prometheus.Counter
	fetchErrors   prometheus.Counter
	unflushed     prometheus.Counter
	lag           *prometheus.GaugeVec
	lastFlush     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	const ns, sub = "lambda", "batch_archiver"
	m := &metrics{
		rows: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "rows_total", Help: "Rows inserted into the ClickHouse events table."}),
		batches: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "batches_total", Help: "Inserts into the ClickHouse events table that succeeded."}),
		insertSeconds: f.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "insert_duration_seconds", Help: "Duration of one successful insert into ClickHouse.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}), // 5 ms … 10 s
		insertRetries: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "insert_retries_total", Help: "Inserts into ClickHouse that failed and were retried."}),
		skipped: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "skipped_messages_total", Help: "Kafka messages not archived, by reason: stray (its forwarded copy is) or why it is invalid."},
			[]string{"reason"}),
		commitErrors: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "commit_errors_total", Help: "Kafka offset commits that failed; the offsets are committed with the next batch."}),
		fetchErrors: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "fetch_errors_total", Help: "Errors reading messages from Kafka."}),
		unflushed: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "unflushed_messages_total", Help: "Messages buffered but neither inserted nor committed at shutdown; they are read again."}),
		lag: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "consumer_lag_messages", Help: "Messages in the partition after the last committed one, when that one was fetched."},
			[]string{"partition"}),
		lastFlush: f.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "last_flush_timestamp_seconds", Help: "Unix time of the last successful insert and commit."}),
	}
	for _, r := range []string{reasonStray, kafka.ReasonSyntax, kafka.ReasonField, kafka.ReasonTooLarge, kafka.ReasonClockSkew} {
		m.skipped.WithLabelValues(r)
	}
	return m
}
