-- name: metrics_queue_depth
SELECT queue_name, status::text AS status, count(*)::bigint AS n FROM procrastinate_jobs
WHERE status IN ('todo', 'doing') GROUP BY 1, 2;

-- name: metrics_due_backlog
-- Active schedules whose fire instant passed more than a second ago: work the dispatchers have
-- not caught up with (0 in a healthy system).
SELECT count(*)::bigint AS n FROM workflow_schedules
WHERE state = 'active' AND next_fire_at < clock_timestamp() - interval '1 second';

-- name: metrics_schedules_by_state
SELECT state, count(*)::bigint AS n FROM workflow_schedules GROUP BY state;
