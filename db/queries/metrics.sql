-- Every count here is bounded: /metrics is anonymous by default, so nothing it runs may cost in
-- proportion to the size of a table (security review M5).

-- name: metrics_queue_depth
-- Jobs waiting (todo) or running (doing), at most `cap` of them counted: the partial
-- indexes on those statuses serve it, and the LIMIT bounds the work whatever the backlog.
SELECT queue_name, status, count(*)::bigint AS n FROM (
    SELECT queue_name, status::text AS status FROM procrastinate_jobs
    WHERE status IN ('todo', 'doing')
    LIMIT %(cap)s
) AS jobs
GROUP BY 1, 2;

-- name: metrics_due_backlog
-- Active schedules whose fire instant passed more than a second ago: work the dispatchers have
-- not caught up with (0 in a healthy system). A range of the partial index
-- workflow_schedules_due_idx, at most `cap` entries of it.
SELECT count(*)::bigint AS n FROM (
    SELECT 1 FROM workflow_schedules
    WHERE state = 'active'
      AND next_fire_at < coalesce(%(now)s::timestamptz, clock_timestamp()) - interval '1 second'
    LIMIT %(cap)s
) AS due;

-- name: metrics_schedules_bytes
-- The size of the schedules table's main fork (no TOAST): whether an exact count is cheap.
SELECT pg_relation_size('workflow_schedules'::regclass) AS bytes;

-- name: metrics_schedules_by_state
-- Exact, by a scan: only used while the table is small (see metrics_schedules_bytes).
SELECT state, count(*)::bigint AS n FROM workflow_schedules GROUP BY state;

-- name: metrics_schedules_by_state_estimate
-- The planner's estimate, reading no row of the table: its row count (pg_class.reltuples, kept by
-- VACUUM/ANALYZE) times the frequency of each state among ANALYZE's sample (pg_stats). Nothing
-- comes back before the table's first ANALYZE (autovacuum runs one after a bulk load).
SELECT mcv.state, round(c.reltuples * mcv.freq)::bigint AS n
FROM pg_class AS c
CROSS JOIN LATERAL (
    SELECT unnest(s.most_common_vals::text::text[]) AS state,
           unnest(s.most_common_freqs) AS freq
    FROM pg_stats AS s
    WHERE s.schemaname = current_schema()
      AND s.tablename = 'workflow_schedules'
      AND s.attname = 'state'
) AS mcv
WHERE c.oid = 'workflow_schedules'::regclass AND c.reltuples >= 0;
