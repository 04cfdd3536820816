-- arrival_us: when the platform received the event, in unix microseconds — its Kafka
-- message timestamp (or the import time of a Parquet backfill). The layers fold an
-- event at least(ts_us, arrival_us) (event.FoldTime), so that no view's as_of passes the
-- newest arrival it covers; events whose ts is further ahead of it than the allowed
-- clock skew are not archived at all. Rows written before this column existed have no
-- known arrival: DEFAULT ts_us folds them at their ts, as before.
-- (18.16 has no ADD COLUMN IF NOT EXISTS; the migrator applies this file once.)
ALTER TABLE ${database}.events ADD COLUMN arrival_us Int64 DEFAULT ts_us AFTER ts_us;
