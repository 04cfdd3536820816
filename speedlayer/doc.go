// Package speedlayer keeps fresh predictions for everything the published batch run
// has not absorbed yet: a Kafka consumer group folds the events after the run's
// cutoff into per-entity deltas, merges them onto the run's per-entity states,
// scores the result and upserts it into the PostgreSQL speed_view.
//
// # Consumer
//
// A Consumer is one member of a consumer group (default "lambda-speed"; scale out
// with more members, up to the topic's partition count). It uses kafka-go's
// ConsumerGroup for membership and commits, and reads each assigned partition with
// a reader of its own, so that it can replay a partition from any offset. The
// partition readers decode in parallel and feed one loop, which collects
// micro-batches by size (Config.MaxBatch) or deadline (Config.MaxWait after the
// batch's first message was fetched) and, per micro-batch:
//
//  1. folds the valid events into each touched entity's delta (package delta);
//  2. reads, for entities it has not seen under the current run, their state in the
//     run's batch view (Bases), once per entity: a published run never changes;
//  3. takes every touched entity's vector from base ⊕ delta as of its as_of and
//     scores them all in one call (Scorer);
//  4. upserts all their rows in one statement (View), and only then commits the
//     batch's offsets.
//
// It folds only home events, placed by the rule every reader of the topic shares
// (kafka.ReadEvent): a valid event in its entity's home partition under key
// entity_id. Stray events (another partition, another key or none) are skipped:
// the forwarder (package internal/kafka/forward) copies them home, where they are
// folded. Invalid messages — not an event, breaking its schema, or a ts more than
// Config.MaxClockSkew ahead of the message's timestamp — are skipped and counted;
// the forwarder dead-letters them. A folded event's time is event.FoldTime: never
// after its arrival, so no row's as_of passes the newest arrival it covers.
//
// Step 4 of a batch runs while the next batch goes through steps 1-3; batches are
// written and committed strictly in order. A failed step is retried with backoff
// (100 ms doubling to 5 s) until it succeeds; nothing is committed meanwhile.
//
// # Delta and base
//
// Per partition p the delta covers the offsets after the published run's cutoff
// C_p. Assigned a partition, a member replays it from C_p+1 up to the group's
// committed offset, folding only, writes a row for every entity of the rebuilt
// delta, and then reads on from the committed offset, or from C_p+1 after
// committing it when the group had committed less; every generation of the group
// (a rebalance) starts over this way. So the delta is rebuilt from the log
// and never read back from speed_view, and an (entity_id, event_id)
// pair is folded once per delta however often it was delivered (see package
// delta on duplicates, also across the cutoff when Deps.Archive is set). Events
// after the cutoff with older event times (late events) are folded here and
// nowhere else until the next batch run includes their offsets: each event is
// counted once, by one layer.
//
// # As of
//
// A row's as_of is the event-time watermark of its entity's partition at the
// row's covered offset X: the newest event time among the valid events of the
// partition at offsets (C_p, X], and at least the run's as_of. It is a function of
// the log and the run only, so a replay writes the same rows, and it is never
// before the entity's newest event. Anyone can recompute a row:
//
//	score = model(vector(base(run) ⊕ fold(valid events of the entity in (C_p, X]), as_of))
//
// # Idempotence
//
// A row replaces the stored one only if it covers a later offset of the entity's
// partition, or the same offset with another base run or model (View.Upsert). A
// redelivered micro-batch (a crash between upsert and commit) therefore changes
// nothing, and a restarted member writes exactly the rows an uninterrupted one
// would have.
//
// # Rebase on publish
//
// The published run is checked every Config.RunPoll. When another run is
// published, each partition's delta is rebuilt from the new cutoff in the
// background, by replaying the log from C_p+1 up to the offset processed when the
// rebuild started, while the live delta on the old run keeps serving: rows based
// on the old run stay exact up to their coverage. When the rebuild is done, the
// records applied meanwhile are applied to it too (when there are more than
// Config.CatchUp, first by the rebuild's goroutine, up to 3 rounds, so that the live
// micro-batches do not wait for them), a row is written for each of
// its entities (a row moves to the new run once it covers at least as much as the
// stored one, so coverage never goes down), and the rebuilt delta replaces the live
// one. Config.PruneDelay later (time for every serving replica to serve the new
// run), the rows of older runs that cover nothing after the new cutoff are
// deleted: the new run's batch view covers at least as much of them.
//
// A batch run takes its cutoff when it starts and records it (batch_runs), and
// the run in progress is checked every Config.RunPoll too. Once its cutoff is
// recorded, each partition's next delta is prebuilt the same way, off the loop,
// and the micro-batches fold into it as well as into the live one. When that run
// publishes, only its bases are read and its rows written: the events that arrived
// while it ran, as many as its duration brings, are not replayed. A run that fails
// drops its prebuilt deltas.
//
// # Approximation
//
// Deltas fold with the spec's speed variant (features.Spec.Speed): a distinct
// feature declared "approximate": "hll" keeps a HyperLogLog sketch here while the
// batch layer counts it exactly, and each exact base state is turned into that
// variant when attached. When a rebuilt delta replaces the live one under a new
// run, every entity of the live delta whose records all lie at or below the new
// cutoff has just been taken over by the batch view: both answers cover the same
// events. The speed layer then reads those entities' exact states from the new run
// (in the background) and observes, per approximate feature, the relative error of
// the value it served, |served − exact| / max(exact, 1). The bound it should stay
// within is stated in package features.
//
// # Metrics
//
// Registered on the Registerer given to New:
//
//	lambda_speed_events_total                    counter    valid events applied and committed (events/s: rate)
//	lambda_speed_event_latency_seconds           histogram  Kafka timestamp of an event → commit of its upsert
//	lambda_speed_consumer_lag_messages           gauge      per partition: messages after the last committed one
//	lambda_speed_skipped_messages_total          counter    messages not folded, by reason: stray, or why invalid
//	lambda_speed_fetched_bytes_total             counter    bytes of the messages read (keys and values), live and in rebuilds
//	lambda_speed_rebase_duration_seconds         histogram  delta rebuild start → rebuilt rows written, by kind
//	                                                        (rebase: a run was published, its delta replayed; prebuilt:
//	                                                        a run was published, its prebuilt delta installed; assign: a
//	                                                        partition was assigned; prebuild: start → prebuilt delta ready)
//	lambda_speed_rebuild_catchup_records_total   counter    records taken during a rebuild, applied off the loop
//	lambda_speed_rows_upserted_total             counter    speed_view rows sent in upserts
//	lambda_speed_batch_duration_seconds          histogram  micro-batch processing start → commit
//	lambda_speed_errors_total                    counter    failed attempts, each retried, by stage
//	lambda_speed_unflushed_events_total          counter    messages fetched but not committed when a generation or
//	                                                        the process ended; the group delivers them again
//	lambda_speed_base_run_id                     gauge      the published batch run the deltas build on
//	lambda_speed_delta_entities                  gauge      entities in this member's deltas
//	lambda_speed_last_commit_timestamp_seconds   gauge      unix time of the last committed micro-batch
//	lambda_speed_approx_relative_error           histogram  per approximate feature: |speed − batch| / max(batch, 1)
//	                                                        when a batch run takes over an entity (see Approximation)
//	lambda_speed_cpu_seconds_total               counter    CPU seconds of the speed layer's own work: folding, scoring,
//	                                                        encoding and writing micro-batches and rebuilds (thread
//	                                                        clocks; the Kafka client's fetch goroutines not counted)
package speedlayer
