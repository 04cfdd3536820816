package grafana

import (
	"encoding/json"
	"fmt"
)

// Files returns every dashboard as the JSON Grafana loads, by file name under dashboards/.
func Files() (map[string][]byte, error) {
	files := make(map[string][]byte)
	for _, b := range boards() {
		d, err := b.build()
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", b.uid, err)
		}
		j, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", b.uid, err)
		}
		files[b.file] = append(j, '\n')
	}
	return files, nil
}

// Selectors every Prometheus query filters with.
const (
	inst = `instance=~"$instance"`
	part = `partition=~"$partition"`
	// queryRoutes are the API's answers from the views, the routes the serving SLO is on.
	queryRoutes = `route=~"/v1/entities/.+|/v1/predictions.+"`
)

func boards() []board {
	return []board{overview(), batchRuns(), speed(), serving(), models(), tradeoffs()}
}

func overview() board {
	return board{
		file: "overview.json", uid: "lambda-overview", title: "lambda / Overview",
		desc: "The three layers side by side: freshness, latency, throughput and errors.",
		vars: []variable{instanceVar()},
		panels: []panel{
			single("Batch view staleness", "Now minus the newest event time in the served batch run. Red past the 30 min SLO: see the Batch runs dashboard (LambdaBatchViewStale).", "s", 6,
				promQL(`lambda:batch_staleness_seconds`, "batch")).redFrom(1800),
			single("Event→prediction p99", "From an event's Kafka timestamp to the speed_view commit that covers it (5 min). Red past 5 s: see the Speed layer dashboard.", "s", 6,
				promQL(`lambda:speed_event_latency_seconds:p99_5m`, "speed")).redFrom(5),
			single("Serving p99 (queries)", "p99 of the prediction and feature routes over 5 min, slowest route. Red past 100 ms: see the Serving dashboard.", "s", 6,
				promQL(`max(lambda:serving_request_duration_seconds:p99_5m{`+queryRoutes+`})`, "serving")).redFrom(0.1),
			single("Firing alerts", "lambda alerts firing now (deployments/prometheus/rules/alerts.yml); each has a runbook annotation.", "none", 6,
				promQL(`count(ALERTS{alertname=~"Lambda.*", alertstate="firing"}) or vector(0)`, "alerts")).redFrom(1),
			graph("Served answers: staleness p99 by source", "How old the answers the API gave were (serve time minus the answer's as_of), by the view that answered. A batch line far above the speed line is normal: the speed view covers the newest events.", "s", 12,
				promQL(`lambda:serving_answer_staleness_seconds:p99_5m`, "p99 {{source}}"),
				promQL(`lambda:serving_answer_staleness_seconds:p50_5m`, "p50 {{source}}")),
			graph("Throughput", "Events per second through each layer: read by the forwarder, archived to ClickHouse, folded by the speed layer; answers per second by source.", "ops", 12,
				promQL(`sum(rate(lambda_ingest_messages_total{`+inst+`}[5m]))`, "ingested"),
				promQL(`sum(rate(lambda_batch_archiver_rows_total{`+inst+`}[5m]))`, "archived"),
				promQL(`sum(lambda:speed_events:rate5m{`+inst+`})`, "speed folded"),
				promQL(`sum by (source) (lambda:serving_predictions:rate5m{`+inst+`})`, "answers {{source}}")),
			graph("Errors", "Serving 5xx per second, speed-layer retries per second, dead letters per second, batch run failures in the last hour. Anything above 0 for long: follow the alert's runbook.", "short", 12,
				promQL(`sum(rate(lambda_serving_requests_total{code=~"5..", `+inst+`}[5m])) or vector(0)`, "serving 5xx/s"),
				promQL(`sum(rate(lambda_speed_errors_total{`+inst+`}[5m])) or vector(0)`, "speed retries/s"),
				promQL(`sum(lambda:ingest_dead_letters:rate5m)`, "dead letters/s"),
				promQL(`sum(lambda:batch_run_failures:increase1h)`, "batch failures (1h)")),
			graph("Latency", "Batch: mean duration of the runs that ended in the last hour; speed: event→prediction p99; serving: p99 of the query routes.", "s", 12,
				promQL(`sum(increase(lambda_batch_run_duration_seconds_sum{`+inst+`}[1h])) / sum(increase(lambda_batch_run_duration_seconds_count{`+inst+`}[1h]))`, "batch run"),
				promQL(`lambda:speed_event_latency_seconds:p99_5m`, "event→prediction p99"),
				promQL(`max(lambda:serving_request_duration_seconds:p99_5m{`+queryRoutes+`})`, "serving p99")),
		},
	}
}

