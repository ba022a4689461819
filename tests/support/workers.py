"""Real worker processes (`python -m worker`) for acceptance tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

TEST_SECRET = "test-secret-" + "x" * 20


class WorkerProcess:
    """One worker process; its output goes to a log file the test can read."""

    def __init__(self, database_url: str, target_template: str, **env: str) -> None:
        self.database_url = database_url
        self.log_path = Path(tempfile.mkstemp(prefix="wfs-worker-", suffix=".log")[1])
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SCHEDULER_TARGET_URL": target_template,
            "INTERNAL_API_SECRET": TEST_SECRET,
            "LOG_FORMAT": "json",
            "SCHEDULER_HEARTBEAT_INTERVAL": "1",
            "SCHEDULER_STALLED_AFTER": "4",
            "SCHEDULER_MAINTENANCE_INTERVAL": "1",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the handle
            self.process = subprocess.Popen(
                [sys.executable, "-m", "worker"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_registered(self, timeout: float = 20) -> None:
        """Until the worker has registered itself in the database (it is fetching jobs)."""
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                assert self.alive, f"worker exited early:\n{self.log()}"
                row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
                if row and row[0] > 0:
                    return
                time.sleep(0.05)
        raise AssertionError(f"worker did not register:\n{self.log()}")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait(10)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self, timeout: float = 40) -> int | None:
        if not self.alive:
            return self.process.returncode if self.process else None
        self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]
