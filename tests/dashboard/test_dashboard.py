"""The dashboard in a real browser, against the real API, database, worker and target.

Every wait is a Playwright condition with a deadline; nothing sleeps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.dashboard.conftest import PageLog
from tests.support.db import wait_until
from tests.support.target import RecordingTarget, Response
from tests.support.workers import WorkerProcess

SCHEDULE_URL = re.compile(r"/schedules/[0-9a-f-]{36}$")
IN_THE_FUTURE = re.compile(r"^in \d+ (seconds?|minutes?|hours?|days?)$")
RUN_TIMEOUT_MS = 20_000  # a manual run: dispatch, one HTTP call, the page's next poll
# The form's live preview: a debounced request per pause in typing, on a loaded 2-core CI
# machine. (Its flake in CI was the form's script moving the focus when it ran late, not a slow
# answer: test_typing_before_the_form_script_runs_keeps_the_focus_and_the_text; the API calls'
# timings, printed with a failure by conftest.py, showed it.)
LIVE_TIMEOUT_MS = 15_000


@pytest.fixture
def client(api_url: str, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as c:
        yield c


def nav(page: Page, name: str) -> Locator:
    """A link of the header's navigation."""
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name)


def create(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/schedules", json=fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_visit_without_a_session_goes_to_the_login_page(
    page: Page, api_url: str, page_log: PageLog
) -> None:
    for path in ("/", "/schedules/new", "/schedules/00000000-0000-4000-8000-000000000000"):
        page.goto(f"{api_url}{path}")
        expect(page).to_have_url(f"{api_url}/login")
    expect(page.get_by_label("API token")).to_be_visible()
    page_log.assert_clean(api_url)


def test_login_logout_and_the_cookie(
    page: Page, context: BrowserContext, api_url: str, token: str, page_log: PageLog
) -> None:
    page.goto(f"{api_url}/login")
    page.get_by_label("API token").fill("wfs_not-a-real-token")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("This token is not valid.")
    assert context.cookies() == []

    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{api_url}/")
    expect(page.get_by_role("heading", name="Schedules")).to_be_visible()
    expect(page.locator("#list-empty")).to_be_visible()
    (cookie,) = context.cookies()
    assert cookie["name"] == "wfs_session"
    assert cookie["value"] == token
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/")
    assert cookie["secure"] is False  # plain http here; https requests get Secure

    # The JSON API takes the cookie only with the dashboard's header (CSRF guard).
    assert context.request.get(f"{api_url}/api/schedules").status == 401
    with_header = context.request.get(f"{api_url}/api/schedules", headers={"X-Dashboard": "1"})
    assert with_header.status == 200

    # Pages carry a strict Content-Security-Policy.
    answer = context.request.get(f"{api_url}/")
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{api_url}/login")
    assert context.cookies() == []
    page.goto(f"{api_url}/")
    expect(page).to_have_url(f"{api_url}/login")
    page_log.assert_clean(api_url, frozenset({(401, "/login")}))


def test_typing_before_the_form_script_runs_keeps_the_focus_and_the_text(
    logged_in: Page, api_url: str
) -> None:
    """On a slow load a person can type before the form's script runs: the script must not
    move the focus (the rest of their keystrokes went to the workflow id field, seen in CI) nor
    replace what was typed with a default, and previews what is there. The script is held
    back here until the typing is done, then loaded as the page would have."""
    page = logged_in
    page.route("**/static/js/form.js", lambda route: route.abort())
    page.goto(f"{api_url}/schedules/new")
    page.get_by_label("Workflow id").fill("nightly-report")
    page.get_by_label("Time zone").fill("Europe/Paris")
    cron = page.get_by_label("Cron expression")
    cron.press_sequentially("61 * *")
    page.unroute("**/static/js/form.js")
    page.add_script_tag(url=f"{api_url}/static/js/form.js", type="module")
    error = page.locator("#err-cronExpression")
    expect(error).to_contain_text("got 3", timeout=LIVE_TIMEOUT_MS)  # what was typed so far
    assert page.evaluate("document.activeElement.id") == "f-cronExpression"
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Paris")
    cron.press_sequentially(" * *")
    expect(cron).to_have_value("61 * * * *")
    expect(error).to_contain_text("61 is out of range 0-59", timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_label("Workflow id")).to_have_value("nightly-report")


