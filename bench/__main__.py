"""`python -m bench [--quick] [--only steady,...] [--no-peers] [--set SIZE=N]` (SCENARIOS below)

Starts its own PostgreSQL cluster and a loopback target, runs the scenarios (ours, then each peer
in its own phase, on the same cluster and target), prints a table per scenario and writes
bench/results/latest.json and bench/results/steady-lag.png. Stops everything it started and
destroys the cluster at the end, on Ctrl-C, SIGTERM or an error.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import itertools
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench import report
from bench.cluster import BenchCluster
from bench.scenarios.common import FULL, QUICK, Context, Sizes, TargetLog
from bench.service import ForeignLoad, Processes, busy_cpu_seconds, python
from bench.target import measure_capacity
from devtools.loopback import free_port

SCENARIOS = [
    "steady", "burst", "ramp", "limits", "scale", "catchup", "neighbour", "api", "api-batch",
    "stats",
]  # fmt: skip
RESULTS = Path(__file__).resolve().parent / "results"


def machine(cluster: BenchCluster) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "postgresql": cluster.server_version(),
        "postgresql_durability": cluster.durability,
        "platform": platform.platform(),
        "engine": engine_version(),
    }


def engine_version() -> str:
    """The commit the engine was measured at, and whether the work tree differed from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "app", "worker", "db").splitlines()
    return f"{git('rev-parse', '--short', 'HEAD')}" + (
        f" + uncommitted changes in {len(changed)} engine files" if changed else ""
    )


def wait_for_quiet(limit: float = 0.3, patience: float = 300.0) -> None:
    """Wait (up to `patience` s) until the machine is nearly idle before measuring anything."""
    deadline = time.monotonic() + patience
    for attempt in itertools.count():
        before = busy_cpu_seconds()
        time.sleep(3.0)
        cores = (busy_cpu_seconds() - before) / 3.0
        if cores <= limit:
            return
        if time.monotonic() >= deadline:
            print(f"WARNING: the machine stays busy ({cores:.1f} cores used by others); going on")
            return
        if attempt % 10 == 0:
            print(f"waiting for a quiet machine: {cores:.1f} cores busy", flush=True)


def size(sizes: Sizes, item: str) -> tuple[str, int | tuple[int, ...]]:
    """`NAME=N` (or `NAME=N,M,...` for a list size) as a replacement for one field of `sizes`."""
    name, _, value = item.partition("=")
    if isinstance(getattr(sizes, name, None), tuple):
        return name, tuple(int(v) for v in value.split(","))
    return name, int(value)


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@dataclasses.dataclass(frozen=True)
class Options:
    """What the command line asked for."""

    scenarios: list[str]
    sizes: Sizes
    quick: bool
    unsafe: bool
    statements: bool
    peers: bool
    wait: float  # seconds to wait for a quiet machine
    command: str


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--unsafe", action="store_true", help="fsync off (not honest numbers)")
    parser.add_argument("--no-peers", action="store_true", help="ours only (engine work)")
    parser.add_argument(
        "--statements",
        action="store_true",
        help="load pg_stat_statements; steady, ramp and burst print ours' costliest statements",
    )
    parser.add_argument(
        "--wait",
        type=float,
        help="seconds to wait for a quiet machine before starting (default 900; quick: 60)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SIZE=N",
        help="override one size, e.g. --set steady_seconds=60 or --set burst_sizes=100000 "
        "(a list: comma-separated; repeatable)",
    )
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}; pick from {SCENARIOS}")
    sizes = QUICK if args.quick else FULL
    try:
        sizes = dataclasses.replace(sizes, **dict(size(sizes, item) for item in args.set))
    except (TypeError, ValueError) as exc:
        parser.error(f"--set: {exc}")
    return Options(
        scenarios=chosen,
        sizes=sizes,
        quick=args.quick,
        unsafe=args.unsafe,
        statements=args.statements,
        peers=not args.no_peers,
        wait=args.wait if args.wait is not None else 60.0 if args.quick else 900.0,
        command="python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
    )


