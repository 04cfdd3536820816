// Package predict answers the serving layer's merged predictions: for each entity, of
// the published batch view and the speed view, the one that covers more of the log.
//
// # Merge rule
//
// Every row of both views says what it covers: the entity's Kafka partition (an
// entity lives in one partition, its id being the message key) and the highest offset
// of that partition it includes. Choose picks the speed row when it covers a strictly
// higher offset of the same partition than the batch row, and the batch row otherwise:
// ties go to the batch view, the authority. A row that has no score (the speed layer
// writes features before any model is active) does not compete, and rows of
// different partitions (a topic whose partition count changed) cannot be compared, so
// the batch row answers. The choice never looks at times: coverage is explicit.
//
// # Degraded answers
//
// The views are read concurrently, each under Config.LookupTimeout. When the speed
// view (PostgreSQL) cannot be read, entities in the batch view are answered from it
// with Degraded set; when the batch view (ClickHouse) cannot be read, entities with a
// scored speed row are answered from it, degraded too. An entity neither readable view
// holds is Unavailable, not NotFound, while a view is down: the other might hold it.
// Both views are read again on the next request, so answers recover as soon as the
// servers do.
//
// # Served run and cache
//
// The batch view served is that of the published run (batch_runs), which a Service
// tracks in memory: Run reads it at start, at every publish notification and every
// Config.RunPoll, so a lookup never waits on PostgreSQL for it and lookups go on from
// the batch view while PostgreSQL is down. A published run's rows never change, so
// they are cached per run (found rows and absent entities alike, up to
// Config.CacheEntries): hot lookups cost no ClickHouse round trip. A new published
// run starts an empty cache, which is how publishing invalidates it; a lookup that
// started on the old run finishes with the old run's rows, which are still exact for
// what they cover.
//
// # Metrics
//
// Registered on the Registerer given to New:
//
//	lambda_serving_batch_cache_requests_total   counter    batch-view lookups per entity, by result (hit, miss)
//	lambda_serving_batch_cache_entries          gauge      entities cached for the served run
//	lambda_serving_view_read_duration_seconds   histogram  reads of a view, by view (batch, speed)
//	lambda_serving_view_errors_total            counter    failed reads, by view (batch, speed, runs)
//	lambda_serving_served_run_id                gauge      id of the published batch run served (0: none)
package predict
