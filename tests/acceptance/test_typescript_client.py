"""The TypeScript client (clients/typescript): built with npm, run with node's test runner
against a real API, and its generated types checked against the API's OpenAPI document.

npm and node (>= 20) come from the machine (.ci/run installs them); `npm ci` installs the
pinned devDependencies (the compiler and the type generator), from npm's cache when it can.
"""

from __future__ import annotations

import base64
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from app.domain.webhook import build_delivery, verify_signature
from app.settings import Settings
from tests.support.db import wait_until
from tests.support.target import RecordingTarget, Response
from tests.support.workers import WorkerProcess

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "typescript"
RESULT_PATH = "/api/executions/{execution_id}/result"
BATCH_PATH = "/api/schedules/batch"
# A small burst and a slow refill, so the 429 test reaches the limit in a few runs.
TRIGGER_BURST = 10


def _run(*command: str, env: dict[str, str] | None = None, timeout: float = 90) -> str:
    done = subprocess.run(
        command,
        cwd=CLIENT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{output}"
    return output


@pytest.fixture(scope="module")
def npm() -> str:
    """npm, with the client's pinned devDependencies installed and the client built."""
    npm = shutil.which("npm")
    assert npm, "npm is not installed (.ci/run installs nodejs and npm)"
    _run(npm, "ci", "--no-audit", "--no-fund", "--prefer-offline")
    _run(npm, "run", "build")
    assert (CLIENT / "dist" / "index.js").is_file() and (CLIENT / "dist" / "index.d.ts").is_file()
    return npm


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        scheduler_target_allowlist="http://127.0.0.1:9/allowed",
        scheduler_trigger_burst=TRIGGER_BURST,
        scheduler_trigger_rate=0.001,
        log_format="console",
    )


def _openapi_document(path: Path) -> dict[str, Any]:
    _run(sys.executable, "scripts/openapi.py", str(path))
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def test_generated_types_match_the_openapi_document(npm: str, tmp_path: Path) -> None:
    """Fails when the API changed and `npm run generate` was not run in clients/typescript."""
    _openapi_document(tmp_path / "openapi.json")
    fresh = tmp_path / "openapi.ts"
    _run(npm, "run", "--silent", "types", "--", str(tmp_path / "openapi.json"), "-o", str(fresh))
    checked_in = (CLIENT / "src" / "openapi.ts").read_text()
    diff = "".join(
        difflib.unified_diff(
            checked_in.splitlines(keepends=True),
            fresh.read_text().splitlines(keepends=True),
            "src/openapi.ts (checked in)",
            "src/openapi.ts (from the API now)",
        )
    )
    assert not diff, f"run `npm run generate` in clients/typescript, then build:\n{diff[:4000]}"


# What the examples call but do not define (a workflow is the reader's own code).
EXAMPLE_PRELUDE = (
    "declare function runWorkflow(input: unknown): Promise<Record<string, unknown>>;\n"
)


def test_the_readme_examples_compile(npm: str, tmp_path: Path) -> None:
    """Every TypeScript example of README.md and the package's README type-checks against the
    built package."""
    files = []
    for readme in (CLIENT.parents[1] / "README.md", CLIENT / "README.md"):
        blocks = re.findall(r"^```ts\n(.*?)^```$", readme.read_text(), re.MULTILINE | re.DOTALL)
        assert blocks, f"{readme} shows no ```ts example"
        for block in blocks:
            files.append(f"example{len(files)}.mts")  # .mts: an ES module, top-level await
            (tmp_path / files[-1]).write_text(EXAMPLE_PRELUDE + block)
    options = {
        "module": "NodeNext",
        "moduleResolution": "NodeNext",
        "target": "ES2022",
        "lib": ["ES2022", "DOM"],
        "strict": True,
        "noEmit": True,
        "types": ["node"],
        "typeRoots": [str(CLIENT / "node_modules" / "@types")],
        "paths": {"@workflow-scheduler/client": [str(CLIENT / "dist" / "index.d.ts")]},
    }
    (tmp_path / "tsconfig.json").write_text(
        json.dumps({"compilerOptions": options, "files": files})
    )
    _run(str(CLIENT / "node_modules" / ".bin" / "tsc"), "-p", str(tmp_path / "tsconfig.json"))


def _vector(
    name: str,
    secret: str,
    headers: dict[str, str],
    body: bytes,
    now: int,
    tolerance: int = 300,
) -> dict[str, Any]:
    """One case for verifyDelivery, with what Python's verify_signature answers for it."""
    expected: bool | str
    try:
        expected = verify_signature(secret, headers, body, now=now, tolerance_seconds=tolerance)
    except ValueError:
        expected = "raises"
    return {
        "name": name,
        "secret": secret,
        "headers": headers,
        "body": base64.b64encode(body).decode(),
        "now": now,
        "tolerance": tolerance,
        "expected": expected,
    }


