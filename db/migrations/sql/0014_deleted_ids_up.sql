-- Owners released without reading every owner (issue 13, the scale run).
--
-- Retention released an id once its schedule and its whole history were gone by looking at
-- every owner row, one per schedule ever created, against the schedules, the history, the
-- specs and the deltas: with 1,000,000 schedules stored that pass cost PostgreSQL ~8.5 s, once
-- every retention pass (docs/benchmarks.md), growing with the schedules kept, not with the ones
-- deleted. The ids of deleted schedules are now listed in a table of their own, filled by a
-- delete trigger and emptied by the owner's re-create of the id or by the release; retention
-- reads that list only (db/queries/retention.sql). A table, not a marked column with a partial index: a column added to
-- 10,000,000 owners has no statistics until ANALYZE, and the planner then guesses that most
-- rows are marked and reads them all (measured: ~2 s a pass at 10,000,000 stored).
-- No foreign key to the owners: retention deletes an id's row here with its owner (same
-- statement), and a delete of a schedule must never fail on an owner row a release has taken
-- (a row without an owner is ignored and cleared by the next release).
CREATE TABLE workflow_schedule_ids_deleted (
    id          uuid PRIMARY KEY,
    deleted_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Deletes and creates of schedules wait until the trigger below is in place and the ids of
-- schedules already gone are listed: none falls between the two.
LOCK TABLE workflow_schedules IN SHARE ROW EXCLUSIVE MODE;

-- As in 0005, and the owner's own create takes the id off the list; another tenant's attempt
-- (answered 409) leaves it, so that the id is still released when the owner's history is gone.
CREATE OR REPLACE FUNCTION wfs_schedule_claim_id() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    owner text;
BEGIN
    INSERT INTO workflow_schedule_owners AS o (id, tenant) VALUES (NEW.id, NEW.tenant)
    ON CONFLICT (id) DO UPDATE SET tenant = o.tenant
    RETURNING o.tenant INTO owner;
    IF owner = NEW.tenant THEN
        DELETE FROM workflow_schedule_ids_deleted WHERE id = NEW.id;
        RETURN NEW;
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION wfs_schedules_owners_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO workflow_schedule_ids_deleted (id)
    SELECT id FROM old_rows
    ON CONFLICT (id) DO UPDATE SET deleted_at = excluded.deleted_at;
    RETURN NULL;
END;
$$;
CREATE TRIGGER wfs_schedules_owners_delete AFTER DELETE ON workflow_schedules
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wfs_schedules_owners_on_delete();

INSERT INTO workflow_schedule_ids_deleted (id)
SELECT o.id FROM workflow_schedule_owners o
WHERE NOT EXISTS (SELECT 1 FROM workflow_schedules s WHERE s.id = o.id);
