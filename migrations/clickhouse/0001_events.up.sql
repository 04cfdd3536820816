-- events: the master dataset. Append-only: the archiver writes every Kafka message of
-- the `events` topic here as it was in the log, and nothing ever updates a row.
--
-- * ReplacingMergeTree keyed by (entity_id, kafka_partition, kafka_offset): a redelivered
--   message (same partition and offset, hence same entity) collapses into one row when
--   parts merge. It carries the same ts, so it lands in the same toYYYYMM(ts) partition,
--   which matters because ReplacingMergeTree only deduplicates within a partition. Merges
--   are eventual: a reader that needs exactness deduplicates in the query, e.g.
--   `LIMIT 1 BY kafka_partition, kafka_offset` (or FINAL).
-- * entity_id leads the key, so one entity's history is a range read.
-- * ts (DateTime, seconds) partitions the table and is for people; ts_us is the exact
--   event time in unix microseconds (18.16 has no DateTime64).
-- * value Float64 + has_value UInt8 rather than Nullable(Float64): in 18.16 Nullable adds
--   a null-map column to every part and slows scans and aggregates, while the flag keeps
--   "no value" apart from 0 and folds plainly: sumIf(value, has_value), countIf(has_value).
-- * attrs as two parallel arrays (18.16 has no Map): attrs_values[i] belongs to attrs_keys[i].
-- * String, not LowCardinality(String): LowCardinality is experimental in 18.16.
-- * event_id is stored so readers can drop producer retries (same event_id at another
--   offset); the engine itself only collapses redeliveries of one offset.
CREATE TABLE IF NOT EXISTS ${database}.events (
    kafka_partition Int32,
    kafka_offset    Int64,
    event_id        String,
    entity_id       String,
    type            String,
    ts              DateTime,
    ts_us           Int64,
    value           Float64,
    has_value       UInt8,
    attrs_keys      Array(String),
    attrs_values    Array(String),
    ingested_at     DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (entity_id, kafka_partition, kafka_offset);

-- events_offsets: per Kafka partition, the highest archived offset and the newest event
-- time, kept up to date by ClickHouse on every insert into events. The batch layer reads
-- its cutoff from a few rows instead of scanning events:
--   SELECT kafka_partition, maxMerge(max_offset), maxMerge(max_ts_us)
--   FROM events_offsets GROUP BY kafka_partition
-- max is idempotent, so redeliveries cannot move it. The view is created in the same
-- migration as events, so it has seen every row (no POPULATE needed).
CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.events_offsets
ENGINE = AggregatingMergeTree()
ORDER BY kafka_partition
AS SELECT
    kafka_partition,
    maxState(kafka_offset) AS max_offset,
    maxState(ts_us)        AS max_ts_us
FROM ${database}.events
GROUP BY kafka_partition;