func batchRuns() board {
	return board{
		file: "batch-runs.json", uid: "lambda-batch", title: "lambda / Batch runs",
		desc: "Batch runs from the batch_runs registry in PostgreSQL, the master dataset in ClickHouse, and the batch layer's metrics.",
		vars: []variable{instanceVar(), partitionVar()},
		panels: []panel{
			single("Staleness", "Now minus the newest event time in the served run. Red past the 30 min SLO: are runs failing (see Runs), not starting (next run), or is the archiver behind?", "s", 6,
				promQL(`lambda:batch_staleness_seconds`, "staleness")).redFrom(1800),
			single("Published (1 h)", "Runs published in the last hour.", "none", 6,
				promQL(`lambda:batch_runs_published:increase1h`, "published")),
			single("Failed (1 h)", "Runs failed in the last hour, by reason. Red: read the run's error in the table below (LambdaBatchRunFailed).", "none", 6,
				promQL(`sum(lambda:batch_run_failures:increase1h)`, "failed")).redFrom(1),
			single("Next scheduled run in", "Until the next firing of LAMBDA_BATCH_SCHEDULE in the scheduling processes.", "s", 6,
				promQL(`min(lambda_batch_schedule_next_firing_timestamp_seconds{`+inst+`}) - time()`, "next run")),
			sqlTable("Runs", "The last 50 runs: status, trigger, timing, counts, cutoff and model. A failed run says why in error; a run stuck in running holds the batch lock.", 24, Postgres, `SELECT id, status, trigger, started_at, finished_at,
  round(EXTRACT(EPOCH FROM finished_at - started_at)::numeric, 1) AS duration_seconds,
  events_read, entities_scored, rows_written, cutoff_event_time,
  model_name || '@' || model_version AS model, published_at, error
FROM batch_runs
ORDER BY id DESC
LIMIT 50`),
			sqlGraph("Run duration and events read", "Each finished run in the time range: its wall time and the events it folded. Duration growing with events is expected; growing without them is not.", "s", 12, Postgres, `SELECT finished_at AS "time",
  EXTRACT(EPOCH FROM finished_at - started_at) AS duration_seconds,
  events_read
FROM batch_runs
WHERE finished_at IS NOT NULL AND $__timeFilter(finished_at)
ORDER BY 1`),
			sqlTable("Runs by status", "Runs created in the time range, by status.", 12, Postgres, `SELECT status, count(*) AS runs
FROM batch_runs
WHERE $__timeFilter(created_at)
GROUP BY status
ORDER BY status`),
			graph("Archiver lag by partition", "Messages of the events topic not yet in the ClickHouse master dataset. A batch run only sees archived events: growing lag delays every run's cutoff.", "short", 12,
				promQL(`max by (partition) (lambda_batch_archiver_consumer_lag_messages{`+inst+`, `+part+`})`, "partition {{partition}}")),
			sqlTable("Master dataset by partition", "Per Kafka partition, the highest archived offset and the newest event time in ClickHouse (events_offsets).", 12, ClickHouse, `SELECT kafka_partition AS partition,
  maxMerge(max_offset) AS max_offset,
  toDateTime(intDiv(maxMerge(max_ts_us), 1000000)) AS newest_event
FROM events_offsets
GROUP BY kafka_partition
ORDER BY kafka_partition`),
			sqlTable("Batch view by run", "Rows and entities of each run kept in ClickHouse batch_view (retention keeps LAMBDA_BATCH_RETENTION published runs).", 12, ClickHouse, `SELECT run_id, count() AS rows, uniqExact(entity_id) AS entities,
  toDateTime(intDiv(max(as_of_us), 1000000)) AS as_of
FROM batch_view
GROUP BY run_id
ORDER BY run_id DESC
LIMIT 20`),
			sqlGraph("Events archived per hour (event time)", "Master dataset rows by the hour of their event time.", "short", 12, ClickHouse, `SELECT toStartOfHour(ts) AS time, count() AS events
FROM events
WHERE $__timeFilter(ts)
GROUP BY time
ORDER BY time`),
		},
	}
}

