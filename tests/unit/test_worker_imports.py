"""What a worker process imports: not the migration machinery. Alembic and SQLAlchemy cost a
process ~0.3 s of CPU to import (a worker's import went from 1.2-1.4 s to 0.8 s without them),
paid again by every worker that restarts; a worker never migrates and never asks for the
head revision (app/services/health.py imports it where `/ready` asks). In a fresh interpreter:
the test process has imported everything already."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import worker.__main__  # `python -m worker`: its entry point,
import worker.app  # then the app that Procrastinate's CLI loads
print(" ".join(sorted(m for m in ("alembic", "sqlalchemy", "db.migrate") if m in sys.modules)))
"""


def test_a_worker_does_not_import_the_migration_machinery() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.split() == []
