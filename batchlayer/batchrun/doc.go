// Package batchrun runs the batch layer's job: recompute every entity's features and
// score from the whole master dataset up to a cutoff, write the batch view under the
// run's own id, and publish it.
//
// # Trigger
//
// Runner.Trigger is the one entry point for cron, REST and CLI. At most one run
// executes at a time across every replica: the trigger takes the PostgreSQL advisory
// lock of package runs and holds it, on a session of its own, for the run's lifetime.
// A trigger that finds the lock taken answers with the running run and started=false
// (it waits up to Config.LockWait for the holder to record or finish its run). A
// trigger that gets the lock and finds a run still marked running knows its process
// is gone, since the lock would still be held otherwise: it marks that run failed
// ("abandoned") and drops its partial view. Trigger returns as soon as the run is
// recorded; the run goes on in the background until it ends or Close cancels it.
//
// # A run
//
//  1. Cutoff: per Kafka partition, the archiver's committed offset minus one (every
//     offset up to it is in ClickHouse), and the highest imported row; then one pass
//     over the events of the cutoff for their newest event time, the run's as_of
//     (every vector of the run is taken at it), a row count for progress, and an
//     event-weighted sample of entity ids that splits the entities into chunks of
//     about Config.ChunkRows events. The cutoff, as_of and model are recorded.
//  2. Read, fold, score, write, Config.Parallel chunks at a time: ClickHouse streams
//     a chunk unsorted in column blocks (package chstream) into columns the chunk
//     keeps; package master groups the rows by entity and orders each entity's rows
//     by (kafka_partition, kafka_offset), skips copies of one (kafka_partition,
//     kafka_offset), and hands the chunk over as one Arrow record of
//     features.EventSchema (no copy) with the row order; features.Stream folds the
//     rows in that order, handing over each entity's state as its rows end. States are encoded, turned
//     into vectors as of as_of, scored with the active model Config.ScoreBatch rows at
//     a time, and inserted into batch_view (package view) with column inserts under
//     the run id, of up to Config.FlushRows rows: each chunk in flight holds a slot
//     (its read buffer and its writer), whose writer carries rows over to the slot's
//     next chunk and is flushed once every chunk has folded. An entity whose every event the spec excludes (labels only) gets no
//     row. The row's coverage is the cutoff offset of the entity's partition
//     (kafka.PartitionFor over the topic's partition count) and its newest event time.
//  3. Publish: one PostgreSQL transaction marks the run published (readers use
//     runs.Published) and notifies runs.PublishChannel.
//  4. Retention: published runs beyond the newest Config.Retention are expired, and
//     every batch_view partition that is neither published nor this run is dropped
//     (old runs, failed runs, leftovers of crashed processes).
//
// A run that fails at any step publishes nothing: it is marked failed with its error,
// its partition is dropped, and the previously published run stays served.
//
// Recording a run's end (publish, or failure) is retried with backoff, for up to 30 s,
// while PostgreSQL cannot be reached: a server restarting as a run ends costs neither
// the complete view nor the run's record. A server down longer leaves the run marked
// running, until the next trigger abandons it.
//
// # Shards
//
// With Config.Shards N > 1, step 2 is split: the run records N shard rows
// (runs.CreateShards) and each shard — the entities whose home partition modulo N is
// its index (master.Shard) — is planned, read, folded, scored and written by a worker
// of its own into the run's partition: a goroutine of this process, or, with
// Config.ExternalWorkers, a process calling Runner.Work (`lambda batch worker`), which
// holds the shard's advisory lock while it works. The run waits for every shard: a
// failed shard, or a running one whose lock nobody holds (its worker died), fails the
// run. Step 3 is then runs.PublishShards: one transaction that locks the shard rows,
// checks that all succeeded and publishes the run with the sums of their counts.
//
// # Metrics
//
// Registered on the Registerer given to New:
//
//	lambda_batch_run_duration_seconds             histogram  duration of finished runs, by outcome (published, failed)
//	lambda_batch_run_events_read_total            counter    master dataset rows folded
//	lambda_batch_run_copies_skipped_total         counter    repeated (kafka_partition, kafka_offset) rows skipped
//	lambda_batch_run_entities_scored_total        counter    entities scored
//	lambda_batch_run_rows_written_total           counter    batch_view rows inserted
//	lambda_batch_run_failures_total               counter    failed runs, by reason: cutoff, model, read, score,
//	                                                         write, publish, canceled, abandoned, shard
//	lambda_batch_runs_published_total             counter    runs published
//	lambda_batch_run_in_progress                  gauge      1 while this process executes a run
//	lambda_batch_last_publish_timestamp_seconds   gauge      unix time the served run was published (as this
//	                                                         process last saw it: at start and at its own
//	                                                         publishes; take the max over replicas)
//	lambda_batch_cutoff_event_timestamp_seconds   gauge      newest event time of that run: the batch view's
//	                                                         staleness is time() minus this
//	lambda_batch_retention_dropped_runs_total     counter    batch_view partitions dropped by retention
//	lambda_batch_run_registry_retries_total       counter    attempts to record a run's end (publish, failure)
//	                                                         retried while PostgreSQL was unavailable
package batchrun
