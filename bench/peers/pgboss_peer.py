"""Peer: pg-boss 12 (Node, PostgreSQL), bench/peers/pgboss/peer.mjs, on its own database.

pg-boss 12 needs Node >= 22; Debian's is older, so the `node` npm package (a Node binary) is
pinned beside pg-boss in bench/peers/pgboss/package-lock.json and runs the peer (`npm ci` on
first use; its install script fetches the binary from the npm registry). Its cron is
minute-granular: no steady per-second scenario; the burst is N jobs sent with `startAfter` at
the instant, worked by `WORKER_PROCESSES` processes (settings in peer.mjs).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bench.service import Child, Processes

HERE = Path(__file__).resolve().parent / "pgboss"
NODE = HERE / "node_modules" / ".bin" / "node"
WORKER_PROCESSES = 2  # as ours: one per core
SENDS_PER_S = 2_000  # pessimistic: the instant follows the set-up


def node_modules() -> None:
    """`npm ci` once (with the `node` package's install script: it fetches Node 22)."""
    if not (HERE / "node_modules" / "pg-boss").is_dir() or not NODE.exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, capture_output=True
        )


def send(url: str, count: int, instant: float) -> float:
    """`count` jobs due at `instant`; seconds the inserts took."""
    node_modules()
    done = subprocess.run(
        [str(NODE), str(HERE / "peer.mjs"), "send", "--database", url,
         "--count", str(count), "--at", str(instant)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not done.stdout.startswith("ready"):
        raise RuntimeError(f"pg-boss send failed: {done.stderr.strip()[-2000:]}")
    return float(done.stdout.split()[1])


def start_workers(procs: Processes, url: str, target: str) -> list[Child]:
    """`WORKER_PROCESSES` worker processes; returns once every one polls (pg-boss created its
    schema with the first)."""
    node_modules()
    argv = [str(NODE), str(HERE / "peer.mjs"), "worker", "--database", url, "--target", target]
    children: list[Child] = []
    for i in range(WORKER_PROCESSES):
        child = procs.start(f"pgboss-{i}", argv, dict(os.environ), stdout_pipe=True)
        children.append(child)
        assert child.process.stdout is not None
        if child.process.stdout.readline().strip() != b"ready":
            procs.check_alive([child])
            raise RuntimeError(f"{child.name} did not start")
    return children


def settings() -> str:
    return (
        f"{WORKER_PROCESSES} Node 22 processes, work() batchSize 100 × localConcurrency 4, "
        "polling 0.5 s (pg-boss's minimum), burstWhenBatchFull; jobs inserted with startAfter"
    )
