-- name: clock_now
-- The database clock is the clock (SPEC §4.1): services ask it once per transaction.
-- clock_timestamp(), not now(): the instant of the call, not of the transaction's start.
SELECT clock_timestamp() AS now;
