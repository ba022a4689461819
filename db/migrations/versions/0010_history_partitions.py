"""History partitioned by slot time: workflow_schedule_executions becomes a table partitioned by
range of `scheduled_at`, so that retention drops whole partitions instead of deleting rows
(issue 13, docs/history-partitions.md).

Revision ID: 0010
Revises: 0009
"""

from db.migrate import run_sql_file

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0010_history_partitions_up.sql")


def downgrade() -> None:
    run_sql_file("0010_history_partitions_down.sql")
