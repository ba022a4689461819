"""`scheduler import bullmq` against a real Redis in which BullMQ itself made the schedulers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis

from app.cli import main
from app.domain.importing import IMPORT_NAMESPACE
from tests.support.bullmq_seed import seed
from tests.support.redis_server import running_redis

PREFIX, QUEUE = "bull:scheduler", "workflow-schedules"
TRIGGER_A = "6f1c2a4e-1111-4222-8333-444455556666"
TRIGGER_LEGACY = "7f1c2a4e-1111-4222-8333-444455556666"

SPEC: list[dict[str, Any]] = [
    # The replaced system's shape: one scheduler per trigger, data {triggerId, workflowId}.
    {
        "scheduler": f"schedule:{TRIGGER_A}",
        "repeat": {"pattern": "0 */5 * * * *", "tz": "Europe/Berlin"},
        "name": "execute-workflow",
        "data": {"triggerId": TRIGGER_A, "workflowId": "wf-a", "input": {"x": 1}},
    },
    # No triggerId, no workflowId: the id comes from the scheduler id, the workflow from the name.
    {"scheduler": "nightly-report", "repeat": {"pattern": "30 2 * * *"}, "name": "report"},
    {"scheduler": "every-minute", "repeat": {"every": 60_000}, "name": "tick"},
    {"scheduler": "every-7s", "repeat": {"every": 7_000}, "name": "odd"},
    {"scheduler": "last-day", "repeat": {"pattern": "0 0 L * *"}, "name": "month-end"},
    {
        "scheduler": "long-name",
        "repeat": {"pattern": "0 9 * * *"},
        "name": "w" * 201,
    },
    # Legacy repeatable jobs (BullMQ < 5.16's way, the replaced system's `queue.add`).
    {
        "legacy": "execute-workflow",
        "data": {"triggerId": TRIGGER_LEGACY, "workflowId": "wf-legacy"},
        "opts": {
            "jobId": f"schedule:{TRIGGER_LEGACY}",
            "repeat": {"pattern": "0 9 * * 1-5", "tz": "America/New_York"},
        },
    },
    {"legacy": "cleanup", "data": {"input": {"days": 7}}, "opts": {"repeat": {"every": 3_600_000}}},
]


@pytest.fixture
def redis_url() -> Iterator[str]:
    with running_redis() as (url, _):
        yield url


def _import(database_url: str, redis_url: str, *extra: str) -> int:
    return main(
        [
            "import",
            "bullmq",
            "--redis-url",
            redis_url,
            "--prefix",
            PREFIX,
            "--queue",
            QUEUE,
            "--tenant",
            "acme",
            *extra,
        ]
    )


def _schedules(db: psycopg.Connection[Any]) -> dict[str, tuple[Any, ...]]:
    rows = db.execute(
        "SELECT id, workflow_id, cron_expression, timezone, input, state, version, next_run_at"
        " FROM workflow_schedules WHERE tenant = 'acme'"
    ).fetchall()
    return {str(r[0]): tuple(r[1:]) for r in rows}


def test_import_maps_creates_and_is_idempotent(
    database_url: str,
    redis_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    seed(redis_url, PREFIX, QUEUE, SPEC)
    scores = dict(
        redis.Redis.from_url(redis_url, decode_responses=True).zrange(
            f"{PREFIX}:{QUEUE}:repeat", 0, -1, withscores=True
        )
    )

    assert _import(database_url, redis_url, "--dry-run") == 1  # some are skipped
    out = capsys.readouterr().out
    assert "8 found for tenant 'acme': 5 created, 0 updated, 0 unchanged, 3 skipped" in out
    assert "dry run" in out
    assert _schedules(db) == {}

    assert _import(database_url, redis_url) == 1
    out = capsys.readouterr().out
    assert "5 created, 0 updated, 0 unchanged, 3 skipped" in out
    assert "every 7000 ms is not an interval cron can express" in out
    assert "uses L (last day)" in out
    assert "workflowId: must be 1 to 200 characters" in out
    stored = _schedules(db)
    # No triggerId and no jobId: an id derived from the queue and BullMQ's key for the job.
    legacy_keys = [k for k in scores if re.fullmatch(r"[0-9a-f]{32}", k)]
    assert len(legacy_keys) == 2
    derived = {str(uuid.uuid5(IMPORT_NAMESPACE, f"bullmq:{QUEUE}:legacy:{k}")) for k in legacy_keys}
    (legacy_cleanup,) = derived & set(stored)
    nightly = str(uuid.uuid5(IMPORT_NAMESPACE, f"bullmq:{QUEUE}:nightly-report"))
    every = str(uuid.uuid5(IMPORT_NAMESPACE, f"bullmq:{QUEUE}:every-minute"))
    assert stored[TRIGGER_A][:5] == (
        "wf-a",
        "0 */5 * * * *",
        "Europe/Berlin",
        {"x": 1},
        "active",
    )
    assert stored[TRIGGER_LEGACY][:4] == ("wf-legacy", "0 9 * * 1-5", "America/New_York", {})
    assert stored[nightly][:3] == ("report", "30 2 * * *", "UTC")
    assert stored[legacy_cleanup][:4] == ("cleanup", "0 * * * *", "UTC", {"days": 7})
    # `every` keeps BullMQ's phase, to the second: the next slot is on BullMQ's grid.
    assert stored[every][0] == "tick" and stored[every][2] == "UTC"
    next_run = stored[every][6]
    assert int(next_run.timestamp()) % 60 == int(scores["every-minute"] // 1000) % 60

    assert _import(database_url, redis_url) == 1
    assert "0 created, 0 updated, 5 unchanged, 3 skipped" in capsys.readouterr().out
    assert _schedules(db) == stored  # no new version of anything

    # A change in BullMQ is an update here; importing paused pauses every one.
    changed = {**SPEC[1], "repeat": {"pattern": "45 3 * * *"}}
    seed(redis_url, PREFIX, QUEUE, [changed])
    assert _import(database_url, redis_url) == 1
    assert "0 created, 1 updated, 4 unchanged" in capsys.readouterr().out
    assert _schedules(db)[nightly][1] == "45 3 * * *"
    assert _import(database_url, redis_url, "--paused") == 1
    assert "0 created, 5 updated, 0 unchanged" in capsys.readouterr().out
    assert {row[4] for row in _schedules(db).values()} == {"paused"}


def test_another_tenants_id_is_skipped_and_nothing_is_fatal(
    database_url: str,
    redis_url: str,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    db.execute(
        "INSERT INTO workflow_schedules (id, tenant, workflow_id, cron_expression, enabled, state)"
        " VALUES (%s, 'globex', 'theirs', '0 0 * * *', false, 'paused')",
        (TRIGGER_A,),
    )
    seed(redis_url, PREFIX, QUEUE, SPEC[:2])
    assert _import(database_url, redis_url) == 1
    out = capsys.readouterr().out
    assert "1 created, 0 updated, 0 unchanged, 1 skipped" in out
    assert f"id: a schedule with id {TRIGGER_A} already exists" in out
    owner = db.execute("SELECT tenant FROM workflow_schedules WHERE id = %s", (TRIGGER_A,))
    assert owner.fetchone() == ("globex",)
    assert (
        main(
            [
                "import",
                "bullmq",
                "--redis-url",
                "redis://127.0.0.1:9/0",
                "--queue",
                "q",
                "--tenant",
                "acme",
            ]
        )
        == 2
    )  # unreachable Redis: a one-line error, no traceback
    assert "redis: cannot read bull:q:repeat" in capsys.readouterr().err
