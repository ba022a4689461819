"""deploy/prometheus/alerts.yml and the Grafana dashboards, checked with Prometheus's own tools
(`promtool` from Debian's `prometheus` package, installed by .ci/run) and against a running
API's /metrics (issue 12): every series a rule or a panel names must be emitted."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml

from app.settings import Settings
from db.jobs import EXECUTIONS_QUEUE, RUN_BATCH_TASK
from tests.support.db import wait_until
from tests.support.prometheus_server import running_prometheus
from tests.support.promql import Sample, samples, selectors, unmatched
from tests.support.server import running_api
from tests.support.workers import WorkerProcess

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = sorted((ROOT / "deploy" / "prometheus" / "tests").glob("*.yml"))
DASHBOARDS = sorted((ROOT / "deploy" / "grafana").glob("*.json"))

PENDING_SERIES: frozenset[str] = frozenset()
"""Series named by rules and panels before /metrics emits them (checked only to be absent:
once /metrics has them this test fails, to have them taken off this list). None now."""

GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


def promtool_stdin(stdin: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """Run promtool; missing, the test fails (it must not be skipped in CI)."""
    path = shutil.which("promtool")
    assert path, (
        "promtool is missing: install Debian's `prometheus` package "
        "(apt-get install prometheus; .ci/run does)"
    )
    return subprocess.run(
        [path, *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return promtool_stdin(None, *args)


def rule_expressions() -> dict[str, str]:
    """Each alerting or recording rule's expression, by the rule's name."""
    found: dict[str, str] = {}
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule["record"]
            assert name not in found, f"two rules named {name}"
            found[name] = rule["expr"]
    return found


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a collapsed row holds its panels


def panel_expressions() -> dict[str, str]:
    """Each Grafana panel query's expression, by `file: panel title (refId)`."""
    found: dict[str, str] = {}
    for path in DASHBOARDS:
        for panel in _panels(json.loads(path.read_text())["panels"]):
            for target in panel.get("targets", []):
                found[f"{path.name}: {panel['title']} ({target['refId']})"] = target["expr"]
    return found


def test_promtool_accepts_the_rules() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rule_expressions())} rules found" in checked.stdout


def test_promtool_unit_tests_of_the_rules_pass_and_cover_every_alert() -> None:
    assert RULE_TESTS, "no unit tests under deploy/prometheus/tests"
    result = promtool("test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    fired: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            fired |= {t["alertname"] for t in case.get("alert_rule_test", []) if t["exp_alerts"]}
    assert fired == set(rule_expressions()), "every alert has a unit test in which it fires"


def test_dashboard_panels_are_valid_promql(tmp_path: Path) -> None:
    """The panels' queries go through promtool's parser as recording rules (Grafana's
    variables replaced by durations)."""
    expressions = panel_expressions()
    assert len(expressions) >= 10
    rules = []
    for i, expr in enumerate(expressions.values()):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"an unknown Grafana variable in {expr!r}"
        rules.append({"record": f"panel:query_{i}", "expr": expr})
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for dashboard in DASHBOARDS:
        body = json.loads(dashboard.read_text())
        ids = [p["id"] for p in _panels(body["panels"])]
        assert len(ids) == len(set(ids)), f"{dashboard.name}: panel ids repeat"
        for panel in _panels(body["panels"]):
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, f"{dashboard.name}: {panel['title']} overflows"
            if panel.get("targets"):
                assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


@pytest.fixture
def metrics_api(database_url: str) -> Iterator[str]:
    settings = Settings(database_url=database_url, metrics_cache_seconds=0, log_format="console")
    with running_api(settings) as url:
        yield url


def test_every_series_named_is_emitted_by_a_running_api(
    metrics_api: str,
    database_url: str,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    """A real API and database, then a real worker: the union of two scrapes (a job queued
    for tomorrow before any worker exists, then a worker's loops reported) holds every series
    the rules and panels select, with their label values. promtool lints each scrape."""
    emitted: list[Sample] = []

    def scrape() -> list[Sample]:
        text = httpx.get(f"{metrics_api}/metrics", timeout=10).text
        linted = promtool_stdin(text, "check", "metrics")
        assert linted.returncode == 0, linted.stdout + linted.stderr
        found = samples(text)
        emitted.extend(found)
        return found

    with psycopg.connect(database_url, autocommit=True) as conn:
        # The queue has rows only while jobs wait or run; one that waits for tomorrow stays
        # put (the worker takes jobs whose time has come).
        conn.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args, scheduled_at)"
            " VALUES (%s, %s, '{}', now() + interval '1 day')",
            (EXECUTIONS_QUEUE, RUN_BATCH_TASK),
        )
    queued = scrape()
    assert any(s.name == "scheduler_queue_depth" for s in queued), "the queued job"

    start_worker()
    wait_until(
        lambda: any(
            s.name == "scheduler_loop_stale" and s.labels.get("loop") == "dispatch"
            for s in scrape()
        ),
        30,
        "the worker's loops in /metrics",
    )

    names = {s.name for s in emitted}
    assert not PENDING_SERIES & names, (
        f"{sorted(PENDING_SERIES & names)} are emitted now: take them off PENDING_SERIES"
    )
    expressions = {**rule_expressions(), **panel_expressions()}
    assert all(selectors(expr) for expr in expressions.values()), "each names a series"
    problems = [
        f"{where}: {problem}"
        for where, expr in expressions.items()
        for selector in selectors(expr)
        if selector.name not in PENDING_SERIES
        for problem in unmatched(selector, emitted)
    ]
    assert problems == []


def test_a_real_prometheus_scrapes_the_api_and_evaluates_the_rules(
    metrics_api: str, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    """Prometheus itself scrapes the running API and evaluates every rule on what it got, without
    an error; with no worker yet the no-dispatcher alert is pending, and a worker clears it."""

    with running_prometheus(tmp_path, metrics_api, [RULES]) as prometheus:

        def state(alert: str) -> str:
            return next(r["state"] for r in prometheus.rules() if r["name"] == alert)

        def evaluated() -> bool:
            rules = prometheus.rules()
            return len(rules) == len(rule_expressions()) and all(
                r["health"] == "ok" and not r["lastEvaluation"].startswith("0001") for r in rules
            )

        wait_until(
            lambda: [t["health"] for t in prometheus.targets()] == ["up"], 30, "the API scraped"
        )
        wait_until(lambda: state("SchedulerMetricsAbsent") == "inactive", 30, "a scrape evaluated")
        wait_until(evaluated, 30, "every rule evaluated without an error")
        # Evaluated after the scrape: pending until its `for`, as no worker has reported yet.
        assert state("SchedulerNoHealthyDispatcher") == "pending"
        assert state("SchedulerDueBacklog") == "inactive"

        start_worker()
        wait_until(
            lambda: state("SchedulerNoHealthyDispatcher") == "inactive", 30, "the dispatcher seen"
        )
        assert state("SchedulerLoopStale") == "inactive"
