-- Back to 0005's claim: every owner is a candidate for release again.
DROP TRIGGER wfs_schedules_owners_delete ON workflow_schedules;
DROP FUNCTION wfs_schedules_owners_on_delete();
CREATE OR REPLACE FUNCTION wfs_schedule_claim_id() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    owner text;
BEGIN
    INSERT INTO workflow_schedule_owners AS o (id, tenant) VALUES (NEW.id, NEW.tenant)
    ON CONFLICT (id) DO UPDATE SET tenant = o.tenant
    RETURNING o.tenant INTO owner;
    IF owner = NEW.tenant THEN
        RETURN NEW;
    END IF;
    RETURN NULL;
END;
$$;
DROP TABLE workflow_schedule_ids_deleted;
