"""The pure mapping of `scheduler import` (app/domain/importing.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.cron import parse_cron
from app.domain.importing import (
    IMPORT_NAMESPACE,
    Candidate,
    RepeatEntry,
    Skipped,
    every_to_cron,
    map_bullmq,
    unsupported_feature,
)
from app.domain.slots import next_slots
from app.domain.timezones import load_zone

EXPRESSIBLE_SECONDS = [1, 2, 5, 15, 30, 60, 120, 300, 900, 1800, 3600, 7200, 21600, 43200,
                       86400, 7 * 86400]  # fmt: skip


@given(
    every=st.sampled_from(EXPRESSIBLE_SECONDS),
    phase_ms=st.integers(min_value=0, max_value=2**41),
)
def test_every_becomes_a_cron_on_bullmqs_grid(every: int, phase_ms: int) -> None:
    cron = every_to_cron(every * 1000, phase_ms)
    assert isinstance(cron, str), cron
    after = datetime(2026, 1, 1, tzinfo=UTC)
    slots = next_slots(parse_cron(cron), load_zone("UTC"), after, 4)
    assert all(b - a == timedelta(seconds=every) for a, b in zip(slots, slots[1:], strict=False))
    phase_s = phase_ms // 1000
    for slot in slots:  # k * every + phase, to the second (cron has no milliseconds)
        assert (int(slot.timestamp()) - phase_s) % every == 0


@pytest.mark.parametrize(
    "every_ms", [1_500, 7_000, 90_000, 7 * 60_000, 5 * 3_600_000, 2 * 86_400_000]
)
def test_intervals_cron_cannot_express_are_skipped(every_ms: int) -> None:
    assert isinstance(every_to_cron(every_ms, 0), Skipped)


@pytest.mark.parametrize(
    ("pattern", "mark"),
    [
        ("0 0 L * *", "L (last"),
        ("0 12 * * 5#3", "# (nth"),
        ("0 0 ? * MON", "? (no"),
        ("0 0 1W * *", "W (nearest"),
        ("H 0 * * *", "H (hashed"),
        ("0 12 * JUL WED", None),  # names may hold those letters
        ("0 */5 * * * *", None),
    ],
)
def test_unsupported_cron_parser_features(pattern: str, mark: str | None) -> None:
    found = unsupported_feature(pattern)
    assert (found is None) if mark is None else (mark in (found or ""))


TRIGGER = "6f1c2a4e-1111-4222-8333-444455556666"


def _entry(key: str, kind: str = "scheduler", **data: object) -> RepeatEntry:
    return RepeatEntry(
        key=key,
        next_millis=0,
        kind=kind,
        name="job",
        pattern="* * * * *",
        data=data,  # type: ignore[arg-type]
    )


def test_ids_trigger_first_then_scheduler_then_derived() -> None:
    other = "0e1c2a4e-1111-4222-8333-444455556666"
    by_trigger = map_bullmq(_entry(other, triggerId=TRIGGER), "q", paused=False)
    by_key = map_bullmq(_entry(other, triggerId="not-a-uuid"), "q", paused=False)
    derived = map_bullmq(_entry("nightly"), "q", paused=False)
    md5 = "7aba697a1af85460391e138221a060d8"  # a legacy key: 32 hex digits, not an id
    legacy = map_bullmq(_entry(md5, kind="legacy"), "q", paused=False)
    assert isinstance(by_trigger, Candidate) and by_trigger.id == UUID(TRIGGER)
    assert isinstance(by_key, Candidate) and by_key.id == UUID(other)
    assert isinstance(derived, Candidate)
    assert derived.id == uuid5(IMPORT_NAMESPACE, "bullmq:q:nightly")
    assert isinstance(legacy, Candidate)
    assert legacy.id == uuid5(IMPORT_NAMESPACE, f"bullmq:q:legacy:{md5}")


def test_paused_import_and_workflow_from_name() -> None:
    mapped = map_bullmq(_entry("s", input={"a": 1}), "q", paused=True)
    assert isinstance(mapped, Candidate)
    assert mapped.fields["workflow_id"] == "job"
    assert mapped.fields["enabled"] is False and "imported paused" in mapped.fields["pause_note"]
    assert map_bullmq(_entry("s", input=[1]), "q", paused=False) == Skipped(
        "bullmq scheduler s", "data.input is not a JSON object"
    )
