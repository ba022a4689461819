"""One attempt's outbound request and what its answer means (SPEC §5). Pure: no I/O, no clock.

Contract:
- `build_delivery` makes the exact request of one attempt: the URL, the headers (bearer secret,
  Standard Webhooks signature, an `Idempotency-Key` that is identical across attempts, a W3C
  `traceparent`: the run's trace, the attempt's span) and a compact JSON body. The caller
  passes the unix `timestamp` it read from its clock.
- `sign` / `verify_signature` implement Standard Webhooks `v1` signatures: base64 HMAC-SHA256 of
  `"{webhook-id}.{webhook-timestamp}." + body`, keyed with the secret's UTF-8 bytes, or with the
  base64-decoded rest of a `whsec_...` secret. `verify_signature` is the reference published in
  docs/webhooks.md (a test keeps the two identical), so it uses nothing but the stdlib.
- `classify_response` / `classify_exception` turn an answer or a transport failure into an
  `Outcome`: 202 accepted (the target started a workflow that reports later, issue 11), any
  other 2xx succeeded; 408, 425, 429, 5xx, timeouts and connection errors retry; everything
  else fails at once (redirects are not followed). Error texts keep at most 2 KiB of the answer.
- `retry_delay_seconds` is `Retry-After` when the answer carried one, else exponential backoff
  with ±20 % jitter; both are capped at one hour.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import quote
from uuid import UUID

from app.domain.callbacks import CALLBACK_TOKEN_HEADER
from app.domain.trace_context import traceparent
from app.errors import ConfigError

DEFAULT_TARGET_URL = "http://localhost:3000/api/workflows/{workflowId}/execute"
USER_AGENT = "workflow-scheduler/0.1"

MAX_ERROR_BYTES = 2048
"""How much of an answer (or an exception message) an error text keeps."""
MAX_DELAY_SECONDS = 3600.0
"""Neither backoff nor a target's Retry-After delays a retry by more than an hour."""
MAX_RUN_ID_CHARS = 256
"""A longer `runId` is not an id we can store faithfully, so it is ignored rather than cut."""
RETRYABLE_STATUSES = frozenset({408, 425, 429})
"""Besides 5xx: timeout, too early, too many requests. Every other 4xx is the caller's fault."""

# Requests that cannot be sent at all, by exception class name (worker/http/wire.py's, and the names
# httpx uses for the same cases), so the domain needs no HTTP client import.
_PERMANENT_EXCEPTIONS = frozenset({"InvalidURL", "UnsupportedProtocol", "LocalProtocolError"})
_DELTA_SECONDS = re.compile(r"\d{1,30}(\.\d{1,9})?")

Kind = Literal["succeeded", "accepted", "retry", "failed"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """Everything needed to send one attempt; the body is already the signed bytes."""

    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to. `error` is None on success and never holds a secret."""

    kind: Kind
    http_status: int | None
    error: str | None
    workflow_run_id: str | None
    retry_after_seconds: float | None
    duration_ms: int


# --- the request -----------------------------------------------------------------------------


def target_url_for(workflow_id: str, target_url: str | None, default_template: str) -> str:
    """The schedule's own `target_url` if it has one, else the template with `{workflowId}`.

    The id is quoted as one path segment (`/` becomes `%2F`), so no workflow id can change the
    path or the host of the request. A template without `{workflowId}` is used as it is.
    """
    if target_url:
        return target_url
    return default_template.replace("{workflowId}", quote(workflow_id, safe=""))


def format_instant(value: datetime) -> str:
    """ISO 8601 in UTC with `Z`: `2026-03-08T08:00:00Z`, or `...T08:00:00.250Z` when the instant
    has a fraction of a second (milliseconds, like the JSON API)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"an aware datetime is required, got the naive {value!r}")
    utc = value.astimezone(UTC)
    text = utc.replace(tzinfo=None, microsecond=0).isoformat()
    if utc.microsecond:
        text += f".{utc.microsecond // 1000:03d}"
    return text + "Z"


