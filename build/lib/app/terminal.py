"""Plain-text tables for the terminal views of the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.domain.cron import parse_cron
from app.domain.describe import describe
from app.domain.execution import Execution
from app.services.admin import StatusRow


def relative(moment: datetime | None, now: datetime) -> str:
    """'in 2 h', '5 min ago', '—'."""
    if moment is None:
        return "—"
    seconds = (moment - now).total_seconds()
    size = abs(seconds)
    for limit, unit, div in ((90, "s", 1), (5400, "min", 60), (129_600, "h", 3600)):
        if size < limit:
            amount = f"{round(size / div)} {unit}"
            break
    else:
        amount = f"{round(size / 86_400)} d"
    return f"in {amount}" if seconds >= 0 else f"{amount} ago"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def _instant(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "—"


def status_table(rows: Sequence[StatusRow], now: datetime) -> str:
    def state(row: StatusRow) -> str:
        s = row.schedule
        return "failing" if s.state == "active" and s.last_status == "failed" else s.state

    return table(
        ["id", "tenant", "workflow", "state", "schedule", "next run", "", "success", "runs"],
        [
            [
                str(r.schedule.id),
                r.schedule.tenant,
                r.schedule.workflow_id,
                state(r),
                f"{describe(parse_cron(r.schedule.cron_expression))} ({r.schedule.timezone})",
                _instant(r.schedule.next_run_at),
                relative(r.schedule.next_run_at, now),
                "—" if r.summary.success_rate is None else f"{r.summary.success_rate:.2f} %",
                str(r.summary.total),
            ]
            for r in rows
        ],
    )


def history_table(executions: Sequence[Execution]) -> str:
    return table(
        ["scheduled at", "status", "trigger", "attempts", "duration", "http", "error"],
        [
            [
                _instant(e.scheduled_at),
                e.status,
                e.trigger,
                str(e.attempts),
                "—" if e.duration_ms is None else f"{e.duration_ms} ms",
                "—" if e.http_status is None else str(e.http_status),
                (e.error or "")[:60].replace("\n", " "),
            ]
            for e in executions
        ],
    )
