"""A real workflow target for tests: an HTTP/1.1 server on 127.0.0.1 that records every request.

    with RecordingTarget() as target:
        target.script("wf-1", [Response(503, headers={"Retry-After": "1"}), Response(200)])
        target.set_delay("wf-slow", 5.0)
        ...  # point the scheduler at target.url_template()
        target.wait_for(lambda got: len(got) >= 2, timeout=10)

A minimal ASGI app on the demo target's HTTP pieces (devtools/asgi.py), served by
`devtools.loopback.serving` (uvicorn in a daemon thread, on a socket bound before it starts).
Unlike the demo target it answers every path and method, as scripted. Each request is recorded
the moment it arrives, before any delay, so tests can see attempts that are still waiting for
their answer. Delays are async sleeps: hundreds of requests wait side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.domain.webhook import verify_signature
from devtools.asgi import (
    ClientGone,
    Message,
    Receive,
    Send,
    lifespan,
    raw_path,
    read_body,
    request_headers,
    send_answer,
    workflow_id_in_path,
)
from devtools.loopback import serving


@dataclass
class Response:
    """One scripted answer. `body=None` means the default: `{"runId": <new uuid>}` for a 2xx,
    empty otherwise. A dict body is sent as JSON. `delay_seconds`, when set, replaces the
    workflow's delay for this one answer."""

    status: int = 200
    body: bytes | dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float | None = None


@dataclass
class Received:
    """One request as it arrived."""

    at: float  # time.time() on arrival
    path: str  # percent-decoded
    headers: dict[str, str]  # lower-cased names
    body: bytes
    workflow_id: str | None = None  # from /api/workflows/{id}/execute, else the body's workflowId
    status: int = 0  # the status it was (or will be, after the delay) answered with

    def json(self) -> Any:
        return json.loads(self.body)


