"""`scheduler status` and `scheduler history` print readable tables from the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from app.cli.tables import relative
from tests.support.cli import run_cli
from tests.support.db import create_schedule


def test_status_and_history(database_url: str) -> None:
    schedule = create_schedule(
        database_url,
        workflow_id="nightly-report",
        cron_expression="0 9 * * 1-5",
        timezone="Europe/Berlin",
    )
    create_schedule(
        database_url, tenant="globex", workflow_id="other", cron_expression="@hourly", enabled=False
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO workflow_schedule_executions (trigger_id, workflow_id, tenant, "
            "scheduled_at, status, trigger, attempts, duration_ms, http_status, finished_at) "
            "VALUES (%s, 'nightly-report', 'acme', now(), 'succeeded', 'manual', 1, 42, 200, "
            "now())",
            (schedule.id,),
        )
    status = run_cli(database_url, "status")
    assert status.returncode == 0, status.stderr
    assert "nightly-report" in status.stdout and "other" in status.stdout
    assert "At 09:00, Monday through Friday (Europe/Berlin)" in status.stdout
    assert "100.00 %" in status.stdout and "paused" in status.stdout
    only_acme = run_cli(database_url, "status", "--tenant", "acme")
    assert "other" not in only_acme.stdout
    history = run_cli(database_url, "history", str(schedule.id))
    assert history.returncode == 0, history.stderr
    assert "succeeded" in history.stdout and "42 ms" in history.stdout
    missing = run_cli(database_url, "history", "6f1c1a52-8a8e-4a57-9f43-3d1b2f0c7e11")
    assert missing.returncode == 2 and "no schedule" in missing.stderr


def test_relative_times() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert relative(now + timedelta(hours=2), now) == "in 2 h"
    assert relative(now - timedelta(seconds=5), now) == "5 s ago"
    assert relative(now + timedelta(days=3), now) == "in 3 d"
    assert relative(None, now) == "—"


def test_instants_are_printed_in_utc_whatever_the_server_time_zone(database_url: str) -> None:
    """A database whose TimeZone is not UTC (+05:45 here) must not shift what the CLI prints:
    psycopg returns timestamptz in the session's zone, and the tables label instants `Z`."""
    schedule = create_schedule(database_url, workflow_id="zoned", cron_expression="@hourly")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET timezone = %L', "
            "current_database(), 'Asia/Kathmandu'); END $$"
        )
        conn.execute(
            "INSERT INTO workflow_schedule_executions (trigger_id, workflow_id, tenant, "
            "scheduled_at, status, trigger, attempts, finished_at) VALUES (%s, 'zoned', 'acme', "
            "'2026-03-01 12:00:00+00', 'succeeded', 'manual', 1, now())",
            (schedule.id,),
        )
    with psycopg.connect(database_url) as conn:  # a new session gets the database's zone
        assert conn.execute("SHOW TimeZone").fetchone() == ("Asia/Kathmandu",)
    history = run_cli(database_url, "history", str(schedule.id))
    assert history.returncode == 0, history.stderr
    assert "2026-03-01 12:00:00Z" in history.stdout, history.stdout
    assert schedule.next_run_at is not None
    status = run_cli(database_url, "status")
    assert status.returncode == 0, status.stderr
    assert f"{schedule.next_run_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z" in status.stdout
