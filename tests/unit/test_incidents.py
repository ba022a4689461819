"""The incident rules (app/domain/incidents.py), pure: folding events, the transitions, the
flapping bound, the payload."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from app.domain import incidents as rules
from app.domain.incidents import AlertPolicy, Incident, IncidentEvent

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=5)
A = UUID(int=1)
B = UUID(int=2)


def _incident(**fields: object) -> Incident:
    base = Incident(
        id=uuid4(),
        tenant="acme",
        trigger_id=A,
        workflow_id="nightly",
        kind="run.failed",
        state="open",
        opened_at=T0,
        resolved_at=None,
        occurrences=1,
        last_execution_id=None,
        summary="s",
        last_announced_at=T0,
        updated_at=T0,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def test_fold_counts_openings_and_keeps_a_final_resolution() -> None:
    run1, run2 = uuid4(), uuid4()
    changes = rules.fold(
        [
            IncidentEvent(B, "run.failed", "resolve"),
            IncidentEvent(A, "run.failed", "open", run1),
            IncidentEvent(A, "slot.missed", "open", None, count=4),
            IncidentEvent(A, "run.failed", "open", run2),
            IncidentEvent(A, "run.failed", "resolve"),
        ]
    )
    assert [(c.trigger_id, c.kind, c.opens, c.last_execution_id, c.resolves) for c in changes] == [
        (A, "run.failed", 2, run2, True),
        (A, "slot.missed", 4, None, False),
        (B, "run.failed", 0, None, True),
    ]
    # A success then a failure: the incident stays open.
    [change] = rules.fold(
        [IncidentEvent(A, "run.failed", "resolve"), IncidentEvent(A, "run.failed", "open")]
    )
    assert (change.opens, change.resolves) == (1, False)


def test_an_open_incident_collects_occurrences_without_announcing() -> None:
    run = uuid4()
    noted, event = rules.note(_incident(), 2, run, T0 + timedelta(minutes=1), MIN)
    assert (noted.occurrences, noted.last_execution_id, event) == (3, run, None)


def test_resolution_is_announced_only_when_the_opening_was() -> None:
    resolved, event = rules.resolve(_incident(), T0 + timedelta(minutes=1))
    assert (resolved.state, resolved.resolved_at, event) == (
        "resolved",
        T0 + timedelta(minutes=1),
        "incident.resolved",
    )
    silent = _incident(opened_at=T0 + timedelta(minutes=2))  # reopened after its announcement
    assert rules.resolve(silent, T0 + timedelta(minutes=3))[1] is None


def test_a_reopening_within_the_interval_is_held_then_announced() -> None:
    resolved = _incident(state="resolved", resolved_at=T0 + timedelta(minutes=1))
    now = T0 + timedelta(minutes=2)
    assert rules.reopens(resolved.last_announced_at, now, MIN)
    reopened, event = rules.reopen(resolved, 1, None, now, MIN)
    assert (reopened.state, reopened.opened_at, reopened.resolved_at, event) == (
        "open",
        now,
        None,
        None,
    )
    assert not reopened.opening_announced
    assert rules.announce_held(reopened, T0 + timedelta(minutes=4, seconds=59), MIN)[1] is None
    announced, event = rules.announce_held(reopened, T0 + timedelta(minutes=5), MIN)
    assert event == "incident.opened" and announced.opening_announced
    # The same through an occurrence once the interval has passed.
    assert rules.note(reopened, 1, None, T0 + timedelta(minutes=6), MIN)[1] == "incident.opened"
    # After the interval a new occurrence is a new incident.
    assert not rules.reopens(resolved.last_announced_at, T0 + timedelta(minutes=5), MIN)


def test_the_payload_has_the_documented_fields() -> None:
    run = uuid4()
    incident = _incident(last_execution_id=run, occurrences=3, summary="Runs are failing")
    policy = AlertPolicy(public_url="https://sched.example/")
    body = rules.payload(incident, "incident.opened", policy)
    assert body == {
        "type": "incident.opened",
        "incident": {
            "id": str(incident.id),
            "kind": "run.failed",
            "scheduleId": str(A),
            "workflowId": "nightly",
            "tenant": "acme",
            "openedAt": "2026-05-04T12:00:00.000Z",
            "resolvedAt": None,
            "occurrences": 3,
            "lastExecutionId": str(run),
            "summary": "Runs are failing",
            "dashboardUrl": f"https://sched.example/schedules/{A}",
        },
    }
    resolved = rules.payload(
        replace(incident, state="resolved", resolved_at=T0 + timedelta(seconds=90)),
        "incident.resolved",
        policy,
    )
    assert resolved["incident"]["resolvedAt"] == "2026-05-04T12:01:30.000Z"
    assert resolved["incident"]["summary"] == "Runs of workflow 'nightly' succeed again"


def test_summaries_name_the_workflow_and_survive_hostile_ids() -> None:
    for kind in rules.KINDS:
        assert "'wf'" in rules.opened_summary(kind, "wf")
        assert "'wf'" in rules.resolved_summary(kind, "wf")
    assert "\n" not in rules.opened_summary("run.late", "a\nb\x1b[2J", 90)
    assert "90 s" in rules.opened_summary("run.late", "wf", 90)
