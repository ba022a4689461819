-- The statistics fold at one cadence for the whole deployment (issue 13).
--
-- Every worker tried to fold every second and one at a time did (an advisory try-lock), so
-- with two workers the deltas were folded about twice a second: a schedule that fires every
-- second had one delta per metric in each fold, and every delta became an upsert of a value
-- row (about 4 per fired slot). The last fold's instant, kept here, lets a worker fold only
-- when the deployment's last fold is `SCHEDULER_STATS_FOLD_INTERVAL` old, whatever the number
-- of workers: each fold then sums that many seconds of slots into one upsert per schedule and
-- metric. Reads stay exact (they add the deltas not folded yet).
CREATE TABLE workflow_stat_fold_clock (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    folded_at  timestamptz NOT NULL
);
INSERT INTO workflow_stat_fold_clock (folded_at) VALUES ('-infinity');
