"""Child processes: ours (workers, API), the peers and the target; started as a user would, each
in its own session (Ctrl-C reaches the harness only, which then stops them in order), and
always stopped: SIGTERM, a grace period, then SIGKILL.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg

SECRET = "bench-secret-" + "b" * 20  # the worker refuses a key under 16 bytes


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Processes:
    """Every child process the harness started; `stop_all` ends what is left."""

    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def start(
        self, name: str, argv: list[str], env: dict[str, str], *, stdout_pipe: bool = False
    ) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.PIPE if stdout_pipe else log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        child = Child(name, process)
        self.children.append(child)
        return child

    def stop(self, children: list[Child], timeout: float = 15.0) -> None:
        for child in children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in children:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
            if child.process.stdout is not None:
                child.process.stdout.close()
            if child in self.children:
                self.children.remove(child)

    def stop_all(self) -> None:
        self.stop(list(reversed(self.children)), timeout=10.0)

    def check_alive(self, children: list[Child]) -> None:
        for child in children:
            code = child.process.poll()
            if code is not None:
                raise RuntimeError(
                    f"{child.name} exited with {code}; see {self.log_dir / child.name}.log"
                )


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def cpu_seconds(children: list[Child]) -> float:
    total = 0.0
    for child in children:
        try:
            times = psutil.Process(child.pid).cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def busy_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy (all processes, all cores)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


class ForeignLoad:
    """CPU the machine spent on processes that are not this run's (another test suite, say):
    machine busy time − (this harness and every child it has waited for + the live children +
    the benchmark's PostgreSQL). In cores, averaged over the measured span; anything above ~0.1
    means the numbers of that span were taken on a shared machine."""

    def __init__(self, procs: Processes, cluster_cpu: Callable[[], float]) -> None:
        self.procs = procs
        self.cluster_cpu = cluster_cpu

    def _snapshot(self) -> tuple[float, float, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        waited = resource.getrusage(resource.RUSAGE_CHILDREN)
        ours = own.ru_utime + own.ru_stime + waited.ru_utime + waited.ru_stime
        ours += cpu_seconds(self.procs.children) + self.cluster_cpu()
        return time.monotonic(), busy_cpu_seconds(), ours

    def start(self) -> None:
        self._start = self._snapshot()

    def cores(self) -> float:
        end = self._snapshot()
        wall = end[0] - self._start[0]
        foreign = (end[1] - self._start[1]) - (end[2] - self._start[2])
        return max(0.0, foreign / wall) if wall > 0 else 0.0


class RssMonitor:
    """Samples the resident memory of some processes every 0.25 s and keeps the maximum (MB)."""

    def __init__(self, children: list[Child]) -> None:
        self.children = children
        self.max_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for child in self.children:
                try:
                    rss = psutil.Process(child.pid).memory_info().rss / 1e6
                    self.max_mb = max(self.max_mb, rss)
                except psutil.Error:
                    pass
            self._stop.wait(0.25)

    def __enter__(self) -> RssMonitor:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


# -- our service ------------------------------------------------------------------------------
def service_env(database_url: str, target_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "SCHEDULER_TARGET_URL": target_url,
        "INTERNAL_API_SECRET": SECRET,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
        "SCHEDULER_SHUTDOWN_TIMEOUT": "5",
        # Every benchmark schedule belongs to one tenant: its in-flight quota must not hold
        # the runs of a 50,000- or 100,000-slot instant (docs/security.md, quotas).
        "SCHEDULER_TENANT_MAX_RUNS_IN_FLIGHT": "1000000",
        **extra,
    }


def wait_for_workers(
    procs: Processes, children: list[Child], database_url: str, timeout: float = 60.0
) -> None:
    """Until every worker has registered in procrastinate_workers (its fetch loop runs)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            procs.check_alive(children)
            row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
            if row and row[0] >= len(children):
                time.sleep(0.5)  # the dispatcher's LISTEN connection comes up alongside
                return
            time.sleep(0.2)
    raise RuntimeError(f"workers did not start within {timeout:.0f} s")


def start_workers(
    procs: Processes, count: int, env: dict[str, str], name: str = "worker"
) -> list[Child]:
    """`python -m worker`, as the README says to run it."""
    children = [procs.start(f"{name}-{i}", python("-m", "worker"), env) for i in range(count)]
    wait_for_workers(procs, children, env["DATABASE_URL"])
    return children


def start_api(procs: Processes, env: dict[str, str], port: int) -> Child:
    """`scheduler api` on `port`; returns once /health answers."""
    child = procs.start("api", python("-m", "app.cli", "api"), {**env, "API_PORT": str(port)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        procs.check_alive([child])
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                if answer.status == 200:
                    return child
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the API did not answer /health within 60 s")