func speed() board {
	return board{
		file: "speed.json", uid: "lambda-speed", title: "lambda / Speed layer",
		desc: "The speed layer and the forwarder: lag, event→prediction latency, throughput, dead letters and forwarded events.",
		vars: []variable{instanceVar(), partitionVar()},
		panels: []panel{
			graph("Consumer lag by partition", "Messages after the last committed one, per partition. Red past 10,000 for 5 min (LambdaSpeedLagHigh): look at errors and micro-batch duration below, then scale `lambda speed` out (up to one replica per partition).", "short", 12,
				promQL(`max by (partition) (lambda_speed_consumer_lag_messages{`+inst+`, `+part+`})`, "partition {{partition}}")).redFrom(10000),
			graph("Event→prediction latency", "From an event's Kafka timestamp to the commit of the upsert that covers it. Red past 5 s p99 (LambdaEventToPredictionSlow).", "s", 12,
				promQL(`histogram_quantile(0.99, sum by (le) (lambda:speed_event_latency_seconds_bucket:rate5m{`+inst+`}))`, "p99"),
				promQL(`histogram_quantile(0.5, sum by (le) (lambda:speed_event_latency_seconds_bucket:rate5m{`+inst+`}))`, "p50")).redFrom(5),
			graph("Events folded per second", "Valid events applied and committed, by process.", "ops", 12,
				promQL(`sum by (instance) (lambda:speed_events:rate5m{`+inst+`})`, "{{instance}}")),
			graph("Micro-batch duration", "From the start of a micro-batch to its commit. Rising with steady traffic: PostgreSQL upserts or scoring got slower.", "s", 12,
				promQL(`histogram_quantile(0.99, sum by (le) (rate(lambda_speed_batch_duration_seconds_bucket{`+inst+`}[5m])))`, "p99"),
				promQL(`histogram_quantile(0.5, sum by (le) (rate(lambda_speed_batch_duration_seconds_bucket{`+inst+`}[5m])))`, "p50")),
			graph("Dead letters by reason", "Invalid messages copied to events.dlq, per second. Steadily above 0 (LambdaDeadLettersGrowing): a producer sends bad events; read them with kcat and fix it.", "ops", 12,
				promQL(`lambda:ingest_dead_letters:rate5m`, "{{reason}}")).redFrom(0.001),
			graph("Forwarder: messages by placement", "Messages of the events topic the forwarder read: home (in the right partition), stray (copied home) or invalid (dead-lettered).", "ops", 12,
				promQL(`sum by (placement) (lambda:ingest_messages:rate5m{`+inst+`})`, "{{placement}}")),
			graph("Forwarded events by source partition", "Stray events copied to their home partition, by the partition they were produced to. High for every partition: producers do not key by entity_id with murmur2 (normal for librdkafka and kafka-go clients).", "ops", 12,
				promQL(`sum by (from_partition) (rate(lambda_ingest_forwarded_events_total{`+inst+`, from_partition=~"$partition"}[5m]))`, "from {{from_partition}}")),
			graph("Retries by stage", "Failed attempts the speed layer and the forwarder retried, per second. Sustained: that stage's dependency (PostgreSQL, Kafka, ONNX Runtime) is failing; see the process log.", "ops", 12,
				promQL(`sum by (stage) (rate(lambda_speed_errors_total{`+inst+`}[5m])) or vector(0)`, "speed {{stage}}"),
				promQL(`sum by (stage) (rate(lambda_ingest_forwarder_errors_total{`+inst+`}[5m])) or vector(0)`, "forwarder {{stage}}")).redFrom(0.1),
			graph("Delta since the batch cutoff", "Entities with events after the cutoff of the batch run the speed layer follows (it shrinks after each publish), and that run's id.", "short", 12,
				promQL(`sum(lambda_speed_delta_entities{`+inst+`})`, "entities"),
				promQL(`max(lambda_speed_base_run_id{`+inst+`})`, "base run")),
			graph("Speed layer CPU and approximation", "CPU seconds per second the speed layer used, and the p99 relative error of its approximate features against exact counts.", "short", 12,
				promQL(`sum(rate(lambda_speed_cpu_seconds_total{`+inst+`}[5m]))`, "CPU s/s"),
				promQL(`histogram_quantile(0.99, sum by (feature, le) (rate(lambda_speed_approx_relative_error_bucket{`+inst+`}[5m])))`, "p99 error {{feature}}")),
			sqlTable("Speed view by partition", "Rows of speed_view in PostgreSQL per partition: entities with events after the cutoff, their newest event and the highest offset covered.", 24, Postgres, `SELECT kafka_partition AS partition, count(*) AS entities,
  max(covered_offset) AS covered_offset, max(last_event_at) AS newest_event, max(updated_at) AS updated
FROM speed_view
GROUP BY kafka_partition
ORDER BY kafka_partition`),
		},
	}
}

