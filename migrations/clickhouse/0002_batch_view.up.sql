-- batch_view: one row per entity per batch run. A run writes under its own run_id
-- (= PostgreSQL batch_runs.id) and is served only after batch_runs marks it published,
-- so readers always filter on one run_id.
--
-- * PARTITION BY run_id: retention, and throwing away a failed half-written run, is one
--   `ALTER TABLE batch_view DROP PARTITION <run_id>`; `WHERE run_id = ?` prunes to one
--   partition. Keep tens of runs, not thousands: every partition has its own parts.
-- * ReplacingMergeTree(written_at) ORDER BY entity_id: a retried write of the same run
--   collapses per entity (the newest written_at wins); exact reads before a merge use
--   argMax(col, written_at) ... GROUP BY entity_id, or FINAL.
-- * Coverage, as in speed_view: covered_offset is the highest offset of the entity's
--   Kafka partition the run included, last_event_us the entity's newest event time
--   included, as_of_us the moment the row describes (unix microseconds; no DateTime64).
-- * state is the serialised feature monoid state the speed layer merges its deltas onto;
--   vector the model input, score its output.
-- * String, not LowCardinality(String), for model_name: LowCardinality is experimental
--   in 18.16.
CREATE TABLE IF NOT EXISTS ${database}.batch_view (
    run_id          UInt64,
    entity_id       String,
    kafka_partition Int32,
    covered_offset  Int64,
    last_event_us   Int64,
    as_of_us        Int64,
    state           String,
    vector          Array(Float32),
    score           Float32,
    model_name      String,
    model_version   UInt32,
    written_at      DateTime
) ENGINE = ReplacingMergeTree(written_at)
PARTITION BY run_id
ORDER BY entity_id;
