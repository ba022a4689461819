"""The alert vocabulary, the wire forms of a delivery, and the retry decision (pure)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import get_args
from uuid import uuid4

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.api.alert_schemas import ChannelKind, IncidentKind
from app.domain.alerts import (
    CHANNEL_KINDS,
    DELIVERY_STATUSES,
    EVENT_TYPES,
    INCIDENT_KINDS,
    address_problem,
    email_message,
    next_attempt,
    parse_smtp_url,
    shown_url,
    slack_message,
    smtp_url_problem,
    webhook_request,
)
from app.errors import ConfigError
from app.services.alert_channels import new_webhook_secret
from app.settings import load_settings

MIGRATION = Path(__file__).parents[2] / "db/migrations/sql/0009_alerts_up.sql"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
OPENED = {
    "type": "incident.opened",
    "incident": {
        "id": str(uuid4()),
        "kind": "run.failed",
        "scheduleId": str(uuid4()),
        "workflowId": "nightly-report",
        "tenant": "acme",
        "openedAt": "2026-12-04T12:00:00Z",
        "resolvedAt": None,
        "occurrences": 3,
        "lastExecutionId": str(uuid4()),
        "summary": "nightly-report failed 3 times: HTTP 500",
        "dashboardUrl": "https://scheduler.example.com/schedules/x",
    },
}


def _check_values(column: str) -> tuple[str, ...]:
    """The values of `column IN (...)` in migration 0009's CHECK."""
    text = MIGRATION.read_text()
    match = re.search(rf"CHECK \({column} IN \(([^)]*)\)\)", text)
    assert match, column
    return tuple(re.findall(r"'([^']+)'", match.group(1)))


def test_the_vocabulary_is_the_schemas() -> None:
    assert _check_values("kind")[:4] == INCIDENT_KINDS  # alert_incidents.kind
    assert _check_values("status") == DELIVERY_STATUSES
    assert _check_values("event_type") == EVENT_TYPES
    assert "CHECK (kind IN ('webhook', 'slack', 'email'))" in MIGRATION.read_text()
    assert get_args(IncidentKind) == INCIDENT_KINDS
    assert get_args(ChannelKind) == CHANNEL_KINDS


def test_a_webhook_request_verifies_with_the_standard_webhooks_library() -> None:
    secret = new_webhook_secret()
    delivery_id = str(uuid4())
    timestamp = int(datetime.now(UTC).timestamp())
    request = webhook_request(
        "https://hooks.example.com/in", secret, delivery_id, timestamp, OPENED
    )
    assert json.loads(request.body) == OPENED
    assert request.headers["webhook-id"] == delivery_id
    verified = Webhook(secret).verify(request.body, request.headers)
    assert verified == OPENED
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body.replace(b"3", b"4"), request.headers)


def test_a_secret_is_32_random_bytes_behind_whsec() -> None:
    one, two = new_webhook_secret(), new_webhook_secret()
    assert one.startswith("whsec_") and one != two
    assert len(Webhook(one)._whsecret) == 32  # noqa: SLF001 - the library's own decoding


def test_slack_message_has_text_and_blocks() -> None:
    message = slack_message(OPENED)
    assert message["text"] == "Incident opened: nightly-report failed 3 times: HTTP 500"
    kinds = [block["type"] for block in message["blocks"]]
    assert kinds == ["section", "section", "context"]
    fields = " ".join(f["text"] for f in message["blocks"][1]["fields"])
    assert "nightly-report" in fields and "run.failed" in fields and "Resolved" not in fields
    assert (
        "https://scheduler.example.com/schedules/x" in message["blocks"][2]["elements"][0]["text"]
    )
    test = slack_message({"type": "channel.test", "channel": {"name": "ops"}})
    assert test["text"] == "Test alert: the channel 'ops' works"
    assert [b["type"] for b in test["blocks"]] == ["section"]


