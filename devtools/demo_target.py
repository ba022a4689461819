"""A demo workflow target, so `make up` has something to fire at: `python -m devtools.demo_target`.

Contract:
- `POST /api/workflows/{workflowId}/execute` answers `200 {"runId": "<uuid>"}`, and the same
  runId again for a repeated `Idempotency-Key` (retries of one slot are one run). It remembers
  the last `MAX_REMEMBERED_KEYS` keys; it is a demo, its memory stays bounded.
- When `INTERNAL_API_SECRET` is set, a request without a valid Standard Webhooks signature
  answers 401 (see docs/webhooks.md). Without it, every request is accepted.
- One log line per request: workflowId, executionId, attempt, scheduledAt, Idempotency-Key,
  the answer. Never the secret, the Authorization header or the signature.
- `GET /health` answers 200; anything else 404 (or 405 for a wrong method).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

import uvicorn

from app.domain.webhook import signing_key, verify_signature
from app.errors import ConfigError
from devtools.asgi import (
    ClientGone,
    Message,
    Receive,
    Send,
    lifespan,
    raw_path,
    read_body,
    request_headers,
    send_json,
    workflow_id_in_path,
)

MAX_BODY_BYTES = 1024 * 1024
MAX_REMEMBERED_KEYS = 10_000

log = logging.getLogger("demo_target")


class DemoTarget:
    """The ASGI app. `clock` gives unix seconds (for the signature's freshness check)."""

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        if secret:
            signing_key(secret)  # a malformed whsec_ secret fails here, not on every request
        self._secret = secret
        self._clock = clock
        self._runs: OrderedDict[str, str] = OrderedDict()

    @property
    def checks_signatures(self) -> bool:
        return bool(self._secret)

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = raw_path(scope)
        workflow_id = workflow_id_in_path(path)
        if path == b"/health":
            await send_json(send, 200, {"status": "ok"})
        elif workflow_id is None:
            await send_json(send, 404, {"error": f"no route for {path.decode('latin-1')}"})
        elif scope["method"] != "POST":
            await send_json(send, 405, {"error": "use POST"})
        else:
            with contextlib.suppress(ClientGone):  # nobody to answer, nothing was run
                await self._execute(workflow_id, request_headers(scope), receive, send)

    async def _execute(
        self, workflow_id: str, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        body = await read_body(receive, MAX_BODY_BYTES)
        key = headers.get("idempotency-key")
        fields: dict[str, object] = {
            "workflowId": workflow_id,
            "executionId": headers.get("webhook-id"),
            "attempt": headers.get("x-scheduler-attempt"),
            "scheduledAt": headers.get("x-scheduler-scheduled-at"),
            "idempotencyKey": key,
        }
        if body is None:
            status, answer = 413, {"error": f"the body is larger than {MAX_BODY_BYTES} bytes"}
        elif self._secret and not verify_signature(
            self._secret, headers, body, now=int(self._clock())
        ):
            status, answer = 401, {"error": "missing, stale or invalid webhook-signature"}
        else:
            run_id, duplicate = self._run_for(key)
            status, answer = 200, {"runId": run_id}
            fields["duplicate"] = duplicate
        fields["status"] = status
        # JSON-encoded values: a request cannot forge log lines with newlines in its headers.
        log.info("execute %s", json.dumps(fields), extra={"event": "demo_target.execute"})
        await send_json(send, status, answer)

    def _run_for(self, key: str | None) -> tuple[str, bool]:
        """The run for an idempotency key: the remembered one, or a new one (and remember it)."""
        if key is not None and key in self._runs:
            self._runs.move_to_end(key)
            return self._runs[key], True
        run_id = str(uuid.uuid4())
        if key is not None:
            self._runs[key] = run_id
            if len(self._runs) > MAX_REMEMBERED_KEYS:
                self._runs.popitem(last=False)
        return run_id, False


def main(argv: list[str] | None = None) -> int:
    """Serve the demo target until interrupted. INTERNAL_API_SECRET enables signature checks."""
    parser = argparse.ArgumentParser(prog="demo_target", description="A demo workflow target.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        app = DemoTarget(os.environ.get("INTERNAL_API_SECRET", ""))
    except ConfigError as exc:
        log.error("%s", exc.message)
        return 2
    log.info(
        "listening on http://%s:%d (signatures %s)",
        args.host,
        args.port,
        "checked" if app.checks_signatures else "not checked: INTERNAL_API_SECRET is not set",
    )
    uvicorn.run(
        app, host=args.host, port=args.port, log_config=None, access_log=False, interface="asgi3"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
