"""The one place where errors become HTTP answers. Bodies follow `ErrorBody`; never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_401_UNAUTHORIZED,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_412_PRECONDITION_FAILED,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
)

from app.errors import (
    Conflict,
    NotFound,
    SchedulerError,
    Unauthorized,
    ValidationFailed,
    VersionMismatch,
)

log = logging.getLogger("app.api")

_STATUS: list[tuple[type[SchedulerError], int, str]] = [
    (ValidationFailed, HTTP_422_UNPROCESSABLE_ENTITY, "validation_failed"),
    (NotFound, HTTP_404_NOT_FOUND, "not_found"),
    (VersionMismatch, HTTP_412_PRECONDITION_FAILED, "version_mismatch"),
    (Conflict, HTTP_409_CONFLICT, "conflict"),
    (Unauthorized, HTTP_401_UNAUTHORIZED, "unauthorized"),
]


def error_response(
    status: int,
    error: str,
    message: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    return Response(
        {"error": error, "message": message, "errors": errors or []},
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


def _scheduler_error(_: Request[Any, Any, Any], exc: SchedulerError) -> Response[dict[str, Any]]:
    for kind, status, code in _STATUS:
        if isinstance(exc, kind):
            errors = [{"field": exc.field, "message": exc.message}] if exc.field else []
            message = exc.message
            if exc.field and not message.startswith(exc.field):
                message = f"{exc.field}: {message}"
            headers = {"WWW-Authenticate": "Bearer"} if status == HTTP_401_UNAUTHORIZED else None
            return error_response(status, code, message, errors, headers)
    return _unexpected(_, exc)


def _field_of(item: dict[str, Any]) -> str | None:
    key = item.get("key")
    return str(key) if key not in (None, "") else None


def _validation_error(
    _: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    """Litestar's own validation (body, query, path, headers) as 422 naming each field."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors = [
        {"field": _field_of(item), "message": str(item.get("message", ""))}
        for item in extra
        if isinstance(item, dict)
    ]
    if not errors:
        # Not a field problem: the body is not JSON at all, for example.
        return error_response(400, "bad_request", str(exc.detail))
    message = "; ".join(
        f"{e['field']}: {e['message']}" if e["field"] else str(e["message"]) for e in errors
    )
    return error_response(HTTP_422_UNPROCESSABLE_ENTITY, "validation_failed", message, errors)


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    code = {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "body_too_large",
        415: "unsupported_media_type",
        429: "too_many_requests",
    }.get(exc.status_code, "http_error")
    if exc.status_code >= 500:
        return _unexpected(_, exc)
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.error(
        "unhandled error",
        exc_info=exc,
        extra={"event": "api.unhandled_error", "path": request.url.path},
    )
    return error_response(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal_error",
        "internal error: this is a bug; the server log has the details",
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    SchedulerError: _scheduler_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