def test_email_message() -> None:
    delivery_id = str(uuid4())
    mail = email_message(
        {**OPENED, "type": "incident.resolved"},
        sender="scheduler@example.com",
        recipient="ops@example.com",
        delivery_id=delivery_id,
    )
    assert (
        mail["Subject"] == "[workflow-scheduler] Resolved: nightly-report failed 3 times: HTTP 500"
    )
    assert mail["Message-ID"] == f"<{delivery_id}@workflow-scheduler>"
    assert mail["To"] == "ops@example.com"
    body = mail.get_content()
    assert "Occurrences: 3" in body and "https://scheduler.example.com/schedules/x" in body


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("ops@example.com", True),
        ("first.last+alerts@mail.example.co.uk", True),
        ("ops@localhost", False),
        ("Ops <ops@example.com>", False),
        ("a@example.com, b@example.com", False),
        ("ops@example.com\r\nBcc: x@evil.com", False),
        ("no-at-sign", False),
        ("x" * 250 + "@example.com", False),
    ],
)
def test_address_problem(address: str, ok: bool) -> None:
    assert (address_problem(address) is None) is ok


def test_smtp_url() -> None:
    server = parse_smtp_url("smtp://alerts%40example.com:p%3Ass@mail.example.com:2525")
    assert (server.host, server.port, server.username, server.password, server.tls) == (
        "mail.example.com",
        2525,
        "alerts@example.com",
        "p:ss",
        False,
    )
    assert parse_smtp_url("smtps://mail.example.com").port == 465
    assert parse_smtp_url("smtp://mail.example.com").port == 25
    assert "p:ss" not in repr(server)
    for bad in ("http://u:topsecret@mail", "smtp://", "smtp://u:topsecret@h:99999", "smtp://h/p"):
        problem = smtp_url_problem(bad)
        assert problem is not None and "topsecret" not in problem


def test_a_slack_url_is_shown_without_its_token() -> None:
    url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    assert shown_url("slack", url) == "https://hooks.slack.com/services/T000/B000/…"
    assert shown_url("webhook", "https://example.com/in") == "https://example.com/in"
    assert shown_url("email", None) is None


def _next(attempts: int, created: datetime, *, retryable: bool = True, unit: float = 0.5):  # type: ignore[no-untyped-def]
    return next_attempt(
        error="ConnectionRefusedError: nobody listens",
        retryable=retryable,
        attempts=attempts,
        created_at=created,
        now=NOW,
        base_seconds=10,
        give_up_after_seconds=86_400,
        random_unit=unit,
    )


def test_retries_back_off_exponentially_until_the_bound() -> None:
    delays = [(_next(n, NOW).at - NOW).total_seconds() for n in range(1, 6)]  # type: ignore[operator]
    assert delays == [10, 20, 40, 80, 160]  # random_unit 0.5: jitter factor exactly 1
    assert (_next(30, NOW).at - NOW) == timedelta(hours=1)  # type: ignore[operator]
    low, high = _next(3, NOW, unit=0.0).at, _next(3, NOW, unit=0.999).at
    assert low - NOW == timedelta(seconds=32) and high - NOW < timedelta(seconds=48)  # type: ignore[operator]
    given_up = _next(20, NOW - timedelta(hours=23, minutes=30))
    assert given_up.status == "failed" and given_up.at is None
    assert given_up.error.startswith("gave up after 20 attempts over 24 h; last error: Connection")


def test_a_permanent_error_fails_at_once() -> None:
    decision = _next(1, NOW, retryable=False)
    assert decision.status == "failed"
    assert decision.error == "ConnectionRefusedError: nobody listens"


def test_a_bad_smtp_url_stops_the_start_naming_the_variable_not_the_password() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(smtp_url="smtp://alerts:topsecret@mail.example.com:99999")
    assert "SMTP_URL" in raised.value.message and "topsecret" not in raised.value.message
    settings = load_settings(smtp_url="smtp://alerts:topsecret@mail.example.com:587")
    assert "topsecret" not in repr(settings)
