-- The partial index of unfinished runs is keyed by schedule and slot (issue 13: one tenant's
-- runs must not slow another's claim).
--
-- "Has this schedule an unfinished run since the unfinished floor?" (the claim, the wake-up,
-- the per-schedule statistics, the release of buffered runs) could be answered from two
-- indexes: this partial one, keyed by schedule only, and the slot key (schedule, slot), which
-- holds every run. The floor is an instant no unfinished run is older than; one old run, an
-- accepted run awaiting its workflow for hours, holds it there for everyone. When a partition
-- holds many unfinished runs (another tenant's backlog), the planner took the slot key for
-- both conditions, and each probe walked the schedule's whole history since the floor: with a
-- floor an hour back and 120 finished runs a schedule, ~120 rows a probe, 26 ms a claim of 250
-- schedules (1 ms through this index). Keyed by (schedule, slot), this index serves both
-- conditions with the unfinished runs alone, so it is the cheaper one in every estimate.
--
-- Built on every partition: each is read once under a SHARE lock, which holds back writes to
-- the history for the time it takes (docs/operations.md).
DROP INDEX workflow_schedule_executions_unfinished_idx;
CREATE INDEX workflow_schedule_executions_unfinished_idx
    ON workflow_schedule_executions (trigger_id, scheduled_at)
    WHERE status IN ('pending', 'running', 'retrying', 'accepted');