def idempotency_key(trigger_id: UUID, scheduled_at: datetime) -> str:
    """`<triggerId>:<scheduledAt>`: one key per slot, the same for every attempt of its run."""
    return f"{trigger_id}:{format_instant(scheduled_at)}"


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
    `User-Agent` is the HTTP client's business (worker.http.target), not part of the delivery.
    `callback_url` goes into the body as `callbackUrl`, `callback_token` into the header
    `X-Scheduler-Callback-Token` (app/domain/callbacks.py); both are left out when None.
    """
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    scheduled = format_instant(scheduled_at)
    payload = {
        "executionId": str(execution_id),
        "triggerId": str(trigger_id),
        "workflowId": workflow_id,
        "scheduledAt": scheduled,
        "attempt": attempt,
        "trigger": trigger,
        "input": input,
    }
    if callback_url is not None:
        payload["callbackUrl"] = callback_url
    # Compact and UTF-8: the signature covers these exact bytes, so they are built once here.
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    message_id = str(execution_id)
    headers = {"Content-Type": "application/json"}
    if tenant_keys is None and secret:
        headers["Authorization"] = f"Bearer {secret}"
    headers["webhook-id"] = message_id
    headers["webhook-timestamp"] = str(timestamp)
    keys = [secret] if tenant_keys is None else list(tenant_keys)
    signatures = [sign(key, message_id, timestamp, body) for key in keys if key]
    if signatures:
        headers["webhook-signature"] = " ".join(signatures)
    headers["Idempotency-Key"] = f"{trigger_id}:{scheduled}"
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
        raise ConfigError(
            "INTERNAL_API_SECRET starts with 'whsec_' but the rest is not valid base64: "
            "use a whsec_ secret exactly as generated, or a secret without that prefix",
            field="INTERNAL_API_SECRET",
        ) from None


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}." + body>`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
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


# --- the answer ------------------------------------------------------------------------------


def classify_response(
    status: int, headers: Mapping[str, str], body: bytes, duration_ms: int, now: datetime
) -> Outcome:
    """What an HTTP answer means. `body` may be a prefix of the answer; `now` dates Retry-After.

    202 accepted and any other 2xx succeeded (with the answer's `runId` or `id`); 408, 425,
    429 and 5xx retry (with the answer's Retry-After, if any); anything else, redirects
    included, failed.
    """
    if 200 <= status <= 299:
        kind: Kind = "accepted" if status == 202 else "succeeded"
        return Outcome(kind, status, None, _run_id(body), None, duration_ms)
    if 300 <= status <= 399:
        location = _header(headers, "location") or "none given"
        reason = f"redirects are not followed (Location: {location})"
        return Outcome("failed", status, f"HTTP {status}: {_clip(reason)}", None, None, duration_ms)
    error = f"HTTP {status}: {_answer_text(body)}"
    if status in RETRYABLE_STATUSES or 500 <= status <= 599:
        retry_after = parse_retry_after(_header(headers, "retry-after"), now)
        return Outcome("retry", status, error, None, retry_after, duration_ms)
    return Outcome("failed", status, error, None, None, duration_ms)


def classify_exception(exc: BaseException, duration_ms: int) -> Outcome:
    """What a failure to get an answer means: `<ExceptionType>: <message>`, retried.

    Timeouts, refused or reset connections and malformed answers are worth another attempt.
    An unsendable request (invalid URL, unsupported scheme, a header we cannot encode) is not.
    """
    message = str(exc).strip() or (type(exc).__doc__ or "").strip().split("\n")[0]
    error = _clip(f"{type(exc).__name__}: {message or 'no details'}")
    names = {cls.__name__ for cls in type(exc).__mro__}
    kind: Kind = "failed" if names & _PERMANENT_EXCEPTIONS else "retry"
    return Outcome(kind, None, error, None, None, duration_ms)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` value (delta-seconds or an HTTP-date), at most 1 h.

    None when absent or unusable (garbage, negative): the caller falls back to its backoff.
    A date in the past means "now" (0).
    """
    if value is None or not (text := value.strip()):
        return None
    if _DELTA_SECONDS.fullmatch(text):
        return min(float(text), MAX_DELAY_SECONDS)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with no claim about local time (RFC 5322)
        when = when.replace(tzinfo=UTC)
    return min(max((when - now).total_seconds(), 0.0), MAX_DELAY_SECONDS)


# --- when to try again -----------------------------------------------------------------------


def backoff_seconds(attempt: int, base_seconds: float, random_unit: float) -> float:
    """The delay after failed attempt number `attempt` (1-based): `base * 2**(attempt-1)`,
    capped at an hour, then times a jitter factor in [0.8, 1.2) from `random_unit` in [0, 1),
    and capped again.

    Capping before the jitter keeps retries that hit the cap spread over [48, 60] minutes
    instead of all landing on exactly one hour together.
    """
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    if not (math.isfinite(base_seconds) and base_seconds >= 0):
        raise ValueError(f"the base delay must be a finite number >= 0, got {base_seconds}")
    if not 0.0 <= random_unit < 1.0:
        raise ValueError(f"random_unit must be in [0, 1), got {random_unit}")
    # 2.0 ** 1000 is still a finite float; beyond it the cap has long been reached anyway.
    raw = min(base_seconds * 2.0 ** min(attempt - 1, 1000), MAX_DELAY_SECONDS)
    return min(raw * (0.8 + 0.4 * random_unit), MAX_DELAY_SECONDS)


def retry_delay_seconds(
    outcome: Outcome, attempt: int, base_seconds: float, random_unit: float
) -> float:
    """The target's Retry-After when it sent one (at most 1 h), else `backoff_seconds`."""
    if outcome.retry_after_seconds is not None:
        return min(max(outcome.retry_after_seconds, 0.0), MAX_DELAY_SECONDS)
    return backoff_seconds(attempt, base_seconds, random_unit)


# --- helpers ---------------------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name (plain dicts are case-sensitive, httpx's are not)."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None


def _clip(text: str) -> str:
    return _utf8_prefix(text.encode(), MAX_ERROR_BYTES)


def _utf8_prefix(data: bytes, limit: int) -> str:
    """At most `limit` bytes of `data` as text, never ending in half a multi-byte character."""
    # An incremental decoder that is not told the input is final holds back a cut-off
    # character instead of turning it into U+FFFD.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return decoder.decode(data[:limit], final=len(data) <= limit)


def _answer_text(body: bytes) -> str:
    text = _utf8_prefix(body, MAX_ERROR_BYTES).strip()
    return text or "(empty answer)"


def _run_id(body: bytes) -> str | None:
    """`runId`, else `id`, of a JSON object answer, as a string; None for anything else."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or absurdly nested
        return None
    if not isinstance(document, dict):
        return None
    for key in ("runId", "id"):
        value = document.get(key)
        if isinstance(value, bool):  # bool is an int; `true` is no id
            continue
        if isinstance(value, int | str) and 0 < len(text := str(value)) <= MAX_RUN_ID_CHARS:
            return text
    return None
