"""Limits: what this machine can do at all, measured beside the scenarios (same cluster, same
durability, same target), so the tables can say how far from the floor each system is.

- PostgreSQL commits/s: single-row INSERT commits (autocommit, fsync and synchronous_commit as
  the run's cluster has them) from 1 connection, then from 8 at once (group commit shares the
  WAL flushes between them).
- A bare batched claim: `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 250)`,
  one commit a batch, on a synthetic table of due rows with a partial index on the unclaimed
  ones: claimed rows/s from 1 connection, then from 2. No history, no HTTP: the floor of any
  PostgreSQL-backed dispatcher that claims in batches.
- The bench target: requests/s from a plain client in the harness, 64 keep-alive connections
  with one request at a time each, then 8 connections pipelining 32 requests each.

Each loop runs `limits_seconds`; PostgreSQL's CPU is measured around each and given per unit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import psycopg

from bench.scenarios.common import Context
from bench.target import measure_capacity

BATCH = 250
SCHEMA = """
CREATE TABLE commit_bench (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(),
                           payload text NOT NULL);
CREATE TABLE claim_bench (id bigint PRIMARY KEY, due timestamptz NOT NULL,
                          claimed_at timestamptz);
"""
INSERT = "INSERT INTO commit_bench (payload) VALUES (%s)"
FILL = """
TRUNCATE claim_bench;
DROP INDEX IF EXISTS claim_bench_due;
INSERT INTO claim_bench (id, due)
SELECT g, now() - interval '1 hour' + g * interval '1 microsecond'
FROM generate_series(1, %(rows)s) AS g;
CREATE INDEX claim_bench_due ON claim_bench (due) WHERE claimed_at IS NULL;
"""
CLAIM = f"""
UPDATE claim_bench SET claimed_at = now()
WHERE id IN (SELECT id FROM claim_bench
             WHERE claimed_at IS NULL AND due <= now()
             ORDER BY due LIMIT {BATCH} FOR UPDATE SKIP LOCKED)
"""


def run(ctx: Context) -> dict[str, Any]:
    name = "limits"
    url = ctx.cluster.empty_database(name)
    seconds = ctx.sizes.limits_seconds
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA)
        commits = {
            str(n): measured(ctx, lambda n=n: loop(url, n, seconds, commit_loop), "commits")
            for n in (1, 8)
        }
        claims = {}
        for n in (1, 2):
            fill(url, ctx.sizes.claim_rows)
            claims[str(n)] = measured(ctx, lambda n=n: loop(url, n, seconds, claim_loop), "rows")
        port = urlsplit(ctx.target_url).port or 80
        target = {
            "64x1": measure_capacity(port, seconds=seconds, connections=64, depth=1),
            "8x32": measure_capacity(port, seconds=seconds, connections=8, depth=32),
        }
        return {
            "seconds": seconds,
            "durability": ctx.cluster.durability,
            "commits": commits,
            "claim": {**claims, "batch": BATCH, "rows": ctx.sizes.claim_rows},
            "target_rps": target,
        }
    finally:
        ctx.cluster.drop_database(name)


def fill(url: str, rows: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in FILL.split(";"):
            if statement.strip():
                conn.execute(statement, {"rows": rows} if "%(rows)s" in statement else None)
        conn.execute("VACUUM ANALYZE claim_bench")
        conn.execute("CHECKPOINT")


def measured(ctx: Context, work: Callable[[], tuple[int, float]], unit: str) -> dict[str, Any]:
    """Runs `work` (it returns units done and seconds taken): units/s and PostgreSQL CPU per
    1,000 units."""
    store0 = ctx.cluster.cpu_seconds()
    done, seconds = work()
    store = ctx.cluster.cpu_seconds() - store0
    return {
        unit: done,
        "seconds": seconds,
        "per_s": done / seconds if seconds else 0.0,
        "postgres_cpu_ms_per_1000": 1e6 * store / done if done else None,
    }


Step = Callable[[psycopg.AsyncConnection[Any], int], Awaitable[int]]


async def commit_loop(conn: psycopg.AsyncConnection[Any], i: int) -> int:
    await conn.execute(INSERT, (f"row {i}",))
    return 1


async def claim_loop(conn: psycopg.AsyncConnection[Any], i: int) -> int:
    cursor = await conn.execute(CLAIM)
    return cursor.rowcount


def loop(url: str, connections: int, seconds: float, step: Step) -> tuple[int, float]:
    """`connections` connections each running `step` (one autocommit statement) back to back
    for `seconds` or until a step does nothing; (units done, seconds taken)."""

    async def one(deadline: float) -> int:
        total = 0
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            i = 0
            while time.monotonic() < deadline:
                done = await step(conn, i)
                if done == 0:
                    break
                total += done
                i += 1
        return total

    async def all_of() -> tuple[int, float]:
        started = time.monotonic()
        counts = await asyncio.gather(*(one(started + seconds) for _ in range(connections)))
        return sum(counts), time.monotonic() - started

    return asyncio.run(all_of())
