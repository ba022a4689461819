"""Sends one attempt's `Delivery` over HTTP and says what came of it (SPEC §5). The I/O edge.

Contract:
- One `HttpTarget` per worker process: one pooled keep-alive `httpx.AsyncClient`, created on
  first use (nothing connects at import or construction) and closed by `aclose`.
- `send` never raises for HTTP or network problems: it returns an `Outcome`. Only cancellation
  (a worker shutting down) propagates.
- `timeout_seconds` bounds the whole attempt, from connecting to the last byte we read, not each
  socket operation: a target that trickles its answer cannot hold the attempt longer.
- Once the status line and headers are in, the status decides the outcome; a body that does not
  arrive in time, or is larger than `MAX_ANSWER_BYTES`, is cut there (a 2xx whose body is late
  has still accepted the run, it just gives us no run id).
- Redirects are not followed (a 3xx is a failed attempt that names the Location).
- The secret is scrubbed from the answer before it becomes an error text, so a target that
  echoes our headers back cannot leak it into the execution history or the logs.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from app.clock import Clock, utc_now
from app.domain.delivery import (
    USER_AGENT,
    Delivery,
    Outcome,
    classify_exception,
    classify_response,
)

MAX_ANSWER_BYTES = 64 * 1024
"""Enough for any run id and a useful error text; the rest of a larger answer is not read."""
KEEPALIVE_EXPIRY_SECONDS = 4.0
"""Below the 5 s idle timeout of Node.js and uvicorn, so we drop an idle connection before the
target does, rather than race its close with a new request (which would cost an attempt)."""
REDACTED = b"[redacted]"

# Problems with the request or the connection; anything else is a bug and should be loud.
_TRANSPORT_ERRORS = (httpx.HTTPError, httpx.InvalidURL, OSError, TimeoutError)


class HttpTarget:
    """A pooled HTTP client for workflow targets."""

    def __init__(
        self,
        *,
        max_connections: int = 1000,
        user_agent: str = USER_AGENT,
        clock: Clock = utc_now,
    ) -> None:
        self._limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
        )
        self._user_agent = user_agent
        self._clock = clock
        self._client: httpx.AsyncClient | None = None

    def _get_client(self) -> httpx.AsyncClient:
        # Created lazily, inside the event loop that will use it: its connections belong there.
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                limits=self._limits,
                headers={"User-Agent": self._user_agent},
                # Proxies and netrc from the environment must not reroute or add credentials to
                # calls whose destination the schedule's owner chose.
                trust_env=False,
            )
        return self._client

    async def send(self, delivery: Delivery, timeout_seconds: float) -> Outcome:
        """POST the delivery; the answer (or the failure) classified. Never raises for HTTP."""
        client = self._get_client()
        started = time.monotonic()
        deadline = asyncio.get_running_loop().time() + timeout_seconds

        def elapsed_ms() -> int:
            return round((time.monotonic() - started) * 1000)

        try:
            # httpx's own timeout bounds each phase; asyncio's bounds their sum.
            async with asyncio.timeout_at(deadline):
                request = client.build_request(
                    "POST",
                    delivery.url,
                    headers=delivery.headers,
                    content=delivery.body,
                    timeout=httpx.Timeout(timeout_seconds),
                )
                response = await client.send(request, stream=True)
        except TimeoutError:
            late = TimeoutError(f"no answer within {timeout_seconds:g} s")
            return _scrubbed(classify_exception(late, elapsed_ms()), delivery)
        except _TRANSPORT_ERRORS as exc:
            return _scrubbed(classify_exception(exc, elapsed_ms()), delivery)
        try:
            body = await _read_prefix(response, deadline)
        finally:
            await response.aclose()  # unread rest: the connection is dropped, not drained
        body = _redact(body, _secrets_of(delivery))
        outcome = classify_response(
            response.status_code, response.headers, body, elapsed_ms(), self._clock()
        )
        return _scrubbed(outcome, delivery)

    async def aclose(self) -> None:
        """Close the pooled connections; a later `send` opens a new pool."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


async def _read_prefix(response: httpx.Response, deadline: float) -> bytes:
    """Up to `MAX_ANSWER_BYTES` of the (decoded) body, whatever arrived before the deadline."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout_at(deadline):
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_ANSWER_BYTES:
                    break
    except _TRANSPORT_ERRORS:
        pass  # the status already decided; keep what arrived
    return b"".join(chunks)[:MAX_ANSWER_BYTES]


def _secrets_of(delivery: Delivery) -> list[bytes]:
    """The bearer secret as it might be echoed: raw and JSON-escaped."""
    scheme, _, secret = delivery.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not secret:
        return []
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret)[1:-1].replace("/", "\\/")}
    return [form.encode() for form in forms]


def _redact(data: bytes, secrets: list[bytes]) -> bytes:
    for secret in secrets:
        data = data.replace(secret, REDACTED)
    return data


def _scrubbed(outcome: Outcome, delivery: Delivery) -> Outcome:
    """The outcome with no trace of the secret in its texts (a last line of defence)."""
    secrets = _secrets_of(delivery)
    if not secrets or outcome.error is None:
        return outcome
    error = _redact(outcome.error.encode(), secrets).decode(errors="replace")
    if error == outcome.error:
        return outcome
    return Outcome(
        outcome.kind,
        outcome.http_status,
        error,
        outcome.workflow_run_id,
        outcome.retry_after_seconds,
        outcome.duration_ms,
    )
