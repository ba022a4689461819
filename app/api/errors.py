"""The one place where errors become HTTP answers. Bodies follow `ErrorBody`; never a traceback."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from litestar import MediaType, Request, Response, Router
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.params import ParameterKwarg
from litestar.routes import HTTPRoute
from litestar.status_codes import (
    HTTP_401_UNAUTHORIZED,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_412_PRECONDITION_FAILED,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from procrastinate.exceptions import ConnectorException

from app.api.schemas import ErrorBody
from app.errors import (
    Conflict,
    NotFound,
    QuotaExceeded,
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
    (QuotaExceeded, HTTP_429_TOO_MANY_REQUESTS, "quota_exceeded"),
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


def error_parts(exc: SchedulerError) -> tuple[int, str, str, list[dict[str, Any]]] | None:
    """(status, code, message, errors) of the answer to `exc`; None for an unmapped kind.
    Also the per-item errors of a batch (POST /api/schedules/batch)."""
    for kind, status, code in _STATUS:
        if isinstance(exc, kind):
            errors = [{"field": exc.field, "message": exc.message}] if exc.field else []
            message = exc.message
            if exc.field and not message.startswith(exc.field):
                message = f"{exc.field}: {message}"
            return status, code, message, errors
    return None


def _scheduler_error(_: Request[Any, Any, Any], exc: SchedulerError) -> Response[dict[str, Any]]:
    parts = error_parts(exc)
    if parts is None:
        return _unexpected(_, exc)
    status, code, message, errors = parts
    headers = {"WWW-Authenticate": "Bearer"} if status == HTTP_401_UNAUTHORIZED else None
    if isinstance(exc, QuotaExceeded):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(status, code, message, errors, headers)


def _field_of(request: Request[Any, Any, Any], item: dict[str, Any]) -> str | None:
    """The field as the client names it: a parameter's own name (`state`, `triggerId`), not
    the Python argument behind it (`state_filter`, `trigger_id`)."""
    key = item.get("key")
    if key in (None, ""):
        return None
    parameter = request.route_handler.parsed_fn_signature.parameters.get(str(key))
    kwarg = parameter.kwarg_definition if parameter is not None else None
    if isinstance(kwarg, ParameterKwarg) and kwarg.name:
        return kwarg.name
    return str(key)


def _validation_error(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    """Litestar's own validation (body, query, path, headers) as 422 naming each field."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors = [
        {"field": _field_of(request, item), "message": str(item.get("message", ""))}
        for item in extra
        if isinstance(item, dict)
    ]
    if not errors:
        # Not a field problem: the body is not JSON at all, for example.
        return error_response(400, "bad_request", str(exc.detail))
    return error_response(
        HTTP_422_UNPROCESSABLE_ENTITY, "validation_failed", joined_message(errors), errors
    )


def joined_message(errors: list[dict[str, Any]]) -> str:
    """One line naming every field's problem: "workflowId: Field required; ..."."""
    return "; ".join(
        f"{e['field']}: {e['message']}" if e["field"] else str(e["message"]) for e in errors
    )


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


DATABASE_RETRY_AFTER_SECONDS = 5
"""What a client is told to wait when the database cannot serve its request."""


def _database_unavailable(
    request: Request[Any, Any, Any], exc: psycopg.OperationalError | ConnectorException
) -> Response[dict[str, Any]]:
    """An unreachable, restarting or saturated database is an outage, not a bug (SPEC §7):
    503 with Retry-After, and a warning without a traceback. psycopg's OperationalError
    covers connection loss, server shutdown, PoolTimeout (no connection within
    API_DATABASE_WAIT_SECONDS) and serialization/deadlock aborts, all worth retrying.
    Procrastinate wraps every psycopg error of its connector in ConnectorException, so only one
    caused by an OperationalError counts; any other is still a bug."""
    cause = exc.__cause__ if isinstance(exc, ConnectorException) else exc
    if not isinstance(cause, psycopg.OperationalError):
        return _unexpected(request, exc)
    log.warning(
        "database unavailable",
        extra={
            "event": "api.database_unavailable",
            "path": request.url.path,
            "error": type(cause).__name__,
        },
    )
    return error_response(
        HTTP_503_SERVICE_UNAVAILABLE,
        "database_unavailable",
        f"the database is unavailable or overloaded; retry in {DATABASE_RETRY_AFTER_SECONDS} s",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    SchedulerError: _scheduler_error,
    psycopg.OperationalError: _database_unavailable,
    ConnectorException: _database_unavailable,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}


_ERROR_DESCRIPTIONS = {
    400: "Malformed request: a body that is not JSON, not UTF-8, or nested too deeply",
    401: "No valid bearer token (missing, unknown or revoked)",
    404: "No such schedule, execution or alert channel for your tenant",
    409: "Conflicts with the current state (an id in use, an ended schedule, the limit on "
    "alert channels reached)",
    412: "If-Match names a version that is no longer current",
    413: "Body over 1 MiB",
    415: "The body is not application/json",
    422: "Invalid input: `errors` names each field and what is wrong with it",
    429: "Too many requests, or a per-tenant quota used up (the message names it): wait for "
    "the seconds in Retry-After",
    503: "The database is unavailable or overloaded: retry after the seconds in Retry-After",
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for error answers: every one has the `ErrorBody` shape."""
    return {
        status: ResponseSpec(
            data_container=ErrorBody,
            description=_ERROR_DESCRIPTIONS[status],
            generate_examples=False,
        )
        for status in statuses
    }


ANSWERED_BY_EVERY_ROUTE = (400, 401, 422, 503)
"""Errors any handler of the API router may answer: a malformed request, no valid token,
invalid parameters, the database unavailable."""

ANSWERED_WITH_A_BODY = (413, 415)
"""Errors of the body guard (app/api/body.py), which reads the body of POST, PUT and PATCH."""

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _statuses(path: str, handler: HTTPRouteHandler) -> list[int]:
    """The handler's own declared errors plus the ones every route (or every body) may answer.
    Refused (TypeError, when the app is built): a handler that declares nothing, whose errors
    would go undocumented, and one whose path names a resource (`{id}`) without its 404."""
    if handler.responses is None:
        raise TypeError(
            f"{handler.handler_name}: declare the errors it answers beyond "
            f"{ANSWERED_BY_EVERY_ROUTE} with responses=error_responses(...) "
            "(error_responses() when there are none)"
        )
    if "{" in path and 404 not in handler.responses:
        raise TypeError(f"{handler.handler_name}: {path} names a resource: declare its 404")
    statuses = set(ANSWERED_BY_EVERY_ROUTE) | set(handler.responses)
    if handler.http_methods & _BODY_METHODS:
        statuses |= set(ANSWERED_WITH_A_BODY)
    return sorted(statuses)


def document_errors(router: Router) -> None:
    """Describe the router's error answers in OpenAPI as they are (`ErrorBody`), in place of
    Litestar's default 400 entry, which describes Litestar's own error body, not ours. Each
    handler declares its own errors (404, 409, 412, 429) with `responses=error_responses(...)`;
    this adds the ones every route answers (`_statuses`)."""
    for route in router.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if "OPTIONS" in handler.http_methods:
                continue
            handler.responses = {
                **error_responses(*_statuses(route.path, handler)),
                **(handler.responses or {}),
            }
