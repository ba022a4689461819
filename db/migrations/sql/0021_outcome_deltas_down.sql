-- Back to 0020: the outcome deltas not folded yet become the narrow deltas they stand for,
-- the triggers write narrow deltas again (0013's: 0013_stats_triggers.sql, run after this) and
-- the psql view reads them (0016's: 0016_schedule_stats_view.sql, run before this).

-- Writers wait (a trigger of this revision committing after the move would write into a table
-- that is gone), and so does a fold (it would move the outcome deltas a second time).
LOCK TABLE workflow_schedule_executions IN SHARE ROW EXCLUSIVE MODE;
LOCK TABLE workflow_schedule_outcome_deltas IN ACCESS EXCLUSIVE MODE;

INSERT INTO workflow_schedule_stat_deltas (trigger_id, tenant, metric, key, value)
SELECT d.trigger_id, d.tenant, m.metric, m.key, sum(m.value)
FROM workflow_schedule_outcome_deltas d,
     LATERAL wfs_outcome_metrics(d.status, d.runs, d.duration_bucket, d.duration_sum_ms) AS m
GROUP BY 1, 2, 3, 4 HAVING sum(m.value) <> 0;

DROP VIEW workflow_schedule_unfolded_stats;
DROP FUNCTION wfs_outcome_metrics(text, bigint, text, bigint);
DROP FUNCTION wfs_outcome_bucket(text, integer);
DROP TABLE workflow_schedule_outcome_deltas;
