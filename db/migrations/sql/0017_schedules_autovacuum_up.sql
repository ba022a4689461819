-- workflow_schedules vacuumed by the number of dead row versions, not by its size (issue 13).
--
-- Every fired slot leaves two dead versions of its schedule's row (the dispatcher moves it to
-- its next slot, the run's end writes its last status and streak) and a dead entry at the head
-- of the due index, where the claim and the next-wake query start reading. Autovacuum's default
-- waits for 20 % of the table to be dead: with 10,000 schedules stored that is a pass every few
-- seconds at 1,000 slots/s, with 10,000,000 stored about one every 1,000 s, and meanwhile every
-- claim walks the dead entries (the scale run: the claim 40 → 97 µs and the next wake 42 → 74 µs
-- per slot from 10,000 to 10,000,000 stored, docs/benchmarks.md). A fixed threshold keeps the
-- interval the same at any size; a pass over a large table costs little (the visibility map
-- skips the pages of schedules that did not fire).
ALTER TABLE workflow_schedules SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 10000
);
