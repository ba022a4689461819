"""`scheduler import table`: the replaced system's workflow_triggers rows, from its database."""

from __future__ import annotations

import json
import os
from itertools import count
from typing import Any

import psycopg
import pytest

from app.cli import main
from devtools.localpg import LocalCluster

# The replaced system's table as its migrations left it (a Supabase project: trigger_type is an
# enum, the schedule columns were added by a later migration, `config` holds cron and timezone).
REPLACED_SCHEMA = """
CREATE TYPE trigger_type AS ENUM ('manual', 'webhook', 'form', 'integration', 'schedule');
CREATE TABLE workflow_triggers (
    trigger_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workflow_id UUID NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    trigger_type trigger_type NOT NULL DEFAULT 'manual',
    config JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    is_active BOOLEAN DEFAULT true,
    last_fired_at TIMESTAMPTZ,
    next_run_at TIMESTAMPTZ,
    schedule_enabled BOOLEAN DEFAULT true,
    schedule_metadata JSONB DEFAULT '{}'
);
"""
WF = "11111111-2222-4333-8444-555555555555"
ROWS: list[tuple[str, str, dict[str, Any], bool, bool | None]] = [
    # (trigger_id, trigger_type, config, is_active, schedule_enabled)
    ("a0000000-0000-4000-8000-000000000001", "schedule",
     {"cron": "0 9 * * 1-5", "timezone": "America/Los_Angeles"}, True, True),
    ("a0000000-0000-4000-8000-000000000002", "schedule", {"cron": "*/15 * * * *"}, True, False),
    ("a0000000-0000-4000-8000-000000000003", "schedule",
     {"cron": "0 0 * * *", "enabled": False, "input": {"k": "v"}}, True, None),
    ("a0000000-0000-4000-8000-000000000004", "schedule", {"cron": "0 0 * * *"}, False, True),
    ("a0000000-0000-4000-8000-000000000005", "schedule", {"cron": "0 12 * * 5#3"}, True, True),
    ("a0000000-0000-4000-8000-000000000006", "schedule",
     {"cron": "0 8 * * *", "timezone": "Europe/Londn"}, True, True),
    ("a0000000-0000-4000-8000-000000000007", "webhook", {"path": "/hook"}, True, None),
]  # fmt: skip
_numbers = count()


@pytest.fixture
def replaced_url(pg_cluster: LocalCluster) -> str:
    url = pg_cluster.create_database(f"replaced_{os.getpid()}_{next(_numbers)}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(REPLACED_SCHEMA)
        for trigger_id, kind, config, active, enabled in ROWS:
            conn.execute(
                "INSERT INTO workflow_triggers (trigger_id, workflow_id, name, trigger_type,"
                " config, is_active, schedule_enabled) VALUES (%s, %s, 'n', %s, %s, %s, %s)",
                (trigger_id, WF, kind, json.dumps(config), active, enabled),
            )
    return url


def test_import_table(
    database_url: str,
    replaced_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    argv = ["import", "table", "--database-url", replaced_url, "--tenant", "acme"]
    assert main([*argv, "--dry-run"]) == 1
    assert "6 found for tenant 'acme': 3 created" in capsys.readouterr().out
    assert db.execute("SELECT count(*) FROM workflow_schedules").fetchone() == (0,)

    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "3 created, 0 updated, 0 unchanged, 3 skipped" in out
    assert "is_active is false" in out
    assert "uses # (nth weekday of the month)" in out
    assert "did you mean 'Europe/London'?" in out  # the batch's own validation
    rows = {
        str(r[0]): r[1:]
        for r in db.execute(
            "SELECT id, workflow_id, cron_expression, timezone, state, input"
            " FROM workflow_schedules WHERE tenant = 'acme'"
        )
    }
    assert rows == {
        ROWS[0][0]: (WF, "0 9 * * 1-5", "America/Los_Angeles", "active", {}),
        ROWS[1][0]: (WF, "*/15 * * * *", "UTC", "paused", {}),  # schedule_enabled false
        ROWS[2][0]: (WF, "0 0 * * *", "UTC", "paused", {"k": "v"}),  # config.enabled false
    }
    assert main(argv) == 1
    assert "0 created, 0 updated, 3 unchanged, 3 skipped" in capsys.readouterr().out

    # The source is only read: a read-only session, whatever the import does.
    with psycopg.connect(replaced_url) as conn:
        assert conn.execute("SELECT count(*) FROM workflow_triggers").fetchone() == (7,)


def test_a_database_without_the_table(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    argv = ["import", "table", "--database-url", database_url, "--tenant", "acme"]
    assert main(argv) == 2
    assert 'relation "workflow_triggers" does not exist' in capsys.readouterr().err
