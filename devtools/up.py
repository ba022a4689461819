"""`make up` (`python -m devtools.up`): the whole service on this machine, no Docker.

Starts (or reuses) a PostgreSQL cluster under `.localdata/` in the project folder, applies the
migrations, makes a development token, then runs the API, one worker per core
(`SCHEDULER_WORKERS` to choose another number) and (unless
SCHEDULER_TARGET_URL points elsewhere) a demo workflow target as child processes, restarting
any that die (a worker that loses the database for good exits non-zero and comes back here).
Stays in the foreground; Ctrl-C or SIGTERM stops everything it started. With DATABASE_URL set,
that database is used and no cluster is started.

While it runs, `.localdata/running` names its process and database, so that the `scheduler`
CLI of the same checkout uses that database when DATABASE_URL is unset
(app/local_database.py).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.local_database import DATA_DIR_VARIABLE, record_running
from devtools.localpg import LocalCluster
from devtools.loopback import free_port
from devtools.tokens import make_token, token_works

DATA_DIR = Path(os.environ.get(DATA_DIR_VARIABLE, Path.cwd() / ".localdata"))
DEV_TENANT = "dev"


@dataclass
class Child:
    """A supervised child process: restarted with backoff when it exits unasked."""

    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, env=self.env)
        self.started_at = time.monotonic()

    def check(self) -> None:
        """Restart the child if it exited (after a delay that grows while it keeps failing)."""
        if self.process is None:
            if time.monotonic() >= self.next_start:
                self.start()
            return
        code = self.process.poll()
        if code is None:
            return
        ran_for = time.monotonic() - self.started_at
        self.restarts = 0 if ran_for > 60 else self.restarts + 1
        delay = min(30.0, 0.5 * 2 ** min(self.restarts, 6))
        print(f"[up] {self.name} exited with {code}; restarting in {delay:.1f}s", flush=True)
        self.process = None
        self.next_start = time.monotonic() + delay

    def stop(self, timeout: float) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _port_file_port(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        port = free_port()
        path.write_text(str(port))
        return port


def _database_url() -> tuple[str, LocalCluster | None]:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"], None
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    cluster = LocalCluster(DATA_DIR / "pg", _port_file_port(DATA_DIR / "pg.port"))
    print(
        f"[up] {cluster.binaries.describe()}\n"
        f"[up] cluster in {cluster.datadir} on port {cluster.port}",
        flush=True,
    )
    cluster.start()
    return cluster.create_database("scheduler"), cluster


def _dev_token(database_url: str) -> str:
    """Reuse the saved development token while it works, else make a new one."""
    saved = DATA_DIR / "dev-token"
    if saved.exists():
        token = saved.read_text().strip()
        if token_works(database_url, token, DEV_TENANT):
            return token
    token = make_token(database_url, DEV_TENANT, "make up")
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    saved.write_text(token + "\n")
    saved.chmod(0o600)
    return token


def _dev_secret() -> str:
    """A signing secret for local runs, kept across restarts (never used in production)."""
    saved = DATA_DIR / "dev-secret"
    if not saved.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        saved.write_text(secrets.token_urlsafe(32) + "\n")
        saved.chmod(0o600)
    return saved.read_text().strip()


def _port(preferred: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def worker_count(env: dict[str, str]) -> int:
    """`SCHEDULER_WORKERS`, else one worker process per core: a worker is one Python process,
    one core at most, and a crowded instant needs every core (issue 13)."""
    text = env.get("SCHEDULER_WORKERS", "").strip()
    if not text:
        return max(1, os.cpu_count() or 1)
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise SystemExit(f"SCHEDULER_WORKERS must be a whole number from 1 to 64, not {text!r}")
    return int(text)


def _children(env: dict[str, str]) -> list[Child]:
    python = sys.executable
    workers = worker_count(env)
    children = [Child("api", [python, "-m", "app.cli", "api"], env)]
    children += [
        Child("worker" if workers == 1 else f"worker-{n}", [python, "-m", "worker"], env)
        for n in range(1, workers + 1)
    ]
    if "DEMO_TARGET_PORT" in env:
        children.append(
            Child(
                "demo-target",
                [python, "-m", "devtools.demo_target", "--port", env["DEMO_TARGET_PORT"]],
                env,
            )
        )
    return children


def _service_env(url: str) -> dict[str, str]:
    """This environment with what the API, the workers and the demo target need locally."""
    env = {**os.environ, "DATABASE_URL": url}
    env.setdefault("LOG_FORMAT", "console")
    if not env.get("INTERNAL_API_SECRET"):  # set but empty would stop the API and the worker
        env["INTERNAL_API_SECRET"] = _dev_secret()
    env.setdefault("API_PORT", "8000")
    env.setdefault("API_HOST", "127.0.0.1")
    if "SCHEDULER_TARGET_URL" not in env:
        # No target given: fire at the demo target, which logs every request it receives.
        demo_port = env.setdefault("DEMO_TARGET_PORT", str(_port(3000)))
        env["SCHEDULER_TARGET_URL"] = (
            f"http://127.0.0.1:{demo_port}/api/workflows/{{workflowId}}/execute"
        )
    return env


def _banner(env: dict[str, str], token: str, cli_uses_it: bool) -> str:
    api = f"http://{env['API_HOST']}:{env['API_PORT']}"
    return (
        f"\n[up] API:       {api}/  (OpenAPI: {api}/schema)\n"
        f"[up] token:     {token}\n"
        f"[up] try:       curl -H 'Authorization: Bearer {token}' {api}/api/schedules\n"
        f"[up] target:    {env['SCHEDULER_TARGET_URL']}\n"
        f"[up] workers:   {worker_count(env)} (SCHEDULER_WORKERS)\n"
        f"[up] database:  {env['DATABASE_URL']}\n"
        + ("[up] scheduler: this checkout's CLI uses it while this runs\n" if cli_uses_it else "")
        + "[up] Ctrl-C stops everything.\n"
    )


def _supervise(children: list[Child], banner: str) -> None:
    """Start the children, restart any that exits, until SIGINT or SIGTERM; then stop them."""
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.start()
    print(banner, flush=True)
    try:
        while not stopping:
            for child in children:
                child.check()
            time.sleep(0.2)
    finally:
        print("[up] stopping", flush=True)
        for child in children:
            child.stop(timeout=30)


def main() -> int:
    """Run until Ctrl-C or SIGTERM; 0 once everything it started has stopped."""
    url, cluster = _database_url()
    env = _service_env(url)
    subprocess.run([sys.executable, "-m", "app.cli", "migrate"], env=env, check=True)
    token = _dev_token(url)
    record = record_running(DATA_DIR, url) if cluster is not None else None
    try:
        _supervise(_children(env), _banner(env, token, cli_uses_it=record is not None))
    finally:
        if record is not None:
            with contextlib.suppress(OSError):
                record.unlink()
        if cluster is not None:
            cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
