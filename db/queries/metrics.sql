-- Every count /metrics runs is bounded: it is anonymous by default, so nothing it runs may cost
-- in proportion to the size of a table (security review M5). Its counts of schedules are in
-- schedules.sql (schedule_due_backlog, schedule_table_bytes, schedule_counts_all_by_state*).

-- name: metrics_queue_depth
-- Jobs waiting (todo) or running (doing), at most `cap` of them counted: the partial
-- indexes on those statuses serve it, and the LIMIT bounds the work whatever the backlog.
SELECT queue_name, status, count(*)::bigint AS n FROM (
    SELECT queue_name, status::text AS status FROM procrastinate_jobs
    WHERE status IN ('todo', 'doing')
    LIMIT %(cap)s
) AS jobs
GROUP BY 1, 2;