def set_up(
    options: Options, cluster: BenchCluster, procs: Processes, work: Path, data: dict[str, Any]
) -> Context:
    """Wait for a quiet machine, start the cluster and the target, measure the target's
    capacity and print what the run is measured on."""
    wait_for_quiet(patience=options.wait)
    cluster.start()
    data["machine"] = machine(cluster)
    port = free_port()
    log_path = work / "target.tsv"
    target = procs.start(
        "target",
        python("-m", "bench.target", "--port", str(port), "--out", str(log_path)),
        dict(os.environ),
        stdout_pipe=True,
    )
    assert target.process.stdout is not None
    if target.process.stdout.readline().strip() != b"ready":
        raise RuntimeError("the target did not start")
    capacity = measure_capacity(port, seconds=2.0, connections=64, depth=1)
    data["target_capacity_rps"] = capacity
    m = data["machine"]
    print(
        f"machine: {m['cpus']} CPUs, {m['memory_gb']} GiB, Python {m['python']}, "
        f"PostgreSQL {m['postgresql']} ({m['postgresql_durability']})\n"
        f"engine: {m['engine']}\n"
        f"mode: {data['mode']}; target capacity: {capacity:,.0f} requests/s "
        "(64 keep-alive connections, one request at a time each, client in the harness)\n",
        flush=True,
    )
    return Context(
        cluster,
        procs,
        f"http://127.0.0.1:{port}",
        TargetLog(log_path),
        options.sizes,
        options.quick,
        peers=options.peers,
    )


def run_scenarios(ctx: Context, scenarios: list[str], data: dict[str, Any]) -> None:
    """Each scenario in turn (a failing one is recorded as an error, the rest still run), its
    table printed and latest.json rewritten after each."""
    foreign = ForeignLoad(ctx.procs, ctx.cluster.cpu_seconds)
    for name in scenarios:
        began = time.monotonic()
        foreign.start()
        module = importlib.import_module(f"bench.scenarios.{name.replace('-', '_')}")
        try:
            result = module.run(ctx)
        except Exception as exc:
            traceback.print_exc()
            result = {"error": f"{type(exc).__name__}: {exc}"}
        result["duration_s"] = round(time.monotonic() - began, 1)
        result["foreign_cpu_cores"] = round(foreign.cores(), 2)
        data["results"][name] = result
        if result["foreign_cpu_cores"] > 0.1:
            print(
                f"WARNING: processes outside this run used {result['foreign_cpu_cores']} "
                f"cores on average during {name}: its numbers were taken on a busy machine"
            )
        print(f"{report.render(name, result)}\n({name}: {result['duration_s']} s)\n", flush=True)
        report.write_json(RESULTS / "latest.json", data)


def write_plot(ctx: Context, data: dict[str, Any]) -> None:
    """The steady scenario's lag plot, when it ran."""
    sizes = ctx.sizes
    if ctx.lag_samples and report.plot_steady(
        RESULTS / "steady-lag.png",
        ctx.lag_samples,
        f"Steady: {sizes.steady_schedules:,} schedules every second, "
        f"{sizes.steady_seconds} s ({data['mode']} run)",
    ):
        print(f"plot: {RESULTS / 'steady-lag.png'}")


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    work = Path(tempfile.mkdtemp(prefix="wfs-bench-run-"))
    cluster = BenchCluster(unsafe=options.unsafe, statements=options.statements)
    shutil.rmtree(RESULTS / "logs", ignore_errors=True)
    procs = Processes(RESULTS / "logs")
    started = time.monotonic()
    data: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": options.command,
        "mode": "quick" if options.quick else "full",
        "sizes": options.sizes.__dict__,
        "results": {},
    }
    try:
        ctx = set_up(options, cluster, procs, work, data)
        run_scenarios(ctx, options.scenarios, data)
        write_plot(ctx, data)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)
        data["duration_s"] = round(time.monotonic() - started, 1)
        report.write_json(RESULTS / "latest.json", data)
    print(f"results: {RESULTS / 'latest.json'} (total {data['duration_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
