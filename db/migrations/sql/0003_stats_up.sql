-- Statistics that stay fast at any history size (SPEC §6, §9: a schedule with 1,000,000
-- executions answers in ≤ 50 ms).
--
-- Statement-level triggers on the executions table append DELTAS (one row per schedule, metric
-- and key per statement) to workflow_schedule_stat_deltas: append-only, so the dispatcher's and
-- the finishers' transactions never wait on each other for a counter row and cannot deadlock.
-- One worker at a time (advisory try-lock) folds the deltas into workflow_schedule_stat_values
-- every second, per schedule ('s:<id>'), per tenant ('t:<tenant>') and in total ('g').
-- A read adds the values and the not-yet-folded deltas: exact at any moment.
--
-- Metrics:   status/<status>            rows currently in that status (retention subtracts)
--            finished/<status>          runs that ever reached that final status (monotonic)
--            duration_count, duration_sum_ms, duration_bucket/<b>
--                                       finished (succeeded/failed) runs still kept: average, p95
--            duration_total_count, duration_total_sum_ms, duration_total_bucket/<b>
--                                       the same, never decreasing (Prometheus histogram)
--            lag_count, lag_sum_ms, lag_bucket/<b>
--                                       fire lag of first attempts: start − (slot + jitter)
-- Bucket b holds values in (1.25^(b−1), 1.25^b] ms (b = 0: ≤ 1 ms; b = 70: above ~2.3 days).

CREATE FUNCTION wfs_bucket(ms double precision) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN ms IS NULL OR ms <= 1 THEN '0'
                ELSE least(70, ceil(ln(ms) / ln(1.25)))::int::text END
$$;

-- The duration metrics of one finished run: `sign` −1 takes it away again (retention);
-- `lifetime` adds the never-decreasing copies that /metrics exposes.
CREATE FUNCTION wfs_duration_samples(ms integer, sign integer, lifetime boolean)
    RETURNS TABLE (metric text, key text, value bigint)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT m.metric, m.key, m.value * sign FROM (VALUES
        ('duration_count', '', 1::bigint, false),
        ('duration_sum_ms', '', ms::bigint, false),
        ('duration_bucket', wfs_bucket(ms), 1::bigint, false),
        ('duration_total_count', '', 1::bigint, true),
        ('duration_total_sum_ms', '', ms::bigint, true),
        ('duration_total_bucket', wfs_bucket(ms), 1::bigint, true)
    ) AS m(metric, key, value, is_lifetime)
    WHERE lifetime OR NOT m.is_lifetime
$$;

CREATE TABLE workflow_schedule_stat_deltas (
    id          bigserial PRIMARY KEY,
    trigger_id  uuid NOT NULL,
    tenant      text NOT NULL,
    metric      text NOT NULL,
    key         text NOT NULL DEFAULT '',
    value       bigint NOT NULL
);
CREATE INDEX workflow_schedule_stat_deltas_trigger_idx
    ON workflow_schedule_stat_deltas (trigger_id);
CREATE INDEX workflow_schedule_stat_deltas_tenant_idx
    ON workflow_schedule_stat_deltas (tenant);

CREATE TABLE workflow_schedule_stat_values (
    scope   text NOT NULL,
    metric  text NOT NULL,
    key     text NOT NULL DEFAULT '',
    value   bigint NOT NULL,
    PRIMARY KEY (scope, metric, key)
);

CREATE FUNCTION wfs_stats_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Runs are normally inserted unfinished (or missed/skipped, without a duration); rows
    -- inserted already finished with a duration (imports, tests) are counted the same way.
    WITH samples AS (
        SELECT trigger_id, tenant, 'status' AS metric, status AS key, 1::bigint AS value
        FROM new_rows
        UNION ALL
        SELECT trigger_id, tenant, 'finished', status, 1 FROM new_rows
        WHERE status IN ('succeeded', 'failed', 'skipped', 'missed', 'cancelled')
        UNION ALL
        SELECT trigger_id, tenant, m.metric, m.key, m.value
        FROM new_rows, LATERAL wfs_duration_samples(duration_ms, 1, true) AS m
        WHERE status IN ('succeeded', 'failed') AND duration_ms IS NOT NULL
    )
    INSERT INTO workflow_schedule_stat_deltas (trigger_id, tenant, metric, key, value)
    SELECT trigger_id, tenant, metric, key, sum(value) FROM samples GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END;
$$;

CREATE FUNCTION wfs_stats_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH changed AS (
        SELECT n.trigger_id, n.tenant, o.status AS old_status, n.status AS new_status,
               n.duration_ms, n.fire_at, o.executed_at AS old_executed_at,
               n.executed_at AS new_executed_at,
               (n.status IN ('succeeded', 'failed')
                AND o.status NOT IN ('succeeded', 'failed')) AS completed
        FROM old_rows o JOIN new_rows n ON n.id = o.id
    ), samples AS (
        SELECT trigger_id, tenant, 'status' AS metric, old_status AS key, -1 AS value
        FROM changed WHERE old_status <> new_status
        UNION ALL
        SELECT trigger_id, tenant, 'status', new_status, 1
        FROM changed WHERE old_status <> new_status
        UNION ALL
        SELECT trigger_id, tenant, 'finished', new_status, 1 FROM changed
        WHERE old_status <> new_status
          AND new_status IN ('succeeded', 'failed', 'skipped', 'missed', 'cancelled')
        UNION ALL
        SELECT trigger_id, tenant, m.metric, m.key, m.value
        FROM changed, LATERAL wfs_duration_samples(duration_ms, 1, true) AS m
        WHERE completed AND duration_ms IS NOT NULL
        UNION ALL
        SELECT trigger_id, tenant, m.metric, m.key, m.value
        FROM changed,
             LATERAL (SELECT greatest(0, extract(epoch FROM new_executed_at - fire_at) * 1000)
                      AS lag_ms) AS l,
             LATERAL (VALUES ('lag_count', '', 1::bigint),
                             ('lag_sum_ms', '', round(l.lag_ms)::bigint),
                             ('lag_bucket', wfs_bucket(l.lag_ms), 1::bigint))
                 AS m(metric, key, value)
        WHERE old_executed_at IS NULL AND new_executed_at IS NOT NULL AND fire_at IS NOT NULL
    )
    INSERT INTO workflow_schedule_stat_deltas (trigger_id, tenant, metric, key, value)
    SELECT trigger_id, tenant, metric, key, sum(value) FROM samples GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END;
