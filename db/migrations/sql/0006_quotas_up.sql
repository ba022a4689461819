-- Runs each tenant created per UTC minute through manual runs, backfills and catch-up (the
-- quota SCHEDULER_TENANT_MAX_RUNS_PER_MINUTE). One row per tenant and minute, upserted in the
-- transaction that creates the runs: the row lock makes concurrent requests of one tenant, in
-- any number of API processes and workers, add up instead of each seeing the old count.
-- Rows older than the previous minute are deleted as new ones are written.
CREATE TABLE tenant_run_usage (
    tenant  text NOT NULL,
    minute  timestamptz NOT NULL,  -- the start of the UTC minute
    runs    integer NOT NULL CHECK (runs >= 0),
    PRIMARY KEY (tenant, minute)
);

-- A tenant's runs in flight (SCHEDULER_TENANT_MAX_RUNS_IN_FLIGHT), counted when a batch starts
-- and on manual runs: the count reads only that tenant's running rows.
CREATE INDEX workflow_schedule_executions_running_tenant_idx
    ON workflow_schedule_executions (tenant)
    WHERE status = 'running';