class RecordingTarget:
    """Real HTTP/1.1 server on 127.0.0.1:<free port>, in a background thread."""

    def __init__(self, port: int = 0) -> None:
        """`port` 0: a free one. A given port lets a test stop the target and start another
        on the same address (a receiver that was down for a while)."""
        self._port = port
        self._check: Callable[[dict[str, str], bytes], bool] | None = None
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._scripts: dict[str, list[Response]] = {}
        self._delays: dict[str, float] = {}
        self._verify_secret: str | None = None
        self._serving: contextlib.ExitStack | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self.url = ""

    # --- life cycle --------------------------------------------------------------------------

    def start(self) -> RecordingTarget:
        with contextlib.ExitStack() as stack:
            self.url = stack.enter_context(
                serving(
                    self._app,
                    port=self._port,
                    name="recording target",
                    start_timeout=10,
                    interface="asgi3",
                    http="h11",
                    timeout_graceful_shutdown=2,
                )
            )
            self._serving = stack.pop_all()
        return self

    def stop(self) -> None:
        """Stop serving: requests still in their delay are answered at once, then it exits."""
        if self._serving is None:
            return
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._serving.close()
        self._serving = None

    def __enter__(self) -> RecordingTarget:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- configuration -----------------------------------------------------------------------

    def url_template(self) -> str:
        return f"{self.url}/api/workflows/{{workflowId}}/execute"

    def script(self, workflow_id: str, responses: list[Response]) -> None:
        """Queue answers for a workflow, used in order; afterwards the default 200 answer."""
        with self._lock:
            self._scripts.setdefault(workflow_id, []).extend(responses)

    def set_delay(self, workflow_id: str, seconds: float) -> None:
        """Wait `seconds` before answering each request for the workflow (0 removes it)."""
        with self._lock:
            self._delays[workflow_id] = seconds

    def verify_signatures(self, secret: str | None) -> None:
        """Answer 401, as a receiver following docs/webhooks.md does, to a request whose
        Standard Webhooks signature is missing, wrong, or stamped more than 5 minutes from this
        machine's clock (None: accept everything)."""
        with self._lock:
            self._verify_secret = secret

    def verify_requests(self, check: Callable[[dict[str, str], bytes], bool] | None) -> None:
        """Answer 401 to a request for which `check(headers, body)` is false (None: no check);
        e.g. a verifier from another library than ours."""
        with self._lock:
            self._check = check

    def reset(self) -> None:
        """Forget requests, scripts and delays."""
        with self._lock:
            self._received.clear()
            self._scripts.clear()
            self._delays.clear()
            self._verify_secret = None

    # --- inspection --------------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        return self.requests()

    def requests(self, workflow_id: str | None = None) -> list[Received]:
        """A snapshot of the requests so far, in arrival order, optionally for one workflow."""
        with self._lock:
            return [
                r for r in self._received if workflow_id is None or r.workflow_id == workflow_id
            ]

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float
    ) -> list[Received]:
        """Poll until `predicate(requests)` holds; the snapshot that satisfied it.

        Blocks the calling thread: from a coroutine whose loop must keep running (a worker in the
        same loop), use `wait_for_async`.
        """
        deadline = time.monotonic() + timeout
        while (snapshot := self._satisfied(predicate, deadline, timeout)) is None:
            time.sleep(0.01)
        return snapshot

    async def wait_for_async(
        self,
        predicate: Callable[[list[Received]], bool],
        timeout: float,  # noqa: ASYNC109 - the same call shape as wait_for
    ) -> list[Received]:
        """`wait_for` for coroutines: polls with `asyncio.sleep`, so the loop keeps running."""
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self._satisfied(predicate, deadline, timeout)
            if snapshot is not None:
                return snapshot
            await asyncio.sleep(0.01)

    def _satisfied(
        self, predicate: Callable[[list[Received]], bool], deadline: float, timeout: float
    ) -> list[Received] | None:
        """The snapshot if it satisfies `predicate`, else None; AssertionError past `deadline`."""
        snapshot = self.requests()
        if predicate(snapshot):
            return snapshot
        if time.monotonic() > deadline:
            raise AssertionError(self._summary(snapshot, timeout))
        return None

    @staticmethod
    def _summary(snapshot: list[Received], timeout: float) -> str:
        lines = [f"condition not met within {timeout:g} s; {len(snapshot)} request(s) received:"]
        for r in snapshot[-20:]:
            lines.append(
                f"  {r.at:.3f} {r.path} workflow={r.workflow_id} "
                f"attempt={r.headers.get('x-scheduler-attempt')} "
                f"key={r.headers.get('idempotency-key')} -> {r.status}"
            )
        return "\n".join(lines)

    # --- the ASGI app ------------------------------------------------------------------------

    async def _app(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, on_startup=self._started)
        elif scope["type"] == "http":
            with contextlib.suppress(ClientGone):  # nobody to answer: not recorded
                await self._http(scope, receive, send)

    def _started(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()

    async def _http(self, scope: Message, receive: Receive, send: Send) -> None:
        arrived = time.time()
        body = await read_body(receive) or b""
        headers = request_headers(scope)
        workflow_id = _workflow_id(raw_path(scope), body)
        with self._lock:
            queue = self._scripts.get(workflow_id or "", [])
            answer = queue.pop(0) if queue else Response()
            secret = self._verify_secret
            if secret and not verify_signature(secret, headers, body, now=int(arrived)):
                answer = Response(401, body={"error": "missing, stale or invalid signature"})
            if self._check is not None and not self._check(headers, body):
                answer = Response(401, body={"error": "refused by the test's check"})
            delay = self._delays.get(workflow_id or "", 0.0)
            self._received.append(
                Received(arrived, scope["path"], headers, body, workflow_id, answer.status)
            )
        if answer.delay_seconds is not None:
            delay = answer.delay_seconds
        if delay > 0 and self._stopping is not None:
            # Wakes early when the target stops, so stop() never waits out a long delay.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
        await _answer(send, answer)


def _workflow_id(path: bytes, body: bytes) -> str | None:
    """From /api/workflows/{id}/execute, else the body's `workflowId` (an alert delivery's)."""
    in_path = workflow_id_in_path(path)
    if in_path is not None:
        return in_path
    try:
        document = json.loads(body)
    except ValueError:
        return None
    value = document.get("workflowId") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


async def _answer(send: Send, answer: Response) -> None:
    headers = {k.lower(): v for k, v in answer.headers.items()}
    body = answer.body
    if body is None:
        success = 200 <= answer.status <= 299 and answer.status != 204
        body = {"runId": str(uuid.uuid4())} if success else b""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        headers.setdefault("content-type", "application/json")
    if answer.status in (204, 304):  # HTTP forbids a body here
        body = b""
    else:
        headers["content-length"] = str(len(body))
    await send_answer(send, answer.status, headers, body)
