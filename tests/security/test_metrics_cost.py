"""M5 and L10: what anonymous /metrics and /ready requests can cost, and who may read /metrics.

- /metrics is rendered once per METRICS_CACHE_SECONDS per process; requests in between run no
  query (they get the same text, even after the data changed), and concurrent ones share one
  computation (tests/unit/test_snapshots.py).
- No count reads a whole table: on a large schedules table the counts by state come from the
  planner's statistics (no sequential scan), the backlog and queue depth stop at a cap.
- /ready reads the migrations' head once per process.
- With METRICS_TOKEN set, /metrics needs it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from app.api.metrics_text import render
from app.services import health
from app.services.metrics import COUNT_CAP, collect
from tests.security.conftest import security_settings
from tests.support.db import create_schedule
from tests.support.server import running_api

PAUSED_LINE = 'scheduler_schedules{state="paused"}'


def _value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in {text}")


def test_metrics_within_the_interval_run_no_query(database_url: str) -> None:
    settings = security_settings(database_url, metrics_cache_seconds=3600)
    with running_api(settings) as url, httpx.Client(base_url=url, timeout=10) as anonymous:
        first = anonymous.get("/metrics")
        assert first.status_code == 200 and _value(first.text, PAUSED_LINE) == 0
        create_schedule(database_url, workflow_id="new", cron_expression="@daily", enabled=False)
        # A query would see the new paused schedule; the cached text does not.
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            texts = list(pool.map(lambda _: anonymous.get("/metrics").text, range(32)))
        assert set(texts) == {first.text}
    # A fresh process (no cache yet) counts it.
    with running_api(settings) as url, httpx.Client(base_url=url, timeout=10) as anonymous:
        assert _value(anonymous.get("/metrics").text, PAUSED_LINE) == 1


def _fill(conn: psycopg.Connection[Any], rows: int) -> None:
    """`rows` schedules, a quarter paused, the rest active and due far in the future."""
    conn.execute(
        "INSERT INTO workflow_schedules (id, tenant, workflow_id, cron_expression, state, "
        "enabled, next_run_at, next_fire_at) "
        "SELECT gen_random_uuid(), 'bulk', 'wf-' || g, '0 6 * * *', "
        "CASE WHEN g %% 4 = 0 THEN 'paused' ELSE 'active' END, g %% 4 <> 0, "
        "CASE WHEN g %% 4 <> 0 THEN timestamptz '2100-01-01' END, "
        "CASE WHEN g %% 4 <> 0 THEN timestamptz '2100-01-01' END "
        "FROM generate_series(1, %s) AS g",
        (rows,),
    )
    conn.execute("ANALYZE workflow_schedules")


def _sequential_scans(conn: psycopg.Connection[Any]) -> int:
    conn.execute("SELECT pg_stat_force_next_flush()")  # this session's own counts, published
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute(
        "SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'workflow_schedules'"
    ).fetchone()
    assert row is not None
    return int(row[0])


async def _render_published(database_url: str) -> str:
    """/metrics' text on its own session, its statistics published before it returns."""
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        text = render(await collect(conn))
        # The flush happens when the session goes idle after this statement, before the
        # server answers it.
        await conn.execute("SELECT pg_stat_force_next_flush()")
        return text


def test_counts_on_a_large_table_read_no_whole_table(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    rows = 60_000  # ~14 MB of rows: past the exact-count limit of 8 MiB
    _fill(db, rows)
    before = _sequential_scans(db)
    text = asyncio.run(_render_published(database_url))
    assert _sequential_scans(db) == before, "render() scanned workflow_schedules"
    # Estimates, from ANALYZE's sample: close to the truth.
    assert _value(text, PAUSED_LINE) == pytest.approx(rows / 4, rel=0.1)
    assert _value(text, 'scheduler_schedules{state="active"}') == pytest.approx(
        rows * 3 / 4, rel=0.1
    )
    assert _value(text, "scheduler_due_backlog") == 0
    # Every active schedule overdue: the backlog count stops at the cap.
    db.execute(
        "UPDATE workflow_schedules SET next_fire_at = now() - interval '1 hour' "
        "WHERE state = 'active'"
    )
    text = asyncio.run(_render_published(database_url))
    assert _value(text, "scheduler_due_backlog") == COUNT_CAP


def test_small_tables_are_counted_exactly(database_url: str) -> None:
    for n in range(3):
        create_schedule(database_url, workflow_id=f"p{n}", cron_expression="@daily", enabled=False)
    text = asyncio.run(_render_published(database_url))
    assert _value(text, PAUSED_LINE) == 3


def test_ready_reads_the_migrations_once(database_url: str) -> None:
    """The head revision comes from a per-process cache: /ready does not parse the migration
    scripts on every request."""
    health.code_head_revision()  # whatever came before, the head is now known
    misses = health.code_head_revision.cache_info().misses
    with (
        running_api(security_settings(database_url)) as url,
        httpx.Client(base_url=url, timeout=10) as anonymous,
    ):
        for _ in range(5):
            assert anonymous.get("/ready").json()["status"] == "ready"
    assert health.code_head_revision.cache_info().misses == misses


def test_metrics_token(database_url: str) -> None:
    settings = security_settings(database_url, metrics_token="scrape-" + "m" * 30)
    with running_api(settings) as url, httpx.Client(base_url=url, timeout=10) as http:
        anonymous = http.get("/metrics")
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
        assert anonymous.json()["error"] == "unauthorized"
        wrong = http.get("/metrics", headers={"Authorization": "Bearer scrape-nope"})
        assert wrong.status_code == 401
        scraped = http.get("/metrics", headers={"Authorization": "Bearer scrape-" + "m" * 30})
        assert scraped.status_code == 200 and "scheduler_schedules" in scraped.text
        assert http.get("/health").status_code == 200 and http.get("/ready").status_code == 200
