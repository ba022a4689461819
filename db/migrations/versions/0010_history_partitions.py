"""History partitioned by slot time: workflow_schedule_executions becomes a table partitioned by
range of `scheduled_at`, so that retention drops whole partitions instead of deleting rows
(issue 13, docs/history-partitions.md).

Revision ID: 0010
Revises: 0009
"""

from db.migrate import sql_revision

revision, down_revision, upgrade, downgrade = sql_revision("0010_history_partitions", after="0009")