func serving() board {
	return board{
		file: "serving.json", uid: "lambda-serving", title: "lambda / Serving",
		desc: "The HTTP API: request rates, latency by route, answers by source and their staleness, the served batch view.",
		vars: []variable{instanceVar()},
		panels: []panel{
			graph("Requests by route and code", "Requests per second.", "reqps", 12,
				promQL(`sum by (route, code) (lambda:serving_requests:rate5m{`+inst+`})`, "{{route}} {{code}}")),
			graph("Latency p99 by route", "Scrapes and probes left out. Red past 100 ms on the query routes for 10 min (LambdaServingSlow): check the speed cache and view reads below, CPU, and a batch view load in progress.", "s", 12,
				promQL(`histogram_quantile(0.99, sum by (route, le) (lambda:serving_request_duration_seconds_bucket:rate5m{`+inst+`}))`, "{{route}}")).redFrom(0.1),
			graph("Answers by source", "Merged answers per second by the view that answered: batch, speed or kappa.", "ops", 12,
				promQL(`sum by (source) (lambda:serving_predictions:rate5m{`+inst+`})`, "{{source}}"),
				promQL(`sum(rate(lambda_serving_degraded_predictions_total{`+inst+`}[5m]))`, "degraded")),
			graph("Staleness of served answers", "Serve time minus the answer's as_of, by source. The speed line should stay within seconds; a batch line alone rising means the speed layer is not covering new events.", "s", 12,
				promQL(`histogram_quantile(0.99, sum by (source, le) (rate(lambda_serving_answer_staleness_seconds_bucket{`+inst+`}[5m])))`, "p99 {{source}}"),
				promQL(`histogram_quantile(0.5, sum by (source, le) (rate(lambda_serving_answer_staleness_seconds_bucket{`+inst+`}[5m])))`, "p50 {{source}}")),
			graph("Answer duration by source", "Time to build a merged answer, by the view that answered.", "s", 12,
				promQL(`histogram_quantile(0.99, sum by (source, le) (rate(lambda_serving_answer_duration_seconds_bucket{`+inst+`}[5m])))`, "p99 {{source}}")),
			single("Speed cache hit ratio", "Share of speed-view lookups answered from the cache over 5 min; misses read PostgreSQL. Low under load: raise LAMBDA_SPEED_CACHE_MB.", "percentunit", 6,
				promQL(`sum(rate(lambda_serving_speed_cache_requests_total{result="hit", `+inst+`}[5m])) / sum(rate(lambda_serving_speed_cache_requests_total{`+inst+`}[5m]))`, "hit ratio")),
			graph("View reads p99", "p99 of one read of the speed view in PostgreSQL (the cache misses). Rising: PostgreSQL is loaded.", "s", 6,
				promQL(`histogram_quantile(0.99, sum by (view, le) (rate(lambda_serving_view_read_duration_seconds_bucket{`+inst+`}[5m])))`, "{{view}}")),
			single("Error ratio", "Share of requests answered 5xx over 5 min. Red past 1%: the process log has each 5xx; view errors below say which store failed.", "percentunit", 6,
				promQL(`lambda:serving_errors:ratio5m`, "5xx")).redFrom(0.01),
			single("Served batch run", "Id of the published run each API process serves from memory; processes that disagree are still loading.", "none", 6,
				promQL(`max(lambda_serving_served_run_id{`+inst+`})`, "run")),
			single("Batch store", "Entities in the served batch view and the memory it holds.", "short", 6,
				promQL(`sum(lambda_serving_batch_store_entities{`+inst+`})`, "entities")),
			graph("View errors and batch loads", "Failed reads by view (batch load, speed, runs) and batch view loads by result.", "short", 6,
				promQL(`sum by (view) (increase(lambda_serving_view_errors_total{`+inst+`}[1h]))`, "errors {{view}} (1h)"),
				promQL(`sum by (result) (increase(lambda_serving_batch_loads_total{`+inst+`}[1h]))`, "loads {{result}} (1h)")),
			graph("Events posted", "Events posted to /v1/events per second, accepted (produced to Kafka) or rejected (400 with the reason).", "ops", 12,
				promQL(`sum by (outcome) (rate(lambda_serving_events_total{`+inst+`}[5m]))`, "{{outcome}}")),
		},
	}
}

