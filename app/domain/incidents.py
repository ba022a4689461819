"""Incidents (issue 12): the kinds, the events that open and resolve them, the flapping bound,
the summaries and the delivery payload. Pure: the SQL that applies the rules lives in
db/queries/incidents.sql, next to a comment pointing here.

An incident is one (schedule, kind) condition. It opens on the first occurrence, collects
further occurrences while open, and resolves when the condition clears. Opening and resolving
are *announced* (one outbox delivery per matching channel) within the flapping bound:

- a new incident is announced at once (`incident.opened`);
- its resolution is announced at once when its current opening was announced;
- an occurrence less than `min_interval` after the last announced opening reopens the same
  incident (same id) silently; it is announced once the interval has passed and it is still
  open (on its next occurrence, or by the API's watcher at the latest), and a resolution of an
  opening that was never announced is not announced either.

So a channel sees at most one opened/resolved pair per incident per interval, and its view is
right again at most one interval after a change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args
from uuid import UUID

Kind = Literal["run.failed", "schedule.paused", "slot.missed", "run.late"]
KINDS: tuple[Kind, ...] = get_args(Kind)
State = Literal["open", "resolved"]
STATES: tuple[State, ...] = get_args(State)
EventType = Literal["incident.opened", "incident.resolved"]
Action = Literal["open", "resolve"]

DEFAULT_MIN_INTERVAL_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """What every writer of incidents needs from the settings: the flapping bound
    (SCHEDULER_ALERT_MIN_INTERVAL) and the API's public address, for `dashboardUrl`."""

    min_interval_seconds: float = DEFAULT_MIN_INTERVAL_SECONDS
    public_url: str = "http://localhost:8000"

    @property
    def min_interval(self) -> timedelta:
        return timedelta(seconds=self.min_interval_seconds)

    def dashboard_url(self, schedule_id: UUID) -> str:
        return f"{self.public_url.rstrip('/')}/schedules/{schedule_id}"


DEFAULT_ALERTS = AlertPolicy()
"""The defaults (SCHEDULER_ALERT_MIN_INTERVAL 300 s, the API on localhost:8000): processes
pass `Settings.alert_policy`; tests and tools that do not care use this."""


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """One occurrence (`open`) or clearing (`resolve`) of a condition of a schedule.
    `execution_id` is the run it is about, when there is one."""

    trigger_id: UUID
    kind: Kind
    action: Action
    execution_id: UUID | None = None
    count: int = 1  # occurrences this event stands for (e.g. slots missed in one pass)


@dataclass(frozen=True, slots=True)
class Change:
    """What one call does to one (schedule, kind): `opens` occurrences (0: none) with the last
    run they name, then a resolution when the last event was one. Events of one (schedule,
    kind) in one call are folded: a failure then a success within one batch opens the incident
    and resolves it; a success then a failure leaves it open (the order within the batch is
    the order the runs ended, which is all the callers know)."""

    trigger_id: UUID
    kind: Kind
    opens: int
    last_execution_id: UUID | None
    resolves: bool


