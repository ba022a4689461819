DROP TRIGGER workflow_schedules_notify_sooner ON workflow_schedules;
DROP TRIGGER workflow_schedules_notify_insert ON workflow_schedules;
CREATE TRIGGER workflow_schedules_notify_change
    AFTER INSERT OR UPDATE OF next_fire_at, state OR DELETE ON workflow_schedules
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_schedules_notify_change();
