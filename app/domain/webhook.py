"""One attempt's outbound request, signed the Standard Webhooks way (SPEC §5). Pure: no I/O,
no clock.

Contract:
- `build_delivery` makes the exact request of one attempt: the URL, the headers (bearer secret,
  Standard Webhooks signature, an `Idempotency-Key` that is identical across attempts, a W3C
  `traceparent`: the run's trace, the attempt's span) and a compact JSON body. The caller
  passes the unix `timestamp` it read from its clock.
- `sign` / `verify_signature` implement Standard Webhooks `v1` signatures: base64 HMAC-SHA256 of
  `"{webhook-id}.{webhook-timestamp}." + body`, keyed with the secret's UTF-8 bytes, or with the
  base64-decoded rest of a `whsec_...` secret. `verify_signature` is the reference published in
  docs/webhooks.md (a test keeps the two identical), so it uses nothing but the stdlib.
- A `whsec_` secret whose rest is not base64 raises `InvalidSigningKey` (a `ConfigError`);
  the settings name the variable it came from.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID

from app.domain.callbacks import CALLBACK_TOKEN_HEADER
from app.domain.instants import format_instant
from app.domain.trace_context import traceparent
from app.errors import ConfigError

USER_AGENT = "workflow-scheduler/0.1"
_BODY = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""Compact UTF-8 JSON. Made once: `json.dumps` with any option builds an encoder per call
(~1.8 of its ~8.3 us a delivery, timeit)."""


class InvalidSigningKey(ConfigError):
    """A signing secret starts with 'whsec_' but the rest is not valid base64."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """Everything needed to send one attempt; the body is already the signed bytes."""

    url: str
    headers: dict[str, str]
    body: bytes


def target_url_for(workflow_id: str, target_url: str | None, default_template: str) -> str:
    """The schedule's own `target_url` if it has one, else the template with `{workflowId}`.

    The id is quoted as one path segment (`/` becomes `%2F`), so no workflow id can change the
    path or the host of the request. A template without `{workflowId}` is used as it is.
    """
    if target_url:
        return target_url
    return default_template.replace("{workflowId}", quote(workflow_id, safe=""))


def idempotency_key(trigger_id: UUID, scheduled_at: datetime) -> str:
    """`<triggerId>:<scheduledAt>`: one key per slot, the same for every attempt of its run."""
    return _slot_key(str(trigger_id), format_instant(scheduled_at))


def _slot_key(trigger_id: str, scheduled_at: str) -> str:
    return f"{trigger_id}:{scheduled_at}"


def build_delivery(
    *,
    execution_id: UUID,
    trigger_id: UUID,
    workflow_id: str,
    scheduled_at: datetime,
    attempt: int,
    trigger: str,
    input: dict[str, Any],
    url: str,
    secret: str,
    timestamp: int,
    tenant_keys: Sequence[str] | None = None,
    callback_url: str | None = None,
    callback_token: str | None = None,
) -> Delivery:
    """The request of attempt number `attempt` (1-based) of one execution.

    For the default target (`tenant_keys` None) the deployment `secret` is sent as
    `Authorization: Bearer` and signs the request (the replaced system's contract). For a
    schedule's own targetUrl, `tenant_keys` are the tenant's valid keys, newest first: each
    signs (`webhook-signature` holds them space-separated, as Standard Webhooks allows during
    a rotation) and the deployment secret is not sent at all (H5).

    With nothing to sign with (an empty `secret`, or no tenant key) neither `Authorization`
    nor `webhook-signature` is sent; `webhook-id` and `webhook-timestamp` are sent regardless.
    `User-Agent` is the HTTP client's business (worker/http/target.py), not part of the
    delivery. `callback_url` goes into the body as `callbackUrl`, `callback_token` into the
    header `X-Scheduler-Callback-Token` (app/domain/callbacks.py); both are left out when None.
    """
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    # Each formatted once, though each appears twice: a delivery is built for every run sent
    # (9 % of a steady worker's CPU by py-spy; ~6 us less a delivery, timeit).
    scheduled = format_instant(scheduled_at)
    message_id, schedule_id = str(execution_id), str(trigger_id)
    payload = {
        "executionId": message_id,
        "triggerId": schedule_id,
        "workflowId": workflow_id,
        "scheduledAt": scheduled,
        "attempt": attempt,
        "trigger": trigger,
        "input": input,
    }
    if callback_url is not None:
        payload["callbackUrl"] = callback_url
    # Compact and UTF-8: the signature covers these exact bytes, so they are built once here.
    body = _BODY.encode(payload).encode()
    headers = {"Content-Type": "application/json"}
    if tenant_keys is None and secret:
        headers["Authorization"] = f"Bearer {secret}"
    headers["webhook-id"] = message_id
    headers["webhook-timestamp"] = str(timestamp)
    keys = [secret] if tenant_keys is None else list(tenant_keys)
    signatures = [sign(key, message_id, timestamp, body) for key in keys if key]
    if signatures:
        headers["webhook-signature"] = " ".join(signatures)
    headers["Idempotency-Key"] = _slot_key(schedule_id, scheduled)
    headers["X-Scheduler-Attempt"] = str(attempt)
    headers["X-Scheduler-Scheduled-At"] = scheduled
    if callback_token is not None:
        headers[CALLBACK_TOKEN_HEADER] = callback_token

    # W3C Trace Context: one trace per run, one span per attempt (app/domain/trace_context.py).
    headers["traceparent"] = traceparent(execution_id, attempt)
    return Delivery(url=url, headers=headers, body=body)


def signing_key(secret: str) -> bytes:
    """The HMAC key: the base64-decoded rest of a `whsec_` secret, else the secret's UTF-8."""
    if not secret.startswith("whsec_"):
        return secret.encode()
    try:
        return base64.b64decode(secret[6:], validate=True)
    except binascii.Error:
        raise InvalidSigningKey(
            "the secret starts with 'whsec_' but the rest is not valid base64: use a whsec_ "
            "secret exactly as generated, or a secret without that prefix"
        ) from None


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}." + body>`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.digest(signing_key(secret), signed, "sha256")  # one call, no HMAC object
    return "v1," + base64.b64encode(digest).decode()


# The function below is published verbatim in docs/webhooks.md for target authors (a test
# compares the two), which is why it repeats the key rule instead of calling `signing_key`.
def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: int,
    tolerance_seconds: int = 300,
) -> bool:
    """Whether a request carries a valid Standard Webhooks signature made with `secret`.

    `headers` may use any letter case; `body` must be the raw bytes as received. `now` is the
    receiver's clock in unix seconds: a timestamp further than `tolerance_seconds` from it is
    rejected, so a captured request cannot be replayed later. `webhook-signature` may hold
    several space-separated signatures (during a secret rotation); one valid `v1` is enough.
    A `whsec_` secret whose rest is not base64 raises ValueError: that is a configuration error.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get("webhook-id", "")
    timestamp = lowered.get("webhook-timestamp", "")
    if not (secret and message_id and timestamp.isascii() and timestamp.isdigit()):
        return False
    if len(timestamp) > 12:  # no real unix time is that long; int() of a huge one is slow
        return False
    if abs(now - int(timestamp)) > tolerance_seconds:
        return False
    if secret.startswith("whsec_"):
        key = base64.b64decode(secret[len("whsec_") :], validate=True)
    else:
        key = secret.encode()
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for candidate in lowered.get("webhook-signature", "").split():
        version, _, value = candidate.partition(",")
        # compare_digest takes as long for a near miss as for a far one: no timing oracle.
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return True
    return False
