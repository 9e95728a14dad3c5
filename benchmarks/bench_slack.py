"""Slack ack-path benchmark (issue 3): Qualibot's app vs a bare Bolt app that only acks.

Both are served by the same stack — `qualibot serve`'s FastAPI app (`create_server` +
`mount_slack`: the sync endpoint in the thread pool, Bolt with `process_before_response`)
under uvicorn, one process — on loopback, with a SQLite file database. The load generator
is a separate process (asyncio, raw HTTP/1.1 keep-alive connections), and every request is
a new, correctly signed Slack request:

- *DM answer*: a `message.im` event answering a real open BANT conversation (verify, parse,
  transition, store, enqueue), five answers per conversation so every fifth one also scores
  the lead and enqueues the handoff notice; each conversation is answered by one connection
  in order, many conversations per connection;
- *slash command*: `/qualify bant <company>` (start: create lead and conversation, enqueue
  the first question, ack with an ephemeral text).

The bare app gets the same requests (and acks them without doing anything). The outbox
dispatcher is not running (the ack path is measured; delivery happens after the ack). With
two or more cores, both servers run on one core and the load generator on the others
(`BENCH_NO_PIN=1` turns that off); each phase also reports the server's CPU time per request,
and in brackets its event loop thread's share (the rest is the dispatch's worker threads).
Each phase runs `--rounds` times (default 3), the bare app and ours back to back, the order
alternating: on a shared machine the speed of both drifts by tens of percent within a minute,
so ratios are taken within a round and the median of the rounds is reported.
Bounded: at most `--requests` per phase and round, and `--time-limit` seconds each. Prints the
throughputs, their ratio (target >= 0.4), p50/p99 (target p99 < 60 ms at 16 connections;
slash-command ack p99 < 50 ms), at 16 connections and at 1.

    python benchmarks/bench_slack.py [--requests 4000] [--concurrency 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SECRET = "bench-signing-secret-0123456789abcdef"
CHANNEL = "C0SALES01"
BANT_ANSWERS = [
    "allocated",
    "about $80k a year",
    "I'm the CFO and I sign the contract",
    "Our reps lose 10 hours a week to manual reporting",
    "this quarter",
]


def _placement() -> tuple[set[int], set[int]]:
    """(server cores, load generator cores): one core for the servers and the rest for the
    load generator when there are two or more, so that neither takes the other's CPU and
    the server's threads do not hand the GIL across cores; nothing pinned on one core."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) < 2 or os.environ.get("BENCH_NO_PIN"):
        return set(), set()
    return {cores[-1]}, set(cores[:-1])


SERVER_CORES, LOADGEN_CORES = _placement()


def user_id(n: int) -> str:
    return f"U{n:09d}"


# --- the server (a subprocess) ---------------------------------------------------------------


