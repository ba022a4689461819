-- Each worker process's supervised loops, as it last reported them (worker/health.py): when
-- each last completed a pass, so that `scheduler check` and /metrics (served by other
-- processes) see a loop that stopped working (H2: the dispatcher used to die silently while
-- every health check stayed green). One row per process and loop, rewritten every few seconds
-- by one statement; a stopping worker deletes its rows, a killed one's are forgotten later.
CREATE TABLE worker_loop_health (
    process_id          uuid NOT NULL,
    loop                text NOT NULL CHECK (length(loop) BETWEEN 1 AND 100),
    host                text NOT NULL CHECK (length(host) BETWEEN 1 AND 255),
    pid                 integer NOT NULL,
    -- No successful pass for this long: stale (max(floor, 3 × the loop's period)).
    stale_after_seconds double precision NOT NULL CHECK (stale_after_seconds > 0),
    started_at          timestamptz NOT NULL,
    last_success_at     timestamptz,
    failures            integer NOT NULL DEFAULT 0,
    last_error          text CHECK (length(last_error) <= 200),  -- an exception type name
    reported_at         timestamptz NOT NULL,
    PRIMARY KEY (process_id, loop)
);
