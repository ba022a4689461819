"""The API's JSON shapes (camelCase), as pydantic models. OpenAPI is generated from them.

Inputs forbid unknown fields: a typo such as `cronExpresion` is an error, not a silent default.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, cast, get_args
from uuid import UUID

from annotated_types import BaseMetadata
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    create_model,
)
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from app.domain.callbacks import (
    MAX_COMPLETION_TIMEOUT_SECONDS,
    MAX_OUTPUT_BYTES,
    MAX_REPORT_ERROR_BYTES,
    Report,
    ReportStatus,
)
from app.domain.execution import Status
from app.domain.incidents import Kind as IncidentKind
from app.domain.incidents import State as IncidentState
from app.domain.instants import format_instant as _format_instant
from app.domain.schedule import (
    MAX_LATE_AFTER_SECONDS,
    SCHEDULE_DEFAULTS,
    MisfirePolicy,
    NewSchedule,
    OverlapPolicy,
    Schedule,
    ScheduleChanges,
    State,
)
from app.errors import ValidationFailed

Instant = Annotated[datetime, PlainSerializer(_format_instant, return_type=str)]
NonBlank = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class CamelModel(BaseModel):
    """Input: camelCase only, unknown fields rejected."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, extra="forbid")


class CamelOut(BaseModel):
    """Output: built from snake_case names, serialized in camelCase."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


def _cron_length(value: str) -> str:
    if len(value) > 200:
        raise ValueError(f"{len(value)} characters is over the limit of 200")
    return value


_NUL_MESSAGE = "must not contain NUL (\\u0000) characters"


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL: refuse it here (422) rather than fail in the database."""
    if "\x00" in value:
        raise ValueError(_NUL_MESSAGE)
    return value


def _no_nul_inside(value: dict[str, Any]) -> dict[str, Any]:
    """The same for every key and string of a JSON object (jsonb refuses `\\u0000` too)."""
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            _no_nul(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return value


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    """Instants the slot arithmetic and PostgreSQL both handle, with room to spare."""
    if not EARLIEST <= value < LATEST:
        raise ValueError(
            f"must be between {_format_instant(EARLIEST)} and {_format_instant(LATEST)}"
        )
    return value


CronText = Annotated[str, AfterValidator(_cron_length)]
WorkflowId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_nul),
]
Note = Annotated[str, StringConstraints(max_length=500), AfterValidator(_no_nul)]
InstantIn = Annotated[AwareDatetime, AfterValidator(_in_range)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_no_nul_inside)]


MIN_TIMEOUT_SECONDS = 1
"""An attempt shorter than this writes its request and gives up before any real target can
answer, then is retried: up to `maxAttempts` deliveries of one slot that all count as timeouts
(security review L9)."""
MIN_RETRY_BACKOFF_SECONDS = 1
"""Retries at least a second apart: a failing target is not hammered in a tight loop (L9)."""


def _default(name: str) -> Any:
    """The domain's default of a writable field (app/domain/schedule.py: SCHEDULE_DEFAULTS)."""
    return SCHEDULE_DEFAULTS[name]


