-- speed_view: one row per entity with what the speed layer folded since the batch
-- cutoff, merged onto the base run's state and scored.
--
-- * covered_offset is the last offset applied in the entity's Kafka partition (an entity
--   lives in one partition, since entity_id is the message key). Upserts are guarded by
--   it (`ON CONFLICT (entity_id) DO UPDATE ... WHERE speed_view.covered_offset <
--   excluded.covered_offset`), so a replayed message changes nothing.
-- * base_run_id is the batch run whose state delta_state is merged onto (NULL: none
--   yet). No foreign key to batch_runs, so old runs can be deleted freely.
-- * last_event_at is the entity's newest event time, as_of the moment the row
--   describes; together with covered_offset they are the coverage the serving layer
--   compares with batch_view.
-- * vector, score and the model columns stay NULL until a model has scored the row.
-- * fillfactor 80 leaves room in each page so the constant upserts are HOT updates
--   (only the primary key is indexed), which keeps index churn and bloat down.
CREATE TABLE speed_view (
    entity_id       text        PRIMARY KEY,
    base_run_id     bigint,
    kafka_partition int         NOT NULL,
    covered_offset  bigint      NOT NULL,
    last_event_at   timestamptz NOT NULL,
    as_of           timestamptz NOT NULL,
    delta_state     bytea       NOT NULL,
    vector          real[],
    score           real,
    model_name      text,
    model_version   int,
    updated_at      timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 80);
