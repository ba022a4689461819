"""Sends one attempt's `Delivery` over HTTP and says what came of it (SPEC §5). The I/O edge.

Contract:
- One `HttpTarget` per worker process: one pooled keep-alive `WireClient` (wire.py, which says
  why it is not aiohttp or httpx), created on first use (nothing connects at import or
  construction) and closed by `aclose`.
- `prepare` builds a request's bytes ahead of its fire instant, so that at the instant a send
  is one write on a pooled connection.
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
import functools
import json
import time
from collections.abc import Collection

from app.clock import Clock, utc_now
from app.domain.outcome import Outcome, classify_exception, classify_response
from app.domain.webhook import USER_AGENT, Delivery
from worker.http.resolver import ResolveTimeout
from worker.http.wire import LocalProtocolError, Origin, Request, SlotTimeout, WireClient, prepare

MAX_ANSWER_BYTES = 64 * 1024
"""Enough for any run id and a useful error text; the rest of a larger answer is not read."""
KEEPALIVE_EXPIRY_SECONDS = 4.0
"""Below the 5 s idle timeout of Node.js and uvicorn, so we drop an idle connection before the
target does, rather than race its close with a new request (which would cost an attempt)."""
REDACTED = b"[redacted]"


class HttpTarget:
    """A pooled HTTP client for workflow targets."""

    def __init__(
        self,
        *,
        max_connections: int = 1000,
        max_per_origin: int | None = None,
        uncapped_urls: Collection[str] = (),
        user_agent: str = USER_AGENT,
        clock: Clock = utc_now,
    ) -> None:
        """`max_per_origin` caps the requests in flight to any one origin (scheme, host, port),
        and bounds those waiting for it (wire.py `WireClient`), except for the origins of
        `uncapped_urls` (the shared default target, which carries every tenant's runs and may
        take the whole client). `clock` dates `Retry-After`."""
        self.max_connections = max_connections
        self._max_per_origin = max_per_origin
        self._uncapped = [origin for url in uncapped_urls if (origin := _origin_of(url))]
        self._user_agent = user_agent
        self._clock = clock
        self._client: WireClient | None = None

    @property
    def paced_origins(self) -> tuple[Origin, ...]:
        """The shared default target's origins, whose sends the executor paces
        (worker/releaser.py)."""
        return tuple(self._uncapped)

    def _get_client(self) -> WireClient:
        # Created lazily, inside the event loop that will use it: its connections belong there.
        if self._client is None:
            self._client = WireClient(
                max_connections=self.max_connections,
                max_per_origin=self._max_per_origin,
                uncapped=self._uncapped,
                keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
                body_limit=MAX_ANSWER_BYTES,
            )
        return self._client

    def prepare(self, delivery: Delivery) -> Request | Outcome:
        """The request's bytes, built ahead of the fire instant; or why it cannot be sent."""
        # identity: an answer we read (run id, error text) must not come compressed, and a
        # request without Accept-Encoding admits any coding (RFC 9110 §12.5.3).
        headers = {
            "User-Agent": self._user_agent,
            "Accept": "*/*",
            "Accept-Encoding": "identity",
            **delivery.headers,
        }
        try:
            return prepare(delivery.url, headers, delivery.body)
        except (ValueError, LocalProtocolError) as exc:
            return _scrubbed(classify_exception(exc, 0), secrets_of(delivery))

    async def send(
        self, delivery: Delivery, timeout_seconds: float, prepared: Request | None = None
    ) -> Outcome:
        """POST the delivery; the answer (or the failure) classified. Never raises for HTTP."""
        request = prepared if prepared is not None else self.prepare(delivery)
        if isinstance(request, Outcome):
            return request
        return await self.send_prepared(request, secrets_of(delivery), timeout_seconds)

    async def send_prepared(
        self, request: Request, secrets: tuple[bytes, ...], timeout_seconds: float
    ) -> Outcome:
        """`send` for a request prepared ahead, with only the `secrets_of` its delivery kept
        (what a run waiting for its instant holds: not the whole delivery, docs/benchmarks.md)."""
        started = time.monotonic()
        deadline = asyncio.get_running_loop().time() + timeout_seconds

        def elapsed_ms() -> int:
            return round((time.monotonic() - started) * 1000)

        try:
            answer = await self._get_client().request(request, deadline)
        except (SlotTimeout, ResolveTimeout) as exc:  # never sent: it says what it waited for
            return _scrubbed(classify_exception(exc, elapsed_ms()), secrets)
        except TimeoutError:
            late = TimeoutError(f"no answer within {timeout_seconds:g} s")
            return _scrubbed(classify_exception(late, elapsed_ms()), secrets)
        except (OSError, ValueError) as exc:
            return _scrubbed(classify_exception(exc, elapsed_ms()), secrets)
        body = _redact(answer.body, secrets)
        outcome = classify_response(
            answer.status, answer.headers, body, elapsed_ms(), self._clock()
        )
        return _scrubbed(outcome, secrets)

    async def aclose(self) -> None:
        """Close the pooled connections; a later `send` opens a new pool."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


def _origin_of(url: str) -> Origin | None:
    """The origin a URL (or a `{workflowId}` template) sends to; None if it cannot be sent."""
    try:
        return prepare(url.replace("{workflowId}", "x"), {}, b"").origin
    except (ValueError, LocalProtocolError):
        return None


def secrets_of(delivery: Delivery) -> tuple[bytes, ...]:
    """The bearer secret as it might be echoed: raw and JSON-escaped."""
    return _secret_forms(delivery.headers.get("Authorization", ""))


@functools.lru_cache(maxsize=1024)
def _secret_forms(authorization: str) -> tuple[bytes, ...]:
    """Cached: the runs of one secret share one tuple (every run held for an instant keeps it)."""
    scheme, _, secret = authorization.partition(" ")
    if scheme != "Bearer" or not secret:
        return ()
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret)[1:-1].replace("/", "\\/")}
    return tuple(form.encode() for form in forms)


def _redact(data: bytes, secrets: tuple[bytes, ...]) -> bytes:
    for secret in secrets:
        data = data.replace(secret, REDACTED)
    return data


def _scrubbed(outcome: Outcome, secrets: tuple[bytes, ...]) -> Outcome:
    """The outcome with no trace of the secret in its texts (a last line of defence)."""
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
