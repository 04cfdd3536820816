-- speed_view changes, announced: every statement that inserts, updates or deletes
-- speed_view rows notifies channel speed_view_changed with the entity ids of the rows it
-- changed, newline-separated (entity ids hold no control characters), in payloads under
-- 8,000 bytes, NOTIFY's limit (a chunk starts every 7,600 bytes of ids; an id is at most
-- 256 bytes). Notifications are delivered at commit, so a listener that reads a row
-- after receiving its notification reads the committed change. The serving layer caches
-- speed rows and drops those it is told of.
--
-- Statement-level triggers with transition tables: one notification per 7,600 bytes of
-- ids per statement, not one per row, whatever writes the table. A trigger with
-- transition tables takes one event, hence three.
CREATE FUNCTION speed_view_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('speed_view_changed', ids)
    FROM (
        SELECT string_agg(entity_id, E'\n') AS ids
        FROM (SELECT entity_id, sum(octet_length(entity_id) + 1) OVER (ORDER BY entity_id) / 7600 AS chunk FROM changed_rows) c
        GROUP BY chunk
    ) chunks;
    RETURN NULL;
END
$$;

CREATE TRIGGER speed_view_inserted AFTER INSERT ON speed_view
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION speed_view_notify();
CREATE TRIGGER speed_view_updated AFTER UPDATE ON speed_view
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION speed_view_notify();
CREATE TRIGGER speed_view_deleted AFTER DELETE ON speed_view
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION speed_view_notify();
