-- The update trigger samples a batch's start from its new rows alone (issue 13).
--
-- A batch's start (execution_start_attempts: pending runs made running) took the trigger's
-- last branch, the join of its old and new rows that PL/pgSQL's EXECUTE plans at every
-- statement: in a scratch cluster, 4.2 ms of the 9.5 ms a start of 100 runs cost. So did an
-- update of pending runs that starts nothing (their jobs set, a buffered run released). When
-- no old row was ever sent and no new row ended or was accepted, the only samples are the lags
-- of the runs the update started, from the new rows alone: a fourth branch, on a plan kept
-- for the session. The same deltas (tests/integration/test_stats_migrations.py). No lock
-- beyond the function's replacement.

CREATE OR REPLACE FUNCTION wfs_stats_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM new_rows) THEN  -- an update that matched nothing
        RETURN NULL;
    END IF;
    -- Per schedule: every old row's final status and duration taken away, every new row's
    -- added; what an update did not change sums to 0 and is not written. No join of the transition
    -- tables: PL/pgSQL keeps the plan of a statement's first run for the session, and a join
    -- planned for the few rows of an early statement became a nested loop, quadratic in the
    -- rows of every later finish on that connection (measured: see the commit that added
    -- this revision's update trigger).
    WITH samples AS (
        SELECT trigger_id, tenant, status, -1 AS runs, -duration_ms AS ms,
               wfs_outcome_bucket(status, duration_ms) AS bucket
        FROM old_rows WHERE wfs_is_final(status)
        UNION ALL
        SELECT trigger_id, tenant, status, 1, duration_ms,
               wfs_outcome_bucket(status, duration_ms)
        FROM new_rows WHERE wfs_is_final(status)
    ), summed AS (
        SELECT trigger_id, tenant, status, bucket, sum(runs) AS runs,
               CASE WHEN bucket IS NOT NULL THEN sum(ms) ELSE 0 END AS ms
        FROM samples GROUP BY trigger_id, tenant, status, bucket
    )
    INSERT INTO workflow_schedule_outcome_deltas
        (trigger_id, tenant, status, runs, duration_bucket, duration_sum_ms)
    SELECT trigger_id, tenant, status, runs, bucket, ms FROM summed
    WHERE runs <> 0 OR ms <> 0;
    -- Unfinished runs per tenant and status, the same way (old rows out, new rows in).
    WITH samples AS (
        SELECT tenant, status, -1::bigint AS value FROM old_rows WHERE NOT wfs_is_final(status)
        UNION ALL
        SELECT tenant, status, 1 FROM new_rows WHERE NOT wfs_is_final(status)
    )
    INSERT INTO workflow_stat_tenant_deltas (tenant, metric, key, value)
    SELECT tenant, 'status', status, sum(value) FROM samples GROUP BY 1, 3
    HAVING sum(value) <> 0;
    -- Deployment-wide: what the update started or ended. Most updates are finishes of runs
    -- that were running (started, not accepted, not final): each new row that is final ended
    -- in this statement, none started (its lag was sampled when it did) and none was waiting
    -- for a result, so its samples come from the new rows alone, on a plan kept for the
    -- session. So do the updates of runs that were all accepted (below). Any other update
    -- needs each row's old and new state side by side, a join that EXECUTE plans for the rows
    -- at hand, each time (planning it cost ~1.5 ms a statement: 55 us per run in finishes of
    -- 30, 9 us in finishes of 500; docs/benchmarks.md).
    IF NOT EXISTS (SELECT FROM old_rows
                   WHERE wfs_is_final(status) OR executed_at IS NULL OR status = 'accepted')
    THEN
        WITH durations AS (
            SELECT wfs_bucket(duration_ms) AS bucket, count(*) AS runs,
                   sum(duration_ms)::bigint AS sum_ms
            FROM new_rows WHERE status IN ('succeeded', 'failed') AND duration_ms IS NOT NULL
            GROUP BY 1
        ), samples AS (
            SELECT 'finished' AS metric, status AS key, count(*) AS value FROM new_rows
            WHERE wfs_is_final(status)
            GROUP BY status
            UNION ALL
            SELECT m.metric, m.key, m.value
            FROM durations AS d, LATERAL wfs_timing_metrics('duration_total', d.bucket, d.runs,
                                                            d.sum_ms) AS m
        )
        INSERT INTO workflow_stat_global_deltas (metric, key, value)
        SELECT metric, key, sum(value) FROM samples GROUP BY 1, 2;
    ELSIF NOT EXISTS (SELECT FROM old_rows WHERE status <> 'accepted' OR executed_at IS NULL)
    THEN
        -- Every run was accepted (sent, its workflow's report awaited): a report's end, a
        -- timeout, a retry, a heartbeat. None starts here (each was executed: no lag), and each
        -- new row that is final ended here, its wait for the result with it (the join's samples
        -- for an old row `accepted`). One per report or heartbeat, each planned ~1 ms by the
        -- EXECUTE below before (docs/benchmarks.md).
        WITH durations AS (
            SELECT wfs_bucket(duration_ms) AS bucket, count(*) AS runs,
                   sum(duration_ms)::bigint AS sum_ms
            FROM new_rows WHERE status IN ('succeeded', 'failed') AND duration_ms IS NOT NULL
            GROUP BY 1
        ), waits AS (
            -- Rounded as a numeric, as below.
            SELECT wfs_bucket(w.ms) AS bucket, count(*) AS runs,
                   sum(round(w.ms)::bigint)::bigint AS sum_ms
            FROM new_rows,
                 LATERAL (SELECT greatest(0, extract(epoch FROM finished_at - accepted_at) * 1000)
                          AS ms) AS w
            WHERE status IN ('succeeded', 'failed', 'timed_out')
              AND accepted_at IS NOT NULL AND finished_at IS NOT NULL
            GROUP BY 1
        ), samples AS (
            SELECT 'finished' AS metric, status AS key, count(*) AS value FROM new_rows
            WHERE wfs_is_final(status)
            GROUP BY status
            UNION ALL
            SELECT m.metric, m.key, m.value
            FROM durations AS d, LATERAL wfs_timing_metrics('duration_total', d.bucket, d.runs,
                                                            d.sum_ms) AS m
            UNION ALL
            SELECT m.metric, m.key, m.value
            FROM waits AS w, LATERAL wfs_timing_metrics('result', w.bucket, w.runs, w.sum_ms) AS m
        )
        INSERT INTO workflow_stat_global_deltas (metric, key, value)
        SELECT metric, key, sum(value) FROM samples GROUP BY 1, 2;
    ELSIF NOT EXISTS (SELECT FROM old_rows
                      WHERE wfs_is_final(status) OR executed_at IS NOT NULL
                         OR status = 'accepted')
          AND NOT EXISTS (SELECT FROM new_rows WHERE wfs_is_final(status) OR status = 'accepted')
    THEN
        -- (0031) No run had ever been sent (pending: a batch's start, its job set, a buffered
        -- run released) and none ended or was accepted here: the only samples are the lags of
        -- the runs this update started (the join's for an old row not executed and a new one
        -- executed), from the new rows alone, on a plan kept for the session.
        WITH lags AS (
            SELECT wfs_bucket(l.ms) AS bucket, count(*) AS runs,
                   sum(round(l.ms)::bigint)::bigint AS sum_ms
            FROM new_rows,
                 LATERAL (SELECT greatest(0, extract(epoch FROM executed_at - fire_at) * 1000)
                                 ::double precision AS ms) AS l
            WHERE executed_at IS NOT NULL AND fire_at IS NOT NULL
            GROUP BY 1
        )
        INSERT INTO workflow_stat_global_deltas (metric, key, value)
        SELECT m.metric, m.key, sum(m.value)
        FROM lags AS l, LATERAL wfs_timing_metrics('lag', l.bucket, l.runs, l.sum_ms) AS m
        GROUP BY 1, 2;
    ELSE
        EXECUTE $q$
        WITH changed AS (
            SELECT o.status AS old_status, n.status AS new_status, n.duration_ms, n.fire_at,
                   o.executed_at AS old_executed_at, n.executed_at AS new_executed_at,
                   n.accepted_at, n.finished_at,
                   (n.status IN ('succeeded', 'failed')
                    AND o.status NOT IN ('succeeded', 'failed')) AS completed
            FROM old_rows o JOIN new_rows n ON n.id = o.id
        ), durations AS (
            SELECT wfs_bucket(duration_ms) AS bucket, count(*) AS runs,
                   sum(duration_ms)::bigint AS sum_ms
            FROM changed WHERE completed AND duration_ms IS NOT NULL
            GROUP BY 1
        ), lags AS (
            SELECT wfs_bucket(l.ms) AS bucket, count(*) AS runs,
                   sum(round(l.ms)::bigint)::bigint AS sum_ms
            FROM changed,
                 LATERAL (SELECT greatest(0, extract(epoch FROM new_executed_at - fire_at)
                                             * 1000)::double precision AS ms) AS l
            WHERE old_executed_at IS NULL AND new_executed_at IS NOT NULL AND fire_at IS NOT NULL
            GROUP BY 1
        ), waits AS (
            -- A wait is rounded as a numeric (half away from zero), a lag as a double (0021).
            SELECT wfs_bucket(w.ms) AS bucket, count(*) AS runs,
                   sum(round(w.ms)::bigint)::bigint AS sum_ms
            FROM changed,
                 LATERAL (SELECT greatest(0, extract(epoch FROM finished_at - accepted_at) * 1000)
                          AS ms) AS w
            WHERE old_status = 'accepted' AND new_status IN ('succeeded', 'failed', 'timed_out')
              AND accepted_at IS NOT NULL AND finished_at IS NOT NULL
            GROUP BY 1
        ), samples AS (
            SELECT 'finished' AS metric, new_status AS key, count(*) AS value FROM changed
            WHERE old_status <> new_status
              AND new_status IN ('succeeded', 'failed', 'timed_out', 'skipped', 'missed',
                                 'cancelled')
            GROUP BY new_status
            UNION ALL
            SELECT m.metric, m.key, m.value
            FROM durations AS d, LATERAL wfs_timing_metrics('duration_total', d.bucket, d.runs,
                                                            d.sum_ms) AS m
            UNION ALL
            SELECT m.metric, m.key, m.value
            FROM lags AS l, LATERAL wfs_timing_metrics('lag', l.bucket, l.runs, l.sum_ms) AS m
            UNION ALL
            SELECT m.metric, m.key, m.value
            FROM waits AS w, LATERAL wfs_timing_metrics('result', w.bucket, w.runs, w.sum_ms) AS m
        )
        INSERT INTO workflow_stat_global_deltas (metric, key, value)
        SELECT metric, key, sum(value) FROM samples GROUP BY 1, 2
        $q$;
    END IF;
    RETURN NULL;
END;
$$;
