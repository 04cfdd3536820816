-- bytes_stored: what a published run's batch view takes on disk in ClickHouse (its
-- partition's active parts), measured right after it was written; 0 for runs recorded
-- before this column. The trade-offs report divides it by events_read.
ALTER TABLE batch_runs ADD COLUMN bytes_stored bigint NOT NULL DEFAULT 0;
