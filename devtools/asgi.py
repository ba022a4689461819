"""The pieces of HTTP the loopback workflow targets share (devtools/demo_target.py and the
tests' recording target, tests/support/target.py): the lifespan handshake, the request's
headers and body, the workflow id in `/api/workflows/{workflowId}/execute`, and answers.

Plain ASGI 3, no framework: the targets must answer the scheduler's requests byte for byte as
a test or a demo says, and serve hundreds of them side by side on one event loop.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import unquote

Message = dict[str, Any]  # ASGI messages are loosely typed dicts by definition
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

EXECUTE_PREFIX = b"/api/workflows/"
EXECUTE_SUFFIX = b"/execute"


class ClientGone(Exception):
    """The client disconnected before its request body was complete: nobody to answer."""


async def lifespan(
    receive: Receive, send: Send, on_startup: Callable[[], None] | None = None
) -> None:
    """Complete the lifespan handshake; `on_startup` runs in the server's event loop first."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if on_startup is not None:
                on_startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def request_headers(scope: Message) -> dict[str, str]:
    """The request's headers, names lower-cased; a repeated field's values joined with ", "
    (RFC 9110 §5.3)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def raw_path(scope: Message) -> bytes:
    """The path as sent (percent-encoding kept), without the query."""
    path: bytes = scope.get("raw_path") or scope["path"].encode()
    return path.split(b"?", 1)[0]


def workflow_id_in_path(path: bytes) -> str | None:
    """The `{workflowId}` of `/api/workflows/{workflowId}/execute` (percent-decoded), or None for
    any other path. The scheduler quotes the id as one segment, so a raw `/` is another path."""
    if not (path.startswith(EXECUTE_PREFIX) and path.endswith(EXECUTE_SUFFIX)):
        return None
    segment = path[len(EXECUTE_PREFIX) : -len(EXECUTE_SUFFIX)]
    if not segment or b"/" in segment:
        return None
    return unquote(segment.decode("latin-1"))


async def read_body(receive: Receive, limit: int | None = None) -> bytes | None:
    """The request body; None as soon as it is larger than `limit` bytes (when given).

    Raises ClientGone when the client disconnects before the body is complete.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_answer(send: Send, status: int, headers: Mapping[str, str], body: bytes) -> None:
    """One whole response: `headers` as given (names as the caller spelt them), then `body`."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, document: object) -> None:
    """A JSON answer with its content type and length."""
    body = json.dumps(document).encode()
    headers = {"content-type": "application/json", "content-length": str(len(body))}
    await send_answer(send, status, headers, body)
