-- A schedule's current spec follows its input's text, not only its value.
--
-- jsonb compares numbers by value (100 = 100.0) but keeps how each was written, and a run
-- sends that text: a PATCH from {"n": 100} to {"n": 100.0} changed the schedule but not its
-- spec (the update trigger's condition saw equal inputs), so a run's first attempt, built
-- from the schedule by its dispatcher (issue 13, commit 566e419), sent 100.0 and
-- its retries, read from the spec, sent 100. The spec's digest already covers the text
-- (wfs_run_spec_digest); the trigger now compares the text too.
-- The trigger is replaced in place (CREATE OR REPLACE: a SHARE ROW EXCLUSIVE lock on
-- workflow_schedules until this revision commits, a moment: writes wait, reads go on; DROP
-- TRIGGER would take an ACCESS EXCLUSIVE one). Revision 0026 then gives the schedules such an
-- edit left behind their own spec, in a transaction of its own (a read of every schedule,
-- which must not hold that lock). Runs made while a schedule's spec lagged keep the
-- spec they name (SPEC §2: a run keeps what it was made with); a retry of one still in
-- flight sends that text.
CREATE OR REPLACE TRIGGER wfs_schedules_specs_update
    AFTER UPDATE OF tenant, input, target_url, timeout_seconds, max_attempts,
                    retry_backoff_seconds, completion_timeout_seconds ON workflow_schedules
    FOR EACH ROW
    WHEN (OLD.tenant IS DISTINCT FROM NEW.tenant
          OR OLD.input::text IS DISTINCT FROM NEW.input::text
          OR OLD.target_url IS DISTINCT FROM NEW.target_url
          OR OLD.timeout_seconds IS DISTINCT FROM NEW.timeout_seconds
          OR OLD.max_attempts IS DISTINCT FROM NEW.max_attempts
          OR OLD.retry_backoff_seconds IS DISTINCT FROM NEW.retry_backoff_seconds
          OR OLD.completion_timeout_seconds IS DISTINCT FROM NEW.completion_timeout_seconds)
    EXECUTE FUNCTION wfs_schedules_specs_on_update();
