CREATE OR REPLACE TRIGGER wfs_schedules_specs_update
    AFTER UPDATE OF tenant, input, target_url, timeout_seconds, max_attempts,
                    retry_backoff_seconds, completion_timeout_seconds ON workflow_schedules
    FOR EACH ROW
    WHEN (OLD.tenant IS DISTINCT FROM NEW.tenant OR OLD.input IS DISTINCT FROM NEW.input
          OR OLD.target_url IS DISTINCT FROM NEW.target_url
          OR OLD.timeout_seconds IS DISTINCT FROM NEW.timeout_seconds
          OR OLD.max_attempts IS DISTINCT FROM NEW.max_attempts
          OR OLD.retry_backoff_seconds IS DISTINCT FROM NEW.retry_backoff_seconds
          OR OLD.completion_timeout_seconds IS DISTINCT FROM NEW.completion_timeout_seconds)
    EXECUTE FUNCTION wfs_schedules_specs_on_update();
