"""Soak: one real `qualibot serve` under steady load for a few minutes keeps a flat memory
and a stable p99.

Slow (deselected by default; `pytest -m slow tests/reliability/test_soak.py -s` runs it).
Loopback only: the server is a subprocess on 127.0.0.1, the fake Slack Web API runs in this
process and receives every outbox delivery, the load comes from this process.

1. **Capacity**: for `SOAK_CALIBRATE_SECONDS` (10) a closed loop of 32 requests in flight
   on the same mix measures what the server sustains here, with its outbox delivering.
2. **Load**: simulated reps and website visitors, half each, run at half that rate
   (`SOAK_RATE` requests/s overrides it): a rep types `/qualify bant <company>` and answers
   the five BANT questions in the DM, a visitor opens a widget session and answers the same
   five; then each starts over with a new lead. Each one pauses 0.5-1.5 x a think time so
   that the whole crowd sends the target rate (and no rep's DM lane outruns Slack's pacing
   of one message per second). Every lead is a nurture lead: no handoff notices pile up in
   one channel, whose pacing (one per 1.1 s) would otherwise be the bottleneck measured.
3. `SOAK_WARMUP_SECONDS` (30) at that rate, not counted; then `SOAK_SECONDS` (180) measured:
   the server's RSS every 5 s (from /proc), and per minute the requests, errors, p50 and p99.

Asserted: no request failed; memory is flat (the last minute's median RSS is within
`RSS_MARGIN` of the first minute's, or `RSS_SLACK_MB` if that is larger); p99 is stable (no
minute's p99 worse than `P99_FACTOR` x the first minute's, or `P99_FLOOR_MS` if that is
larger: on a shared two-core machine a few-ms p99 jumps around); the outbox keeps up (after
the run it drains). Figures are printed (run with `-s`); docs/RELIABILITY.md records one run.
Uses TEST_DATABASE_URL when that is PostgreSQL, else a fresh SQLite file.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from storage.db import create_engine_for
from storage.models import OutboxMessage
from tests.bot.slackapp import wipe
from tests.fakeslack import FakeSlack
from tests.reliability.procs import BANT_NURTURE, ServeProcess
from tests.slackreq import SignedRequest, SlackRequests

pytestmark = pytest.mark.slow

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "180"))
WARMUP_SECONDS = float(os.environ.get("SOAK_WARMUP_SECONDS", "30"))
CALIBRATE_SECONDS = float(os.environ.get("SOAK_CALIBRATE_SECONDS", "10"))
FIXED_RATE = float(os.environ.get("SOAK_RATE", "0"))  # requests/s; 0: half the measured
WINDOW = 60.0  # seconds per reported window ("minute")
RSS_EVERY = 5.0
RSS_MARGIN = 0.10
RSS_SLACK_MB = 15.0
P99_FACTOR = 3.0
P99_FLOOR_MS = 50.0
CLOSED_LOOP = 32
TOML = """
[widget]
sessions_per_hour = 0
messages_per_minute = 0
events_per_minute = 0
"""


@dataclass
class Stats:
    """Latencies and errors per window since `start`."""

    start: float = field(default_factory=time.monotonic)
    latencies: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))

    def window(self) -> int:
        return int((time.monotonic() - self.start) // WINDOW)

    def total(self) -> int:
        return sum(len(v) for v in self.latencies.values())


def rss_mb(pid: int) -> float:
    """The process's resident set size, from /proc (MiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class Load:
    """Reps and visitors talking to one server; `stats` is swapped between phases."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.slack = SlackRequests()
        self.stats = Stats()
        self.leads = itertools.count(1)

    async def _timed(self, call: Callable[[], Awaitable[httpx.Response]], expect: int
                     ) -> httpx.Response | None:
        stats = self.stats
        started = time.monotonic()
        try:
            response = await call()
        except httpx.HTTPError as exc:
            stats.errors[stats.window()].append(repr(exc))
            return None
        stats.latencies[stats.window()].append(time.monotonic() - started)
        if response.status_code != expect:
            stats.errors[stats.window()].append(f"{response.status_code} {response.text[:200]}")
            return None
        return response

    async def _signed(self, request: SignedRequest) -> None:
        await self._timed(
            lambda: self.http.post(request.path, content=request.body, headers=request.headers),
            200,
        )

    async def rep(self, user: str, think: Callable[[], Awaitable[None]]) -> None:
        """A rep qualifying one lead after another in the DM."""
        while True:
            await think()
            await self._signed(
                self.slack.command("/qualify", f"bant Soak Co {next(self.leads)}", user_id=user)
            )
            for text in BANT_NURTURE:
                await think()
                await self._signed(self.slack.message_im(text, user_id=user))

    async def visitor(self, think: Callable[[], Awaitable[None]]) -> None:
        """A website visitor; a new session (and lead) after each conversation."""
        while True:
            n = next(self.leads)
            body = {"framework": "bant", "consent": True, "contact": {
                "name": "Soak Visitor", "email": f"visitor{n}@example.com",
                "company": f"Soak Web {n}"}}
            await think()
            created = await self._timed(partial(self.http.post, "/widget/api/sessions",
                                                json=body), 201)
            if created is None:
                continue
            data = created.json()
            path = f"/widget/api/sessions/{data['session_id']}/messages"
            headers = {"Authorization": f"Bearer {data['token']}"}
            for i, text in enumerate(BANT_NURTURE):
                await think()
                await self._widget_message(path, headers, {"choice" if i == 0 else "text": text})

    async def _widget_message(
        self, path: str, headers: dict[str, str], message: dict[str, str]
    ) -> None:
        await self._timed(lambda: self.http.post(path, json=message, headers=headers), 200)


async def closed_loop(load: Load, pid: int, seconds: float) -> tuple[float, float, float]:
    """Requests/s with `CLOSED_LOOP` requests always in flight (no think time), and the CPU
    use meanwhile (1.0 = one core busy) of the server and of this process (the load and the
    fake Slack)."""
    async def nothing() -> None:
        return None

    load.stats = Stats()
    tasks = [
        asyncio.create_task(load.rep(f"U0CAL{i:05d}", nothing) if i % 2 else
                            load.visitor(nothing))
        for i in range(CLOSED_LOOP)
    ]
    cpu, own = cpu_seconds(pid), time.process_time()
    await asyncio.sleep(seconds)
    cpu, own = (cpu_seconds(pid) - cpu) / seconds, (time.process_time() - own) / seconds
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    errors = sum(len(v) for v in load.stats.errors.values())
    assert not errors, f"errors while measuring capacity: {dict(load.stats.errors)}"
    return load.stats.total() / seconds, cpu, own


async def paced(load: Load, rate: float, pid: int, warmup: float, seconds: float
                ) -> tuple[Stats, list[tuple[float, float, float]]]:
    """`rate` requests/s from a crowd with think times; stats of the measured part and the
    server's samples (seconds since its start, RSS MiB, CPU seconds used)."""
    users = max(100, math.ceil(rate * 2.5))
    mean_think = users / rate
    rng = random.Random(7)

    async def think() -> None:
        await asyncio.sleep(mean_think * (0.5 + rng.random()))

    tasks = [
        asyncio.create_task(load.rep(f"U0SOAK{i:05d}", think) if i % 2 else load.visitor(think))
        for i in range(users)
    ]
    try:
        load.stats = Stats()
        await asyncio.sleep(warmup)
        load.stats = Stats()
        samples: list[tuple[float, float, float]] = []
        while (elapsed := time.monotonic() - load.stats.start) < seconds:
            samples.append((elapsed, rss_mb(pid), cpu_seconds(pid)))
            await asyncio.sleep(min(RSS_EVERY, seconds - elapsed))
        samples.append((time.monotonic() - load.stats.start, rss_mb(pid), cpu_seconds(pid)))
        return load.stats, samples
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def outbox_pending(url: str) -> int:
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(
                select(func.count()).select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending")) or 0)
    finally:
        engine.dispose()


def test_soak_memory_is_flat_and_p99_stable(engine: Engine, database_url: str, tmp_path: Path
                                            ) -> None:
    if engine.dialect.name == "postgresql":
        wipe(engine)
        url = database_url
    else:
        url = f"sqlite:///{tmp_path / 'soak.db'}"
    with FakeSlack() as fake, ServeProcess(tmp_path / "serve", database_url=url, slack=fake,
                                           toml=TOML) as server:

        async def run() -> tuple[float, float, float, float, Stats,
                                 list[tuple[float, float, float]]]:
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30,
                                         limits=limits) as http:
                load = Load(http)
                capacity, busy, client = 0.0, 0.0, 0.0
                if not FIXED_RATE:
                    capacity, busy, client = await closed_loop(load, pid, CALIBRATE_SECONDS)
                rate = FIXED_RATE or capacity / 2
                stats, samples = await paced(load, rate, pid, WARMUP_SECONDS, SOAK_SECONDS)
                return capacity, busy, client, rate, stats, samples

        pid = server.pid or 0
        capacity, busy, client, rate, stats, samples = asyncio.run(run())
        deadline = time.monotonic() + 60
        while (pending := outbox_pending(url)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert server.alive, server.log_tail()
        posts = len(fake.calls("chat.postMessage"))
    if engine.dialect.name == "postgresql":
        wipe(engine)

    backend = "postgresql" if engine.dialect.name == "postgresql" else "sqlite"
    windows = [w for w in sorted(stats.latencies) if w * WINDOW < SOAK_SECONDS]
    rows: list[dict[str, Any]] = []
    for w in windows:
        lat = stats.latencies[w]
        in_window = [mb for t, mb, _ in samples if w * WINDOW <= t < (w + 1) * WINDOW] or [
            samples[-1][1]]
        cpu = [(t, c) for t, _, c in samples if w * WINDOW <= t <= (w + 1) * WINDOW]
        span = min(WINDOW, SOAK_SECONDS - w * WINDOW)
        rows.append({
            "minute": w + 1, "requests": len(lat), "rate": len(lat) / span,
            "errors": len(stats.errors.get(w, [])),
            "p50_ms": statistics.median(lat) * 1000, "p99_ms": percentile(lat, 0.99) * 1000,
            "rss_mb": statistics.median(in_window),
            "cpu": (cpu[-1][1] - cpu[0][1]) / max(1e-9, cpu[-1][0] - cpu[0][0]),
        })
    print(f"\nsoak on {backend}: capacity "
          f"{capacity:.0f} req/s (closed loop, {CLOSED_LOOP} in flight, server CPU "
          f"{busy:.0%} of a core, load and fake Slack {client:.0%}), paced at "
          f"{rate:.0f} req/s for {SOAK_SECONDS:.0f}s after {WARMUP_SECONDS:.0f}s warm-up; "
          f"{posts} posts delivered to the fake Slack; outbox pending after: {pending}")
    print("minute  requests  req/s  errors  p50 ms  p99 ms  RSS MiB (median)  server CPU")
    for r in rows:
        print(f"{r['minute']:>6}  {r['requests']:>8}  {r['rate']:>5.0f}  {r['errors']:>6}  "
              f"{r['p50_ms']:>6.1f}  {r['p99_ms']:>6.1f}  {r['rss_mb']:>16.1f}  "
              f"{r['cpu']:>10.0%}")
    print("RSS samples (s, MiB): " + ", ".join(f"{t:.0f}:{mb:.1f}" for t, mb, _ in samples))

    all_errors = [e for w in sorted(stats.errors) for e in stats.errors[w]]
    assert not all_errors, f"{len(all_errors)} requests failed: {all_errors[:10]}"
    assert pending == 0, f"the outbox did not keep up: {pending} rows pending after the run"
    first, last = rows[0], rows[-1]
    allowed_mb = max(first["rss_mb"] * RSS_MARGIN, RSS_SLACK_MB)
    assert last["rss_mb"] - first["rss_mb"] <= allowed_mb, (
        f"memory grew: {first['rss_mb']:.1f} -> {last['rss_mb']:.1f} MiB")
    worst = max(P99_FACTOR * first["p99_ms"], P99_FLOOR_MS)
    assert all(r["p99_ms"] <= worst for r in rows), f"p99 not stable: {rows}"
    assert all(r["rate"] >= rate * 0.8 for r in rows), f"the load fell behind: {rows}"