def test_create_pause_resume_and_run_a_schedule(
    logged_in: Page,
    api_url: str,
    page_log: PageLog,
    start_worker: Callable[[], WorkerProcess],
    target: RecordingTarget,
) -> None:
    page = logged_in
    start_worker()

    # The form: the next runs appear while typing, errors show next to their field.
    nav(page, "New schedule").click()
    expect(page).to_have_url(f"{api_url}/schedules/new")
    page.get_by_label("Workflow id").fill("nightly-report")
    cron = page.get_by_label("Cron expression")
    cron.press_sequentially("61 * * * *")
    expect(page.locator("#err-cronExpression")).to_contain_text(
        "61 is out of range 0-59", timeout=LIVE_TIMEOUT_MS
    )
    expect(page.locator("#cron-next-runs li")).to_have_count(0)
    cron.fill("")
    cron.press_sequentially("0 9 * * 1-5")
    expect(page.locator("#err-cronExpression")).to_be_hidden(timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#cron-description")).to_have_text(
        "At 09:00, Monday through Friday", timeout=LIVE_TIMEOUT_MS
    )
    expect(page.locator("#cron-next-runs li")).to_have_count(5)

    zone = page.get_by_label("Time zone")
    zone.fill("")
    zone.press_sequentially("America/New_Y")  # half typed: not a zone yet
    expect(page.locator("#err-timezone")).to_contain_text("America/New_Y", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#tz-options option[value='America/New_York']")).to_have_count(1)
    zone.press_sequentially("ork")
    expect(page.locator("#err-timezone")).to_be_hidden(timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#cron-next-runs li").first).to_contain_text(
        "09:00 America/New_York", timeout=LIVE_TIMEOUT_MS
    )
    expect(page.locator("#cron-next-runs li").first).to_contain_text("(your time)")
    page.get_by_role("button", name="Create schedule").click()
    expect(page).to_have_url(SCHEDULE_URL)

    # The list: badge, words, next run in both zones and relative.
    nav(page, "Schedules").click()
    row = page.locator("#schedule-rows tr", has_text="nightly-report")
    expect(row.locator(".badge")).to_have_text("active")
    expect(row).to_contain_text("At 09:00, Monday through Friday")
    expect(row.locator(".relative")).to_have_text(IN_THE_FUTURE)
    expect(row).to_contain_text("America/New_York")
    expect(row).to_contain_text("(your time)")

    # The schedule page: pause with a note, resume, run now.
    row.get_by_role("link", name="nightly-report").click()
    expect(page).to_have_url(SCHEDULE_URL)
    badge = page.locator("#s-badge")
    expect(badge).to_have_text("active")
    expect(page.locator("#s-next-runs li")).to_have_count(5)
    page.get_by_role("button", name="Pause…").click()
    page.get_by_label("Note (optional, kept with the schedule)").fill("maintenance window")
    page.locator("#pause-confirm").click()
    expect(badge).to_have_text("paused")
    expect(page.locator("#s-pause-note")).to_contain_text("maintenance window")
    expect(page.locator("#s-next-runs li")).to_have_count(0)
    page.get_by_role("button", name="Resume").click()
    expect(badge).to_have_text("active")
    expect(page.locator("#s-next-runs li")).to_have_count(5)

    page.get_by_role("button", name="Run now").click()
    executions = page.locator("#execution-rows tr")
    expect(executions).to_have_count(1)
    expect(executions.first).to_contain_text("manual")
    expect(executions.first.locator(".badge")).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
    expect(executions.first).to_contain_text("200")
    expect(page.locator("#chart svg .mark")).to_have_count(1)
    assert [r.workflow_id for r in target.requests()] == ["nightly-report"]
    assert f"{api_url}/api/timezones" in page_log.requests  # the picker's list is the API's
    page_log.assert_clean(api_url, frozenset({(422, "/api/schedules/preview")}))


def test_the_chart_of_a_schedule_without_runs_says_so(
    logged_in: Page, api_url: str, client: httpx.Client, page_log: PageLog
) -> None:
    """No runs, no scale: the axis once read "1 ms, 1 ms, 0 ms" for durations never measured."""
    page = logged_in
    schedule = create(client, workflowId="never-ran", cronExpression="0 0 1 1 *")
    page.goto(f"{api_url}/schedules/{schedule['id']}")
    chart = page.locator("#chart svg")
    expect(chart.locator(".chart-empty")).to_have_text("No runs yet")
    expect(chart.locator(".axis-label")).to_have_count(0)
    expect(chart).not_to_contain_text(" ms")
    page_log.assert_clean(api_url)


def test_history_chart_and_list_of_many_schedules(
    logged_in: Page,
    api_url: str,
    client: httpx.Client,
    page_log: PageLog,
    start_worker: Callable[[], WorkerProcess],
    target: RecordingTarget,
) -> None:
    page = logged_in
    start_worker()
    # Twelve backfilled runs with different durations, three of them failing. Outcomes are
    # recorded as they arrive, so `lastStatus` is the status of the run that ended last: the
    # slowest one, a success here (the schedule is not "failing").
    outcomes = [
        (200, 0.05),
        (200, 0.12),
        (500, 0.02),
        (200, 0.4),
        (200, 0.08),
        (200, 0.2),
        (500, 0.18),
        (200, 0.15),
        (200, 0.1),
        (200, 0.25),
        (500, 0.05),
        (200, 0.06),
    ]
    target.script("billing-sync", [Response(s, delay_seconds=d) for s, d in outcomes])
    sync = create(
        client,
        workflowId="billing-sync",
        cronExpression="0 * * * *",
        timezone="Europe/Berlin",
        maxAttempts=1,
    )
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    span = {"start": (now - timedelta(hours=12)).isoformat(), "end": now.isoformat()}
    answer = client.post(f"/api/schedules/{sync['id']}/backfill", json=span)
    assert answer.json()["created"] == 12, answer.text
    # Other states, for the list.
    create(
        client, workflowId="nightly-report", cronExpression="0 2 * * *", timezone="America/New_York"
    )
    create(
        client,
        workflowId="weekly-digest",
        cronExpression="0 8 * * MON",
        enabled=False,
        pauseNote="waiting for the new template",
    )
    create(client, workflowId="every-10-seconds", cronExpression="*/10 * * * * *")
    flaky = create(client, workflowId="flaky-import", cronExpression="30 3 * * *", maxAttempts=1)
    target.script("flaky-import", [Response(503, body=b"upstream unavailable: " + b"x" * 200)])
    assert client.post(f"/api/schedules/{flaky['id']}/trigger").status_code == 202

    page.goto(f"{api_url}/schedules/{sync['id']}")
    finished = page.locator("#execution-rows .badge-succeeded, #execution-rows .badge-failed")
    expect(finished).to_have_count(12, timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#execution-rows tr")).to_have_count(12)
    expect(page.locator("#chart svg .mark")).to_have_count(12)
    expect(page.locator("#chart svg .mark.status-failed")).to_have_count(3)
    expect(page.locator("#chart svg .mark.status-succeeded")).to_have_count(9)
    expect(page.locator("#chart svg text").first).to_be_visible()  # axis labels
    page.screenshot(path="/tmp/dashboard-schedule.png", full_page=True)

    nav(page, "Schedules").click()
    flaky_row = page.locator("#schedule-rows tr", has_text="flaky-import")
    # The list refreshes on its own; the failed run makes the schedule "failing".
    expect(flaky_row.locator(".badge")).to_have_text("failing", timeout=RUN_TIMEOUT_MS)
    expect(
        page.locator("#schedule-rows tr", has_text="weekly-digest").locator(".badge")
    ).to_have_text("paused")
    seconds_row = page.locator("#schedule-rows tr", has_text="every-10-seconds")
    expect(seconds_row.locator(".relative")).to_have_text(re.compile(r"^(in \d+ seconds?|now)$"))
    page.screenshot(path="/tmp/dashboard-list.png", full_page=True)

    page.locator(".segmented label", has_text="Failing").click()
    expect(page.locator("#schedule-rows tr")).to_have_count(1)
    page.locator(".segmented label", has_text="Paused").click()
    expect(page.locator("#schedule-rows tr")).to_have_count(1)
    expect(page.locator("#schedule-rows tr")).to_contain_text("weekly-digest")
    page.locator(".segmented label", has_text="All").click()
    page.get_by_label("Workflow id").fill("billing-sync")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#schedule-rows tr")).to_have_count(1)

    # The failing run's error: truncated, the whole text one click away.
    page.goto(f"{api_url}/schedules/{flaky['id']}")
    error = page.locator("#execution-rows details")
    expect(error.locator("pre")).to_be_hidden()
    error.locator("summary").click()
    expect(error.locator("pre")).to_contain_text("upstream unavailable")
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path="/tmp/dashboard-narrow.png", full_page=True)
    page_log.assert_clean(api_url)


def test_edit_form_shows_conflicts_and_field_errors(
    logged_in: Page, api_url: str, client: httpx.Client, page_log: PageLog
) -> None:
    page = logged_in
    schedule = create(client, workflowId="report", cronExpression="0 6 * * *")
    page.goto(f"{api_url}/schedules/{schedule['id']}/edit")
    expect(page.get_by_label("Workflow id")).to_have_value("report")
    expect(page.locator("#cron-next-runs li")).to_have_count(5)

    # Someone else changes it meanwhile: saving is refused with a clear message (412).
    changed = client.patch(f"/api/schedules/{schedule['id']}", json={"maxAttempts": 5})
    assert changed.status_code == 200
    page.get_by_label("Max attempts").fill("4")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#form-error")).to_contain_text("Someone changed this schedule")
    page.get_by_role("button", name="Reload the current version").click()
    expect(page.get_by_label("Max attempts")).to_have_value("5")

    # The browser checks the input JSON; the server's 422 lands next to its field.
    page.get_by_label("Input (JSON object)").fill("[1, 2")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#err-input")).to_contain_text("Not valid JSON")
    page.get_by_label("Input (JSON object)").fill('{"region": "eu"}')
    page.get_by_label("Target URL").fill("http://elsewhere.example/hook")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#err-targetUrl")).to_contain_text("not allowed")
    expect(page.locator("#err-input")).to_be_hidden()
    page.get_by_label("Target URL").fill("")
    page.get_by_label("Max attempts").fill("4")
    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(f"{api_url}/schedules/{schedule['id']}")
    expect(page.locator("#s-fields")).to_contain_text('"region": "eu"')
    after = client.get(f"/api/schedules/{schedule['id']}").json()
    assert (after["maxAttempts"], after["input"], after["version"]) == (4, {"region": "eu"}, 3)
    page_log.assert_clean(
        api_url,
        frozenset(
            {(412, f"/api/schedules/{schedule['id']}"), (422, f"/api/schedules/{schedule['id']}")}
        ),
    )


def test_more_button_pages_through_the_list_and_delete_asks_first(
    logged_in: Page, api_url: str, client: httpx.Client, page_log: PageLog
) -> None:
    page = logged_in
    ids = [
        create(client, workflowId=f"wf-{n:02d}", cronExpression=f"{n} 4 * * *")["id"]
        for n in range(52)
    ]
    page.reload()
    rows = page.locator("#schedule-rows tr")
    expect(rows).to_have_count(50)  # one page
    expect(page.locator("#list-count")).to_have_text("50 schedules so far")
    page.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(52)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    expect(page.locator("#list-count")).to_have_text("52 schedules")

    page.goto(f"{api_url}/schedules/{ids[0]}")
    expect(page.locator("#s-workflow")).to_have_text("wf-00")
    page.get_by_role("button", name="Delete…").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    assert client.get(f"/api/schedules/{ids[0]}").status_code == 200
    page.get_by_role("button", name="Delete…").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page).to_have_url(f"{api_url}/")
    expect(rows).to_have_count(50)
    expect(page.locator("#schedule-rows tr", has_text="wf-00")).to_have_count(0)
    assert client.get(f"/api/schedules/{ids[0]}").status_code == 404
    page_log.assert_clean(api_url)