class ScheduleFields(CamelModel):
    """The writable fields; a PATCH sends any subset of them.

    The one table of the writable fields' types and limits: the names and defaults are the
    domain's (`WRITABLE_FIELDS`, `SCHEDULE_DEFAULTS`; tests/unit/test_vocabulary.py compares),
    and `SchedulePatch` is derived from this class."""

    workflow_id: WorkflowId
    cron_expression: CronText
    timezone: str = _default("timezone")
    enabled: bool = _default("enabled")
    pause_note: Note | None = _default("pause_note")
    overlap_policy: OverlapPolicy = _default("overlap_policy")
    misfire_policy: MisfirePolicy = _default("misfire_policy")
    misfire_grace_seconds: int = Field(default=_default("misfire_grace_seconds"), ge=0, le=86_400)
    catchup_window_seconds: int = Field(
        default=_default("catchup_window_seconds"), ge=0, le=31 * 86_400
    )
    max_attempts: int = Field(default=_default("max_attempts"), ge=1, le=100)
    retry_backoff_seconds: float = Field(
        default=_default("retry_backoff_seconds"), ge=MIN_RETRY_BACKOFF_SECONDS, le=3_600
    )
    timeout_seconds: float = Field(
        default=_default("timeout_seconds"), ge=MIN_TIMEOUT_SECONDS, le=3_600
    )
    completion_timeout_seconds: int = Field(
        default=_default("completion_timeout_seconds"), ge=1, le=MAX_COMPLETION_TIMEOUT_SECONDS
    )
    late_after_seconds: int = Field(
        default=_default("late_after_seconds"), ge=1, le=MAX_LATE_AFTER_SECONDS
    )
    jitter_seconds: int = Field(default=_default("jitter_seconds"), ge=0, le=86_400)
    start_at: InstantIn | None = _default("start_at")
    end_at: InstantIn | None = _default("end_at")
    remaining_runs: int | None = Field(default=_default("remaining_runs"), ge=0, le=2**31 - 1)
    pause_after_failures: int | None = Field(
        default=_default("pause_after_failures"), ge=1, le=10_000
    )
    input: JsonObject = Field(default_factory=dict)
    target_url: Annotated[str, StringConstraints(max_length=2_000)] | None = _default("target_url")


class ScheduleCreate(ScheduleFields):
    id: UUID | None = None

    def to_domain(self, *, only_sent: bool = False) -> NewSchedule:
        """The schedule to create: every writable field (`only_sent`: only those the client
        sent, so that a batch item that updates a schedule keeps the others), and the id only
        when one is sent."""
        fields = self.model_dump(exclude_unset=only_sent)
        if fields.get("id") is None:
            fields.pop("id", None)
        # The names are ScheduleFields' (tests/unit/test_vocabulary.py: WRITABLE_FIELDS) and id.
        return cast(NewSchedule, fields)


def sent_fields(model: BaseModel, not_null: Iterable[str]) -> dict[str, Any]:
    """The fields a PATCH sent, snake_case; ValidationFailed (422) when one of `not_null`,
    which have no "absent" meaning, is sent as null."""
    changes = model.model_dump(exclude_unset=True)
    for name in not_null:
        if name in changes and changes[name] is None:
            field = type(model).model_fields[name].alias or name
            raise ValidationFailed(f"{field}: may not be null", field=field)
    return changes


def _nullable(info: FieldInfo) -> bool:
    return info.annotation is None or type(None) in get_args(info.annotation)


def _optional(info: FieldInfo) -> tuple[Any, Any]:
    """A field as `T | None = None` that a value passes under the same rules as on create.

    Validators stay on `T` (`null` passes them by); `Field(ge=, le=)` limits stay on the field,
    where pydantic applies them to `T` too. So the OpenAPI document shows each field as it did
    when SchedulePatch was written out by hand."""
    limits = [item for item in info.metadata if isinstance(item, BaseMetadata)]
    rules = [item for item in info.metadata if not isinstance(item, BaseMetadata)]
    inner: Any = Annotated[(info.annotation, *rules)] if rules else info.annotation
    return (Annotated[(inner | None, *limits)] if limits else inner | None), None


_CHANGES: dict[str, Any] = {
    name: _optional(info) for name, info in ScheduleFields.model_fields.items()
}
_ScheduleChanges = create_model("_ScheduleChanges", __base__=CamelModel, **_CHANGES)


