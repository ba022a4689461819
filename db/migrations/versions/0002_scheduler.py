"""The scheduler's tables: schedules, executions, API tokens.

Revision ID: 0002
Revises: 0001
"""

from db.migrate import sql_revision

revision, down_revision, upgrade, downgrade = sql_revision("0002_scheduler", after="0001")
