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


BATCH_AND_CYCLES = """
import gc
from worker.collector import freeze_startup_heap

freeze_startup_heap()
collections = []
gc.callbacks.append(lambda phase, info: phase == "stop" and collections.append(info))
batch = [{"id": n, "slot": (n, str(n))} for n in range(20_000)]  # alive together, then freed
del batch
during_the_batch = len(collections)


class Node:
    pass


for _ in range(100_000):  # garbage that only the collector frees: 200,000 objects in cycles
    a, b = Node(), Node()
    a.other, b.other = b, a
del a, b
left = sum(isinstance(o, Node) for o in gc.get_objects())
print(during_the_batch, len(collections), left)
"""


def test_a_batchs_objects_are_not_walked_and_cycles_are_still_collected():
    """After start-up the youngest generation is collected every 50,000 net allocations, not
    700: a batch's objects, alive for the batch and freed by reference counting, are never
    walked (with Python's defaults, 56 collections walked these); garbage in cycles is still
    collected, in bounded amounts."""
    out = subprocess.run(
        [sys.executable, "-c", BATCH_AND_CYCLES],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    during_the_batch, collections, left = (int(n) for n in out.split())
    assert during_the_batch == 0
    assert collections >= 1
    assert left <= 2 * 50_000  # never more than one threshold's worth waits for the collector
