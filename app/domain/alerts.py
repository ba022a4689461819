"""Alert channels and what one delivery of the outbox becomes on the wire (issue 12). Pure.

Contract:
- The vocabulary: `INCIDENT_KINDS` (what a channel subscribes to), `CHANNEL_KINDS`,
  `EVENT_TYPES` (a delivery's `type`); the SQL `CHECK`s of migration 0009 say the same (a test
  compares them).
- `webhook_request` is the exact request of one attempt to a `webhook` channel: the payload as
  compact JSON, signed Standard Webhooks style with the channel's `whsec_` secret; `webhook-id`
  is the delivery's id, the same on every attempt, so a receiver drops the duplicates that
  at-least-once sending produces.
- `slack_request` is Slack's incoming-webhook JSON: `text` (the notification's fallback) and
  `blocks` (a header, the summary, the facts, a link to the dashboard).
- `email_message` is the mail of an `email` channel; its `Message-ID` is derived from the
  delivery's id, so every attempt of a delivery is the same message to a mail client.
- `next_attempt` decides what a failed attempt leads to: another one after an exponential
  backoff with jitter, or `failed` once the delivery is older than its give-up bound.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Literal, TypedDict, get_args
from urllib.parse import unquote, urlsplit
from uuid import UUID

from app.domain.incidents import KINDS
from app.domain.retry import backoff_seconds
from app.domain.webhook import Delivery, sign

INCIDENT_KINDS = KINDS  # one list, defined with the incidents (app/domain/incidents.py)
ChannelKind = Literal["webhook", "slack", "email"]
CHANNEL_KINDS: tuple[ChannelKind, ...] = get_args(ChannelKind)
EVENT_TYPES = ("incident.opened", "incident.resolved", "channel.test")
DeliveryStatus = Literal["pending", "delivered", "failed"]
DELIVERY_STATUSES: tuple[DeliveryStatus, ...] = get_args(DeliveryStatus)

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret
MAX_ADDRESS_CHARS = 254  # RFC 5321's limit on a forward path
# One `local@domain` and nothing else: no display name, no second address, no white space or
# control characters (a CR/LF would be a header injection), a domain with a dot.
_ADDRESS = re.compile(r"[^@\s\x00-\x1f\x7f<>,;:\"()\[\]\\]{1,64}@[A-Za-z0-9.-]+\.[A-Za-z]{2,63}")
_HEADLINES = {
    "incident.opened": "Incident opened",
    "incident.resolved": "Resolved",
    "channel.test": "Test alert",
}
_EMOJI = {"incident.opened": ":red_circle:", "incident.resolved": ":white_check_mark:"}


@dataclass(frozen=True, slots=True)
class ChannelFields:
    """What a tenant sets on a channel. `schedule_ids` None: every schedule of the tenant."""

    name: str
    kind: str
    url: str | None
    address: str | None
    events: tuple[str, ...]
    schedule_ids: tuple[UUID, ...] | None


class ChannelChanges(TypedDict, total=False):
    """A change to a channel: only the `ChannelFields` sent (`kind` never changes)."""

    name: str
    url: str | None
    address: str | None
    events: tuple[str, ...]
    schedule_ids: tuple[UUID, ...] | None


@dataclass(frozen=True, slots=True)
class Channel:
    """A stored channel. `secret` is a webhook channel's signing key (None for the others)."""

    id: UUID
    tenant: str
    fields: ChannelFields
    secret: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Channel:
        ids = row["schedule_ids"]
        return cls(
            id=row["id"],
            tenant=row["tenant"],
            fields=ChannelFields(
                name=row["name"],
                kind=row["kind"],
                url=row["url"],
                address=row["address"],
                events=tuple(row["events"]),
                schedule_ids=None if ids is None else tuple(ids),
            ),
            secret=row["secret"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """One outbox row a sender claimed, with its channel's destination. `attempts` counts this
    one; `claimed_at` is the claim's instant on the database clock."""

    id: UUID
    tenant: str
    event_type: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    claimed_at: datetime
    channel_id: UUID
    kind: str
    url: str | None
    address: str | None
    secret: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ClaimedDelivery:
        return cls(
            id=row["id"],
            tenant=row["tenant"],
            event_type=row["event_type"],
            payload=dict(row["payload"]),
            attempts=int(row["attempts"]),
            created_at=row["created_at"],
            claimed_at=row["claimed_at"],
            channel_id=row["channel_id"],
            kind=row["kind"],
            url=row["url"],
            address=row["address"],
            secret=row["secret"],
        )


def address_problem(address: str) -> str | None:
    """Why `address` cannot be an e-mail channel's recipient, or None when it can."""
    if len(address) > MAX_ADDRESS_CHARS:
        return f"{len(address)} characters is over the limit of {MAX_ADDRESS_CHARS}"
    if not _ADDRESS.fullmatch(address):
        return "must be one address like ops@example.com (no name, no list)"
    return None


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where e-mail channels send: SMTP_URL taken apart. `tls` is TLS from the first byte
    (smtps://); plain smtp:// upgrades with STARTTLS whenever the server offers it."""

    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    tls: bool


def parse_smtp_url(url: str) -> SmtpServer:
    """`smtp://[user[:password]@]host[:port]` (port 25) or `smtps://…` (port 465). Raises
    ValueError with a reason that never repeats the URL (it may hold a password)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("the port is not a number from 1 to 65535") from None
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("names no host (smtp://user:password@host:port)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("takes no path, query or fragment (smtp://user:password@host:port)")
    tls = parts.scheme == "smtps"
    return SmtpServer(
        host=parts.hostname,
        port=port or (465 if tls else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


def smtp_url_problem(url: str) -> str | None:
    """Why SMTP_URL cannot be used, or None when it can."""
    try:
        parse_smtp_url(url)
    except ValueError as exc:
        return str(exc)
    return None


# --- the wire forms --------------------------------------------------------------------------


def payload_bytes(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON: the exact bytes a signature covers."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def webhook_request(
    url: str, secret: str, delivery_id: str, timestamp: int, payload: Mapping[str, Any]
) -> Delivery:
    """The POST to a webhook channel, signed with its secret at unix `timestamp`."""
    body = payload_bytes(payload)
    return Delivery(
        url=url,
        headers={
            "Content-Type": "application/json",
            "webhook-id": delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, delivery_id, timestamp, body),
        },
        body=body,
    )


def headline(payload: Mapping[str, Any]) -> str:
    """One line that says what happened: `Incident opened: <summary>`."""
    event = str(payload.get("type", ""))
    title = _HEADLINES.get(event, event or "Alert")
    incident = payload.get("incident")
    if isinstance(incident, Mapping):
        return f"{title}: {incident.get('summary') or incident.get('kind', '')}"
    channel = payload.get("channel")
    name = channel.get("name") if isinstance(channel, Mapping) else None
    return f"{title}: the channel {name!r} works" if name else f"{title}: this channel works"


def facts(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs of the incident worth showing, in a stable order."""
    incident = payload.get("incident")
    if not isinstance(incident, Mapping):
        return []
    labels = [
        ("Kind", "kind"),
        ("Workflow", "workflowId"),
        ("Schedule", "scheduleId"),
        ("Opened", "openedAt"),
        ("Resolved", "resolvedAt"),
        ("Occurrences", "occurrences"),
        ("Last run", "lastExecutionId"),
    ]
    return [(label, str(incident[key])) for label, key in labels if incident.get(key) is not None]


def _link(payload: Mapping[str, Any]) -> str | None:
    incident = payload.get("incident")
    url = incident.get("dashboardUrl") if isinstance(incident, Mapping) else None
    return str(url) if url else None


def slack_message(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Slack's incoming-webhook JSON for one event: `text` and `blocks`."""
    event = str(payload.get("type", ""))
    text = headline(payload)
    emoji = _EMOJI.get(event)
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"{emoji} *{text}*" if emoji else f"*{text}*"},
        }
    ]
    pairs = facts(payload)
    if pairs:
        # Slack allows at most 10 fields in a section.
        fields = [{"type": "mrkdwn", "text": f"*{label}*\n{value}"} for label, value in pairs[:10]]
        blocks.append({"type": "section", "fields": fields})
    link = _link(payload)
    if link:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<{link}|Open the schedule>"}],
            }
        )
    return {"text": text, "blocks": blocks}


