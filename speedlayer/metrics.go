package speedlayer

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Stages of the errors metric.
const (
	stageFetch   = "fetch"
	stageRun     = "run"
	stageBase    = "base"
	stageScore   = "score"
	stageUpsert  = "upsert"
	stageCommit  = "commit"
	stageRebuild = "rebuild"
	stageGroup   = "group"
)

// Kinds of delta rebuilds.
const (
	rebuildAssign   = "assign"   // a partition was assigned to this member
	rebuildRebase   = "rebase"   // a new batch run was published: its delta replayed from the log
	rebuildPrebuild = "prebuild" // a batch run in progress: its delta replayed before it publishes
	rebuildPrebuilt = "prebuilt" // a new batch run was published: its prebuilt delta installed
)

type metrics struct {
	events     prometheus.Counter
	latency    prometheus.Histogram
	lag        *prometheus.GaugeVec
	skipped    *prometheus.CounterVec
	fetched    prometheus.Counter
	rebuild    *prometheus.HistogramVec
	catchUp    prometheus.Counter
	rows       prometheus.Counter
	batch      prometheus.Histogram
	errors     *prometheus.CounterVec
	unflushed  prometheus.Counter
	baseRun    prometheus.Gauge
	entities   prometheus.Gauge
	lastCommit prometheus.Gauge
	cpu        prometheus.Counter
	approxErr  *prometheus.HistogramVec
}

// approxErrBuckets resolve relative errors around a HyperLogLog sketch's standard
// error (1.04/√(2^p): 1.6% at the default p = 12, 6.5% at p = 8).
var approxErrBuckets = []float64{.0001, .001, .0025, .005, .01, .015, .02, .03, .05, .075, .1, .15, .2, .3, .5, 1}

// latencyBuckets resolve the event→prediction latency finely around its target
// (p99 ≤ 250 ms).
var latencyBuckets = []float64{.005, .01, .02, .03, .04, .05, .06, .07, .08, .09, .1, .125, .15, .175, .2, .25, .3, .4, .5, .75, 1, 2.5, 5, 10, 30}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		events: f.NewCounter(prometheus.CounterOpts{
			Name: "lambda_speed_events_total",
			Help: "Valid events applied and committed (events/s = rate of this).",
		}),
		latency: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "lambda_speed_event_latency_seconds",
			Help:    "From an event's Kafka timestamp to the commit of the upsert that covers it.",
			Buckets: latencyBuckets,
		}),
		lag: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lambda_speed_consumer_lag_messages",
			Help: "Per partition: messages in the log after the last committed one, as of its fetch.",
		}, []string{"partition"}),
		fetched: f.NewCounter(prometheus.CounterOpts{
			Name: "lambda_speed_fetched_bytes_total",
			Help: "Bytes of the messages read from Kafka (keys and values), live and in delta rebuilds.",
		}),
		skipped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_speed_skipped_messages_total",
			Help: "Messages not folded, by reason: stray (its forwarded copy is) or why it is invalid (the forwarder dead-letters it).",
		}, []string{"reason"}),
		rebuild: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lambda_speed_rebase_duration_seconds",
			Help:    "From the start of a partition's delta rebuild to the rebuilt rows being written, by kind (assign, rebase, prebuilt; prebuild: to the delta being ready for the run's publish).",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 15),
		}, []string{"kind"}),
		catchUp: f.NewCounter(prometheus.CounterOpts{
			Name: "lambda_speed_rebuild_catchup_records_total",
			Help: "Records taken during a delta rebuild that the rebuild applied off the consumer's loop before it was installed (Config.CatchUp).",
		}),
		rows: f.NewCounter(prometheus.CounterOpts{
			Name: "lambda_speed_rows_upserted_total",
			Help: "speed_view rows sent in upserts (a row that covers nothing new changes nothing).",
		}),
		batch: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "lambda_speed_batch_duration_seconds",
			Help:    "From the start of processing a micro-batch to its commit.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_speed_errors_total",
			Help: "Failed attempts, each retried, by stage (fetch, run, base, score, upsert, commit, rebuild, group).",
		}, []string{"stage"}),
		unflushed: f.NewCounter(prometheus.CounterOpts{
			Name: "lambda_speed_unflushed_events_total",
			Help: "Messages fetched but not committed when a generation or the process ended; the group delivers them again.",
		}),
		baseRun: f.NewGauge(prometheus.GaugeOpts{
			Name: "lambda_speed_base_run_id",
			Help: "The published batch run the speed layer follows (0: none).",
		}),
		entities: f.NewGauge(prometheus.GaugeOpts{
			Name: "lambda_speed_delta_entities",
			Help: "Entities with events after the cutoff in this member's partitions.",
		}),
		lastCommit: f.NewGauge(prometheus.GaugeOpts{
			Name: "lambda_speed_last_commit_timestamp_seconds",
			Help: "Unix time of the last committed micro-batch.",
		}),
		cpu: f.NewCounter(prometheus.CounterOpts{
			Name: "lambda_speed_cpu_seconds_total",
			Help: "CPU seconds of the speed layer's own work: folding, scoring, encoding and writing micro-batches and delta rebuilds (thread clocks; the Kafka client's fetchers are not counted).",
		}),
		approxErr: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lambda_speed_approx_relative_error",
			Help:    "Per approximate feature, when a batch run takes over an entity: |speed answer - batch answer| / max(batch answer, 1) over the same events.",
			Buckets: approxErrBuckets,
		}, []string{"feature"}),
	}
}