class SchedulePatch(_ScheduleChanges):
    """Every field optional; `null` clears a nullable field."""

    # Fields that may not be set to null (they have no "absent" meaning).
    REQUIRED_IF_SENT: ClassVar[tuple[str, ...]] = tuple(
        name for name, info in ScheduleFields.model_fields.items() if not _nullable(info)
    )

    def to_domain(self) -> ScheduleChanges:
        """The fields sent, and only those (null clears a nullable field)."""
        # The names are ScheduleFields' (tests/unit/test_vocabulary.py: WRITABLE_FIELDS).
        return cast(ScheduleChanges, sent_fields(self, self.REQUIRED_IF_SENT))


class PauseBody(CamelModel):
    note: Note | None = None


class PreviewRequest(CamelModel):
    cron_expression: CronText
    timezone: str = "UTC"
    after: InstantIn | None = None
    count: int = Field(default=5, ge=1, le=1_000)


class PreviewResponse(CamelOut):
    next_runs: list[Instant]
    description: str


class ScheduleOut(CamelOut):
    """A schedule as the API shows it."""

    id: UUID
    workflow_id: str
    cron_expression: str
    timezone: str
    enabled: bool
    state: State
    pause_note: str | None
    overlap_policy: str
    misfire_policy: str
    misfire_grace_seconds: int
    catchup_window_seconds: int
    max_attempts: int
    retry_backoff_seconds: float
    timeout_seconds: float
    completion_timeout_seconds: int
    late_after_seconds: int
    jitter_seconds: int
    start_at: Instant | None
    end_at: Instant | None
    remaining_runs: int | None
    pause_after_failures: int | None
    input: dict[str, Any]
    target_url: str | None
    next_run_at: Instant | None
    last_run_at: Instant | None
    last_status: str | None
    description: str
    created_at: Instant
    updated_at: Instant
    version: int


class StatsOut(CamelOut):
    """Statistics over the history kept (SPEC §6)."""

    total: int
    pending: int
    running: int
    retrying: int
    accepted: int = Field(description="runs awaiting their workflow's result")
    succeeded: int
    failed: int
    timed_out: int
    skipped: int
    missed: int
    cancelled: int
    success_rate: float | None = Field(
        description="succeeded / (succeeded + failed + timed_out), percent"
    )
    avg_duration_ms: float | None
    p95_duration_ms: float | None = Field(description="within ±12 % (log-scale buckets)")


class ScheduleStatsOut(StatsOut):
    last_run_at: Instant | None
    last_status: str | None
    consecutive_failures: int
    next_run_at: Instant | None


class SummaryStatsOut(CamelOut):
    total: int
    success_rate: float | None


class ScheduleListItem(ScheduleOut):
    stats: SummaryStatsOut


class ScheduleList(CamelOut):
    items: list[ScheduleListItem]
    next_cursor: str | None


class RegisterRequest(CamelModel):
    """The replaced system's register body."""

    trigger_id: UUID
    workflow_id: WorkflowId
    cron_expression: CronText
    timezone: str = "UTC"
    enabled: bool = True


class RegisterResponse(CamelOut):
    success: bool
    trigger_id: UUID
    created: bool
    schedule: ScheduleOut


class ErrorDetail(BaseModel):
    field: str | None
    message: str


class ErrorBody(BaseModel):
    """Every 4xx answer: what is wrong and where (`errors` is empty when no field is to blame)."""

    error: str = Field(description="a stable code: validation_failed, not_found, ...")
    message: str
    errors: list[ErrorDetail]


def schedule_fields(schedule: Schedule) -> dict[str, Any]:
    """The ScheduleOut fields that a domain Schedule holds as they are."""
    return {
        name: getattr(schedule, name)
        for name in ScheduleOut.model_fields
        if hasattr(schedule, name)
    }


class ExecutionOut(CamelOut):
    """One execution (a run of one slot), SPEC §6."""

    id: UUID
    trigger_id: UUID
    workflow_id: str
    scheduled_at: Instant
    status: Status
    trigger: str
    attempts: int
    executed_at: Instant | None
    started_at: Instant | None
    finished_at: Instant | None
    duration_ms: int | None
    http_status: int | None
    workflow_run_id: str | None
    error: str | None
    next_attempt_at: Instant | None
    accepted_at: Instant | None = Field(
        default=None, description="when the target answered 202 Accepted"
    )
    completion_deadline: Instant | None = Field(
        default=None,
        description="an accepted run with no result or heartbeat by then ends timed_out",
    )
    output: dict[str, Any] | None = Field(default=None, description="what the workflow reported")


