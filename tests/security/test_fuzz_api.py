"""Schemathesis against the API's own OpenAPI document (GET /schema/openapi.json of a running
API), every operation, with a valid bearer token: no 5xx ever, and every answer conforms to the
schema (status code documented, body matching the documented shape, errors included).

Python API of schemathesis 4 (`schemathesis.openapi.from_url`, `APIOperation.as_strategy`,
`Case.call`, `Case.validate_response`), driven by Hypothesis per operation so the number of
cases is bounded and counted: `CASES_PER_OPERATION` positive and as many negative (schema-
violating) cases per operation, derandomized so a run is reproducible (SECURITY_FUZZ_CASES
asks for a deeper, random run). Half the cases that take a schedule or execution id get a real
one of the tenant, so the handlers behind the 404 are reached too. Negative cases include
requests without the token: schemathesis drops it on purpose.

The figures are printed (`-s`); docs/security.md quotes them.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.security.conftest import security_settings
from tests.support.server import make_token, running_api

# SECURITY_FUZZ_CASES=500 runs that many (random, not derandomized) cases per operation and
# mode: a deeper search than the fixed set `make test` repeats.
DEEP = os.environ.get("SECURITY_FUZZ_CASES")
CASES_PER_OPERATION = int(DEEP) if DEEP else 25
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_api(shared_database_url: str) -> Iterator[tuple[str, str]]:
    """(base URL, token). The manual-run rate limit is lifted here, so the fuzzer reaches the
    trigger and backfill handlers instead of their 429 (which test_limits.py covers)."""
    settings = security_settings(
        shared_database_url, scheduler_trigger_rate=1e6, scheduler_trigger_burst=1_000_000
    )
    with running_api(settings) as url:
        yield url, make_token(shared_database_url, "acme")


class RealIds:
    """Ids of the tenant's own schedules and executions, made on demand."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.schedule = self.new_schedule()
        run = client.post(f"/api/schedules/{self.schedule}/trigger")
        assert run.status_code == 202, run.text
        self.execution = run.json()["id"]

    def new_schedule(self) -> str:
        created = self.client.post(
            "/api/schedules",
            json={"workflowId": "fuzz", "cronExpression": "0 6 * * *", "enabled": False},
        )
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    def substitute(self, case: Any, method: str) -> None:
        """Put a real id in every id the case sends (path or query)."""
        for params in (case.path_parameters, case.query):
            if not params:
                continue
            for name in list(params):
                if name == "execution_id":
                    params[name] = self.execution
                elif name in ("schedule_id", "triggerId"):
                    # A DELETE gets a schedule of its own, so the others keep theirs.
                    params[name] = self.new_schedule() if method == "DELETE" else self.schedule


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _malformed_framing(headers: dict[str, Any]) -> bool:
    """Headers that HTTP/1.1 parsers must refuse: invalid names, or message framing we did not
    choose (Transfer-Encoding, Content-Length) with whatever value was generated."""
    return any(
        not _TOKEN.fullmatch(name) or name.lower() in ("transfer-encoding", "content-length")
        for name in headers
    )


class Fuzzer:
    """Runs the cases of one operation at a time and keeps the tally."""

    def __init__(self, base_url: str, token: str, ids: RealIds) -> None:
        self.base_url = base_url
        self.auth = {"Authorization": f"Bearer {token}"}
        self.session = requests.Session()
        self.ids = ids
        self.statuses: Counter[int] = Counter()
        self.positive_statuses: Counter[int] = Counter()
        self.per_operation: Counter[str] = Counter()
        self.failures: dict[tuple[str, int, str], str] = {}
        self.dropped = 0

    def run(self, operation: Any, mode: GenerationMode) -> None:
        serial = iter(range(10**9))

        @settings(
            max_examples=CASES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=not DEEP,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def cases(case: Any) -> None:
            if next(serial) % 2:
                self.ids.substitute(case, operation.method.upper())
            try:
                response = case.call(
                    base_url=self.base_url, session=self.session, headers=self.auth
                )
            except requests.RequestException as exc:
                # uvicorn (h11) drops a request whose framing is broken (a garbage
                # Transfer-Encoding, an invalid header name) before the app sees it: fine for
                # such requests, a failure for any other.
                if _malformed_framing(case.headers or {}):
                    self.dropped += 1
                else:
                    key = (operation.label, 0, f"{type(exc).__name__}: {exc}"[:120])
                    self.failures.setdefault(key, repr(exc))
                return
            self.statuses[response.status_code] += 1
            if mode is GenerationMode.POSITIVE:
                self.positive_statuses[response.status_code] += 1
            self.per_operation[f"{operation.label} {mode.value}"] += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=self.auth)
            except Exception as exc:  # noqa: BLE001 - collected, asserted by the test
                first_line = str(exc).strip().splitlines()[0][:120]
                key = (operation.label, response.status_code, first_line)
                self.failures.setdefault(key, str(exc)[:3000])

        try:
            cases()
        except Unsatisfiable:
            # Nothing to make invalid (GET /health has no parameters and no body).
            assert mode is GenerationMode.NEGATIVE, operation.label


@pytest.mark.timeout(120 if not DEEP else 24 * 3600)
# Schemathesis 4's negative strategies use the `random` module in places, which Hypothesis
# reports with a deprecation warning (an error here, filterwarnings = error). Not ours to fix;
# it also means a derandomized run is repeatable only mostly, not byte for byte.
@pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)
def test_every_operation_answers_per_its_schema_and_never_5xx(
    fuzz_api: tuple[str, str],
) -> None:
    base_url, token = fuzz_api
    schema = schemathesis.openapi.from_url(f"{base_url}/schema/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 19, [op.label for op in operations]  # every route, not a few
    started = time.monotonic()
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        fuzzer = Fuzzer(base_url, token, RealIds(client))
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzzer.run(operation, mode)
    elapsed = time.monotonic() - started
    statuses = fuzzer.statuses
    total = sum(statuses.values())
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    print(
        f"\nschemathesis: {total} cases over {len(operations)} operations in {elapsed:.1f} s; "
        f"answers by status: {dict(sorted(statuses.items()))}; 5xx: {server_errors}; "
        f"dropped by the HTTP server as malformed: {fuzzer.dropped}"
    )
    assert not fuzzer.failures, "\n\n".join(
        f"{label} -> {status}: {text}" for (label, status, _), text in fuzzer.failures.items()
    )
    assert server_errors == 0
    assert total + fuzzer.dropped >= len(operations) * CASES_PER_OPERATION, fuzzer.per_operation
    # Negative cases include requests without the token (schemathesis drops it on purpose);
    # valid cases always carry it, so they never meet a 401.
    assert fuzzer.positive_statuses[401] == 0, fuzzer.positive_statuses
    assert sum(n for status, n in statuses.items() if 200 <= status < 300) > total // 10, statuses
