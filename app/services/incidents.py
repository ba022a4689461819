"""Incidents (issue 12): `record_events`, called by the code where things happen, inside its
own transaction, writes incidents and their outbox rows; `watch_once` is the API's watcher
pass (run.late, and openings the flapping bound held back); the rest reads them.

The rules are app/domain/incidents.py. The outbox rows commit with the event that caused them
or not at all: a delivery is never sent for a run that was not recorded, and never lost for
one that was (the workers' senders deliver them, at least once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from app.domain import incidents as rules
from app.domain.incidents import AlertPolicy, Change, EventType, Incident, IncidentEvent, Kind
from app.errors import IncidentNotFound, ValidationFailed
from app.services.cursors import decode_cursor, encode_cursor
from db.clock import db_now
from db.repositories import alert_deliveries as alert_deliveries_repo
from db.repositories import incidents as repo
from db.repositories import schedules as schedules_repo
from db.repositories.alert_deliveries import OutboxRow
from db.repositories.incidents import NewIncident
from db.repositories.schedules import ScheduleRef
from db.types import Conn

WATCH_LIMIT = 1_000
"""Late schedules (and held openings) one watcher pass handles; more wait for the next."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """What one `record_events` call wrote."""

    opened: int = 0  # new incidents
    announced: int = 0  # opened/resolved events announced
    deliveries: int = 0  # outbox rows (announcements × matching channels)


async def record_events(
    conn: Conn,
    events: Sequence[IncidentEvent],
    policy: AlertPolicy,
    *,
    now: datetime | None = None,
) -> Recorded:
    """Apply `events` to the incidents of their schedules, in the caller's transaction, and
    write one outbox row per announcement and matching channel.

    The caller holds the row locks of the schedules it resolves incidents of (a finisher, the
    dispatcher and a resume all do); schedules whose incidents open are locked here, in id
    order. Events of deleted schedules are ignored. `now` (tests) replaces the database clock.
    Cheap when nothing is open and nothing opens: one query (none for no events: a batch of
    successes with nothing to resolve makes none, app/services/attempts.py `_incident_events`).
    """
    changes = rules.fold(events)
    if not changes:
        return Recorded()
    opening = [c for c in changes if c.opens]
    # Schedules first, then incidents: the order every writer takes them in.
    schedules = await schedules_repo.lock_for_incidents(conn, [c.trigger_id for c in opening])
    pairs = [(c.trigger_id, c.kind) for c in changes]
    current = {(i.trigger_id, i.kind): i for i in await repo.lock_open(conn, pairs)}
    if not opening and not current:
        return Recorded()
    before = {i.id: i.state for i in current.values()}
    now = now or await db_now(conn)
    interval = policy.min_interval
    announced: list[tuple[Incident, EventType]] = []
    changed: dict[tuple[UUID, Kind], Incident] = {}

    def apply(key: tuple[UUID, Kind], transition: rules.Transition) -> None:
        incident, event = transition
        changed[key] = current[key] = incident
        if event is not None:
            announced.append((incident, event))

    to_insert = [c for c in opening if (c.trigger_id, c.kind) not in current]
    prior = {
        (i.trigger_id, i.kind): i
        for i in await repo.latest_resolved(conn, [(c.trigger_id, c.kind) for c in to_insert])
    }
    new: list[NewIncident] = []
    for change in opening:
        key = (change.trigger_id, change.kind)
        if key in current:
            apply(
                key, rules.note(current[key], change.opens, change.last_execution_id, now, interval)
            )
        elif (
            change.trigger_id in schedules  # a deleted schedule's incidents stay as they are
            and key in prior
            and rules.reopens(prior[key].last_announced_at, now, interval)
        ):
            apply(
                key, rules.reopen(prior[key], change.opens, change.last_execution_id, now, interval)
            )
        elif change.trigger_id in schedules:
            new.append(_new_incident(change, schedules[change.trigger_id], now))
    new_ids: set[UUID] = set()
    for incident in await repo.insert_many(conn, new):
        current[(incident.trigger_id, incident.kind)] = incident
        announced.append((incident, "incident.opened"))
        new_ids.add(incident.id)
    for change in changes:
        key = (change.trigger_id, change.kind)
        if change.resolves and key in current and current[key].state == "open":
            apply(key, rules.resolve(current[key], now))
    await repo.write_many(conn, list(changed.values()))
    await repo.insert_stat_deltas(conn, _counted(before, list(current.values()), new_ids))
    deliveries = await _announce(conn, announced, policy)
    return Recorded(len(new), len(announced), deliveries)


def _counted(
    before: Mapping[UUID, str], after: Sequence[Incident], new_ids: set[UUID]
) -> list[tuple[Incident, str, int]]:
    """The /metrics deltas of one call: incidents opened, and the change of open ones."""
    deltas: list[tuple[Incident, str, int]] = []
    for incident in after:
        if incident.id in new_ids:
            deltas.append((incident, "incident_opened", 1))
        was_open = before.get(incident.id, "resolved") == "open"
        if was_open != (incident.state == "open"):
            deltas.append((incident, "incident_open", 1 if incident.state == "open" else -1))
    return deltas


def _new_incident(change: Change, schedule: ScheduleRef, now: datetime) -> NewIncident:
    return NewIncident(
        tenant=schedule.tenant,
        trigger_id=schedule.id,
        workflow_id=schedule.workflow_id,
        kind=change.kind,
        opened_at=now,
        occurrences=change.opens,
        last_execution_id=change.last_execution_id,
        summary=rules.opened_summary(
            change.kind, schedule.workflow_id, schedule.late_after_seconds
        ),
    )


async def _announce(
    conn: Conn, announced: Sequence[tuple[Incident, EventType]], policy: AlertPolicy
) -> int:
    # The payload is taken when the event happens: an incident opened and resolved in one
    # call announces its opening as open.
    return await alert_deliveries_repo.insert_many(
        conn,
        [
            OutboxRow(incident, event, rules.payload(incident, event, policy))
            for incident, event in announced
        ],
    )


@dataclass(frozen=True, slots=True)
class Watched:
    """One watcher pass: whether it ran (another API process may hold the lock), the late
    schedules seen, and what it recorded."""

    ran: bool
    late: int = 0
    recorded: Recorded = Recorded()
    held_announced: int = 0


async def watch_once(
    conn: Conn, policy: AlertPolicy, *, now: datetime | None = None, limit: int = WATCH_LIMIT
) -> Watched:
    """The API's watcher pass, one process at a time (a transaction-scoped advisory lock):

    - run.late opens for every schedule late now (from the database alone, so it is noticed
      with every worker stopped) and resolves for every open one no longer late (its schedule
      fired again and its run started);
    - openings the flapping bound held back are announced once their interval has passed.
    """
    async with conn.transaction():
        if not await repo.try_watch_lock(conn):
            return Watched(ran=False)
        now = now or await db_now(conn)
        late = await repo.find_late(conn, now, limit)
        open_late = await repo.list_open_of_kind(conn, "run.late", limit)
        # record_events' contract: the schedules locked (in id order) before their incidents.
        # Those another transaction holds (a frozen worker's pass) wait for the next pass.
        locked = await schedules_repo.try_lock_for_incidents(
            conn, [s.trigger_id for s in late] + [i.trigger_id for i in open_late]
        )
        late_ids = {slot.trigger_id for slot in late}
        already = {i.trigger_id for i in open_late}
        events = [
            IncidentEvent(slot.trigger_id, "run.late", "open", slot.execution_id)
            for slot in late
            if slot.trigger_id in locked and slot.trigger_id not in already
        ] + [
            IncidentEvent(i.trigger_id, "run.late", "resolve")
            for i in open_late
            if i.trigger_id in locked and i.trigger_id not in late_ids
        ]
        recorded = await record_events(conn, events, policy, now=now)
        held = await _announce_held(conn, policy, now, limit)
    return Watched(True, len(late), recorded, held)


async def _announce_held(conn: Conn, policy: AlertPolicy, now: datetime, limit: int) -> int:
    held = await repo.lock_unannounced(conn, now, policy.min_interval_seconds, limit)
    announced: list[tuple[Incident, EventType]] = []
    for incident in held:
        updated, event = rules.announce_held(incident, now, policy.min_interval)
        if event is not None:
            announced.append((updated, event))
    await repo.write_many(conn, [incident for incident, _ in announced])
    await _announce(conn, announced, policy)
    return len(announced)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Incident]
    next_cursor: str | None


class IncidentService:
    """A tenant's incidents, read-only."""

    def __init__(self, conn: Conn, tenant: str) -> None:
        self.conn = conn
        self.tenant = tenant

    async def list(
        self,
        *,
        state: str | None = None,
        schedule_id: UUID | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        if state is not None and state not in rules.STATES:
            raise ValidationFailed("state: must be open or resolved", field="state")
        after = decode_cursor(cursor) if cursor else None
        rows = await repo.list_page(
            self.conn,
            self.tenant,
            limit=limit + 1,
            after=after,
            state=state,
            trigger_id=schedule_id,
        )
        items = rows[:limit]
        if len(rows) <= limit or not items:
            return Page(items, None)
        return Page(items, encode_cursor(items[-1].opened_at, items[-1].id))

    async def get(self, incident_id: UUID) -> Incident:
        found = await repo.get(self.conn, self.tenant, incident_id)
        if found is None:
            raise IncidentNotFound(f"no incident with id {incident_id}")
        return found

    async def open_count(self) -> int:
        return await repo.count_open(self.conn, self.tenant)


async def list_admin(
    conn: Conn, *, tenant: str | None, state: str | None, limit: int = 100
) -> list[Incident]:
    """Every tenant's incidents (or one tenant's), for `scheduler incidents`."""
    return await repo.list_admin(conn, tenant, state, limit)
