"""The demo workflow target: signed requests in, one run per Idempotency-Key out."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest

from app.domain.webhook import Delivery, build_delivery, target_url_for
from devtools.demo_target import DemoTarget, main
from devtools.loopback import free_port, serving

SECRET = "demo-secret-value"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def signed_url() -> Iterator[str]:
    with serving(DemoTarget(SECRET), name="demo target") as url:
        yield url


def make(
    base: str,
    *,
    slot: datetime | None = None,
    attempt: int = 1,
    secret: str = SECRET,
    trigger_id: UUID | None = None,
    timestamp: int | None = None,
) -> Delivery:
    return build_delivery(
        execution_id=uuid4(),
        trigger_id=trigger_id or uuid4(),
        workflow_id="demo/report",
        scheduled_at=slot or datetime(2026, 3, 8, 8, 0, tzinfo=UTC),
        attempt=attempt,
        trigger="schedule",
        input={},
        url=target_url_for("demo/report", None, base + "/api/workflows/{workflowId}/execute"),
        secret=secret,
        timestamp=int(time.time()) if timestamp is None else timestamp,
    )


def post(delivery: Delivery) -> httpx.Response:
    return httpx.post(delivery.url, headers=delivery.headers, content=delivery.body, timeout=5)


def test_a_signed_request_gets_a_run_id(signed_url: str, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="demo_target")
    delivery = make(signed_url, attempt=2)
    answer = post(delivery)
    assert answer.status_code == 200
    assert UUID(answer.json()["runId"])
    [line] = [r.getMessage() for r in caplog.records if r.name == "demo_target"]
    assert '"workflowId": "demo/report"' in line
    assert f'"executionId": "{delivery.headers["webhook-id"]}"' in line
    assert '"attempt": "2"' in line
    assert '"scheduledAt": "2026-03-08T08:00:00Z"' in line
    assert f'"idempotencyKey": "{delivery.headers["Idempotency-Key"]}"' in line
    assert SECRET not in line and "Bearer" not in line and "v1," not in line


def test_a_repeated_idempotency_key_gets_the_same_run(signed_url: str):
    trigger = uuid4()
    first = post(make(signed_url, trigger_id=trigger, attempt=1)).json()["runId"]
    retry = post(make(signed_url, trigger_id=trigger, attempt=2)).json()["runId"]
    other_slot = post(
        make(signed_url, trigger_id=trigger, slot=datetime(2026, 3, 8, 9, 0, tzinfo=UTC))
    ).json()["runId"]
    assert retry == first
    assert other_slot != first


@pytest.mark.parametrize(
    "spoil",
    [
        lambda d: Delivery(d.url, d.headers, d.body + b" "),
        lambda d: Delivery(d.url, {**d.headers, "webhook-signature": "v1,AAAA"}, d.body),
        lambda d: Delivery(
            d.url, {k: v for k, v in d.headers.items() if k != "webhook-signature"}, d.body
        ),
    ],
)
def test_a_bad_signature_is_refused(signed_url: str, spoil):
    answer = post(spoil(make(signed_url)))
    assert answer.status_code == 401
    assert "runId" not in answer.json()


def test_the_wrong_secret_and_a_stale_timestamp_are_refused(signed_url: str):
    assert post(make(signed_url, secret="another-secret")).status_code == 401
    assert post(make(signed_url, timestamp=int(time.time()) - 3600)).status_code == 401


def test_without_a_secret_everything_is_accepted():
    with serving(DemoTarget(""), name="demo target") as url:
        assert post(make(url, secret="")).status_code == 200


def test_health_and_unknown_routes(signed_url: str):
    assert httpx.get(f"{signed_url}/health").json() == {"status": "ok"}
    assert httpx.post(f"{signed_url}/api/other").status_code == 404
    assert httpx.get(f"{signed_url}/api/workflows/x/execute").status_code == 405


def test_a_malformed_whsec_secret_stops_start_up(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INTERNAL_API_SECRET", "whsec_***")
    assert main(["--port", "1"]) == 2


def test_main_serves_until_sigterm():
    port = free_port()
    env = {**os.environ, "INTERNAL_API_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.demo_target", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "did not start"
            time.sleep(0.02)
        assert post(make(base)).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    text = output.decode()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells the truth
    assert process.returncode in (0, -signal.SIGTERM), text
    assert "Finished server process" in text
    assert "demo/report" in text and "signatures checked" in text
    assert SECRET not in text
