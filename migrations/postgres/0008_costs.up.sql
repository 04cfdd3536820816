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