def _webhook_vectors() -> list[dict[str, Any]]:
    timestamp = 1_767_225_600
    plain = "plain-secret-" + "p" * 20
    whsec = "whsec_" + base64.b64encode(bytes(range(32))).decode()
    other = "another-secret-" + "o" * 20

    def delivery(keys: list[str], workflow: str = "report") -> tuple[dict[str, str], bytes]:
        made = build_delivery(
            execution_id=uuid4(),
            trigger_id=uuid4(),
            workflow_id=workflow,
            scheduled_at=datetime(2026, 1, 1, 8, tzinfo=UTC),
            attempt=1,
            trigger="schedule",
            input={"région": "eu", "n": 1},
            url="http://127.0.0.1:9/x",
            secret="",
            timestamp=timestamp,
            tenant_keys=keys,
        )
        return made.headers, made.body

    headers, body = delivery([plain], workflow="rapport-été")
    whsec_headers, whsec_body = delivery([whsec])
    rotated_headers, rotated_body = delivery([other, plain])
    upper = {name.upper(): value for name, value in headers.items()}
    v2 = {**headers, "webhook-signature": headers["webhook-signature"].replace("v1,", "v2,")}
    no_id = {k: v for k, v in headers.items() if k != "webhook-id"}
    vectors = [
        _vector("a plain secret, non-ASCII body", plain, headers, body, timestamp),
        _vector("a whsec_ secret", whsec, whsec_headers, whsec_body, timestamp + 10),
        _vector("several signatures, one valid", plain, rotated_headers, rotated_body, timestamp),
        _vector("only other keys' signatures", whsec, rotated_headers, rotated_body, timestamp),
        _vector("the wrong secret", other, headers, body, timestamp),
        _vector("a changed body", plain, headers, body.replace(b'"n":1', b'"n":2'), timestamp),
        _vector("at the tolerance", plain, headers, body, timestamp - 300),
        _vector("beyond the tolerance", plain, headers, body, timestamp + 301),
        _vector("a wider tolerance", plain, headers, body, timestamp + 900, tolerance=1_000),
        _vector("header names in capitals", plain, upper, body, timestamp),
        _vector("a v2 signature", plain, v2, body, timestamp),
        _vector("no webhook-id", plain, no_id, body, timestamp),
        _vector(
            "a timestamp that is no number",
            plain,
            {**headers, "webhook-timestamp": "1e9"},
            body,
            timestamp,
        ),
        _vector(
            "a 13-digit timestamp",
            plain,
            {**headers, "webhook-timestamp": "1" * 13},
            body,
            timestamp,
        ),
        _vector("an empty secret", "", headers, body, timestamp),
        _vector(
            "a whsec_ secret that is not base64", "whsec_not base64!", headers, body, timestamp
        ),
        _vector(
            "a whsec_ secret that is not base64, a stale request",
            "whsec_not base64!",
            headers,
            body,
            timestamp + 301,
        ),
        _vector(
            "webhook-id spelled twice: the last one counts",
            plain,
            {"Webhook-Id": "someone-else", **headers},
            body,
            timestamp,
        ),
        _vector(
            "webhook-id spelled twice, a wrong one last",
            plain,
            {**headers, "WEBHOOK-ID": "someone-else"},
            body,
            timestamp,
        ),
    ]
    answers = [v["expected"] for v in vectors]
    assert answers.count(True) >= 5 and answers.count(False) >= 5, answers
    return vectors


def _accepted_callback(
    api_url: str,
    client: httpx.Client,
    target: RecordingTarget,
    start_worker: Callable[..., WorkerProcess],
) -> dict[str, str]:
    """A run the target answered 202 and the scheduler recorded as `accepted`: its
    callbackUrl and callback token, as delivered."""
    workflow = f"ts-accepted-{uuid4().hex[:8]}"
    target.script(workflow, [Response(202)])
    start_worker(SCHEDULER_PUBLIC_URL=api_url)
    created = client.post(
        "/api/schedules",
        json={"workflowId": workflow, "cronExpression": "0 0 1 1 *", "enabled": False},
    )
    assert created.status_code == 201, created.text
    run = client.post(f"/api/schedules/{created.json()['id']}/trigger")
    assert run.status_code == 202, run.text
    execution = f"/api/executions/{run.json()['id']}"
    wait_until(
        lambda: client.get(execution).json()["status"] == "accepted",
        timeout=20,
        what="the run to be accepted",
    )
    delivered = target.requests(workflow)[0]
    return {
        "url": delivered.json()["callbackUrl"],
        "token": delivered.headers["x-scheduler-callback-token"],
        "executionId": run.json()["id"],
    }


def test_the_client_against_the_api(
    npm: str,
    api_url: str,
    client: httpx.Client,
    target: RecordingTarget,
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    served = httpx.get(f"{api_url}/schema/openapi.json").json()
    assert served == _openapi_document(tmp_path / "openapi.json"), (
        "scripts/openapi.py does not write what the API serves"
    )
    env = {
        "BASE_URL": api_url,
        "TOKEN": client.headers["Authorization"].removeprefix("Bearer "),
        "VECTORS": json.dumps(_webhook_vectors()),
    }
    # The result endpoints arrive with the workflow-outcomes work: tested once they exist.
    if RESULT_PATH in served["paths"]:
        env["CALLBACK"] = json.dumps(_accepted_callback(api_url, client, target, start_worker))
    # Tests of endpoints this API does not have yet skip themselves: no more than those.
    absent = [path for path in (BATCH_PATH, RESULT_PATH) if path not in served["paths"]]
    output = _run("node", "--test", "--test-reporter=tap", "test/", env=env)
    counts = dict(re.findall(r"^# (tests|pass|fail|skipped) (\d+)$", output, re.MULTILINE))
    assert counts.get("fail") == "0" and int(counts.get("pass", "0")) >= 25, output
    assert counts.get("skipped") == str(len(absent)), f"expected {absent} to skip:\n{output}"
