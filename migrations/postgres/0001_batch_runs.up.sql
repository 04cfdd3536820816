-- batch_runs: the registry of batch runs. batch_view rows in ClickHouse are written
-- under a run's id and served only once the run is 'published' here, so publishing is
-- one UPDATE and a failed run leaves the previous published run in service.
--
-- * status: running -> succeeded (view fully written) -> published (served), or failed.
-- * batch_runs_one_running: at most one run is 'running' at a time, across processes;
--   a second INSERT of a running row fails with a unique violation.
-- * batch_runs_published: the served run is the published one with the newest
--   published_at (re-publishing an older run rolls back to it), found by this index.
-- * cutoff_offsets: per Kafka partition, the highest archived offset the run includes
--   (-1: none). The Go slice index is the partition; in SQL, PostgreSQL arrays are
--   1-based, so partition p is cutoff_offsets[p + 1].
-- * cutoff_event_time: the newest event time included; events_read, entities_scored and
--   rows_written are the run's counts for the trade-off report.
-- * A published run has published_at and a failed run says why (error), both checked.
CREATE TABLE batch_runs (
    id                bigserial PRIMARY KEY,
    status            text        NOT NULL DEFAULT 'running'
                                  CHECK (status IN ('running', 'succeeded', 'published', 'failed')),
    trigger           text        NOT NULL CHECK (trigger IN ('cron', 'rest', 'cli')),
    requested_by      text        NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    published_at      timestamptz,
    cutoff_offsets    bigint[]    NOT NULL DEFAULT '{}',
    cutoff_event_time timestamptz,
    events_read       bigint      NOT NULL DEFAULT 0,
    entities_scored   bigint      NOT NULL DEFAULT 0,
    rows_written      bigint      NOT NULL DEFAULT 0,
    model_name        text,
    model_version     int,
    error             text,
    CONSTRAINT batch_runs_published_at_set CHECK (status <> 'published' OR published_at IS NOT NULL),
    CONSTRAINT batch_runs_failed_has_error CHECK (status <> 'failed' OR error IS NOT NULL)
);

CREATE UNIQUE INDEX batch_runs_one_running ON batch_runs ((true)) WHERE status = 'running';

CREATE INDEX batch_runs_published ON batch_runs (published_at DESC) WHERE status = 'published';
