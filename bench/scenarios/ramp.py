"""Ramp: the steady measurement at growing rates, `ramp_steps` every-second schedules (full:
1,000, 2,000, 5,000) for `ramp_seconds` each; ours (2 workers) and BullMQ at every step.

Per step and system: lag p50/p99, slots missed, runs skipped (ours: the execution rows of the
window with status `skipped`; a peer keeps no such record), duplicate requests, and CPU per
received slot split between the system's processes and its store (PostgreSQL; Redis for BullMQ):
`measure_steady`, the code path of the steady scenario. DBOS, Procrastinate and APScheduler are
measured in steady only: they fall behind at 1,000 a second already.
"""

from __future__ import annotations

from typing import Any

from bench.scenarios import steady
from bench.scenarios.common import Context, attempt
from bench.scenarios.peers import bullmq_steady


def run(ctx: Context) -> dict[str, Any]:
    seconds = ctx.sizes.ramp_seconds
    steps: dict[str, dict[str, Any]] = {}
    for n in ctx.sizes.ramp_steps:
        phase = f"ramp{n}"
        results = {"ours": attempt(steady.ours, ctx, n, seconds, phase, plot=False)}
        if ctx.peers:
            results["bullmq"] = attempt(bullmq_steady, ctx, n, seconds, phase, plot=False)
        for system in results.values():
            if "cpu_ms_per_slot" in system:
                system["total_cpu_ms_per_slot"] = (
                    system["cpu_ms_per_slot"] + system["postgres_cpu_ms_per_slot"]
                )
        steps[str(n)] = results
    return {"steps": list(ctx.sizes.ramp_steps), "seconds": seconds, "by_step": steps}
