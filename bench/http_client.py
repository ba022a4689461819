"""What the HTTP client costs at a crowded fire instant: ours (worker/http/wire.py) against aiohttp
and httpx, on the same loopback target, with the same requests.

    .venv/bin/python -m bench.http_client [--requests 1000] [--rounds 5] [--loop uvloop|asyncio]

The question it answers (docs/benchmarks.md, "The HTTP client"): when N runs fire at the same
instant, how long after the first request does the last one reach the target, and how much CPU
does the client spend per request? At an instant the event loop runs every request's client
code before the last request can leave, so the CPU per request is what spreads an instant out.

Each client gets the same N requests of a real delivery (headers and signed JSON body built by
`build_delivery` ahead of time, as the worker does before an instant; ours also has its request
bytes `prepare`d, which is its design). Per round, each client in turn (ours, aiohttp, httpx,
ours again: an A/B/A order, so that drift in the machine shows as a difference between the two
rows of ours) first sends one burst of N to open N keep-alive connections (the worker's pool
is warm at an instant), then the measured burst of N simultaneous POSTs. Reported, as the
median over the rounds:
- CPU per request: this process's CPU time (user + system) over the measured burst, / N;
- spread at the target: first to last request received by the target (bench/target.py, a raw
  asyncio server in its own process, which records each request's arrival);
- last answer: from the start of the burst until the client has every answer.
Foreign load is the machine's busy CPU not spent by this process or the target, in cores: above
~0.1 the numbers were taken on a shared machine (compare the two rows of ours).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import psutil

from app.domain.webhook import USER_AGENT, build_delivery
from bench.report import fmt, table
from bench.service import busy_cpu_seconds
from worker.http.wire import Request, WireClient, prepare

SECRET = "bench-secret-" + "b" * 20
CLIENTS = ("ours", "aiohttp", "httpx", "ours (again)")  # the last: A/B/A, for drift


@dataclass(frozen=True, slots=True)
class Burst:
    ahead_ms_per_request: float  # CPU to build what the client builds before the instant
    cpu_ms_per_request: float  # CPU of the burst itself
    spread_ms: float  # first to last request received by the target
    last_answer_ms: float  # start of the burst to the last answer in the client
    wall_seconds: float
    foreign_cpu_seconds: float  # the machine's busy CPU that was neither ours nor the target's


def requests_of(count: int) -> list[tuple[dict[str, str], bytes]]:
    """`count` deliveries' headers (as the worker sends them) and bodies, built ahead."""
    slot = datetime(2026, 3, 8, 8, 0, tzinfo=UTC)
    out = []
    for _ in range(count):
        delivery = build_delivery(
            execution_id=uuid4(),
            trigger_id=uuid4(),
            workflow_id="wf-bench",
            scheduled_at=slot,
            attempt=1,
            trigger="schedule",
            input={"tenant": "acme", "n": 1},
            url="",
            secret=SECRET,
            timestamp=int(time.time()),
        )
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "*/*",
            "Accept-Encoding": "identity",
            **delivery.headers,
        }
        out.append((headers, delivery.body))
    return out


