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
// # Served run and its store
//
// The batch view served is that of the published run (batch_runs), which a Service
// tracks: Run reads it at start, at every publish notification and every
// Config.RunPoll. When another run is published, Sync loads its whole view into a
// batchstore.Store — one streaming read of ClickHouse — while lookups go on from the
// run loaded before, and swaps the new store in only once it is complete. A lookup
// therefore reads the batch view from memory and never waits on ClickHouse; it reads
// the speed view (PostgreSQL) with one query. A failed load leaves the previous run
// served and is retried at the next notification or poll. Ready reports not ready
// until the first load is done.
//
// A switch never makes an answer go back in coverage: a later run covers at least what
// an earlier one did, and the speed layer deletes the speed rows a new run dominates
// only a while after it was published (its PruneDelay, a minute by default), well
// after every replica has loaded the run.
//
// # Speed cache
//
// The speed rows read from PostgreSQL, and the entities found without one, are cached
// until PostgreSQL announces that they changed: a trigger on speed_view notifies the
// entity ids of every insert, update and delete (views.SpeedChannel), and Run listens.
// A hot entity therefore costs no PostgreSQL round trip until its speed row changes; a
// change is seen as soon as its notification arrives, milliseconds after the commit.
// While the channel is down the cache is emptied and unused, and every lookup reads
// PostgreSQL (see speedCache for the race between a read and a change).
//
// The lookups that miss the cache at the same time share reads: at most 4 reads of
// the speed view run at once, and the misses that arrive meanwhile join one pending
// read that starts when a slot frees (coalescer). An idle service adds no wait; a
// service restarted under thousands of requests per second with a cold cache sends a
// few large queries instead of a queue of small ones that pass LookupTimeout (the
// 10-minute soak's first seconds at 2,000 requests/s answered 503s before).
//
// # Degraded answers
//
// When the speed view cannot be read (within Config.LookupTimeout), entities in the
// batch view are answered from it with Degraded set. Before the first batch view is
// loaded, or while the published run cannot be read at start, entities with a scored
// speed row are answered from it, degraded too. An entity neither available view
// holds is Unavailable, not NotFound, while a view is down: the other might hold it.
// ClickHouse being down affects only the next load, never the answers.
//
// # Metrics
//
// Registered on the Registerer given to New:
//
//	lambda_serving_batch_store_entities          gauge      entities of the served batch view, in memory
//	lambda_serving_batch_store_bytes             gauge      memory the served batch view holds
//	lambda_serving_batch_loads_total             counter    loads of a published run's view, by result (ok, error)
//	lambda_serving_batch_load_duration_seconds   histogram  duration of a successful load
//	lambda_serving_speed_cache_requests_total    counter    speed-view lookups per entity, by result (hit, miss)
//	lambda_serving_speed_cache_bytes             gauge      bytes of speed rows cached
//	lambda_serving_view_read_duration_seconds    histogram  reads of the speed view, by view (speed)
//	lambda_serving_view_errors_total             counter    failed reads, by view (batch: a load, speed, runs)
//	lambda_serving_served_run_id                 gauge      id of the published batch run served (0: none)
package predict
