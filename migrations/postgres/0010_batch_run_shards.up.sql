-- batch_run_shards: the shards of a sharded batch run (lambda batch run --shards N).
-- A run of N > 1 shards gets N rows when its cutoff is known; each shard is read,
-- folded, scored and written by its own worker, which claims its row (pending ->
-- running) and records its counts (succeeded) or why it failed. The run publishes in
-- one transaction that locks every shard row and finds them all 'succeeded'; its
-- counts are the sums of theirs. A one-shard run has no rows here.
-- * of: the run's shard count, the same on every row of a run.
-- * worker: who claimed the shard (user@host, pid).
CREATE TABLE batch_run_shards (
    run_id          bigint      NOT NULL REFERENCES batch_runs (id) ON DELETE CASCADE,
    shard           int         NOT NULL,
    of              int         NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
    worker          text        NOT NULL DEFAULT '',
    started_at      timestamptz,
    finished_at     timestamptz,
    events_read     bigint      NOT NULL DEFAULT 0,
    entities_scored bigint      NOT NULL DEFAULT 0,
    rows_written    bigint      NOT NULL DEFAULT 0,
    cpu_seconds     double precision NOT NULL DEFAULT 0,
    peak_heap_bytes bigint      NOT NULL DEFAULT 0,
    bytes_read      bigint      NOT NULL DEFAULT 0,
    error           text,
    PRIMARY KEY (run_id, shard),
    CONSTRAINT batch_run_shards_in_range CHECK (shard >= 0 AND shard < of),
    CONSTRAINT batch_run_shards_failed_has_error CHECK (status <> 'failed' OR error IS NOT NULL)
);
