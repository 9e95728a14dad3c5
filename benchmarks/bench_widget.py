"""Widget message round trip over HTTP (issue 4): POST an answer, get the next question.

A real server (the app `qualibot serve` runs: `bot.server.create_server` under uvicorn, with
uvloop/httptools when installed) in its own process on loopback with a fresh SQLite file, and
an asyncio client in this process driving 50 concurrent widget sessions, each on its own
keep-alive connection (a lean HTTP/1.1 client: httpx spends ~2-3 ms of client CPU per request
with 50 connections in one event loop, and would measure itself). Each session types its way
through contact details and a BANT qualification (9 messages: name, email, company, consent,
budget, amount, authority, need, timeline), each with a `message_id` and the `question` it
answers, as embed.js sends them;
then the visitor takes a fresh session. Sessions are opened before the clock starts; only
message round trips are timed. Bounded by a message count per run.

Runs:

* closed loop: each session sends its next message as soon as the reply is in: 50 requests
  always in flight. This finds the throughput; latency here is mostly queueing (one process,
  SQLite: one writer), i.e. about 50 x the time of one message.
* paced at half that throughput: each session pauses so that the server runs at ~50% load.
* paced with `--think` ms between messages (default 500 ms; people take seconds).

Paced visitors start at random moments and pause 0.5-1.5 x the think time, so that they do
not march in step.
* baseline: `GET /healthz` (one `SELECT 1`) with the same pacing: the server stack and the
  machine on their own. On a shared machine its tail is as long as the widget's.

    python benchmarks/bench_widget.py [--sessions 50] [--messages 5000] [--think 500]

Each widget run also prints the server's CPU time per message, and its event loop thread's
share of it (HTTP, routing, validation; the rest is the database threads' turns and the WAL
checkpoints), from /proc on Linux.

Server and client are pinned to different cores when there are two or more. The rate limits
are raised for the run (all sessions come from 127.0.0.1). Figures are printed, not asserted;
on a shared machine the tail (p99, max) follows whatever else runs there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
# this checkout's code, also in the server process (not an installed copy from elsewhere)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_slack import cpu_since, process_cpu_seconds

API = "/widget/api"
WIDGET_TOML = """
[widget]
sessions_per_hour = 1000000
messages_per_minute = 1000000
events_per_minute = 1000000
"""
# What a qualifying visitor sends, in order: ("text", ...) typed, ("choice", ...) clicked.
SCRIPT: list[tuple[str, str]] = [
    ("text", "Dana Lee"),
    ("text", "dana{n}@acme.example"),
    ("text", "Acme Logistics"),
    ("choice", "yes"),
    ("choice", "allocated"),
    ("text", "about $80k a year"),
    ("text", "I'm the CFO and I sign the contract"),
    ("text", "Our reps lose 10 hours a week to manual reporting"),
    ("text", "this quarter"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(port: int) -> None:
    """The server process: what `qualibot serve` runs, without Slack."""
    import uvicorn

    from bot.config import Settings
    from bot.runtime import build_runtime
    from bot.server import create_server, freeze_startup_heap

    runtime = build_runtime(Settings(_env_file=None))  # type: ignore[call-arg]
    api = create_server(runtime)
    freeze_startup_heap()  # as `qualibot serve` does
    uvicorn.run(api, host="127.0.0.1", port=port, log_level="warning")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams, one per visitor (as a browser
    keeps its connection). httpx costs ~2-3 ms of client CPU per request with 50 connections
    in one event loop, which would make the client, not the server, the bottleneck."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        payload = json.dumps(body).encode() if body is not None else b""
        head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        if body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        if token:
            head.append(f"Authorization: Bearer {token}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        data = await self.reader.readexactly(length) if length else b""
        return status, json.loads(data) if data else None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class Run:
    remaining: int
    sessions: list[tuple[str, str]]
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    #: the server's CPU seconds while timed: (all threads, the event loop's thread)
    server_cpu: tuple[float, float] = (0.0, 0.0)


async def open_sessions(port: int, count: int, concurrency: int) -> list[tuple[str, str]]:
    """`count` new sessions (id, token), opened before the clock starts."""
    opened: list[tuple[str, str]] = []

    async def worker(share: int) -> None:
        connection = Connection(port)
        try:
            for _ in range(share):
                status, body = await connection.request("POST", f"{API}/sessions", {})
                if status != 201:
                    raise SystemExit(f"could not start a session: {status} {body}")
                opened.append((body["session_id"], body["token"]))
        finally:
            connection.close()

    shares = [count // concurrency + (i < count % concurrency) for i in range(concurrency)]
    await asyncio.gather(*(worker(n) for n in shares if n))
    return opened


async def visitor(port: int, run: Run, think: float, number: int) -> None:
    """Takes a fresh session, types through it, takes the next one, until the run is done.
    Paced visitors start at random moments and pause 0.5-1.5 x `think`, so that they do not
    march in step (50 requests landing at the same instant measure a burst, not a chat)."""
    rng = random.Random(number)
    connection = Connection(port)
    try:
        if think:
            await asyncio.sleep(rng.uniform(0, think))
        while run.remaining > 0 and run.sessions:
            session_id, token = run.sessions.pop()
            asked = "name"  # the first question of a session opened without contact details
            for kind, value in SCRIPT:
                if run.remaining <= 0:
                    return
                run.remaining -= 1
                # as embed.js sends it: every message carries its idempotency key and the
                # question on screen
                body = {kind: value.format(n=session_id), "message_id": str(uuid.uuid4()),
                        "question": asked}
                started = time.perf_counter()
                status, reply = await connection.request(
                    "POST", f"{API}/sessions/{session_id}/messages", body, token
                )
                run.latencies.append(time.perf_counter() - started)
                if status != 200 or not reply.get("messages"):
                    run.errors += 1
                asked = next((m["question"]["id"] for m in reversed(reply.get("messages", []))
                              if m.get("question")), asked)
                if think:
                    await asyncio.sleep(think * rng.uniform(0.5, 1.5))
    finally:
        connection.close()


async def measure(
    port: int, sessions: int, messages: int, think: float, server_pid: int
) -> tuple[Run, float]:
    needed = -(-messages // len(SCRIPT)) + sessions
    run = Run(remaining=messages, sessions=await open_sessions(port, needed, sessions))
    # Warm up (imports, caches, connections) with a few messages before timing.
    warm = Run(remaining=sessions, sessions=await open_sessions(port, sessions, sessions))
    await asyncio.gather(*(visitor(port, warm, 0, i) for i in range(sessions)))
    cpu_before = process_cpu_seconds(server_pid)
    started = time.perf_counter()
    await asyncio.gather(*(visitor(port, run, think, i) for i in range(sessions)))
    elapsed = time.perf_counter() - started
    run.server_cpu = cpu_since(server_pid, cpu_before)
    return run, elapsed


async def baseline(port: int, sessions: int, messages: int, think: float) -> tuple[Run, float]:
    """The same pacing on `GET /healthz` (one `SELECT 1`): what the server, the machine and
    the client cost on their own, to read the widget's figures against."""
    run = Run(remaining=messages, sessions=[])

    async def poller(number: int) -> None:
        rng = random.Random(number)
        connection = Connection(port)
        try:
            await asyncio.sleep(rng.uniform(0, think))
            while run.remaining > 0:
                run.remaining -= 1
                started = time.perf_counter()
                status, _ = await connection.request("GET", "/healthz")
                run.latencies.append(time.perf_counter() - started)
                run.errors += status != 200
                await asyncio.sleep(think * rng.uniform(0.5, 1.5))
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(poller(i) for i in range(sessions)))
    return run, time.perf_counter() - started


