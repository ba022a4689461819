"""The guard of request bodies (the API router's `before_request` hook): authenticated before
a byte is read, then JSON, UTF-8 and not nested too deeply, or refused with 4xx."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException, HTTPException, SerializationException

from app.api.auth import AUTHENTICATED_TENANT, authenticate, bearer_token
from app.api.deps import pooled_connection

MAX_JSON_DEPTH = 64
"""Nesting levels a request body may have: far more than any schedule needs, far fewer than
what would exhaust the decoder's or the database's recursion limits."""


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` (decoded JSON) nests arrays and objects deeper than `limit` levels."""
    pending: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        item, depth = pending.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _has_body(request: Request[Any, Any, Any]) -> bool:
    if request.method not in ("POST", "PUT", "PATCH"):
        return False
    length = request.headers.get("content-length", "0")
    return length not in ("", "0") or bool(request.headers.get("transfer-encoding"))


async def authenticate_before_body(request: Request[Any, Any, Any]) -> None:
    """The API router's `before_request` hook: a request with a body is authenticated first,
    and only then is its body received and decoded.

    Litestar reads and decodes the body (the handler's `data`) before it resolves any
    dependency, `provide_tenant` included; without this hook an anonymous client could make
    the API receive 1 MiB and walk hundreds of thousands of JSON containers, in Python, on the
    event loop, for a 401. Here an anonymous request gets its 401 before one byte of its body
    is read (a missing token costs no database query either).

    Then the body checks: it must be JSON (anything else is 415, not a parse error), and JSON
    that cannot be decoded or nests too deeply is a 400 that says so, never a 500. The body is
    decoded here once; Litestar keeps the result for the handler's `data`.
    """
    if not _has_body(request):
        return
    bearer_token(request)  # a request without any token is refused before any query
    async with pooled_connection(request.app.state) as conn:
        tenant = await authenticate(request, conn)
    setattr(request.state, AUTHENTICATED_TENANT, tenant)
    await require_json_body(request)


async def require_json_body(request: Request[Any, Any, Any]) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise HTTPException(
            status_code=415,
            detail=f"Content-Type must be application/json, not {media_type or 'missing'}",
        )
    if not await request.body():
        return
    try:
        document = await request.json()
    except SerializationException as exc:
        raise ClientException(f"body: {exc}") from None
    except UnicodeDecodeError:  # msgspec raises it, unwrapped, for bad bytes inside strings
        raise ClientException("body: a string is not valid UTF-8 (JSON must be UTF-8)") from None
    except RecursionError:
        document = None  # nested beyond the decoder's own limit
    else:
        if not json_depth_exceeds(document, MAX_JSON_DEPTH):
            return
    raise ClientException(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels")
