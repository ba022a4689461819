"""Peer: DBOS Transact 3.4 (Python, PostgreSQL), the closest Python peer: runtime schedules with
a seconds field, stored in its system database.

    python -m bench.peers.dbos_peer --database URL --target URL --count N
        (--cron CRON | --burst-in SECONDS) [--no-add]

Launches DBOS on its own database (DBOS creates its schema), registers a queue polled every
`--poll` seconds (the internal queue DBOS uses by default is polled once a second: a user who
cares about lag declares one), and, unless `--no-add`, creates N schedules `s0..s(N-1)` with
`DBOS.apply_schedules` (one transaction). Each iteration is a workflow whose one step POSTs to
the target with the slot DBOS hands it (`scheduled_at`) in `X-Scheduler-Scheduled-At`: the
DBOS way to make an HTTP call durable. Prints `ready <seconds the schedules took>`; SIGTERM
stops. `--burst-in S`: every schedule names one instant, S seconds after the launch (the
`<instant>` printed after `ready <seconds>`): DBOS's launch takes seconds, so the harness cannot
choose the instant before it.

How DBOS fires (dbos/_scheduler.py, 3.4): one thread per schedule sleeps until its next cron
instant plus a random jitter of up to 10 % of the sleep (at most 10 s), then enqueues the
iteration under the workflow id `sched-<name>-<instant>`, which makes two processes firing the
same slot enqueue it once.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import signal
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from dbos import DBOS

QUEUE = "bench"

_local = threading.local()
_target = urlsplit("http://127.0.0.1/")


def _connection() -> http.client.HTTPConnection:
    conn: http.client.HTTPConnection | None = getattr(_local, "conn", None)
    if conn is None:
        conn = http.client.HTTPConnection(_target.hostname or "", _target.port, timeout=30)
        _local.conn = conn
    return conn


@DBOS.step()
def post(instant: str, schedule: str) -> None:
    """One keep-alive connection per executor thread; a broken one is reopened once."""
    body = json.dumps({"schedule": schedule}).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Scheduler-Scheduled-At": instant,
        "Idempotency-Key": f"{schedule}:{instant}",
    }
    for attempt in (1, 2):
        conn = _connection()
        try:
            conn.request("POST", _target.path, body, headers)
            conn.getresponse().read()
            return
        except (OSError, http.client.HTTPException):
            conn.close()
            _local.conn = None
            if attempt == 2:
                raise


@DBOS.workflow()
def fire(scheduled_at: datetime, context: Any) -> None:
    instant = scheduled_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    post(instant, str(context))


def main() -> None:
    global _target
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--count", type=int, required=True)
    when = parser.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron")
    when.add_argument("--burst-in", type=float, help="one instant, this many s after launch")
    parser.add_argument("--poll", type=float, default=1.0, help="the queue's polling interval")
    parser.add_argument("--no-add", action="store_true")
    args = parser.parse_args()
    _target = urlsplit(args.target)
    DBOS(
        config={
            "name": "bench",
            "system_database_url": args.database,
            "log_level": "WARNING",
            "scheduler_polling_interval_sec": 1.0,
        }
    )
    DBOS.launch()
    DBOS.register_queue(QUEUE, polling_interval_sec=args.poll)
    started = time.monotonic()
    cron, instant = args.cron, 0
    if args.burst_in is not None:  # one instant, `burst_in` seconds after the launch
        instant = math.ceil(time.time() + args.burst_in)
        at = datetime.fromtimestamp(instant, UTC)
        cron = f"{at.second} {at.minute} {at.hour} {at.day} {at.month} *"
    if not args.no_add:
        # apply_schedules (one call) and not create_schedule a schedule at a time: 1,000
        # schedules took 1.8 s against 21.5 s (one commit each).
        DBOS.apply_schedules(
            [
                {
                    "schedule_name": f"s{i}",
                    "workflow_fn": fire,
                    "schedule": cron,
                    "context": f"s{i}",
                    "queue_name": QUEUE,
                }
                for i in range(args.count)
            ]
        )
    print(f"ready {time.monotonic() - started:.3f} {instant}", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    DBOS.destroy(workflow_completion_timeout_sec=0)


if __name__ == "__main__":
    main()