def report(name: str, run: Run, elapsed: float) -> None:
    samples = run.latencies
    p99 = percentile(samples, 0.99) * 1e3
    print(
        f"{name}: {len(samples):,} messages in {elapsed:.2f} s = {len(samples) / elapsed:,.0f} "
        f"messages/s; latency p50 {statistics.median(samples) * 1e3:.1f} ms, "
        f"p99 {p99:.1f} ms, max {max(samples) * 1e3:.1f} ms; errors {run.errors}; "
        f"{'meets' if p99 < 50 else 'misses'} the p99 < 50 ms target"
    )
    if samples and run.server_cpu[0]:
        every, loop = (seconds * 1e3 / len(samples) for seconds in run.server_cpu)
        print(f"  server CPU per message: {every:.2f} ms, of which its event loop thread "
              f"{loop:.2f} ms (the rest: the database threads, the checkpoints)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--think", type=float, default=500.0, help="ms between messages (paced)")
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="don't pin server and client to cores"
    )
    parser.add_argument("--server-core", type=int, help="the server's core (default: the last)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    cores = sorted(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "qualibot.toml").write_text(WIDGET_TOML)
        env = {
            **os.environ,
            "QUALIBOT_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
            "QUALIBOT_CONFIG": str(folder / "qualibot.toml"),
            "QUALIBOT_HANDOFF_CHANNEL": "C0SALES",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port)], env=env, cwd=folder
        )
        try:
            server_core = cores[-1] if args.server_core is None else args.server_core
            if len(cores) > 1 and args.pin:
                os.sched_setaffinity(server.pid, {server_core})
                os.sched_setaffinity(0, set(cores) - {server_core})
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(url + "/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start")
                time.sleep(0.1)
            placement = (
                f"server on core {server_core}, client on {sorted(os.sched_getaffinity(0))}"
                if len(cores) > 1 and args.pin
                else f"not pinned, {len(cores)} cores"
            )
            print(
                f"widget round trip: {args.sessions} concurrent sessions, SQLite file, "
                f"{placement}, load average {os.getloadavg()[0]:.1f} before the run"
            )
            run, elapsed = asyncio.run(
                measure(port, args.sessions, args.messages, 0, server.pid)
            )
            report("closed loop (no think time)", run, elapsed)
            capacity = len(run.latencies) / elapsed
            # Half the capacity, spread over the sessions: busy, but not flooded.
            half = args.sessions / (capacity / 2)
            for think in (half, args.think / 1000):
                run, elapsed = asyncio.run(
                    measure(port, args.sessions, args.messages, think, server.pid)
                )
                report(f"paced ({think * 1000:.0f} ms think time)", run, elapsed)
            run, elapsed = asyncio.run(
                baseline(port, args.sessions, args.messages, args.think / 1000)
            )
            report(f"baseline: GET /healthz paced ({args.think:g} ms)", run, elapsed)
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