def slack_request(url: str, payload: Mapping[str, Any]) -> Delivery:
    """The POST to a Slack incoming webhook (its URL is its credential: nothing to sign)."""
    body = payload_bytes(slack_message(payload))
    return Delivery(url=url, headers={"Content-Type": "application/json"}, body=body)


def email_message(
    payload: Mapping[str, Any], *, sender: str, recipient: str, delivery_id: str
) -> EmailMessage:
    """The mail of one event; the same `Message-ID` on every attempt of a delivery."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = f"[workflow-scheduler] {headline(payload)}"[:200]
    message["Message-ID"] = f"<{delivery_id}@workflow-scheduler>"
    message["X-Scheduler-Delivery-Id"] = delivery_id
    lines = [headline(payload), ""]
    lines += [f"{label}: {value}" for label, value in facts(payload)]
    link = _link(payload)
    if link:
        lines += ["", f"Open the schedule: {link}"]
    message.set_content("\n".join(lines) + "\n")
    return message


# --- retries ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NextAttempt:
    """What follows a failed attempt: `retry` at `at`, or `failed` for good."""

    status: Literal["retry", "failed"]
    at: datetime | None
    error: str


def next_attempt(
    *,
    error: str,
    retryable: bool,
    attempts: int,
    created_at: datetime,
    now: datetime,
    base_seconds: float,
    give_up_after_seconds: float,
    random_unit: float,
) -> NextAttempt:
    """After failed attempt number `attempts` (1-based): another one after
    `backoff_seconds(attempts)` (exponential, ±20 % jitter, at most an hour), unless the error
    is not `retryable` or that attempt would come later than `give_up_after_seconds` after
    the delivery was written; then `failed`, with the reason in the error text."""
    if not retryable:
        return NextAttempt("failed", None, error)
    at = now + timedelta(seconds=backoff_seconds(attempts, base_seconds, random_unit))
    if at > created_at + timedelta(seconds=give_up_after_seconds):
        span = (
            f"{give_up_after_seconds / 3600:g} h"
            if give_up_after_seconds >= 3600
            else f"{give_up_after_seconds:g} s"
        )
        reason = f"gave up after {attempts} attempts over {span}; last error: {error}"
        return NextAttempt("failed", None, reason[:2048])
    return NextAttempt("retry", at, error)


def shown_url(kind: str, url: str | None) -> str | None:
    """A channel's URL as the API shows it after creation: a Slack incoming-webhook URL is
    its own credential, so its last path segment (the token) is replaced by `…`."""
    if kind != "slack" or url is None:
        return url
    head, _, _ = url.partition("?")
    return head.rsplit("/", 1)[0] + "/…"