class Target:
    """bench/target.py in its own process; `received(prefix)` reads the arrival times."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.out = folder / "target.tsv"
        # On uvloop: the target's own cost per request bounds the spread it can see.
        serve = (
            "import sys, uvloop; from pathlib import Path; from bench.target import serve; "
            "uvloop.run(serve(int(sys.argv[1]), Path(sys.argv[2])))"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", serve, str(self.port), str(self.out)], stdout=subprocess.PIPE
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != b"ready":
            raise RuntimeError("the target did not start")
        self.cpu = psutil.Process(self.process.pid)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def cpu_seconds(self) -> float:
        times = self.cpu.cpu_times()
        return float(times.user + times.system)

    def received(self, prefix: str, count: int) -> list[float]:
        """Arrival times of the `count` requests whose path starts with `prefix` (the target
        flushes its lines every 50 ms: waits for them, up to 10 s)."""
        deadline = time.monotonic() + 10
        while True:
            lines = self.out.read_text().splitlines() if self.out.exists() else []
            fields = (line.split("\t") for line in lines)
            times = [float(at) for at, path, *_ in fields if path.startswith(prefix)]
            if len(times) >= count or time.monotonic() > deadline:
                return times
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


Requests = list[tuple[dict[str, str], bytes]]


class Client(ABC):
    """One HTTP client under test: `ready` builds what may be built ahead of the instant,
    `send(i)` sends request `i` of the burst and reads its answer."""

    def __init__(self, target: Target, requests: Requests) -> None:
        self.target = target
        self.requests = requests
        self.urls: list[str] = []

    def ready(self, prefix: str) -> None:
        self.urls = [self.target.url(f"{prefix}/{i}") for i in range(len(self.requests))]

    @abstractmethod
    async def send(self, i: int) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...


class Ours(Client):
    def __init__(self, target: Target, requests: Requests) -> None:
        super().__init__(target, requests)
        self.client = WireClient(max_connections=len(requests))
        self.prepared: list[Request] = []

    def ready(self, prefix: str) -> None:
        super().ready(prefix)  # and the request bytes, as the worker builds them ahead
        self.prepared = [
            prepare(url, headers, body)
            for url, (headers, body) in zip(self.urls, self.requests, strict=True)
        ]

    async def send(self, i: int) -> None:
        answer = await self.client.request(self.prepared[i], asyncio.get_running_loop().time() + 60)
        assert answer.status == 200 and answer.complete

    async def close(self) -> None:
        await self.client.aclose()


class Aiohttp(Client):
    def __init__(self, target: Target, requests: Requests) -> None:
        import aiohttp

        super().__init__(target, requests)
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=len(requests), limit_per_host=0),
            timeout=aiohttp.ClientTimeout(total=60),
        )

    async def send(self, i: int) -> None:
        headers, body = self.requests[i]
        async with self.session.post(self.urls[i], data=body, headers=headers) as answer:
            await answer.read()
            assert answer.status == 200

    async def close(self) -> None:
        await self.session.close()


class Httpx(Client):
    def __init__(self, target: Target, requests: Requests) -> None:
        import httpx

        super().__init__(target, requests)
        count = len(requests)
        self.client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=count, max_keepalive_connections=count),
            timeout=60,
            trust_env=False,
        )

    async def send(self, i: int) -> None:
        headers, body = self.requests[i]
        answer = await self.client.post(self.urls[i], content=body, headers=headers)
        assert answer.status_code == 200

    async def close(self) -> None:
        await self.client.aclose()


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def burst(client: Client, target: Target, prefix: str, count: int) -> Burst:
    ahead = own_cpu_seconds()
    client.ready(prefix)
    busy0, target0 = busy_cpu_seconds(), target.cpu_seconds()
    cpu0, wall0 = own_cpu_seconds(), time.monotonic()
    started = time.time()
    await asyncio.gather(*(client.send(i) for i in range(count)))
    ended = time.time()
    cpu1, wall1 = own_cpu_seconds(), time.monotonic()
    busy1, target1 = busy_cpu_seconds(), target.cpu_seconds()
    received = target.received(prefix + "/", count)
    assert len(received) == count, f"{len(received)} of {count} requests recorded"
    return Burst(
        ahead_ms_per_request=(cpu0 - ahead) / count * 1000,
        cpu_ms_per_request=(cpu1 - cpu0) / count * 1000,
        spread_ms=(max(received) - min(received)) * 1000,
        last_answer_ms=(ended - started) * 1000,
        wall_seconds=wall1 - wall0,
        foreign_cpu_seconds=(busy1 - busy0) - (cpu1 - cpu0) - (target1 - target0),
    )


async def run(
    count: int, rounds: int, target: Target, clients: tuple[str, ...]
) -> dict[str, list[Burst]]:
    requests = requests_of(count)
    makers: dict[str, type[Client]] = {"ours": Ours, "aiohttp": Aiohttp, "httpx": Httpx}
    results: dict[str, list[Burst]] = {name: [] for name in clients}
    for round_ in range(rounds):
        for position, name in enumerate(clients):
            client = makers[name.split(" ")[0]](target, requests)
            path = f"/{round_}/{position}"  # each burst's own paths at the target
            try:  # one burst opens the keep-alive connections, the next one is measured
                await burst(client, target, f"/warm{path}", count)
                results[name].append(await burst(client, target, path, count))
            finally:
                await client.close()
            print(f"round {round_ + 1}/{rounds} {name}: {results[name][-1]}", file=sys.stderr)
    return results


def report(results: dict[str, list[Burst]], count: int, loop: str) -> str:
    """The medians per client; ratios are to the first row (ours)."""

    def median(name: str, field: str) -> float:
        return float(statistics.median(getattr(b, field) for b in results[name]))

    first = next(iter(results))
    base = {field: median(first, field) for field in ("cpu_ms_per_request", "spread_ms")}
    rows = []
    for name in results:
        cpu, spread = median(name, "cpu_ms_per_request"), median(name, "spread_ms")
        # Foreign load over all of the client's measured bursts: one burst is too short for
        # the machine's CPU counters (10 ms ticks).
        foreign = sum(b.foreign_cpu_seconds for b in results[name])
        wall = sum(b.wall_seconds for b in results[name])
        rows.append(
            [
                name,
                fmt(median(name, "ahead_ms_per_request"), 3),
                fmt(cpu, 3),
                f"{cpu / base['cpu_ms_per_request']:.1f}×",
                fmt(spread),
                f"{spread / base['spread_ms']:.1f}×",
                fmt(median(name, "last_answer_ms")),
                fmt(max(0.0, foreign / wall), 2),
            ]
        )
    headers = [
        f"{count} simultaneous POSTs ({loop})",
        "built ahead ms/req",
        "CPU ms/req",
        f"vs {first}",
        "spread at target ms",
        f"vs {first}",
        "last answer ms",
        "foreign cores",
    ]
    return table(headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument(
        "--clients",
        default="ours,aiohttp,httpx",
        help="which clients, in order; ours runs again last (A/B/A). httpx's pool costs "
        "O(requests x connections) per burst: at 1,000 a round takes minutes",
    )
    args = parser.parse_args()
    clients = tuple(args.clients.split(","))
    if unknown := set(clients) - set(CLIENTS):
        parser.error(f"unknown clients {sorted(unknown)}: choose from ours, aiohttp, httpx")
    if "ours" in clients and len(clients) > 1:
        clients += ("ours (again)",)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.requests)), hard))
    with tempfile.TemporaryDirectory(prefix="bench-http-") as folder:
        target = Target(Path(folder))
        try:
            coroutine = run(args.requests, args.rounds, target, clients)
            if args.loop == "uvloop":
                import uvloop

                results = uvloop.run(coroutine)
            else:
                results = asyncio.run(coroutine)
        finally:
            target.stop()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, median of {args.rounds}")
    print(report(results, args.requests, args.loop))


if __name__ == "__main__":
    main()
