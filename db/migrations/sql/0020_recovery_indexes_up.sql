-- The recovery sweep's two searches get partial indexes of the runs they look for (issue 13:
-- one tenant's runs must not slow another's work).
--
-- Both searches ran on the index of unfinished runs, which holds the accepted runs too: one
-- tenant's 200,000 accepted runs, awaiting their workflows' reports for hours, were read by
-- every worker's sweep every few seconds, to find none (~36 us of PostgreSQL per slot of
-- everyone's at 1,000 slots/s beside the bench's `neighbour` backlog).
--
-- In-flight runs (a job at work or due) by creation, the order the orphan search takes them:
-- read up to the orphans' minimum age, so a run sent in the last seconds is not read at all.
-- A run enters it when it is made (a buffered one when it is released) and leaves it once its
-- workflow accepted it or it ended; `status` and `buffered` were already in other indexes'
-- conditions, so no update that was HOT stops being so.
CREATE INDEX workflow_schedule_executions_in_flight_idx
    ON workflow_schedule_executions (created_at)
    WHERE status IN ('pending', 'running', 'retrying') AND NOT buffered;
-- Runs waiting behind their schedule's unfinished run (overlap buffer_one): empty unless a
-- schedule buffers; by (schedule, slot), the order the release takes a schedule's oldest.
CREATE INDEX workflow_schedule_executions_buffered_idx
    ON workflow_schedule_executions (trigger_id, scheduled_at)
    WHERE status = 'pending' AND buffered;
