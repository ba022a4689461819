"""Plain-text tables for the terminal views of the CLI (`scheduler status`, `history`,
`incidents`, `import`).

Every cell goes through `printable`: the texts come from tenants (workflow ids) and from
targets (error texts), and a raw escape sequence in them would be executed by the operator's
terminal (rewrite or hide lines, set the title, write the clipboard with OSC 52).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime

from app.domain.cron import parse_cron
from app.domain.describe import describe
from app.domain.execution import Execution
from app.domain.incidents import Incident
from app.services.admin import StatusRow
from app.services.importing import ReportRow as ImportRow


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


# Control characters (C0, DEL, C1: ESC, CSI, OSC, BEL, CR, backspace...), format characters
# (bidi overrides and isolates that reorder what is shown, zero-width ones) and line/paragraph
# separators: none of them belongs in a table cell, all of them can change what it shows.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _escape(ch: str) -> str:
    code = ord(ch)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def printable(text: str) -> str:
    """`text` with every character a terminal would interpret shown as an escape (`\\x1b`,
    `\\u202e`) instead: what is printed is exactly what is stored, and nothing is executed."""
    if text.isprintable():  # the common case: nothing to escape (str.isprintable is C-fast)
        return text
    return "".join(_escape(ch) if unicodedata.category(ch) in _UNPRINTABLE else ch for ch in text)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def _instant(moment: datetime | None) -> str:
    """An instant in UTC, as `2026-01-01 09:00:00Z`: converted, since psycopg hands back
    timestamptz in the session's time zone."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if moment else "—"


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


def incidents_table(incidents: Sequence[Incident]) -> str:
    """`scheduler incidents`: newest opening first."""
    return table(
        ["id", "tenant", "workflow", "kind", "state", "opened", "resolved", "count", "summary"],
        [
            [
                str(i.id),
                i.tenant,
                i.workflow_id,
                i.kind,
                i.state,
                _instant(i.opened_at),
                _instant(i.resolved_at),
                str(i.occurrences),
                i.summary[:80],
            ]
            for i in incidents
        ],
    )


def history_heading(workflow_id: str, tenant: str, cron: str, zone: str, state: str) -> str:
    """The line above `scheduler history`'s table (tenant-chosen texts escaped as in cells)."""
    return printable(f"{workflow_id} ({tenant}) · {cron} {zone} · {state}")


def import_table(rows: Sequence[ImportRow]) -> str:
    """`scheduler import`'s report: one line per schedule found in the old system."""
    return table(
        ["result", "id", "workflow", "cron", "source", "reason"],
        [
            [
                r.status,
                str(r.id) if r.id else "—",
                r.workflow_id or "—",
                r.cron or "—",
                r.source,
                r.reason or "",
            ]
            for r in rows
        ],
    )
