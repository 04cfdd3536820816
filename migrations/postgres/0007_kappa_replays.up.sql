-- kappa_replays: Kappa-style reprocessing (Kreps). Each replay is a streaming job that
-- folds the event log from offset 0 with the speed layer's code into a view of its own,
-- the table kappa_view_<id> (created LIKE speed_view when the replay starts, dropped
-- after it is retired). A replay goes replaying → ready (caught up with the head of the
-- log; its job keeps following the log) → live (readers are switched to it) → retired
-- (replaced or released; its job stops and its view is dropped after a grace period),
-- or ends failed or stopped.
--
-- * switch_when_ready: switch readers to it as soon as it is ready.
-- * model_name/model_version: the model it scores with (version NULL: the active one);
--   spec: its feature spec as JSON (NULL: the built-in default).
-- * offsets_total/offsets_done, events_per_second: its progress, written by its job.
-- * At most one replay is live: readers answer from it (source "kappa").
CREATE TABLE kappa_replays (
    id                bigserial   PRIMARY KEY,
    status            text        NOT NULL DEFAULT 'replaying'
                      CHECK (status IN ('replaying', 'ready', 'live', 'retired', 'failed', 'stopped')),
    switch_when_ready boolean     NOT NULL DEFAULT false,
    model_name        text        NOT NULL,
    model_version     bigint,
    spec              text,
    requested_by      text        NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    ready_at          timestamptz,
    switched_at       timestamptz,
    retired_at        timestamptz,
    dropped_at        timestamptz,
    offsets_total     bigint      NOT NULL DEFAULT 0,
    offsets_done      bigint      NOT NULL DEFAULT 0,
    events_per_second double precision NOT NULL DEFAULT 0,
    error             text
);
CREATE UNIQUE INDEX kappa_replays_one_live ON kappa_replays ((true)) WHERE status = 'live';

-- Every change of a replay's status notifies kappa_replays_changed with its id: the
-- jobs' manager starts and stops jobs, the serving layer switches its reads.
CREATE FUNCTION kappa_replays_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kappa_replays_changed', NEW.id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER kappa_replays_changed AFTER INSERT OR UPDATE OF status ON kappa_replays
    FOR EACH ROW EXECUTE FUNCTION kappa_replays_notify();
