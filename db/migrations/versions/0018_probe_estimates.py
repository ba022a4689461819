"""Each partition of the history sizes a schedule's probe of unfinished runs at a few rows
(issue 13): one tenant's backlog in a partition no longer turns the claim's per-schedule probes
into scans of that partition.

Revision ID: 0018
Revises: 0017
"""

from db.migrate import run_sql_file

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0018_probe_estimates_up.sql")


def downgrade() -> None:
    run_sql_file("0018_probe_estimates_down.sql")
