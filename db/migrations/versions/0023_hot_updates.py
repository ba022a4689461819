"""Room on each page of the tables updated every slot (issue 13), so that an update that
changes no indexed column stays on its page (a HOT update: no index entry, pruned in place).

Revision ID: 0023
Revises: 0022
"""

from db.migrate import run_sql_file

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0023_hot_updates_up.sql")


def downgrade() -> None:
    run_sql_file("0023_hot_updates_down.sql")