def serve(kind: str) -> None:
    """Run one server on a free loopback port; print the port on stdout, then serve."""
    import logging

    if SERVER_CORES:
        # before any thread starts: every thread of the server inherits it
        os.sched_setaffinity(0, SERVER_CORES)

    import uvicorn
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from bot.config import Settings
    from bot.runtime import build_runtime
    from bot.server import create_server, freeze_startup_heap
    from bot.slack.app import create_bolt_app

    logging.basicConfig(level=logging.WARNING)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    runtime = build_runtime(settings)
    if kind == "qualibot":
        app = create_bolt_app(settings, runtime)
    else:
        # Bolt would also read the token from the environment, then warn that `client` wins
        os.environ.pop("SLACK_BOT_TOKEN", None)
        app = App(
            name="bare",
            signing_secret=SECRET,
            client=WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url),
            process_before_response=True,
            token_verification_enabled=False,
        )

        def ack_only(ack: Ack) -> None:
            ack()

        app.event("message")(ack_only)
        app.command("/qualify")(ack_only)
    api = create_server(runtime, slack_app=app)
    freeze_startup_heap()  # as `qualibot serve` does
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(api, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


class Server:
    def __init__(self, kind: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def process_cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) a server process has used so far: all its threads, and its
    main thread (the event loop's; the rest are worker threads and the checkpoints). Linux
    /proc; zeros elsewhere."""
    return _cpu_seconds(f"/proc/{pid}/stat"), _cpu_seconds(f"/proc/{pid}/task/{pid}/stat")


def cpu_since(pid: int, before: tuple[float, float]) -> tuple[float, float]:
    """`process_cpu_seconds(pid)` less `before`: what the process used since then."""
    now = process_cpu_seconds(pid)
    return now[0] - before[0], now[1] - before[1]


def _cpu_seconds(stat_path: str) -> float:
    try:
        fields = Path(stat_path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the load generator (a subprocess) ------------------------------------------------------


def build_requests(spec: dict[str, Any]) -> list[list[bytes]]:
    """Per connection, the raw HTTP requests it sends, in order (signed now)."""
    from tests.fakeslack import Workspace
    from tests.slackreq import SlackRequests

    slack = SlackRequests(signing_secret=SECRET, workspace=Workspace())
    per_connection: list[list[bytes]] = [[] for _ in range(spec["concurrency"])]
    for c, users in enumerate(spec["users"]):
        out = per_connection[c]
        if spec["kind"] == "answer":
            for answer in spec["answers"]:
                for user in users:
                    out.append(_raw(slack.message_im(answer, user_id=user), spec["port"]))
        else:
            for user in users:
                company = f"Acme {user}"
                out.append(_raw(slack.command("/qualify", f"bant {company}", user_id=user),
                                spec["port"]))
    return per_connection


def _raw(request: Any, port: int) -> bytes:
    body = request.body.encode()
    head = [f"POST {request.path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
            f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in request.headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _connection(
    port: int, requests: list[bytes], deadline: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for raw in requests:
            if time.perf_counter() > deadline:
                return
            started = time.perf_counter()
            writer.write(raw)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            status = int(status_line.split()[1])
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


def loadgen(spec_path: str) -> None:
    if LOADGEN_CORES:
        os.sched_setaffinity(0, LOADGEN_CORES)
    spec = json.loads(Path(spec_path).read_text())
    per_connection = build_requests(spec)
    latencies: list[float] = []
    errors: list[int] = []

    async def run() -> float:
        started = time.perf_counter()
        deadline = started + spec["time_limit"]
        await asyncio.gather(*(
            _connection(spec["port"], reqs, deadline, latencies, errors)
            for reqs in per_connection
        ))
        return time.perf_counter() - started

    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    seconds = asyncio.run(run())
    print(json.dumps({"seconds": seconds, "latencies": latencies, "errors": errors}))


def run_load(
    port: int,
    kind: str,
    users: list[str],
    concurrency: int,
    time_limit: float,
    answers: list[str] | None = None,
) -> dict[str, Any]:
    groups = [users[c::concurrency] for c in range(concurrency)]
    spec = {"port": port, "kind": kind, "users": groups, "answers": answers or [],
            "concurrency": concurrency, "time_limit": time_limit}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--loadgen", handle.name],
            check=True, capture_output=True, text=True, timeout=time_limit + 120,
        )
    finally:
        os.unlink(handle.name)
    result = json.loads(out.stdout)
    lat = sorted(result["latencies"])
    n = len(lat)
    return {
        "count": n,
        "seconds": result["seconds"],
        "rps": n / result["seconds"] if result["seconds"] else 0.0,
        "p50": statistics.median(lat) * 1000 if lat else 0.0,
        "p99": lat[min(n - 1, int(n * 0.99))] * 1000 if lat else 0.0,
        "max": lat[-1] * 1000 if lat else 0.0,
        "errors": len(result["errors"]),
    }


# --- the orchestration ----------------------------------------------------------------------

def phases(concurrency: int) -> list[tuple[str, int, str]]:
    """(label, connections, kind): answers and commands, at `concurrency` and at 1."""
    return [(f"{kind} x{conc}", conc, kind)
            for kind in ("answer", "command") for conc in (concurrency, 1)]


def bench_env(folder: Path, fake: Any) -> dict[str, str]:
    """The environment of a benchmark's Qualibot: this one's, with a SQLite file in `folder`,
    no routing rules (an empty settings file: no local qualibot.toml picked up), and one
    workspace whose Web API is the `fake` Slack (no OAuth, no Socket Mode)."""
    (folder / "none.toml").write_text("")
    env = {
        **os.environ,
        "QUALIBOT_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
        "QUALIBOT_CONFIG": str(folder / "none.toml"),
        "QUALIBOT_HANDOFF_CHANNEL": CHANNEL,
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
        "PYTHONPATH": str(ROOT),
    }
    for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_APP_TOKEN"):
        env.pop(name, None)
    return env


def prepare(env: dict[str, str], users: list[str]) -> None:
    """Open one BANT conversation per user (what the answer events answer)."""
    from bot.config import Settings
    from bot.runtime import build_runtime

    os.environ.update(env)
    runtime = build_runtime(Settings(_env_file=None))  # type: ignore[call-arg]
    try:
        for user in users:
            runtime.service.start(framework="bant", company=f"Lead of {user}", channel="slack",
                                  participant=user, team_id="T0QUALI01")
    finally:
        runtime.close()


def count_rows(env: dict[str, str]) -> dict[str, int]:
    from sqlalchemy import func, select

    from storage.db import create_engine_for
    from storage.models import Answer, Lead, OutboxMessage

    engine = create_engine_for(env["QUALIBOT_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            return {
                model.__tablename__: int(connection.scalar(
                    select(func.count()).select_from(model)) or 0)
                for model in (Lead, Answer, OutboxMessage)
            }
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000,
                        help="answer events per phase at full concurrency (default 4000)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per phase")
    parser.add_argument("--rounds", type=int, default=3,
                        help="bare/ours pairs per phase, the order alternating (default 3)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.loadgen:
        loadgen(args.loadgen)
        return

    from tests.fakeslack import FakeSlack

    per_answer = len(BANT_ANSWERS)
    big = max(args.concurrency, args.requests // per_answer)  # conversations, 16 connections
    small = max(1, big // 4)  # conversations, 1 connection
    commands_big, commands_small = args.requests // 2, args.requests // 8
    rounds = max(1, args.rounds)
    tmp = Path(tempfile.mkdtemp(prefix="qualibot-bench-"))
    with FakeSlack() as fake:
        env = bench_env(tmp, fake)
        warm = [user_id(900_000_000 + i) for i in range(args.concurrency * 2)]

        def users(base: int, count: int, round_: int) -> list[str]:
            # every round answers its own open conversations / starts its own companies
            return [user_id(base + round_ * 10_000_000 + i) for i in range(count)]

        answer_users = [users(0, big, r) for r in range(rounds)]
        answer_users_1 = [users(100_000_000, small, r) for r in range(rounds)]
        t0 = time.perf_counter()
        opened = warm + [u for group in answer_users + answer_users_1 for u in group]
        prepare(env, opened)
        print(f"prepared {len(opened)} open conversations "
              f"in {time.perf_counter() - t0:.1f}s ({tmp / 'bench.db'})")

        results: dict[str, list[dict[str, Any]]] = {}
        servers = {kind: Server(kind, env) for kind in ("bare", "qualibot")}
        try:
            for server in servers.values():
                # warm up: the first request learns the token's team with auth.test
                run_load(server.port, "answer", warm, args.concurrency, 30, BANT_ANSWERS[:1])
            command_base = {"bare": 200_000_000, "qualibot": 400_000_000}
            # Each phase: the bare app and ours back to back, `rounds` times, the order
            # alternating (the machine's load is shared, and drifts: compare within a round).
            for label, conc, kind_ in phases(args.concurrency):
                for round_ in range(rounds):
                    kinds = ("bare", "qualibot") if round_ % 2 == 0 else ("qualibot", "bare")
                    for kind in kinds:
                        server = servers[kind]
                        if kind_ == "answer":
                            group = (answer_users if conc > 1 else answer_users_1)[round_]
                        else:
                            count = commands_big if conc > 1 else commands_small
                            base = command_base[kind] + (0 if conc > 1 else 100_000_000)
                            group = users(base, count, round_)
                        cpu_before = process_cpu_seconds(server.process.pid)
                        result = run_load(
                            server.port, kind_, group, conc, args.time_limit,
                            BANT_ANSWERS if kind_ == "answer" else None,
                        )
                        cpu, loop = cpu_since(server.process.pid, cpu_before)
                        per_request = 1000 / result["count"] if result["count"] else 0.0
                        result["cpu_ms"], result["loop_ms"] = cpu * per_request, loop * per_request
                        results.setdefault(f"{kind} {label}", []).append(result)
        finally:
            for server in servers.values():
                server.stop()
        rows = count_rows(env)

    print()
    print(f"{'phase':<30}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'max ms':>9}{'non-200':>9}{'CPU ms/req':>11}{'(loop)':>8}")
    for label, _, _ in phases(args.concurrency):
        for round_ in range(rounds):
            for kind in ("bare", "qualibot"):
                r = results[f"{kind} {label}"][round_]
                name = f"{kind} {label} #{round_ + 1}"
                print(f"{name:<30}{r['count']:>9}{r['rps']:>9.0f}{r['p50']:>9.1f}"
                      f"{r['p99']:>9.1f}{r['max']:>9.1f}{r['errors']:>9}{r['cpu_ms']:>11.2f}"
                      f"{r['loop_ms']:>8.2f}")
    print()
    summary: dict[str, dict[str, float]] = {}
    for label, _, _ in phases(args.concurrency):
        ours, bare = results[f"qualibot {label}"], results[f"bare {label}"]
        ratios = [o["rps"] / b["rps"] if b["rps"] else 0.0 for o, b in zip(ours, bare, strict=True)]
        summary[label] = {
            "ratio": statistics.median(ratios),
            "p99": statistics.median(o["p99"] for o in ours),
            "p99_worst": max(o["p99"] for o in ours),
        }
        print(f"{label:<12} qualibot {statistics.median(o['rps'] for o in ours):>6.0f} req/s vs "
              f"bare Bolt {statistics.median(b['rps'] for b in bare):>6.0f} req/s (medians): "
              f"ratio {summary[label]['ratio']:.2f} (rounds: "
              f"{', '.join(f'{x:.2f}' for x in ratios)}); p99 {summary[label]['p99']:.1f} ms "
              f"(worst {summary[label]['p99_worst']:.1f}) vs "
              f"{statistics.median(b['p99'] for b in bare):.1f} ms")
    many = f"x{args.concurrency}"
    answered = sum(r["count"] for key in (f"qualibot answer {many}", "qualibot answer x1")
                   for r in results[key])
    print()
    print(f"database after the run: {rows} "
          f"(answers expected: {answered + len(warm)} from the measured and warm-up events)")
    targets = [
        (f"answer ratio {many} >= 0.4 (median of rounds)",
         summary[f"answer {many}"]["ratio"] >= 0.4),
        (f"answer p99 {many} < 60 ms (every round)", summary[f"answer {many}"]["p99_worst"] < 60),
        (f"command ack p99 {many} < 50 ms (every round)",
         summary[f"command {many}"]["p99_worst"] < 50),
    ]
    for name, ok in targets:
        print(f"target {name}: {'met' if ok else 'NOT met'}")

if __name__ == "__main__":
    main()
