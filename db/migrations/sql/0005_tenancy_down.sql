DROP TABLE IF EXISTS tenant_signing_keys;

DROP TRIGGER IF EXISTS wfs_schedule_claim_id ON workflow_schedules;
DROP FUNCTION IF EXISTS wfs_schedule_claim_id();
DROP TABLE IF EXISTS workflow_schedule_owners;

-- Every run gets its own copy of its input back ('{}' for skipped and missed rows).
DROP INDEX IF EXISTS workflow_schedule_executions_spec_idx;
ALTER TABLE workflow_schedule_executions ADD COLUMN input jsonb NOT NULL DEFAULT '{}'::jsonb;
UPDATE workflow_schedule_executions e SET input = p.input
FROM workflow_run_specs p WHERE p.digest = e.spec_digest;
ALTER TABLE workflow_schedule_executions DROP COLUMN spec_digest;
DROP TRIGGER IF EXISTS wfs_schedules_specs_insert ON workflow_schedules;
DROP TRIGGER IF EXISTS wfs_schedules_specs_update ON workflow_schedules;
DROP TRIGGER IF EXISTS wfs_schedules_specs_delete ON workflow_schedules;
DROP FUNCTION IF EXISTS wfs_schedules_specs_on_insert();
DROP FUNCTION IF EXISTS wfs_schedules_specs_on_update();
DROP FUNCTION IF EXISTS wfs_schedules_specs_on_delete();
DROP FUNCTION IF EXISTS wfs_run_specs_sync(uuid[]);
DROP TABLE IF EXISTS workflow_run_specs;
DROP FUNCTION IF EXISTS wfs_run_spec_digest(uuid, text, jsonb, text, double precision, integer,
                                            double precision);
