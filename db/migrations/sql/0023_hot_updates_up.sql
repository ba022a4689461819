-- Room on each page of the tables updated every slot (issue 13).
--
-- A schedule's row is written twice a slot: the advance (never HOT: next_fire_at is indexed)
-- and its last run, which changes no indexed column and is a HOT update (no index entry,
-- pruned in place) when the row's page has room for the new version. Filled to 100 %, pages
-- had room 74-81 % of the time at 1,000 slots/s; half-filled, 98-100 %. The statistics'
-- values (a row per schedule and scope, updated by every fold) went from 64-66 % HOT to
-- 97-98 % at 70 % (docs/benchmarks.md, "Room for HOT updates").
-- Only pages filled from now on are affected: nothing is rewritten, and the ALTERs take a
-- SHARE UPDATE EXCLUSIVE lock (writes go on). `VACUUM FULL` of both tables in a quiet moment
-- applies it to the existing pages at once (both are small: a few rows per schedule).
ALTER TABLE workflow_schedules SET (fillfactor = 50);
ALTER TABLE workflow_schedule_stat_values SET (fillfactor = 70);
