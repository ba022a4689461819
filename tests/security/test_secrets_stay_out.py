"""Secrets and tokens never reach a log, an answer or the history: the API and a worker as
real processes, driven through 401s, a revoked token, validation errors and a target that echoes
the Authorization header (docs/security.md)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from app.api.app import create_app
from app.logging import RedactSecrets, configure_logging
from devtools.loopback import free_port
from tests.security.conftest import (
    PAUSED,
    SECRET,
    find_in_database,
    security_settings,
)
from tests.support.db import wait_until
from tests.support.server import make_token
from tests.support.target import RecordingTarget, Response
from tests.support.workers import WorkerProcess

ROOT = Path(__file__).resolve().parents[2]


class ApiProcess:
    """`python -m app.cli api` as production runs it: its logging config, JSON logs to a file."""

    def __init__(self, database_url: str, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "API_PORT": str(self.port),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "DEBUG",  # the most a log will ever say
            **env,
        }

    def __enter__(self) -> ApiProcess:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "api"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, self.log_path.read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def test_secrets_and_tokens_never_reach_logs_answers_or_history(
    database_url: str,
    target: RecordingTarget,
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
    db: psycopg.Connection[Any],
) -> None:
    worker = start_worker(
        INTERNAL_API_SECRET=SECRET,
        LOG_LEVEL="DEBUG",
        SCHEDULER_TARGET_ALLOWLIST=f"{target.url}/hooks",
    )
    token = make_token(database_url, "acme", "log scan")
    revoked = make_token(database_url, "acme", "to revoke")
    bearer = f"Bearer {SECRET}"
    # A target that echoes the Authorization header back, in every way it can.
    echoes = {
        "echo-text": Response(500, body=f"auth was: {bearer}".encode()),
        "echo-json": Response(500, body={"headers": {"authorization": bearer}}),
        "echo-slashes": Response(
            400, body=json.dumps({"a": f"{bearer}/x"}).replace("/", "\\/").encode()
        ),
        "echo-location": Response(302, headers={"Location": f"https://x.test/?auth={SECRET}"}),
        "echo-retry": Response(
            503, body=f"{SECRET} {SECRET}".encode(), headers={"Retry-After": "0"}
        ),
        "echo-runid": Response(200, body={"runId": bearer}),
    }
    for workflow, answer in echoes.items():
        target.script(workflow, [answer, answer])
    answers: list[httpx.Response] = []
    with ApiProcess(
        database_url,
        tmp_path / "api.log",
        INTERNAL_API_SECRET=SECRET,
        SCHEDULER_TARGET_ALLOWLIST=f"{target.url}/hooks",
    ) as api:
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=api.url, timeout=10) as http:
            ids = []
            for workflow in echoes:
                created = http.post(
                    "/api/schedules",
                    headers=auth,
                    json={
                        **PAUSED,
                        "workflowId": workflow,
                        "maxAttempts": 2,
                        "retryBackoffSeconds": 1,
                    },
                )
                answers.append(created)
                ids.append(
                    http.post(
                        f"/api/schedules/{created.json()['id']}/trigger", headers=auth
                    ).json()["id"]
                )
            # Failures of every kind, with secrets in the request.
            wrong_secret = token[:36] + "A" * len(token[36:])
            revoke_id = str(uuid.UUID(hex=revoked[4:36]))
            subprocess.run(
                [sys.executable, "-m", "app.cli", "token", "revoke", revoke_id],
                env={**os.environ, "DATABASE_URL": database_url},
                check=True,
                capture_output=True,
                cwd=ROOT,
            )
            for header in (
                f"Bearer {wrong_secret}",
                f"Bearer {revoked}",
                bearer,
                f"Basic {token}",
                token,
            ):
                answers.append(http.get("/api/schedules", headers={"Authorization": header}))
            answers.append(
                http.get(
                    "/api/schedules",
                    headers={"Cookie": f"wfs_session={revoked}", "X-Dashboard": "1"},
                )
            )
            answers.append(http.post("/login", data={"token": revoked}))
            answers.append(
                http.post("/api/schedules", headers=auth, json={**PAUSED, "timezone": "Nowhere/x"})
            )
            answers.append(http.post("/api/schedules", headers=auth, content=b"{bad json"))
            answers.append(http.get(f"/api/schedules/{token}", headers=auth))
            answers.append(http.get("/api/schedules", headers=auth, params={"cursor": SECRET}))
            answers.append(
                http.post(
                    "/api/schedules",
                    headers={**auth, "Content-Type": "application/json"},
                    content=b"[" * 5000,
                )
            )
            finished = {}
            for workflow, execution_id in zip(echoes, ids, strict=True):
                finished[workflow] = wait_until(
                    lambda execution_id=execution_id: (
                        (e := http.get(f"/api/executions/{execution_id}", headers=auth).json())[
                            "status"
                        ]
                        in ("failed", "succeeded")
                        and e
                    ),
                    30,
                    f"the {workflow} run to finish",
                )
            answers.append(http.get("/api/schedules", headers=auth))
    # What the target sent back is kept (status, error text), with the secret cut out.
    for workflow, run in finished.items():
        if workflow == "echo-runid":
            assert run["status"] == "succeeded" and run["workflowRunId"] == "Bearer [redacted]"
        else:
            assert run["status"] == "failed" and "[redacted]" in run["error"], run
    worker.stop()
    assert len(target.requests()) >= len(echoes), "the target was called"
    api_log = (tmp_path / "api.log").read_text()
    worker_log = worker.log_path.read_text()
    assert "api.unhandled_error" not in api_log  # nothing above is a bug
    needles = {
        "secret": SECRET,
        "secret prefix": SECRET[:16],
        "token secret": token[36:],
        "revoked token secret": revoked[36:],
        "bearer token": f"Bearer {token}",
    }
    places = {"API log": api_log, "worker log": worker_log}
    places.update(
        {f"answer {i} {a.request.url.path}": a.text + str(a.headers) for i, a in enumerate(answers)}
    )
    leaks = [
        f"{what} in {where}"
        for where, text in places.items()
        for what, n in needles.items()
        if n in text
    ]
    assert leaks == []
    assert find_in_database(db, [SECRET[:16], token[36:], revoked[36:]]) == []
    # The logs were captured, as JSON lines with an event: the production configuration (and
    # its redacting filter) was in force, not a library's default.
    for log in (api_log, worker_log):
        lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        assert len(lines) > 3 and all("event" in line for line in lines), log[-2000:]
    assert all(line.startswith("{") for line in api_log.splitlines()), api_log[-2000:]


@pytest.mark.usefixtures("restore_root_logger")
def test_building_the_api_keeps_the_redacting_log_filter() -> None:
    """`create_app` must not reconfigure logging: Litestar's default config replaced the root
    handler (and with it the filter that removes secrets) in the API process."""
    root = logging.getLogger()
    configure_logging(security_settings("postgresql://unused/db"))
    create_app(security_settings("postgresql://unused/db"))
    filters = [f for handler in root.handlers for f in handler.filters]
    assert any(isinstance(f, RedactSecrets) for f in filters), root.handlers
    record = logging.makeLogRecord({"msg": f"sent Bearer {SECRET} and {SECRET}"})
    for handler in root.handlers:
        for log_filter in handler.filters:
            log_filter.filter(record)
    assert SECRET not in record.getMessage()
