"""`scheduler import`: read the replaced system's schedules and create them through the batch.

Sources: a BullMQ queue's repeat set in Redis (`read_bullmq`), or the replaced system's
`workflow_triggers` table (`read_triggers`). Both are mapped by app/domain/importing.py, then
written by `import_schedules` through app/services/batch.py, 1,000 at a time, each batch one
transaction, as `POST /api/schedules/batch` writes them. Every candidate has its id, so running
the import again updates (or leaves unchanged) what the first run created. A dry run does the
same work in one transaction that is rolled back: its report is what a real run would do.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from app.domain.importing import Candidate, Mapped, RepeatEntry, Skipped, map_bullmq, map_trigger
from app.domain.quotas import TenantQuotas
from app.errors import QuotaExceeded, SchedulerError
from app.services.batch import MAX_BATCH, Draft, upsert_batch
from app.services.schedules import ScheduleService
from db.repositories import legacy
from db.types import Conn, JsonObject

Status = Literal["created", "updated", "unchanged", "skipped"]


@dataclass(frozen=True, slots=True)
class ReportRow:
    status: Status
    source: str
    id: UUID | None = None
    workflow_id: str | None = None
    cron: str | None = None
    reason: str | None = None


async def read_bullmq(redis_url: str, prefix: str, queue: str) -> list[RepeatEntry]:
    """Every job scheduler and legacy repeatable job of `queue` (read only).

    BullMQ keeps them in the sorted set `<prefix>:<queue>:repeat` (member: the scheduler id,
    or for a legacy job the md5 of its repeat key; score: the next slot in ms) with a hash
    `...:repeat:<member>` of its options. A scheduler's hash also holds its template data;
    a legacy job's data lives only in the job BullMQ made for its next slot,
    `...:repeat:<member>:<score>`.
    """
    import redis.asyncio as redis

    base = f"{prefix}:{queue}:repeat"
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        found: list[Any] = await client.zrange(base, 0, -1, withscores=True)
        members = [(str(pair[0]), float(pair[1])) for pair in found]
        pipe = client.pipeline(transaction=False)
        for member, score in members:
            pipe.hgetall(f"{base}:{member}")
            pipe.hgetall(f"{base}:{member}:{int(score)}")
        answers = await pipe.execute()
    except redis.RedisError as exc:
        raise SchedulerError(f"redis: cannot read {base}: {type(exc).__name__}: {exc}") from None
    finally:
        await client.aclose()
    return [
        _repeat_entry(member, int(score), answers[2 * i], answers[2 * i + 1])
        for i, (member, score) in enumerate(members)
    ]


def _repeat_entry(
    member: str, score: int, options: dict[str, str], job: dict[str, str]
) -> RepeatEntry:
    scheduler = "ic" in options or "data" in options  # only schedulers count iterations
    job_options = _json(job.get("opts"))
    found = job_options.get("repeat") if isinstance(job_options, dict) else None
    repeat: dict[str, Any] = found if isinstance(found, dict) else {}
    if scheduler:
        data = _json(options["data"]) if "data" in options else {}  # {} is not stored
    else:
        data = _json(job["data"]) if "data" in job else None
    return RepeatEntry(
        key=member,
        next_millis=score,
        kind="scheduler" if scheduler else "legacy",
        name=options.get("name") or job.get("name"),
        pattern=options.get("pattern"),
        every=_int(options.get("every")),
        tz=options.get("tz"),
        start_date=_int(options.get("startDate")),
        end_date=_int(options.get("endDate")),
        limit=_int(options.get("limit")),
        iteration_count=_int(options.get("ic")),
        data=data if isinstance(data, dict) else None,
        job_id_option=repeat.get("jobId") if isinstance(repeat.get("jobId"), str) else None,
        job_offset=_int(repeat.get("offset")) or 0,
    )


async def read_triggers(database_url: str) -> list[JsonObject]:
    """The replaced system's schedule triggers, on a read-only connection to its database."""
    try:
        async with await psycopg.AsyncConnection.connect(
            database_url,
            autocommit=True,
            row_factory=dict_row,
            options="-c default_transaction_read_only=on",
        ) as conn:
            return await legacy.schedule_triggers(conn)
    except psycopg.Error as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SchedulerError(
            f"--database-url: cannot read workflow_triggers: {first_line}"
        ) from None


def map_all_bullmq(entries: Sequence[RepeatEntry], queue: str, *, paused: bool) -> list[Mapped]:
    return [map_bullmq(e, queue, paused=paused) for e in entries]


def map_all_triggers(rows: Sequence[JsonObject], *, paused: bool) -> list[Mapped]:
    return [map_trigger(r, paused=paused) for r in rows]


async def import_schedules(
    conn: Conn,
    tenant: str,
    mapped: Sequence[Mapped],
    *,
    quotas: TenantQuotas,
    target_allowlist: tuple[str, ...] = (),
    dry_run: bool = False,
) -> list[ReportRow]:
    """Create or update the candidates as `tenant`'s schedules; one row per source, in order.

    Two sources that map to one id: the first is imported, the second skipped. A batch the
    tenant's quota refuses skips its candidates with the quota's message (the batches before it
    stay written). `dry_run`: everything in one transaction, rolled back."""
    report: dict[int, ReportRow] = {}
    candidates: list[tuple[int, Candidate]] = []
    seen: dict[UUID, str] = {}
    for position, item in enumerate(mapped):
        if isinstance(item, Skipped):
            report[position] = ReportRow("skipped", item.source, reason=item.reason)
        elif item.id in seen:
            report[position] = _row(
                "skipped", item, f"maps to the same id as {seen[item.id]}, imported instead"
            )
        else:
            seen[item.id] = item.source
            candidates.append((position, item))
    service = ScheduleService(conn, tenant, target_allowlist=target_allowlist, quotas=quotas)
    # A real run commits each batch (its own transaction); a dry run nests them in one that is
    # rolled back, so the quota sees the earlier batches' creates as a real run would.
    outer = conn.transaction(force_rollback=True) if dry_run else contextlib.nullcontext()
    async with outer:
        for start in range(0, len(candidates), MAX_BATCH):
            chunk = candidates[start : start + MAX_BATCH]
            report.update(await _import_chunk(service, chunk))
    return [report[position] for position in range(len(mapped))]


async def _import_chunk(
    service: ScheduleService, chunk: Sequence[tuple[int, Candidate]]
) -> dict[int, ReportRow]:
    try:
        results = await upsert_batch(service, [Draft(position, c.fields) for position, c in chunk])
    except QuotaExceeded as exc:
        return {position: _row("skipped", c, exc.message) for position, c in chunk}
    by_position = dict(chunk)
    rows: dict[int, ReportRow] = {}
    for result in results:
        candidate = by_position[result.index]
        if result.outcome == "error":
            rows[result.index] = _row("skipped", candidate, _reason(result.error))
        else:
            rows[result.index] = _row(result.outcome, candidate)
    return rows


def _row(status: Status, candidate: Candidate, reason: str | None = None) -> ReportRow:
    return ReportRow(
        status,
        candidate.source,
        candidate.id,
        str(candidate.fields.get("workflow_id")),
        str(candidate.fields.get("cron_expression")),
        reason,
    )


def _reason(error: SchedulerError | None) -> str:
    if error is None:
        return "refused"
    if error.field and not error.message.startswith(error.field):
        return f"{error.field}: {error.message}"
    return error.message


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
