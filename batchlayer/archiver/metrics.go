package archiver

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Reasons a message is not archived, the values of the rejected metric's reason label.
const (
	reasonSyntax      = "syntax"       // not JSON, or not a JSON object
	reasonField       = "field"        // a field breaks the event schema
	reasonTooLarge    = "too_large"    // over a size limit
	reasonKeyMismatch = "key_mismatch" // the message key is not the entity_id
)

// metrics are the archiver's Prometheus metrics, listed in the package doc.
type metrics struct {
	rows          prometheus.Counter
	batches       prometheus.Counter
	insertSeconds prometheus.Histogram
	insertRetries prometheus.Counter
	rejected      *prometheus.CounterVec
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
		rejected: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "rejected_messages_total", Help: "Kafka messages not archived because they are not valid events, by reason."},
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
	for _, r := range []string{reasonSyntax, reasonField, reasonTooLarge, reasonKeyMismatch} {
		m.rejected.WithLabelValues(r)
	}
	return m
}
