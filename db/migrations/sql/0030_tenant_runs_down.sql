DROP FUNCTION wfs_tenant_runs(text, text);
CREATE INDEX workflow_stat_tenant_deltas_tenant_idx ON workflow_stat_tenant_deltas (tenant);
DROP INDEX workflow_stat_tenant_deltas_key_idx;
