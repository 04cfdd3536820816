-- What a batch run and a Kappa replay cost, for `lambda report rollout`: the process's
-- CPU seconds while it ran (exact when it had the process to itself, an upper bound
-- beside other components), its peak Go heap, the bytes it read (ClickHouse for a run,
-- Kafka for a replay) and the bytes its view takes in storage.
ALTER TABLE batch_runs
    ADD COLUMN cpu_seconds     double precision NOT NULL DEFAULT 0,
    ADD COLUMN peak_heap_bytes bigint NOT NULL DEFAULT 0,
    ADD COLUMN bytes_read      bigint NOT NULL DEFAULT 0;

ALTER TABLE kappa_replays
    ADD COLUMN cpu_seconds     double precision NOT NULL DEFAULT 0,
    ADD COLUMN peak_heap_bytes bigint NOT NULL DEFAULT 0,
    ADD COLUMN bytes_read      bigint NOT NULL DEFAULT 0,
    ADD COLUMN events_read     bigint NOT NULL DEFAULT 0,
    ADD COLUMN rows_written    bigint NOT NULL DEFAULT 0;

-- covered: per partition, the last offset the replay's job has committed (-1: none). Every
-- event of the partition up to it is in the replay's view, whatever offset a row was last
-- written at: readers take it as the coverage of every row of that partition.
ALTER TABLE kappa_replays ADD COLUMN covered bigint[] NOT NULL DEFAULT '{}';
