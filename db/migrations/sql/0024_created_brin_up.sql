-- The history's index on `created_at`: a BRIN index on every partition, a B-tree on the
-- DEFAULT partition only (issue 13: fewer index entries per slot).
--
-- A B-tree on `created_at` took an entry for every run inserted and another for every
-- finish (a finish is never a HOT update: `status` is in the partial indexes' conditions),
-- and each later cleaned up by VACUUM. Its readers:
-- - the DELETE path of retention (execution_prune_batch): the DEFAULT partition's oldest
--   finished rows in order, a LIMIT at a time. It keeps its B-tree, on that partition alone;
-- - a retiring range partition's rows created after the cutoff (history_partition_keepers,
--   wfs_history_partition_retire): a few backfilled rows, if any. Rows are appended roughly in
--   the order they are created, so a BRIN index (a range of `created_at` per 128 pages) finds
--   the pages that may hold them. Its summaries are made by VACUUM (and widened by a write
--   outside a range's bounds); a retirement summarizes the ranges still without one first
--   (history_partition_summarize), since a scan reads such a range's pages whole.
-- Measured (`python -m bench.run_ids --kinds ordered,btree-created`: a day partition of
-- 2,200,000 runs): the B-tree was 47 MB (21 bytes a run), the BRIN index under 0.05 MB; a run's
-- insert and finish wrote 6 % less WAL; no difference in CPU showed (docs/benchmarks.md).
--
-- The DROP takes an ACCESS EXCLUSIVE lock on the history (catalog only, milliseconds); each
-- CREATE reads its partitions once under a SHARE lock, which holds back writes to the history
-- for as long as that takes (a BRIN build is a sequential read, no sort); with a large
-- history, migrate in a quiet moment (docs/operations.md).
DROP INDEX workflow_schedule_executions_created_idx;
CREATE INDEX workflow_schedule_executions_created_idx
    ON workflow_schedule_executions USING brin (created_at);
CREATE INDEX workflow_schedule_executions_default_created_idx
    ON workflow_schedule_executions_default (created_at);
