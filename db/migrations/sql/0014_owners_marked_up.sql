-- Owners released without reading every owner (issue 13, the scale run).
--
-- Retention released an id once its schedule and its whole history were gone by looking at
-- every owner row, one per schedule ever created, against the schedules, the history, the
-- specs and the deltas: with 1,000,000 schedules stored that pass cost PostgreSQL ~8.5 s, once
-- every retention pass (docs/benchmarks.md), growing with the schedules kept, not with the ones
-- deleted. An owner row now says when its schedule was deleted; only those rows are candidates
-- (a partial index holds them), and a create of the id by its owner clears the mark.
ALTER TABLE workflow_schedule_owners ADD COLUMN schedule_deleted_at timestamptz;
UPDATE workflow_schedule_owners o SET schedule_deleted_at = now()
WHERE NOT EXISTS (SELECT 1 FROM workflow_schedules s WHERE s.id = o.id);
CREATE INDEX workflow_schedule_owners_deleted_idx
    ON workflow_schedule_owners (schedule_deleted_at) WHERE schedule_deleted_at IS NOT NULL;

-- As in 0005, and the owner's own create clears the mark; another tenant's attempt (answered
-- 409) leaves it, so that the id is still released when the owner's history is gone.
CREATE OR REPLACE FUNCTION wfs_schedule_claim_id() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    owner text;
BEGIN
    INSERT INTO workflow_schedule_owners AS o (id, tenant) VALUES (NEW.id, NEW.tenant)
    ON CONFLICT (id) DO UPDATE
        SET tenant = o.tenant,
            schedule_deleted_at = CASE WHEN o.tenant = excluded.tenant THEN NULL
                                       ELSE o.schedule_deleted_at END
    RETURNING o.tenant INTO owner;
    IF owner = NEW.tenant THEN
        RETURN NEW;
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION wfs_schedules_owners_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workflow_schedule_owners SET schedule_deleted_at = clock_timestamp()
    WHERE id IN (SELECT id FROM old_rows);
    RETURN NULL;
END;
$$;
CREATE TRIGGER wfs_schedules_owners_delete AFTER DELETE ON workflow_schedules
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wfs_schedules_owners_on_delete();
