-- The partitions of workflow_schedule_executions (migration 0010, docs/history-partitions.md).
-- Creating and retiring them is DDL: the functions of 0010 do it, each in the caller's
-- transaction, after `history_lock_timeout` has bounded how long it may wait for a lock (a DDL
-- statement waiting for a lock makes every later statement on the table queue behind it).

-- name: history_partition_list
-- Every range partition with its bounds (the catalog is the only record); not the DEFAULT one.
SELECT name, lower_bound, upper_bound FROM wfs_history_partitions();

-- name: history_lock_timeout
-- For the rest of this transaction only.
SELECT set_config('lock_timeout', %(timeout)s, true) AS lock_timeout;

-- name: history_maintenance_try_lock
-- One creator or retirer at a time across all workers, for this transaction: the others skip
-- their pass instead of queueing DDL behind it.
SELECT pg_try_advisory_xact_lock(hashtext('workflow_schedule_executions partitions'))
    AS locked;

-- name: history_partition_create
-- NULL when it exists already. Rows of the range waiting in the DEFAULT partition move in.
-- A new partition sizes a schedule's probe at a few rows (migration 0018), from its first
-- ANALYZE on.
SELECT c.name
FROM (SELECT wfs_history_partition_create(%(lower)s, %(upper)s) AS name) AS c
LEFT JOIN LATERAL (
    SELECT wfs_history_partition_estimates(c.name) WHERE c.name IS NOT NULL
) AS e ON true;

-- name: history_partition_summarize
-- Summarizes the page ranges of a partition's BRIN index on `created_at` (migration 0024) that
-- have no summary yet: VACUUM makes them (autosummarize is off), and the pages written after a
-- partition's last autovacuum may never get one. A scan reads every page of a range without
-- a summary, so a retirement's reads of the rows created late (the count of keepers, and the
-- move under the history's ACCESS EXCLUSIVE lock) would read those pages whole. Run first,
-- under the SHARE UPDATE EXCLUSIVE lock it takes (writes go on); returns the ranges made.
SELECT coalesce(sum(brin_summarize_new_values(i.indexrelid)), 0) AS n
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am am ON am.oid = c.relam
WHERE i.indrelid = %(name)s::regclass AND am.amname = 'brin';

-- name: history_partition_keepers
-- Rows of a retiring partition that the DELETE path would have kept (unfinished, or created
-- after the cutoff: a backfill of an old slot), counted up to `cap` on the partition's own
-- indexes (partial unfinished index, created_at). Approximate under concurrent writes: it only
-- decides whether retiring is worth trying now.
SELECT count(*) AS n FROM (
    SELECT 1 FROM workflow_schedule_executions
    WHERE scheduled_at >= %(lower)s AND scheduled_at < %(upper)s
      AND (status IN ('pending', 'running', 'retrying', 'accepted')
           OR created_at >= %(cutoff)s)
    LIMIT %(cap)s
) AS k;

-- name: history_partition_stage
-- The long read of a retirement, outside any lock: what wfs_stats_on_delete would record if
-- the partition's finished rows created before the cutoff were DELETEd, staged for the short
-- transaction that drops them (history_partition_retire), and the ids of the rows still
-- unfinished in the same snapshot (those that end before the drop are counted there). One
-- statement, so one snapshot: a finished row never changes its status or duration again and
-- nothing else deletes from a range partition, so the staged rows are exactly the rows that
-- are finished at the drop but for those ids.
-- The duration samples are aggregated per bucket before being expanded; they must equal
-- wfs_duration_samples(ms, -1, false) summed per row (tests compare with the DELETE path).
WITH cleared AS (
    DELETE FROM workflow_history_retired_stats WHERE partition = %(name)s
), gone AS (
    SELECT trigger_id, tenant, status, duration_ms FROM workflow_schedule_executions
    WHERE scheduled_at >= %(lower)s AND scheduled_at < %(upper)s
      AND status IN ('succeeded', 'failed', 'timed_out', 'skipped', 'missed', 'cancelled')
      AND created_at < %(cutoff)s
), durations AS (
    SELECT trigger_id, tenant, wfs_bucket(duration_ms) AS bucket, count(*) AS n,
           sum(duration_ms) AS total
    FROM gone WHERE status IN ('succeeded', 'failed') AND duration_ms IS NOT NULL
    GROUP BY 1, 2, 3
), samples AS (
    SELECT trigger_id, tenant, 'status' AS metric, status AS key, -count(*) AS value
    FROM gone GROUP BY 1, 2, 4
    UNION ALL
    SELECT trigger_id, tenant, 'duration_sum_ms', '', -sum(total) FROM durations GROUP BY 1, 2
    UNION ALL
    SELECT trigger_id, tenant, 'duration_bucket', bucket, -n FROM durations
), staged AS (
    INSERT INTO workflow_history_retired_stats (partition, trigger_id, tenant, metric, key,
                                                value)
    SELECT %(name)s, trigger_id, tenant, metric, key, value FROM samples
    RETURNING 1
)
SELECT (SELECT count(*) FROM staged) AS staged,
       coalesce((SELECT array_agg(id) FROM workflow_schedule_executions
                 WHERE scheduled_at >= %(lower)s AND scheduled_at < %(upper)s
                   AND status IN ('pending', 'running', 'retrying', 'accepted')),
                '{}'::uuid[]) AS late_ids;

-- name: history_partition_retire
-- The short transaction of a retirement (wfs_history_partition_retire): detach, keep back what
-- the DELETE path would have kept (into the DEFAULT partition), take the staged statistics
-- away, drop. All or nothing: a lock not granted within lock_timeout leaves everything as it
-- was, and the next pass stages again.
SELECT wfs_history_partition_retire(%(name)s, %(cutoff)s, %(late_ids)s::uuid[]) AS kept;

-- name: history_default_rows
-- How many rows wait in the DEFAULT partition (counted up to `cap`): what an attach scans.
SELECT count(*) AS n FROM (
    SELECT 1 FROM workflow_schedule_executions_default LIMIT %(cap)s
) AS d;

-- name: history_retirement_try_lock
-- One retirement at a time across workers, held by the session from the long read to the drop
-- (two transactions): two retirers staging one partition would count its rows twice.
SELECT pg_try_advisory_lock(hashtext('workflow_schedule_executions retirement')) AS locked;

-- name: history_retirement_unlock
SELECT pg_advisory_unlock(hashtext('workflow_schedule_executions retirement')) AS unlocked;

-- name: history_floor_raise
-- The unfinished floor raised to the oldest unfinished slot (wfs_history_floor_raise: it waits,
-- within lock_timeout, for the transactions that are making runs unfinished).
-- NULL: no unfinished run at all (the floor is 'infinity').
SELECT nullif(wfs_history_floor_raise(), 'infinity') AS floor;