def fold(events: Iterable[IncidentEvent]) -> list[Change]:
    """The events, per (schedule, kind), in a stable order (schedule id, then kind): callers
    that write several schedules' incidents take their rows in the same order."""
    acc: dict[tuple[UUID, Kind], tuple[int, UUID | None, bool]] = {}
    for event in events:
        opens, last, _ = acc.get((event.trigger_id, event.kind), (0, None, False))
        if event.action == "open":
            acc[(event.trigger_id, event.kind)] = (
                opens + max(1, event.count),
                event.execution_id or last,
                False,
            )
        else:
            acc[(event.trigger_id, event.kind)] = (opens, last, True)
    return [
        Change(trigger, kind, opens, last, resolves)
        for (trigger, kind), (opens, last, resolves) in sorted(
            # `.int` orders ids as their text does (and as PostgreSQL does), unformatted
            acc.items(),
            key=lambda item: (item[0][0].int, item[0][1]),
        )
    ]


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident as stored."""

    id: UUID
    tenant: str
    trigger_id: UUID
    workflow_id: str
    kind: Kind
    state: State
    opened_at: datetime
    resolved_at: datetime | None
    occurrences: int
    last_execution_id: UUID | None
    summary: str
    last_announced_at: datetime | None
    updated_at: datetime

    @property
    def opening_announced(self) -> bool:
        """Whether the current opening reached the channels (an opening is announced at or
        after the instant it happened; a silent reopening moves `opened_at` past it)."""
        return self.last_announced_at is not None and self.last_announced_at >= self.opened_at


def announcement_due(incident: Incident, now: datetime, min_interval: timedelta) -> bool:
    """An open incident whose opening was not announced, once the interval has passed."""
    return (
        incident.state == "open"
        and not incident.opening_announced
        and (incident.last_announced_at is None or incident.last_announced_at + min_interval <= now)
    )


def reopens(last_announced_at: datetime | None, now: datetime, min_interval: timedelta) -> bool:
    """Whether a new occurrence of a resolved incident reopens it (within the interval of its
    last announced opening) rather than opening a new incident."""
    return last_announced_at is not None and now < last_announced_at + min_interval


_OPENED: dict[Kind, str] = {
    "run.failed": "Runs of workflow {w} are failing (a run ended failed or timed out)",
    "schedule.paused": "The schedule of workflow {w} was paused after consecutive failed runs",
    "slot.missed": "Slots of workflow {w} were missed (not fired, by the misfire policy)",
    "run.late": "A run of workflow {w} has not started {late} s after its instant",
}
_RESOLVED: dict[Kind, str] = {
    "run.failed": "Runs of workflow {w} succeed again",
    "schedule.paused": "The schedule of workflow {w} was resumed",
    "slot.missed": "The schedule of workflow {w} fires on time again",
    "run.late": "The schedule of workflow {w} fires again",
}


def opened_summary(kind: Kind, workflow_id: str, late_after_seconds: int = 60) -> str:
    """The one-line text of a new incident (stored; shown in lists and messages)."""
    return _OPENED[kind].format(w=_quoted(workflow_id), late=late_after_seconds)


def resolved_summary(kind: Kind, workflow_id: str) -> str:
    return _RESOLVED[kind].format(w=_quoted(workflow_id))


def _quoted(workflow_id: str) -> str:
    # Control characters would break a Slack line or an e-mail subject; ids are short.
    return repr("".join(c if c.isprintable() else "?" for c in workflow_id[:200]))


def instant(value: datetime | None) -> str | None:
    """An instant of the payload: ISO 8601 in UTC with `Z`, to the millisecond."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def payload(incident: Incident, event_type: EventType, policy: AlertPolicy) -> dict[str, Any]:
    """The body of a delivery (docs/alerts.md): the same for every channel of the event."""
    summary = (
        incident.summary
        if event_type == "incident.opened"
        else resolved_summary(incident.kind, incident.workflow_id)
    )
    return {
        "type": event_type,
        "incident": {
            "id": str(incident.id),
            "kind": incident.kind,
            "scheduleId": str(incident.trigger_id),
            "workflowId": incident.workflow_id,
            "tenant": incident.tenant,
            "openedAt": instant(incident.opened_at),
            "resolvedAt": instant(incident.resolved_at),
            "occurrences": incident.occurrences,
            "lastExecutionId": (
                str(incident.last_execution_id) if incident.last_execution_id else None
            ),
            "summary": summary,
            "dashboardUrl": policy.dashboard_url(incident.trigger_id),
        },
    }


Transition = tuple[Incident, EventType | None]
"""An incident's new state, and the event to announce (None: nothing to send)."""


def note(
    incident: Incident,
    opens: int,
    last_execution_id: UUID | None,
    now: datetime,
    min_interval: timedelta,
) -> Transition:
    """Further occurrences of an open incident: counted; its opening is announced now if it
    was held back by the flapping bound and the interval has passed."""
    noted = replace(
        incident,
        occurrences=incident.occurrences + opens,
        last_execution_id=last_execution_id or incident.last_execution_id,
        updated_at=now,
    )
    return _announce_if_due(noted, now, min_interval)


def reopen(
    incident: Incident,
    opens: int,
    last_execution_id: UUID | None,
    now: datetime,
    min_interval: timedelta,
) -> Transition:
    """A resolved incident whose condition came back within the flapping bound: the same
    incident, open again from `now`; not announced until the interval has passed."""
    reopened = replace(incident, state="open", opened_at=now, resolved_at=None)
    return note(reopened, opens, last_execution_id, now, min_interval)


def resolve(incident: Incident, now: datetime) -> Transition:
    """The condition cleared: resolved, announced when its opening was."""
    resolved = replace(incident, state="resolved", resolved_at=now, updated_at=now)
    return resolved, "incident.resolved" if incident.opening_announced else None


def announce_held(incident: Incident, now: datetime, min_interval: timedelta) -> Transition:
    """The watcher's sweep: an opening held back by the flapping bound, once it is due."""
    return _announce_if_due(incident, now, min_interval)


def _announce_if_due(incident: Incident, now: datetime, min_interval: timedelta) -> Transition:
    if announcement_due(incident, now, min_interval):
        return replace(incident, last_announced_at=now), "incident.opened"
    return incident, None
