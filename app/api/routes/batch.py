"""`POST /api/schedules/batch`: up to 1,000 schedules in one transaction (app/services/batch.py).

Each item is validated on its own, by the model and the rules of `POST /api/schedules`: an item
that single request would refuse gets that answer's `error`, `message` and `errors` in its own
result, and the other items are written. The request as a whole is refused only when it is not
a batch (more than 1,000 items: 422 on `items`) or when its creates would exceed the tenant's
quota of schedules (429, nothing written).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK
from pydantic import ValidationError

from app.api.deps import Schedules
from app.api.errors import error_parts, error_responses, joined_message
from app.api.schemas import BatchItemOut, BatchOut, ErrorDetail, ScheduleBatch, ScheduleCreate
from app.errors import SchedulerError
from app.services.batch import Draft, ItemResult, upsert_batch

BATCH_MAX_BODY_BYTES = 8 * 1024 * 1024
"""1,000 schedules of ~8 KiB each. Other requests stay at 1 MiB; a batch of larger inputs is
sent as several smaller batches."""


@post(
    "/api/schedules/batch",
    tags=["schedules"],
    summary="Create or update up to 1,000 schedules in one transaction",
    status_code=HTTP_200_OK,
    request_max_body_size=BATCH_MAX_BODY_BYTES,
    responses=error_responses(409, 429),  # 409: an id in use; 429: the quota on schedules
)
async def schedule_batch(data: JSONBody[ScheduleBatch], schedules: Schedules) -> BatchOut:
    drafts: list[Draft] = []
    refused: list[BatchItemOut] = []
    for index, item in enumerate(data.items):
        try:
            parsed = ScheduleCreate.model_validate(item)
        except ValidationError as exc:
            refused.append(_invalid(index, item, exc))
            continue
        # Only the fields sent: an update keeps the others (a create gets their defaults).
        drafts.append(Draft(index, parsed.to_domain(only_sent=True)))
    results = [_item_out(r) for r in await upsert_batch(schedules, drafts)]
    items = sorted([*results, *refused], key=lambda i: i.index)
    count = {status: sum(1 for i in items if i.status == status) for status in _STATUSES}
    return BatchOut(
        items=items,
        created=count["created"],
        updated=count["updated"],
        unchanged=count["unchanged"],
        failed=count["error"],
    )


_STATUSES = ("created", "updated", "unchanged", "error")


def _item_out(result: ItemResult) -> BatchItemOut:
    if result.error is None:
        return BatchItemOut(index=result.index, id=result.id, status=result.outcome)
    return _error_out(result.index, result.id, result.error)


def _error_out(index: int, schedule_id: UUID | None, error: SchedulerError) -> BatchItemOut:
    parts = error_parts(error)
    assert parts is not None, error  # the batch raises only mapped kinds per item
    _, code, message, errors = parts
    return BatchItemOut(
        index=index,
        id=schedule_id,
        status="error",
        error=code,
        message=message,
        errors=[ErrorDetail(**e) for e in errors],
    )


def _invalid(index: int, item: Any, exc: ValidationError) -> BatchItemOut:
    """The item's model errors, worded as Litestar words them for a single create's body."""
    errors: list[dict[str, Any]] = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or None
        message = error["msg"] if field else "must be a JSON object (a schedule)"
        errors.append({"field": field, "message": message})
    return BatchItemOut(
        index=index,
        id=_item_id(item),
        status="error",
        error="validation_failed",
        message=joined_message(errors),
        errors=[ErrorDetail(**e) for e in errors],
    )


def _item_id(item: Any) -> UUID | None:
    """The id an invalid item names, when it names one (so the client can match the result)."""
    raw = item.get("id") if isinstance(item, dict) else None
    try:
        return UUID(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