func models() board {
	return board{
		file: "models.json", uid: "lambda-models", title: "lambda / Models and edge",
		desc: "The model registry, the versions each process has loaded, ONNX Runtime scoring, and model downloads by edge clients.",
		vars: []variable{instanceVar()},
		panels: []panel{
			single("No active model", "1 when no process has a model loaded: nothing can be scored (LambdaNoActiveModel). Activate a version with `lambda model activate`.", "none", 6,
				promQL(`(max(lambda_inference_model_loaded_version) or on() vector(0)) < bool 1`, "no model")).redFrom(1),
			graph("Loaded version by process", "The model version each process's watcher serves. Processes that disagree for more than a poll (10 s) cannot load the active version: see sync errors.", "none", 18,
				promQL(`max by (job, instance, model) (lambda_inference_model_loaded_version{`+inst+`})`, "{{model}} {{instance}}")),
			graph("Swaps and sync errors", "Versions swapped in (activations, rollbacks) and failed syncs, in the last hour.", "none", 12,
				promQL(`sum by (model) (increase(lambda_inference_model_swaps_total{`+inst+`}[1h]))`, "swaps {{model}}"),
				promQL(`sum by (model) (increase(lambda_inference_model_sync_errors_total{`+inst+`}[1h]))`, "sync errors {{model}}")),
			graph("ONNX Runtime runs", "Duration of one run (p99) and the rows per run (mean): the batch sizes the layers score with.", "s", 12,
				promQL(`histogram_quantile(0.99, sum by (model, le) (rate(lambda_inference_run_duration_seconds_bucket{`+inst+`}[5m])))`, "p99 {{model}}"),
				promQL(`lambda:inference_run_rows:mean5m`, "rows/run {{model}}")),
			graph("Model downloads", "Manifest checks and file downloads by edge clients, per second: ok (sent) or not_modified (304, the client's copy is current). Mostly not_modified is healthy.", "ops", 12,
				promQL(`sum by (variant, result) (rate(lambda_serving_model_downloads_total{`+inst+`}[5m]))`, "{{variant}} {{result}}")),
			graph("Online inference", "Rows scored through the Open Inference Protocol per second, by model.", "ops", 12,
				promQL(`sum by (model) (rate(lambda_serving_infer_rows_total{`+inst+`}[5m]))`, "{{model}}")),
			sqlTable("Versions", "Every registered version, its status and files.", 12, Postgres, `SELECT v.model_name AS model, v.version, v.status, v.created_at, v.input_width,
  string_agg(a.variant || ' ' || pg_size_pretty(a.size_bytes), ', ' ORDER BY a.variant) AS files
FROM model_versions v LEFT JOIN model_artifacts a USING (model_name, version)
GROUP BY v.model_name, v.version, v.status, v.created_at, v.input_width
ORDER BY v.model_name, v.version DESC`),
			sqlTable("Activations", "Which version was activated when, and rolled back when.", 12, Postgres, `SELECT model_name AS model, version, activated_at, rolled_back_at
FROM model_activations
ORDER BY id DESC
LIMIT 20`),
		},
	}
}