class IncidentOut(CamelOut):
    """An incident (issue 12): one (schedule, kind) condition, open or resolved."""

    id: UUID
    kind: IncidentKind
    state: IncidentState
    schedule_id: UUID
    workflow_id: str
    opened_at: Instant = Field(description="when it opened (or last reopened)")
    resolved_at: Instant | None
    occurrences: int = Field(description="occurrences while open (failed runs, missed slots...)")
    last_execution_id: UUID | None
    summary: str
    updated_at: Instant


class IncidentList(CamelOut):
    items: list[IncidentOut]
    next_cursor: str | None


def _error_size(value: str) -> str:
    size = len(value.encode())
    if size > MAX_REPORT_ERROR_BYTES:
        raise ValueError(f"{size} bytes is over the limit of {MAX_REPORT_ERROR_BYTES}")
    return value


def _output_size(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_OUTPUT_BYTES:
        raise ValueError(f"{size} bytes of JSON is over the limit of {MAX_OUTPUT_BYTES}")
    return value


class ResultReport(CamelModel):
    """A workflow's report of how it ended (`POST /api/executions/{id}/result`)."""

    status: ReportStatus
    error: Annotated[str, AfterValidator(_no_nul), AfterValidator(_error_size)] | None = None
    output: Annotated[JsonObject, AfterValidator(_output_size)] | None = None
    retryable: bool = Field(
        default=False, description="a failure worth another delivery (maxAttempts, backoff)"
    )

    def to_domain(self) -> Report:
        return Report(self.status, self.error, self.output, self.retryable)


class ExecutionList(CamelOut):
    items: list[ExecutionOut]
    next_cursor: str | None


class BackfillRequest(CamelModel):
    start: InstantIn
    end: InstantIn


class BackfillResponse(CamelOut):
    created: int
    existing: int


class ScheduleDetail(ScheduleOut):
    next_runs: list[Instant]
    stats: ScheduleStatsOut | None = None
    last_execution: ExecutionOut | None = None


class OverallStatsOut(StatsOut):
    schedules: dict[str, int] = Field(description="schedules by state")


class HistoryOut(CamelOut):
    """The replaced system's history answer: recent executions and statistics."""

    executions: list[ExecutionOut]
    stats: ScheduleStatsOut


BATCH_MAX_ITEMS = 1_000  # app.services.batch.MAX_BATCH (a test keeps them equal)


class ScheduleBatch(CamelModel):
    """Up to 1,000 schedules, each a `POST /api/schedules` body (`id` optional: a schedule of
    yours with that id is updated with the fields sent)."""

    # Not `schedules`: Litestar reads a body error on a field named like a dependency of the
    # handler (`schedules`, the service) as a failure of that dependency, and answers 500.
    items: list[Any] = Field(
        max_length=BATCH_MAX_ITEMS,
        description="each item is validated on its own (a ScheduleCreate body)",
        json_schema_extra={"items": {"$ref": "#/components/schemas/ScheduleCreate"}},
    )


class BatchItemOut(CamelOut):
    """What became of one item: `error`, `message` and `errors` are what `POST
    /api/schedules` would have answered for it (its 4xx body)."""

    index: int
    id: UUID | None
    status: Literal["created", "updated", "unchanged", "error"]
    error: str | None = None
    message: str | None = None
    errors: list[ErrorDetail] = Field(default_factory=list)


class BatchOut(CamelOut):
    items: list[BatchItemOut]
    created: int
    updated: int
    unchanged: int
    failed: int
