"""The outbox reaches real receivers through a real worker (issue 12): a webhook receiver that
verifies signatures with the `standardwebhooks` package, a Slack-shaped receiver, an SMTP
server (aiosmtpd). Outbox rows of incidents are written directly, as the incidents code does."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from app.settings import Settings
from tests.support.alerts import (
    deliveries,
    incident_payload,
    insert_delivery,
    standard_webhooks_check,
)
from tests.support.mail_server import MailServer
from tests.support.target import RecordingTarget
from tests.support.workers import WorkerProcess

Db = psycopg.Connection[tuple[object, ...]]


@pytest.fixture
def hooks() -> Iterator[RecordingTarget]:
    with RecordingTarget() as receiver:
        yield receiver


@pytest.fixture
def slack() -> Iterator[RecordingTarget]:
    with RecordingTarget() as receiver:
        yield receiver


@pytest.fixture
def mail() -> Iterator[MailServer]:
    with MailServer(username="alerts", password="s3cret-pw") as server:
        yield server


@pytest.fixture
def settings(database_url: str, hooks: RecordingTarget, slack: RecordingTarget) -> Settings:
    return Settings(
        database_url=database_url,
        scheduler_target_allowlist=f"{hooks.url}/in,{slack.url}/services",
        log_format="console",
    )


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(0.05)


def test_each_kind_of_channel_receives_its_alerts(
    client: httpx.Client,
    db: Db,
    settings: Settings,
    hooks: RecordingTarget,
    slack: RecordingTarget,
    mail: MailServer,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    def create(**body: Any) -> dict[str, Any]:
        answer = client.post("/api/alert-channels", json={"events": ["run.failed"], **body})
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    webhook = create(name="hook", kind="webhook", url=f"{hooks.url}/in/alerts")
    hooks.verify_requests(standard_webhooks_check(webhook["secret"]))
    to_slack = create(name="slack", kind="slack", url=f"{slack.url}/services/T1/B1/token")
    email = create(name="mail", kind="email", address="ops@example.com")

    opened = incident_payload("acme")
    resolved = incident_payload("acme", "incident.resolved", resolvedAt="2026-12-04T12:05:00Z")
    expected = {
        insert_delivery(db, UUID(webhook["id"]), opened): opened,
        insert_delivery(db, UUID(webhook["id"]), resolved): resolved,
        insert_delivery(db, UUID(to_slack["id"]), opened): opened,
        insert_delivery(db, UUID(email["id"]), resolved): resolved,
    }
    for channel in (webhook, to_slack, email):
        answer = client.post(f"/api/alert-channels/{channel['id']}/test")
        assert answer.status_code == 202
        expected[UUID(answer.json()["deliveryId"])] = {"type": "channel.test"}

    start_worker(
        SCHEDULER_TARGET_ALLOWLIST=settings.scheduler_target_allowlist,
        SMTP_URL=mail.url,
        SMTP_FROM="scheduler@example.com",
        SCHEDULER_ALERT_SEND_INTERVAL="0.2",
    )
    wait_until(
        lambda: {s for s, _, _ in deliveries(db).values()} == {"delivered"},
        30,
        f"every delivery delivered: {deliveries(db)}",
    )
    assert all(attempts == 1 for _, attempts, _ in deliveries(db).values())

    # The webhook: signed (the receiver's standardwebhooks check answered 200), one request
    # per delivery, its webhook-id the delivery's id, the payload as written.
    got = hooks.requests()
    assert [r.status for r in got] == [200, 200, 200]
    by_id = {UUID(r.headers["webhook-id"]): r.json() for r in got}
    for delivery_id, body in by_id.items():
        if body["type"] == "channel.test":
            assert body["channel"] == {"id": webhook["id"], "name": "hook", "kind": "webhook"}
        else:
            assert body == expected[delivery_id]
    assert set(by_id) <= set(expected)

    texts = sorted(r.json()["text"] for r in slack.requests())
    assert texts == [
        "Incident opened: nightly-report failed: HTTP 500",
        "Test alert: the channel 'slack' works",
    ]
    assert all(r.path == "/services/T1/B1/token" for r in slack.requests())
    assert all(r.json()["blocks"][0]["type"] == "section" for r in slack.requests())

    mails = mail.wait_for(lambda got: len(got) == 2, 5)
    assert {m.authenticated_as for m in mails} == {"alerts"}
    assert all(m.rcpt_tos == ["ops@example.com"] for m in mails)
    assert sorted(str(m.message["Subject"]) for m in mails) == [
        "[workflow-scheduler] Resolved: nightly-report failed: HTTP 500",
        "[workflow-scheduler] Test alert: the channel 'mail' works",
    ]
    assert all(m.message["From"] == "scheduler@example.com" for m in mails)