func tradeoffs() board {
	return board{
		file: "tradeoffs.json", uid: "lambda-tradeoffs", title: "lambda / Lambda vs Kappa trade-offs",
		desc: "The seed's choosing-between-patterns table measured on this deployment (batch, speed, online, edge), and reprocessing the Lambda way (batch runs) beside the Kappa way (replays).",
		vars: []variable{instanceVar()},
		panels: []panel{
			graph("Latency by pattern", "Batch: mean run duration (1 h); speed: event→prediction p99; online: OIP inference p99; edge: model download p99.", "s", 12,
				promQL(`sum(increase(lambda_batch_run_duration_seconds_sum{`+inst+`}[1h])) / sum(increase(lambda_batch_run_duration_seconds_count{`+inst+`}[1h]))`, "batch"),
				promQL(`lambda:speed_event_latency_seconds:p99_5m`, "speed"),
				promQL(`histogram_quantile(0.99, sum by (le) (lambda:serving_request_duration_seconds_bucket:rate5m{route=~"/v2/models/.+/infer", `+inst+`}))`, "online"),
				promQL(`histogram_quantile(0.99, sum by (le) (lambda:serving_request_duration_seconds_bucket:rate5m{route=~"/v1/models/.+", `+inst+`}))`, "edge")),
			graph("Update frequency by pattern", "Batch runs published per hour, events folded per second by the speed layer, inference requests per second, model versions swapped in per day.", "short", 12,
				promQL(`lambda:batch_runs_published:increase1h`, "batch runs/h"),
				promQL(`sum(lambda:speed_events:rate5m{`+inst+`})`, "speed events/s"),
				promQL(`sum(lambda:serving_requests:rate5m{route=~"/v2/models/.+/infer", `+inst+`})`, "online requests/s"),
				promQL(`sum(increase(lambda_inference_model_swaps_total{`+inst+`}[1d]))`, "edge model swaps/day")),
			graph("Cost: CPU by process", "CPU seconds per second of each process (with one role per process, each layer's cost), the speed layer's CPU seconds per 1,000 events and online inference's per 1,000 requests (GET /v1/tradeoffs has the whole table).", "short", 12,
				promQL(`lambda:process_cpu_seconds:rate5m{`+inst+`}`, "{{job}} {{instance}}"),
				promQL(`1000 * sum(rate(lambda_speed_cpu_seconds_total{`+inst+`}[5m])) / sum(rate(lambda_speed_events_total{`+inst+`}[5m]))`, "speed CPU s / 1k events"),
				promQL(`1000 * sum(rate(lambda_serving_infer_cpu_seconds_total{`+inst+`}[5m])) / sum(lambda:serving_requests:rate5m{route=~"/v2/models/.+/infer", `+inst+`})`, "online CPU s / 1k requests")),
			graph("Freshness by source", "Staleness of served answers, p50 and p99, by the view that answered.", "s", 12,
				promQL(`lambda:serving_answer_staleness_seconds:p50_5m`, "p50 {{source}}"),
				promQL(`lambda:serving_answer_staleness_seconds:p99_5m`, "p99 {{source}}")),
			sqlTable("Reprocessing: batch runs and Kappa replays", "What reprocessing the log cost each way, from the run and replay records: wall time, CPU, bytes read and stored, events, rows written, CPU per 1,000 events. `lambda report rollout --run N --replay M` compares one pair in full.", 24, Postgres, `SELECT 'batch run ' || id AS job, 'lambda' AS path, created_at,
  round(EXTRACT(EPOCH FROM finished_at - started_at)::numeric, 1) AS wall_seconds,
  round(cpu_seconds::numeric, 2) AS cpu_seconds, bytes_read, bytes_stored, events_read, rows_written, peak_heap_bytes,
  round((1000 * cpu_seconds / NULLIF(events_read, 0))::numeric, 4) AS cpu_seconds_per_1k_events
FROM batch_runs WHERE status IN ('succeeded', 'published', 'expired')
UNION ALL
SELECT 'replay ' || id, 'kappa', created_at,
  round(EXTRACT(EPOCH FROM coalesce(ready_at, now()) - created_at)::numeric, 1),
  round(cpu_seconds::numeric, 2), bytes_read,
  CASE WHEN dropped_at IS NULL THEN pg_total_relation_size(to_regclass('kappa_view_' || id)) END,
  events_read, rows_written, peak_heap_bytes,
  round((1000 * cpu_seconds / NULLIF(events_read, 0))::numeric, 4)
FROM kappa_replays
ORDER BY created_at DESC
LIMIT 20`),
			graph("Replay progress", "Offsets done and in the log, events per second and time to catch up, per replay.", "short", 12,
				promQL(`sum by (replay, kind) (lambda_kappa_replay_offsets{`+inst+`})`, "replay {{replay}} {{kind}}"),
				promQL(`sum by (replay) (lambda_kappa_replay_events_per_second{`+inst+`})`, "replay {{replay}} events/s")),
			graph("Replay ETA and jobs", "Seconds until each replaying job catches up with the log, and replay jobs running.", "s", 12,
				promQL(`max by (replay) (lambda_kappa_replay_eta_seconds{`+inst+`})`, "replay {{replay}} ETA"),
				promQL(`sum(lambda_kappa_jobs{`+inst+`})`, "jobs")),
			graph("Divergence: approximate features", "p99 relative error of the speed layer's approximate features (exact in batch), the price of its bounded memory.", "percentunit", 24,
				promQL(`histogram_quantile(0.99, sum by (feature, le) (rate(lambda_speed_approx_relative_error_bucket{`+inst+`}[5m])))`, "{{feature}}")),
		},
	}
}
