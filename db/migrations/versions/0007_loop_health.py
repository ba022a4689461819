"""Worker loop health: each process's supervised loops and their last successful pass.

Revision ID: 0007
Revises: 0006
"""

from db.migrate import sql_revision

revision, down_revision, upgrade, downgrade = sql_revision("0007_loop_health", after="0006")
