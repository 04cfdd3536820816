-- batch_runs, for the batch layer's retention and Parquet backfills.
--
-- * status 'expired': a published run that retention replaced; its batch_view partition
--   is dropped, so it can no longer be served or re-published. expired_at says when.
-- * cutoff_imported_offset: the highest import sequence number the run includes (-1:
--   none). Rows backfilled from Parquet are not in Kafka: the events table holds them
--   under kafka_partition -1 with a kafka_offset that grows across imports, and every
--   run includes all of them imported before its cutoff was taken.
ALTER TABLE batch_runs DROP CONSTRAINT batch_runs_status_check;

ALTER TABLE batch_runs ADD CONSTRAINT batch_runs_status_check
    CHECK (status IN ('running', 'succeeded', 'published', 'failed', 'expired'));

ALTER TABLE batch_runs ADD COLUMN expired_at timestamptz;

ALTER TABLE batch_runs ADD CONSTRAINT batch_runs_expired_at_set CHECK (status <> 'expired' OR expired_at IS NOT NULL);

ALTER TABLE batch_runs ADD COLUMN cutoff_imported_offset bigint NOT NULL DEFAULT -1;
