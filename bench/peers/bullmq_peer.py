"""Peer: BullMQ 6 on Redis, run the way the replaced system ran it (bench/peers/bullmq/peer.js).

Redis is Debian's `redis-server`, started by the harness on a free loopback port with no
persistence (`--save "" --appendonly no`: no RDB snapshot, no AOF, so no fork or fsync lands in
a measurement; BullMQ at its fastest, its history not durable, unlike ours). BullMQ and ioredis
are the versions bench/peers/bullmq/package-lock.json pins (`npm ci` on first use).

Schedules are job schedulers (`upsertJobScheduler` with a seconds cron, `removeOnComplete`), and
`WORKER_PROCESSES` Node processes each run one Worker with `CONCURRENCY`: see that constant.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.service import Child, Processes, cpu_seconds
from devtools.loopback import free_port

HERE = Path(__file__).resolve().parent / "bullmq"
WORKER_PROCESSES = 2  # as ours: one per core
CONCURRENCY = int(os.environ.get("BENCH_BULLMQ_CONCURRENCY", "50"))
"""Jobs in flight per Worker. Each job is one POST to a loopback target (I/O bound), so BullMQ's
advice for I/O-bound processors applies: a high concurrency. At 1,000 every-second schedules
(2 processes, 12 s, a loaded machine) 20 / 50 / 100 / 200 gave lag p50 0.32-0.48 s, within noise
of each other, and 1,000 gave 1.0 s: docs/benchmarks.md, "The peers"."""
REDIS_ARGS = (
    "--save", "", "--appendonly", "no",  # no persistence: nothing forks or fsyncs mid-run
    "--bind", "127.0.0.1", "--protected-mode", "yes",
    "--maxmemory-policy", "noeviction",  # what BullMQ requires
    "--loglevel", "warning",
)  # fmt: skip


def node_modules() -> None:
    """`npm ci` once: the versions package-lock.json pins."""
    if not (HERE / "node_modules" / "bullmq").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=HERE,
            check=True,
            capture_output=True,
        )


@dataclass
class Redis:
    """One redis-server of the harness, in its own temporary folder."""

    child: Child
    port: int
    folder: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        return cpu_seconds([self.child])

    def command(self, *words: str) -> bytes:
        """One command over RESP (inline form), its raw answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
            conn.sendall((" ".join(words) + "\r\n").encode())
            return conn.recv(1 << 16)


def start_redis(procs: Processes, name: str = "redis") -> Redis:
    folder = Path(tempfile.mkdtemp(prefix="wfs-bench-redis-"))
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--dir", str(folder), *REDIS_ARGS]
    child = procs.start(name, argv, dict(os.environ))
    redis = Redis(child, port, folder)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        procs.check_alive([child])
        try:
            if redis.command("PING").startswith(b"+PONG"):
                return redis
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("redis-server did not answer PING within 15 s")


def stop_redis(procs: Processes, redis: Redis) -> None:
    procs.stop([redis.child])
    shutil.rmtree(redis.folder, ignore_errors=True)


def setup(redis: Redis, count: int, pattern: str) -> float:
    """Upsert job schedulers s0..s(count-1) with `pattern`; seconds it took (BullMQ's own)."""
    done = subprocess.run(
        ["node", str(HERE / "peer.js"), "setup", "--redis", redis.url,
         "--count", str(count), "--pattern", pattern],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not done.stdout.startswith("ready"):
        raise RuntimeError(f"BullMQ setup failed: {done.stderr.strip()[-2000:]}")
    return float(done.stdout.split()[1])


def start_workers(
    procs: Processes,
    redis: Redis,
    target: str,
    processes: int = WORKER_PROCESSES,
    concurrency: int = CONCURRENCY,
) -> list[Child]:
    """`processes` Node processes, one Worker each; returns once every one is connected."""
    argv = ["node", str(HERE / "peer.js"), "worker", "--redis", redis.url,
            "--target", target, "--concurrency", str(concurrency)]  # fmt: skip
    children = [
        procs.start(f"bullmq-{i}", argv, dict(os.environ), stdout_pipe=True)
        for i in range(processes)
    ]
    for child in children:
        assert child.process.stdout is not None
        if child.process.stdout.readline().strip() != b"ready":
            procs.check_alive([child])
            raise RuntimeError(f"{child.name} did not start")
    return children


def settings(processes: int = WORKER_PROCESSES, concurrency: int = CONCURRENCY) -> str:
    return (
        f"{processes} Node processes × Worker concurrency {concurrency}, job schedulers "
        "(seconds cron), removeOnComplete; Redis without persistence"
    )
