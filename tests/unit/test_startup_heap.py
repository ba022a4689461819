"""The worker keeps its start-up heap out of later garbage collections (worker/collector.py
`freeze_startup_heap`), so that a full collection, which pauses the event loop, walks only what
came after. In a fresh interpreter: freezing it in the test process would keep the tests'
garbage for good."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc
import worker.app  # what a worker process imports: Procrastinate, psycopg, the app
from worker.collector import freeze_startup_heap

before = len(gc.get_objects())
freeze_startup_heap()
print(before, gc.get_freeze_count(), len(gc.get_objects()))
"""


def test_the_start_up_heap_is_left_out_of_later_collections():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    before, frozen, walked = (int(n) for n in out.split())
    assert frozen > 10_000 and frozen >= before * 0.9  # nearly everything it held
    assert walked < 1_000  # what a full collection still walks afterwards