$$;

CREATE FUNCTION wfs_stats_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH samples AS (
        SELECT trigger_id, tenant, 'status' AS metric, status AS key, -1::bigint AS value
        FROM old_rows
        UNION ALL
        SELECT trigger_id, tenant, m.metric, m.key, m.value
        FROM old_rows, LATERAL wfs_duration_samples(duration_ms, -1, false) AS m
        WHERE status IN ('succeeded', 'failed') AND duration_ms IS NOT NULL
    )
    INSERT INTO workflow_schedule_stat_deltas (trigger_id, tenant, metric, key, value)
    SELECT trigger_id, tenant, metric, key, sum(value) FROM samples GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END;
$$;

CREATE TRIGGER wfs_stats_insert AFTER INSERT ON workflow_schedule_executions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wfs_stats_on_insert();
CREATE TRIGGER wfs_stats_update AFTER UPDATE ON workflow_schedule_executions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wfs_stats_on_update();
CREATE TRIGGER wfs_stats_delete AFTER DELETE ON workflow_schedule_executions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION wfs_stats_on_delete();

-- Executions that existed before this revision are counted once, here, as inserts would be.
INSERT INTO workflow_schedule_stat_deltas (trigger_id, tenant, metric, key, value)
SELECT trigger_id, tenant, metric, key, sum(value) FROM (
    SELECT trigger_id, tenant, 'status' AS metric, status AS key, 1::bigint AS value
    FROM workflow_schedule_executions
    UNION ALL
    SELECT trigger_id, tenant, 'finished', status, 1 FROM workflow_schedule_executions
    WHERE status IN ('succeeded', 'failed', 'skipped', 'missed', 'cancelled')
    UNION ALL
    SELECT trigger_id, tenant, m.metric, m.key, m.value
    FROM workflow_schedule_executions, LATERAL wfs_duration_samples(duration_ms, 1, true) AS m
    WHERE status IN ('succeeded', 'failed') AND duration_ms IS NOT NULL
) existing GROUP BY 1, 2, 3, 4;

-- For psql (SPEC §6): the statistics of every schedule, and the recent executions.
CREATE VIEW schedule_stats AS
WITH v AS (
    SELECT substr(scope, 3)::uuid AS trigger_id, metric, key, value
    FROM workflow_schedule_stat_values WHERE scope LIKE 's:%'
    UNION ALL
    SELECT trigger_id, metric, key, value FROM workflow_schedule_stat_deltas
), agg AS (
    SELECT trigger_id,
           sum(value) FILTER (WHERE metric = 'status') AS total,
           sum(value) FILTER (WHERE metric = 'status' AND key = 'succeeded') AS succeeded,
           sum(value) FILTER (WHERE metric = 'status' AND key = 'failed') AS failed,
           sum(value) FILTER (WHERE metric = 'status' AND key = 'skipped') AS skipped,
           sum(value) FILTER (WHERE metric = 'status' AND key = 'missed') AS missed,
           sum(value) FILTER (WHERE metric = 'status'
                              AND key IN ('pending', 'running', 'retrying')) AS unfinished,
           sum(value) FILTER (WHERE metric = 'duration_sum_ms') AS duration_sum_ms,
           sum(value) FILTER (WHERE metric = 'duration_count') AS duration_count
    FROM v GROUP BY trigger_id
)
SELECT s.id AS trigger_id, s.workflow_id, s.tenant, s.state, s.cron_expression, s.timezone,
       coalesce(a.total, 0) AS total, coalesce(a.succeeded, 0) AS succeeded,
       coalesce(a.failed, 0) AS failed, coalesce(a.skipped, 0) AS skipped,
       coalesce(a.missed, 0) AS missed, coalesce(a.unfinished, 0) AS unfinished,
       round(100.0 * a.succeeded / nullif(a.succeeded + a.failed, 0), 2) AS success_rate,
       round(a.duration_sum_ms::numeric / nullif(a.duration_count, 0), 1) AS avg_duration_ms,
       s.last_run_at, s.last_status, s.consecutive_failures, s.next_run_at
FROM workflow_schedules s LEFT JOIN agg a ON a.trigger_id = s.id;

CREATE VIEW recent_executions AS
SELECT e.id, e.trigger_id, e.workflow_id, e.tenant, e.scheduled_at, e.executed_at,
       e.finished_at, e.status, e.trigger, e.attempts, e.duration_ms, e.http_status,
       e.workflow_run_id, left(e.error, 200) AS error
FROM workflow_schedule_executions e
WHERE e.scheduled_at > now() - interval '1 day'
ORDER BY e.scheduled_at DESC;
