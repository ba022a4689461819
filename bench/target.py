"""The loopback workflow target: a raw-socket asyncio HTTP/1.1 server in its own process.

    python -m bench.target --port P --out FILE

Answers every request `200 {"runId":"x"}` (keep-alive, pipelining understood) and appends one
tab-separated line per request to FILE:

    receive time (time.time())  path  scheduled-at  idempotency-key

The scheduled-at is the `X-Scheduler-Scheduled-At` header, or the body's `scheduledAt` when the
header is missing. The path names the system and the phase (`/ours/steady/...`), so one target
serves every phase of a run. The receive time is taken when a request's last byte is in, once
per read (requests that arrive in one read share it). Lines are flushed every 50 ms.

`measure_capacity` (used by the harness, in its own process) drives the target with pipelined
requests over a few connections and returns requests per second: the ceiling the target puts on
any measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from pathlib import Path

RESPONSE_BODY = b'{"runId":"x"}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(RESPONSE_BODY)).encode()
    + b"\r\n\r\n"
    + RESPONSE_BODY
)
FLUSH_SECONDS = 0.05


class Recorder:
    def __init__(self, path: Path) -> None:
        self.file = path.open("a", buffering=1 << 20)
        self.lines: list[str] = []

    def add(self, received: float, path: str, scheduled: str, key: str) -> None:
        self.lines.append(f"{received:.6f}\t{path}\t{scheduled}\t{key}\n")

    def flush(self) -> None:
        if self.lines:
            lines, self.lines = self.lines, []
            self.file.writelines(lines)
            self.file.flush()


class TargetProtocol(asyncio.Protocol):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        received = time.time()
        answers = 0
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end].decode("latin-1")
            lines = head.split("\r\n")
            length, scheduled, key = 0, "", ""
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "x-scheduler-scheduled-at":
                    scheduled = value.strip()
                elif name == "idempotency-key":
                    key = value.strip()
            if len(buffer) < end + 4 + length:
                break  # the body is not all here yet
            body = buffer[end + 4 : end + 4 + length]
            buffer = buffer[end + 4 + length :]
            if not scheduled and body:
                with contextlib.suppress(ValueError, AttributeError):
                    scheduled = str(json.loads(body).get("scheduledAt", ""))
            parts = lines[0].split(" ")
            self.recorder.add(received, parts[1] if len(parts) > 1 else "", scheduled, key)
            answers += 1
        self.buffer = buffer
        if answers and self.transport is not None:
            self.transport.write(RESPONSE * answers)


async def serve(port: int, out: Path) -> None:
    recorder = Recorder(out)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: TargetProtocol(recorder), "127.0.0.1", port, backlog=4096, reuse_address=True
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("ready", flush=True)
    try:
        while not stop.is_set():
            recorder.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), FLUSH_SECONDS)
    finally:
        server.close()
        recorder.flush()
        recorder.file.close()


# -- capacity --------------------------------------------------------------------------------
async def _drive(port: int, seconds: float, connections: int, depth: int) -> float:
    request = (
        b"POST /capacity/x HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"X-Scheduler-Scheduled-At: 2000-01-01T00:00:00Z\r\nIdempotency-Key: k\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )
    window = request * depth
    deadline = time.perf_counter() + seconds
    done = 0

    async def one() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                writer.write(window)
                expected = len(RESPONSE) * depth
                got = 0
                while got < expected:
                    chunk = await reader.read(1 << 16)
                    if not chunk:
                        return
                    got += len(chunk)
                done += depth
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(connections)))
    return done / (time.perf_counter() - started)


def measure_capacity(
    port: int, seconds: float = 3.0, connections: int = 8, depth: int = 32
) -> float:
    """Requests per second the target answered (pipelined load from this process)."""
    return asyncio.run(_drive(port, seconds, connections, depth))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.out))


if __name__ == "__main__":
    main()
