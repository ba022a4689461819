-- 0021's triggers (0021_stats_triggers.sql, run after this) expand each run's samples again.
DROP FUNCTION wfs_timing_metrics(text, text, bigint, bigint);
