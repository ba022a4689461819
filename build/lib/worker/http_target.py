"""Sends one attempt's `Delivery` over HTTP and says what came of it (SPEC §5). The I/O edge.

Contract:
- One `HttpTarget` per worker process: one pooled keep-alive `aiohttp.ClientSession`, created
  on first use (nothing connects at import or construction) and closed by `aclose`. aiohttp,
  not httpx, because the pool's cost must not grow with the number of connections: measured
  here (100 concurrent POSTs to a loopback uvicorn target, keep-alive, 2 cores) httpx 0.28
  took 85–150 ms with 20 pooled connections and ~1,000 ms with 100, aiohttp 3 ~21 ms
  (docs/architecture.md).
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

import aiohttp

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
_TRANSPORT_ERRORS = (aiohttp.ClientError, OSError, TimeoutError, ValueError)


class HttpTarget:
    """A pooled HTTP client for workflow targets."""

    def __init__(
        self,
        *,
        max_connections: int = 1000,
        user_agent: str = USER_AGENT,
        clock: Clock = utc_now,
    ) -> None:
        self._max_connections = max_connections
        self._user_agent = user_agent
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        # Created lazily, inside the event loop that will use it: its connections belong there.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections,
                    limit_per_host=0,
                    keepalive_timeout=KEEPALIVE_EXPIRY_SECONDS,
                ),
                headers={"User-Agent": self._user_agent},
                # Proxies and netrc from the environment must not reroute or add credentials to
                # calls whose destination the schedule's owner chose.
                trust_env=False,
                timeout=aiohttp.ClientTimeout(total=None),  # bounded by asyncio below
            )
        return self._session

    async def send(self, delivery: Delivery, timeout_seconds: float) -> Outcome:
        """POST the delivery; the answer (or the failure) classified. Never raises for HTTP."""
        session = self._get_session()
        started = time.monotonic()
        deadline = asyncio.get_running_loop().time() + timeout_seconds

        def elapsed_ms() -> int:
            return round((time.monotonic() - started) * 1000)

        try:
            async with asyncio.timeout_at(deadline):
                response = await session.post(
                    delivery.url,
                    data=delivery.body,
                    headers=delivery.headers,
                    allow_redirects=False,
                )
        except TimeoutError:
            late = TimeoutError(f"no answer within {timeout_seconds:g} s")
            return _scrubbed(classify_exception(late, elapsed_ms()), delivery)
        except _TRANSPORT_ERRORS as exc:
            return _scrubbed(classify_exception(exc, elapsed_ms()), delivery)
        try:
            body, complete = await _read_prefix(response, deadline)
        finally:
            # A fully read answer gives its connection back to the pool; a cut one drops it.
            if complete:
                response.release()
            else:
                response.close()
        body = _redact(body, _secrets_of(delivery))
        outcome = classify_response(
            response.status, response.headers, body, elapsed_ms(), self._clock()
        )
        return _scrubbed(outcome, delivery)

    async def aclose(self) -> None:
        """Close the pooled connections; a later `send` opens a new pool."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


async def _read_prefix(response: aiohttp.ClientResponse, deadline: float) -> tuple[bytes, bool]:
    """Up to `MAX_ANSWER_BYTES` of the body, whatever arrived before the deadline, and whether
    that was all of it."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout_at(deadline):
            async for chunk in response.content.iter_any():
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_ANSWER_BYTES:
                    return b"".join(chunks)[:MAX_ANSWER_BYTES], False
    except _TRANSPORT_ERRORS:
        return b"".join(chunks)[:MAX_ANSWER_BYTES], False  # the status already decided
    return b"".join(chunks), True


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
