"""One vocabulary, defined once (app/domain/execution.py, app/domain/schedule.py): the sets are
consistent, what is derived from them agrees, and every list of statuses spelled in
db/queries/*.sql is one of the domain's named sets. Adding a status to the domain alone fails
here (and in tests/integration/test_vocabulary_schema.py, which reads the migrated schema).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args, get_type_hints

import pytest

from app.api import schemas
from app.api.dashboard import render
from app.domain import callbacks, firing
from app.domain import execution as ex
from app.domain.schedule import (
    MISFIRE_POLICIES,
    OVERLAP_POLICIES,
    SCHEDULE_DEFAULTS,
    SERVER_FIELDS,
    STATES,
    TIMING_FIELDS,
    WRITABLE_FIELDS,
    NewSchedule,
    Schedule,
    ScheduleChanges,
)

ROOT = Path(__file__).parents[2]
QUERIES = sorted((ROOT / "db" / "queries").glob("*.sql"))
STATIC_JS = sorted((ROOT / "app" / "api" / "dashboard" / "static" / "js").glob("*.js"))

NAMED_SETS: dict[str, frozenset[str]] = {
    "UNFINISHED": ex.UNFINISHED,
    "FINISHED": ex.FINISHED,
    "FAILURES": ex.FAILURES,
    "COMPLETED": ex.COMPLETED,
    "ACCEPTED_ENDS": ex.ACCEPTED_ENDS,
    "NEVER_SENT": ex.NEVER_SENT,
    "WAITING": ex.WAITING,
    "QUEUED": ex.QUEUED,
    "FIRED": ex.FIRED,
}
# `IN ('a', 'b')` / `NOT IN (...)` with only quoted literals inside.
IN_LIST = re.compile(r"\bIN\s*\(\s*('[^']*'(?:\s*,\s*'[^']*')*)\s*\)", re.IGNORECASE)


def status_lists(text: str) -> list[frozenset[str]]:
    """The literal lists of `text` that name execution statuses only. A list with a word that
    is not one of ours is another vocabulary (Procrastinate's job statuses, metric names)."""
    found = []
    for match in IN_LIST.finditer(text):
        values = frozenset(re.findall(r"'([^']*)'", match.group(1)))
        if values <= set(ex.STATUSES):
            found.append(values)
    return found


def named(values: frozenset[str]) -> str | None:
    return next((name for name, members in NAMED_SETS.items() if members == values), None)


def test_the_statuses_split_into_unfinished_and_final() -> None:
    assert set(ex.STATUSES) == ex.UNFINISHED | ex.FINISHED
    assert not ex.UNFINISHED & ex.FINISHED
    assert (*ex.UNFINISHED_STATUSES, *ex.FINAL_STATUSES) == ex.STATUSES
    assert len(set(ex.STATUSES)) == len(ex.STATUSES)


@pytest.mark.parametrize(
    ("subset", "of"),
    [
        (ex.FAILURES, ex.FINISHED),
        (ex.COMPLETED, ex.FINISHED),
        (ex.ACCEPTED_ENDS, ex.FINISHED),
        (ex.NEVER_SENT, ex.FINISHED),
        (ex.WAITING, ex.UNFINISHED),
        (ex.QUEUED, ex.UNFINISHED),
        (ex.FIRED, ex.UNFINISHED),
    ],
)
def test_each_named_set_lies_in_its_side(subset: frozenset[str], of: frozenset[str]) -> None:
    assert subset and subset < of


def test_the_narrower_literal_types_elsewhere_are_the_domains() -> None:
    assert set(get_args(firing.RowStatus)) <= set(ex.STATUSES)
    assert set(get_args(callbacks.ReportStatus)) == ex.COMPLETED
    assert (*get_args(ex.ScheduledOrigin), *get_args(ex.OnDemandOrigin)) == ex.ORIGINS


def test_every_status_list_in_the_queries_is_a_named_set() -> None:
    seen = 0
    for path in QUERIES:
        for values in status_lists(path.read_text()):
            seen += 1
            assert named(values), (
                f"{path.name}: IN {sorted(values)} is none of app/domain/execution.py's sets "
                f"({', '.join(NAMED_SETS)}): name it there, or update the SQL"
            )
    assert seen >= 15  # the reader found the lists (executions, schedules, retention, ...)


def test_a_status_added_to_the_domain_alone_is_caught() -> None:
    """What the test above does when `UNFINISHED` grows and the SQL does not."""
    sql = "WHERE status IN ('pending', 'running', 'retrying', 'accepted')"
    (values,) = status_lists(sql)
    assert named(values) == "UNFINISHED"
    assert values != ex.UNFINISHED | {"paused"}


def test_the_statistics_and_their_schema_count_every_status() -> None:
    out = set(schemas.StatsOut.model_fields) - {
        "total",
        "success_rate",
        "avg_duration_ms",
        "p95_duration_ms",
    }
    assert out == set(ex.STATUSES)


def test_the_api_fields_are_the_domains_writable_fields() -> None:
    assert tuple(schemas.ScheduleFields.model_fields) == WRITABLE_FIELDS
    assert tuple(schemas.SchedulePatch.model_fields) == WRITABLE_FIELDS
    assert {f for f in Schedule.__dataclass_fields__} == set(WRITABLE_FIELDS) | SERVER_FIELDS
    assert set(WRITABLE_FIELDS) <= set(schemas.ScheduleOut.model_fields)
    assert set(WRITABLE_FIELDS) >= TIMING_FIELDS


def test_the_typed_writes_hold_the_writable_fields_typed_as_on_schedule() -> None:
    """The service's write seam (ScheduleService.create/update/register, batch drafts) is typed
    by these TypedDicts: the same names as the API's fields, the same types as `Schedule`'s."""
    stored = get_type_hints(Schedule)
    changes = get_type_hints(ScheduleChanges)
    assert set(changes) == set(WRITABLE_FIELDS)
    assert changes == {name: stored[name] for name in WRITABLE_FIELDS}
    assert ScheduleChanges.__required_keys__ == frozenset()
    assert get_type_hints(NewSchedule) == {**changes, "id": stored["id"]}
    assert NewSchedule.__required_keys__ == {"workflow_id", "cron_expression"}


def test_the_api_defaults_are_the_domains() -> None:
    for name, field in schemas.ScheduleFields.model_fields.items():
        if name in ("workflow_id", "cron_expression"):
            assert field.is_required()
            continue
        default = field.get_default(call_default_factory=True)
        assert default == SCHEDULE_DEFAULTS[name], name
        assert type(default) is type(SCHEDULE_DEFAULTS[name]), name
    assert set(SCHEDULE_DEFAULTS) == set(WRITABLE_FIELDS) - {"workflow_id", "cron_expression"}


def test_the_api_types_are_the_domains_literals() -> None:
    def enum_of(model: type[Any], name: str) -> tuple[str, ...]:
        return get_args(model.model_fields[name].annotation)

    assert enum_of(schemas.ScheduleFields, "overlap_policy") == OVERLAP_POLICIES
    assert enum_of(schemas.ScheduleFields, "misfire_policy") == MISFIRE_POLICIES
    assert enum_of(schemas.ScheduleOut, "state") == STATES
    assert enum_of(schemas.ExecutionOut, "status") == ex.STATUSES


def test_every_writable_field_is_written_by_the_schedule_statements() -> None:
    text = (ROOT / "db" / "queries" / "schedules.sql").read_text()
    for name in ("schedule_insert", "schedule_update", "schedule_insert_many"):
        body = text.split(f"-- name: {name}\n", 1)[1].split("-- name:", 1)[0]
        missing = [f for f in WRITABLE_FIELDS if not re.search(rf"\b{f}\b", body)]
        assert not missing, f"{name} does not write {missing}"


def test_the_dashboard_gets_the_vocabulary_from_the_page() -> None:
    data = json.loads(render.vocabulary_json())
    assert data["statuses"] == list(ex.STATUSES)
    assert sorted(data["statusOrder"]) == sorted(ex.STATUSES)
    assert data["unfinished"] == list(ex.UNFINISHED_STATUSES)
    assert data["overlapPolicies"] == list(OVERLAP_POLICIES)
    assert data["misfirePolicies"] == list(MISFIRE_POLICIES)
    assert data["states"] == list(STATES)
    aliases = {schemas.ScheduleFields.model_fields[n].alias for n in SCHEDULE_DEFAULTS}
    assert set(data["defaults"]) == aliases
    assert "<" not in render.vocabulary_json()  # it cannot end its <script> element


JS_LIST = re.compile(r"'[a-z_]+'(?:\s*,\s*'[a-z_]+')+")


@pytest.mark.parametrize("path", STATIC_JS, ids=lambda p: p.name)
def test_the_dashboards_javascript_lists_no_statuses_or_policies(path: Path) -> None:
    """Lists of statuses and policies come from the page's data block (static/js/
    vocabulary.js); naming one status in a rule (`lastStatus === 'failed'`) is fine."""
    words = {*ex.STATUSES, *OVERLAP_POLICIES, *MISFIRE_POLICIES, *STATES, *ex.ORIGINS}
    code = re.sub(r"//.*", "", path.read_text())  # a comment may name what it explains
    for match in JS_LIST.finditer(code):
        listed = set(re.findall(r"'([a-z_]+)'", match.group(0))) & words
        assert len(listed) < 2, f"{path.name} lists {sorted(listed)}: read vocabulary.js"


def test_the_schedule_form_copies_no_policy_or_default() -> None:
    """The form's policy options and field defaults come from the data block alone (static/js/
    form-fields.js: fillChoices): the template holds no copy to drift."""
    form = (ROOT / "app" / "api" / "dashboard" / "templates" / "form.html").read_text()
    assert "<option" not in form
    assert not re.search(r"<input[^>]*\svalue=", form)
    assert not re.search(r"<input[^>]*\schecked", form)


def test_the_javascript_check_finds_a_hard_coded_list() -> None:
    (match,) = JS_LIST.finditer("const UNFINISHED = new Set(['pending', 'running']);")
    assert match.group(0) == "'pending', 'running'"