def test_a_run_awaiting_its_workflows_result_and_how_it_ended(
    logged_in: Page,
    api_url: str,
    client: httpx.Client,
    page_log: PageLog,
    start_worker: Callable[[], WorkerProcess],
    target: RecordingTarget,
) -> None:
    """A target that answers 202 Accepted: the run shows "awaiting result" until its workflow
    reports, then the outcome and the workflow's duration (issue 11)."""
    page = logged_in
    start_worker()
    target.script("long-etl", [Response(202)])
    etl = create(client, workflowId="long-etl", cronExpression="0 4 * * *")
    run = client.post(f"/api/schedules/{etl['id']}/trigger").json()
    page.goto(f"{api_url}/schedules/{etl['id']}")
    row = page.locator(f"#execution-rows tr[data-execution-id='{run['id']}']")
    expect(row.locator(".badge")).to_have_text("awaiting result", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#chart svg .mark.status-accepted")).to_have_count(1)

    page.wait_for_timeout(300)  # the workflow runs a little while (its duration is the chart's)
    answer = client.post(f"/api/executions/{run['id']}/result", json={"status": "succeeded"})
    assert answer.status_code == 200, answer.text
    expect(row.locator(".badge")).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
    duration = answer.json()["durationMs"]
    assert duration >= 300
    expect(page.locator("#chart svg .mark.status-succeeded title")).to_contain_text(
        re.compile(r"\d")
    )
    page_log.assert_clean(api_url)


def test_open_incidents_show_in_the_header_and_on_their_page(
    logged_in: Page,
    api_url: str,
    client: httpx.Client,
    target: RecordingTarget,
    start_worker: Callable[[], WorkerProcess],
    page_log: PageLog,
) -> None:
    page = logged_in
    target.script("broken", [Response(500)] * 1000)
    create(client, workflowId="broken", cronExpression="* * * * * *", maxAttempts=1)
    expect(page.get_by_test_id("open-incidents")).to_be_hidden()
    start_worker()
    wait_until(
        lambda: client.get("/api/incidents", params={"state": "open"}).json()["items"],
        RUN_TIMEOUT_MS / 1000,
        "the failing schedule's incident",
    )
    page.reload()  # the badge refreshes every 30 s; a page load shows the count at once
    expect(page.get_by_test_id("open-incidents")).to_have_text("1")
    nav(page, "Incidents 1").click()
    expect(page).to_have_url(f"{api_url}/incidents")
    row = page.locator("#incident-rows tr")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-kind", "run.failed")
    expect(row.get_by_role("link", name="broken")).to_have_attribute("href", SCHEDULE_URL)
    expect(row).to_contain_text("Runs of workflow 'broken' are failing")
    page.get_by_role("search", name="Filter incidents").get_by_text("Resolved").click()
    expect(page.locator("#list-empty")).to_be_visible()
    page_log.assert_clean(api_url)
