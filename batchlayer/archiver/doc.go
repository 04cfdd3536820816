// Package archiver appends every message of the `events` topic to the master
// dataset, the ClickHouse table `events`, together with its Kafka partition and
// offset.
//
// # Delivery
//
// An Archiver is one member of a Kafka consumer group (default "lambda-archiver")
// with manual commits. It decodes each message with event.Decode and collects
// the rows as columns (master.Rows); it inserts them with one column-oriented INSERT when the
// batch holds Config.BatchRows messages or Config.FlushInterval has passed since
// its first message, whichever comes first. Only after the insert succeeded does
// it commit the offsets of exactly the messages of that batch, so a committed
// offset promises that every message of the partition below it is in ClickHouse.
// One batch fills while the one before it is inserted and committed; batches are
// inserted and committed strictly in order.
// Coverage reads those committed offsets: that, not max(kafka_offset) in the
// table, is the safe cutoff for the batch layer, because an insert cut short by
// a crash can leave part of a batch written with nothing committed. WaitCaughtUp
// waits until they reach the end of the log.
//
// A crash between the insert and the commit makes the group deliver the batch
// again, and the archiver inserts the same (partition, offset) rows a second
// time. The table's ReplacingMergeTree collapses them when parts merge; readers
// that need exact answers before that deduplicate in the query:
//
//	SELECT ... FROM events
//	WHERE kafka_partition = {p} AND kafka_offset < {Coverage()[p]}
//	ORDER BY kafka_partition, kafka_offset
//	LIMIT 1 BY kafka_partition, kafka_offset
//
// Only home events are archived, placed by the rule every reader of the topic
// shares (kafka.ReadEvent): a valid event in its entity's home partition under key
// entity_id. A stray event (another partition, another key or none) is skipped: the
// forwarder (internal/kafka/forward) copies it home, and the copy is archived. An
// invalid message — not an event, breaking its schema, or a ts more than
// Config.MaxClockSkew ahead of its Kafka timestamp — is skipped too (the forwarder
// dead-letters it). Either way it is counted by reason and its offset is committed
// with its batch. Each row keeps its Kafka timestamp as arrival_us.
//
// A failed insert is retried with exponential backoff (100 ms doubling up to
// 5 s) for as long as it takes: no offset is committed meanwhile, so nothing is
// lost, and the retries and the age of the last flush show the outage. When the
// context ends, Run flushes and commits what it holds, retrying for up to
// Config.ShutdownTimeout, then leaves the group. Messages it could not flush are
// counted; they are delivered again to the next member of the group.
//
// # Rows
//
// A batch collects its rows in a master.Rows and writes them with master.Insert;
// package master documents the columns (ts, for one, is clamped to the DateTime
// range 1970-01-01 to 2106-02-07).
//
// # Metrics
//
// Registered on the Registerer given to New:
//
//	lambda_batch_archiver_rows_total                     counter    rows inserted into ClickHouse
//	lambda_batch_archiver_batches_total                  counter    inserts that succeeded
//	lambda_batch_archiver_insert_duration_seconds        histogram  duration of one successful insert
//	lambda_batch_archiver_insert_retries_total           counter    failed inserts, each retried
//	lambda_batch_archiver_skipped_messages_total         counter    messages not archived, by reason: stray,
//	                                                                syntax, field, too_large, clock_skew
//	lambda_batch_archiver_commit_errors_total            counter    offset commits that failed (retried with the next batch)
//	lambda_batch_archiver_fetch_errors_total             counter    errors reading from Kafka
//	lambda_batch_archiver_unflushed_messages_total       counter    messages still buffered when shutdown gave up;
//	                                                                they are not committed and are read again
//	lambda_batch_archiver_consumer_lag_messages          gauge      per partition: messages in the log after the
//	                                                                last committed one, at the time it was fetched
//	lambda_batch_archiver_last_flush_timestamp_seconds   gauge      unix time of the last successful insert and commit
package archiver
