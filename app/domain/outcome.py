"""What one attempt's answer (or its failure to get one) means (SPEC §5). Pure: no I/O, no clock.

Contract:
- `classify_response` / `classify_exception` turn an answer or a transport failure into an
  `Outcome`: 202 accepted (the target started a workflow that reports later, issue 11), any
  other 2xx succeeded; 408, 425, 429, 5xx, timeouts and connection errors retry; everything
  else fails at once (redirects are not followed). Error texts keep at most 2 KiB of the answer.
- A transport failure no retry can fix (an unsendable URL, a header HTTP/1.1 cannot carry, a
  certificate that does not verify) is a `PermanentDeliveryError`: the HTTP client's own
  exceptions subclass it, so the domain classifies them without importing the client.
- `parse_retry_after` reads a target's `Retry-After`, capped at `MAX_DELAY_SECONDS`.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal, NamedTuple

MAX_ERROR_BYTES = 2048
"""How much of an answer (or an exception message) an error text keeps."""
MAX_DELAY_SECONDS = 3600.0
"""Neither backoff (app/domain/retry.py) nor a target's Retry-After delays a retry by more
than an hour."""
MAX_RUN_ID_CHARS = 256
"""A longer `runId` is not an id we can store faithfully, so it is ignored rather than cut."""
RETRYABLE_STATUSES = frozenset({408, 425, 429})
"""Besides 5xx: timeout, too early, too many requests. Every other 4xx is the caller's fault."""

_DELTA_SECONDS = re.compile(r"\d{1,30}(\.\d{1,9})?")

Kind = Literal["succeeded", "accepted", "retry", "failed"]


class PermanentDeliveryError(Exception):
    """The request cannot be delivered, and no later attempt would change that: the attempt
    fails at once instead of being retried."""


class Outcome(NamedTuple):
    """What one attempt came to. `error` is None on success and never holds a secret. A
    NamedTuple: one is made for every attempt (0.5 us where a frozen dataclass took 2.0)."""

    kind: Kind
    http_status: int | None
    error: str | None
    workflow_run_id: str | None
    retry_after_seconds: float | None
    duration_ms: int


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
    A `PermanentDeliveryError` (an unsendable request, a certificate that does not verify)
    is not.
    """
    message = str(exc).strip() or (type(exc).__doc__ or "").strip().split("\n")[0]
    error = _clip(f"{type(exc).__name__}: {message or 'no details'}")
    kind: Kind = "failed" if isinstance(exc, PermanentDeliveryError) else "retry"
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
