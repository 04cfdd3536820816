-- model_activations: the history of which version of a model was active, for rollback,
-- and a notification on every change of a model's active version, for the scorers.
--
-- * One row per activation, newest id last. The active version of a model is the version
--   of its newest row with rolled_back_at NULL; a rollback stamps that row and activates
--   the version of the row before it, so repeated rollbacks walk back through history.
-- * models_active_version_notify: every change of models.active_version sends
--   NOTIFY model_activated with the model's name as payload (delivered at commit), so
--   watchers swap at once instead of waiting for their next poll.
CREATE TABLE model_activations (
    id             bigserial   PRIMARY KEY,
    model_name     text        NOT NULL,
    version        int         NOT NULL,
    activated_at   timestamptz NOT NULL DEFAULT now(),
    rolled_back_at timestamptz,
    FOREIGN KEY (model_name, version) REFERENCES model_versions (model_name, version) ON DELETE CASCADE
);

CREATE INDEX model_activations_live ON model_activations (model_name, id DESC) WHERE rolled_back_at IS NULL;

CREATE FUNCTION notify_model_activated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('model_activated', NEW.name);
    RETURN NULL;
END
$$;

CREATE TRIGGER models_active_version_notify
    AFTER UPDATE OF active_version ON models
    FOR EACH ROW WHEN (OLD.active_version IS DISTINCT FROM NEW.active_version)
    EXECUTE FUNCTION notify_model_activated();
