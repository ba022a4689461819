"""`make up` (python -m devtools.up): its own cluster, migrations, the API, a token; SIGTERM stops
all."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from devtools.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_up_serves_health_then_stops_everything() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="wfs-up-"))
    data_dir.chmod(0o755)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"SCHEDULER_DATA_DIR": str(data_dir), "API_PORT": str(port), "LOG_FORMAT": "json"}
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.up"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 60
        healthy = False
        while time.monotonic() < deadline and not healthy:
            try:
                healthy = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.2)
            assert process.poll() is None, "make up exited early"
        assert healthy, "no /health answer within 60 s"
        token = (data_dir / "dev-token").read_text().strip()
        listed = httpx.get(
            f"http://127.0.0.1:{port}/api/schedules",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        assert listed.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5).json()["status"] == "ready"
        # A first schedule visibly fires: the worker calls the demo target, the run succeeds.
        auth = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"http://127.0.0.1:{port}/api/schedules",
            headers=auth,
            timeout=5,
            json={"workflowId": "hello", "cronExpression": "* * * * * *"},
        )
        assert created.status_code == 201, created.text
        history = f"http://127.0.0.1:{port}/api/schedules/{created.json()['id']}/executions"
        deadline = time.monotonic() + 30
        succeeded: list[dict[str, object]] = []
        while time.monotonic() < deadline and not succeeded:
            items = httpx.get(history, headers=auth, timeout=5).json()["items"]
            succeeded = [i for i in items if i["status"] == "succeeded"]
            time.sleep(0.2)
        assert succeeded, "no run succeeded against the demo target"
        assert succeeded[0]["workflowRunId"]
        # The CLI of the same checkout finds the running cluster by itself (no DATABASE_URL).
        listing = subprocess.run(
            [sys.executable, "-m", "app.cli", "token", "list", "--tenant", "dev"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert listing.returncode == 0, listing.stderr
        assert token[4:36] in listing.stdout.replace("-", ""), listing.stdout
        assert "using the `make up` database" in listing.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
        output.append(out)
    assert process.returncode == 0, out
    assert token in out, "the development token is printed"
    assert f"http://127.0.0.1:{port}/" in out
    pidfile = next(data_dir.glob("pg*/postmaster.pid"), None)
    assert pidfile is None, "postgres was left running"
    assert not (data_dir / "running").exists(), "the CLI would still look for the stopped cluster"
    assert '"workflowId": "hello"' in out or "hello" in out, "the demo target logs what it got"
    shutil.rmtree(data_dir, ignore_errors=True)
