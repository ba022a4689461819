-- A dispatcher sleeping until its next fire instant is woken only by a change that can make
-- a schedule due earlier than it planned for (issue 13).
--
-- 0002's statement trigger notified at every UPDATE of `next_fire_at` or `state`: every
-- dispatcher pass's advance of the schedules it claimed (moved to their next slot: later,
-- never earlier) woke every worker's dispatcher, each of which read its next wake-up and
-- claimed again, and made each dispatch transaction commit with a notification (PostgreSQL
-- serializes the commits of transactions that notify). Now: a schedule created, one made
-- active, or one whose next fire instant moved earlier (an edit of its cron or time zone, a
-- resume) notifies; an advance, a pause, a delete and the record of runs' outcomes do not
-- (they leave less to do: a dispatcher that wakes for a schedule gone or moved finds nothing
-- and plans again). What a sleeping dispatcher learns later than before: that a run a
-- skip or buffer_one schedule waited on has ended (it looks again every waiting recheck,
-- app/services/dispatch.py), and that the earliest schedules left a crowded second behind
-- them whose lead starts earlier than its planned wake-up (it plans again within its
-- longest sleep).
DROP TRIGGER workflow_schedules_notify_change ON workflow_schedules;
CREATE TRIGGER workflow_schedules_notify_insert AFTER INSERT ON workflow_schedules
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_schedules_notify_change();
-- A row trigger, for its condition; PostgreSQL sends one notification per transaction for
-- the identical ones its rows queue.
CREATE TRIGGER workflow_schedules_notify_sooner
    AFTER UPDATE OF next_fire_at, state ON workflow_schedules
    FOR EACH ROW
    WHEN (NEW.state = 'active' AND NEW.next_fire_at IS NOT NULL
          AND (OLD.state IS DISTINCT FROM 'active' OR OLD.next_fire_at IS NULL
               OR NEW.next_fire_at < OLD.next_fire_at))
    EXECUTE FUNCTION workflow_schedules_notify_change();
