// Package master reads and appends the master dataset: the ClickHouse table events,
// every event of the log with its Kafka partition and offset, never updated.
//
// # Cutoff
//
// A batch run reads a Cutoff: per Kafka partition the highest offset it includes
// (CutoffFromCoverage derives it from the archiver's committed offsets, below which
// everything is archived), plus the highest imported row. Rows backfilled from
// Parquet did not come through Kafka; they carry kafka_partition ImportPartition (-1)
// and an import sequence number as offset (package parquetio).
//
// # Reading
//
// Plan makes one pass over the cutoff's rows for their newest event time (the run's
// as_of), their count, and an event-weighted sample of entity ids that splits the
// entities into Chunks of about the same number of rows. Read reads one chunk: a
// chunk range uses the primary key, so it reads only its part of the table, and
// ClickHouse sends it unsorted (sorting by the String key was most of the server's
// work) in column blocks over the native protocol (package chstream), appended into
// columns the read keeps. Read then groups the rows by entity (a hash table of the
// chunk's entity ids, the groups sorted by id) and sorts each entity's rows by
// (kafka_partition, kafka_offset): the order ClickHouse's ORDER BY on the table key
// gave. The copies of a row that a redelivery to the archiver left (same partition
// and offset) are then adjacent, and Read skips them by comparing each row with the
// one before: the result of LIMIT 1 BY kafka_partition, kafka_offset, without the
// server keeping a set of every key. The chunk goes to the caller as one Arrow
// record of features.EventSchema whose buffers point into the columns (no copy of
// strings or numbers), with the row order. A chunk's memory (a ReadBuffer) is
// reused by the caller's next chunk: on small virtual machines touching fresh memory
// costs more than decoding into it. A chunk never splits an entity, so under skewed
// activity one heavy entity's chunk grows with the history; a chunk the plan
// estimates above MaxHeldRows is therefore read sorted by ClickHouse and passed on
// block by block, in memory one block at a time.
//
// # Appending
//
// Rows collects events as columns; Dataset.Insert (or Insert, for a writer such as
// the archiver that holds only the table name) writes them with one column insert
// (ClickHouse 18.16 hangs on INSERT ... VALUES). ImportedMax reads the highest
// import sequence number from the events_offsets view.
//
// A row holds: kafka_partition and kafka_offset, its place in the log; event_id,
// entity_id and type as they came. ts is the event time in whole seconds, clamped
// to the DateTime range (1970-01-01 to 2106-02-07) that ClickHouse 18.16 can store;
// ts_us is the exact event time in unix microseconds, arrival_us the message's Kafka
// timestamp (when the platform received it); reads fold an event at
// least(ts_us, arrival_us), event.FoldTime. value/has_value hold the
// optional value (0 and 0 when absent). attrs_keys holds the attribute keys in
// sorted order and attrs_values their values at the same positions. ingested_at is
// the time of the insert.
package master
