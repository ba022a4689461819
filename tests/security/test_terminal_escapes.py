"""L1: `scheduler status` and `scheduler history` show tenant- and target-supplied texts with
their control characters escaped, so nothing in them reaches the operator's terminal as a
command (clear the screen, rewrite a line, set the title, write the clipboard)."""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata

import psycopg

from app.cli.tables import printable
from tests.support.db import create_schedule

# A tenant's workflowId: erase the line, return to its start, set the window title, and a
# right-to-left override that reorders what follows.
HOSTILE_ID = "ok\x1b[2K\r\x1b]0;pwned\x07wf\u202eevil"
# A target's error body: clear the screen, OSC 52 clipboard write, backspaces, a C1 CSI.
HOSTILE_ERROR = "boom\x1b[2J\x1b]52;c;cm0gLXJmIH4=\x07\x08\x08\x9b31m"


def _cli(database_url: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.decode("utf-8")


def _interpretable(output: str) -> list[str]:
    """Characters in `output` that a terminal would act on (line ends aside)."""
    return [
        ch for ch in output if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
    ]


def test_status_and_history_escape_hostile_texts(database_url: str) -> None:
    schedule = create_schedule(
        database_url, workflow_id=HOSTILE_ID, cron_expression="@hourly", enabled=False
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO workflow_schedule_executions (trigger_id, workflow_id, tenant, "
            "scheduled_at, status, trigger, attempts, error, finished_at) "
            "VALUES (%s, %s, 'acme', now(), 'failed', 'manual', 1, %s, now())",
            (schedule.id, HOSTILE_ID, HOSTILE_ERROR),
        )
    status = _cli(database_url, "status")
    history = _cli(database_url, "history", str(schedule.id))
    for output in (status, history):
        assert _interpretable(output) == [], output
        # Shown, not hidden: the operator sees what the tenant stored.
        assert r"ok\x1b[2K\x0d\x1b]0;pwned\x07wf\u202eevil" in output
    assert r"boom\x1b[2J\x1b]52;c;cm0gLXJmIH4=\x07\x08\x08\x9b31m" in history


def test_printable_keeps_ordinary_text() -> None:
    for text in ("nightly-report", "Ünïcödé 日本語 ✓", "a b\u00a0c", "emoji 🙂"):
        assert printable(text) == text
    assert printable("\x00\x7f\U000e0001") == r"\x00\x7f\U000e0001"
