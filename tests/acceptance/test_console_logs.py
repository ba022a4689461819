"""A real worker's log: one short line per Procrastinate job record in a terminal format,
every field under LOG_FORMAT=json (issue 14, "seen on the way")."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from tests.support.db import create_schedule, wait_until
from tests.support.target import RecordingTarget
from tests.support.workers import WorkerProcess

# The retention job the worker runs at start-up goes through Procrastinate's own worker (the
# dispatcher's batches may all run on its local runner, which Procrastinate does not log).
ENDED = re.compile(r"job \d+ maintenance\.prune succeeded in \d+\.\d{3} s$")
DEFERRED = re.compile(r"deferred \d+ executions\.run_batch: \d+")


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_procrastinate_job_records(
    database_url: str,
    target: RecordingTarget,
    start_worker: Callable[..., WorkerProcess],
    log_format: str,
) -> None:
    worker = start_worker(LOG_FORMAT=log_format)
    create_schedule(database_url, workflow_id="wf-log", cron_expression="* * * * * *")
    target.wait_for(lambda got: len(got) >= 2, timeout=20)

    def logged() -> bool:
        text = worker.log()
        ended = "succeeded" if log_format == "console" else '"job_success"'
        return "maintenance.prune" in text and ended in text and "run_batch" in text

    wait_until(logged, 15, "the retention job's end and a deferred batch in the log")
    worker.stop()
    lines = worker.log().splitlines()
    if log_format == "console":
        ours = [line for line in lines if " procrastinate." in line]
        assert any(ENDED.search(line) for line in ours), "\n".join(ours)
        assert any(DEFERRED.search(line) for line in ours), "\n".join(ours)
        for line in ours:  # no job or worker dictionaries, no 100 execution ids
            assert "{" not in line and "execution_ids" not in line, line
            if ENDED.search(line) or DEFERRED.search(line):
                assert len(line) < 120, line
    else:
        records = [json.loads(line) for line in lines if line.startswith("{")]
        deferred = [job for r in records if r.get("action") == "jobs_deferred" for job in r["jobs"]]
        assert any("execution_ids" in job["task_kwargs"] for job in deferred)
        ended = [r for r in records if r.get("action") == "job_success"]
        assert ended and all({"job", "worker", "duration"} <= set(r) for r in ended)
