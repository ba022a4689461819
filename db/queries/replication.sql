-- name: replication_primary_flushed
-- The primary's flushed WAL position, in bytes. Flushed, not inserted: a standby can only have
-- received what the primary has flushed, and after a caught-up replay its position is exactly
-- this one (an idle primary's stands still). Read on DATABASE_URL; an error on a standby.
SELECT pg_wal_lsn_diff(pg_current_wal_flush_lsn(), '0/0')::bigint AS flushed;

-- name: replication_standby_state
-- Where a standby's replay is: what it shows to every new snapshot is exactly what it has
-- replayed. `replayed` is NULL and `in_recovery` false on a server that is not a standby.
-- pg_is_wal_replay_paused() raises outside recovery, so it is asked only during one.
SELECT pg_is_in_recovery() AS in_recovery,
       pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint AS replayed,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS paused;
