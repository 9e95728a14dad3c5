"""Handoff burst: 20 notices to one channel plus a few to other channels, delivered by the
outbox dispatcher (background thread, real clock) to the fake Slack, which answers HTTP 429
whenever a channel gets more than one message per second (as Slack does).

    python benchmarks/bench_handoff_burst.py [--burst 20] [--others 3] [--per-other 2]
        [--database-url postgresql+psycopg://...]   (default: a fresh SQLite file)

Prints the time span of the burst, the highest number of messages any channel got within
one second, the number of 429s (target 0), and how long the other channels' notices waited
from being committed to being posted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from sqlalchemy import delete, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.slack.clients import SlackClients
from bot.slack.dispatch import OutboxDispatcher
from storage.db import create_engine_for, make_session_factory
from storage.migrate import upgrade
from storage.models import OutboxMessage
from storage.repositories import OutboxRepository
from tests.bot.dispatchkit import handoff_payload
from tests.fakeslack import FakeSlack

BURST_CHANNEL = "C0BURST"


def max_per_second(times: list[float]) -> int:
    """The most messages within any window of one second."""
    times = sorted(times)
    best = start = 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--others", type=int, default=3, help="other channels")
    parser.add_argument("--per-other", type=int, default=2, help="notices per other channel")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="qualibot-burst-"))
    url = args.database_url or f"sqlite:///{folder / 'burst.db'}"
    engine = create_engine_for(url)
    upgrade(engine)
    sessions = make_session_factory(engine)

    with FakeSlack() as fake:
        fake.limit_channel_rate(1)
        dispatcher = OutboxDispatcher(
            sessions, SlackClients(bot_token=fake.bot_token, base_url=fake.api_url)
        )
        others = [f"C0OTHER{i}" for i in range(args.others)]
        committed: dict[int, float] = {}
        dispatcher.start()
        try:
            started = time.time()
            # the burst first, then the others: they come last in id order (the worst case)
            plan = [BURST_CHANNEL] * args.burst + [c for c in others for _ in range(args.per_other)]
            with sessions.begin() as session:
                outbox = OutboxRepository(session)
                ids = [
                    outbox.enqueue("handoff", "slack", channel,
                                   handoff_payload(channel=channel, lead_id=i,
                                                   company=f"Burst Co {i}")).id
                    for i, channel in enumerate(plan)
                ]
            now = time.time()
            committed = dict.fromkeys(ids, now)
            dispatcher.notify()
            deadline = time.monotonic() + 10 + 2 * args.burst
            while time.monotonic() < deadline:
                with sessions() as session:
                    left = session.scalar(
                        select(func.count()).select_from(OutboxMessage).where(
                            OutboxMessage.id.in_(ids), OutboxMessage.status != "sent"
                        )
                    )
                if not left:
                    break
                time.sleep(0.05)
            else:
                raise SystemExit(f"not all delivered in time: {left} left")
            finished = time.time()
        finally:
            dispatcher.stop()

        posts: dict[str, list[float]] = defaultdict(list)
        for call in fake.calls("chat.postMessage"):
            if call.ok:
                posts[call.response["channel"]].append(call.time)  # type: ignore[index]
        with sessions() as session:
            sent = {m.id: m for m in session.scalars(
                select(OutboxMessage).where(OutboxMessage.id.in_(ids)))}
        arrival = {}
        for call in fake.calls("chat.postMessage"):
            if call.ok:
                arrival[int(call.args["metadata"]["event_payload"]["outbox_id"])] = call.time
        waits = [arrival[i] - committed[i] for i in ids if sent[i].lane != BURST_CHANNEL]
        first_waits = [
            min(arrival[i] - committed[i] for i in ids if sent[i].lane == channel)
            for channel in others
        ]
        burst = sorted(posts[BURST_CHANNEL])
        rate_limited = len(fake.channel_rate_limited)
        duplicates = len(arrival) != sum(len(v) for v in posts.values())
        with sessions.begin() as session:
            session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))
    engine.dispose()

    print(f"database: {engine.url.get_backend_name()}; dispatcher lane interval "
          f"{dispatcher.lane_interval}s, {dispatcher.workers} workers")
    print(f"notices: {args.burst} to {BURST_CHANNEL}, {args.per_other} to each of "
          f"{args.others} other channels; all delivered in {finished - started:.1f}s")
    print(f"burst span (first to last post in {BURST_CHANNEL}): {burst[-1] - burst[0]:.1f}s "
          f"for {len(burst)} messages")
    print("max messages within one second, per channel: "
          + ", ".join(f"{c} {max_per_second(t)}" for c, t in sorted(posts.items())))
    print(f"HTTP 429 answered: {rate_limited} (target 0); attempts per notice: "
          f"max {max(m.attempts for m in sent.values())}; duplicates: {duplicates}")
    print(f"other channels' first notice waited (commit -> posted): max "
          f"{max(first_waits) * 1000:.0f} ms; all their notices: median "
          f"{statistics.median(waits) * 1000:.0f} ms, max {max(waits) * 1000:.0f} ms "
          f"(a channel's next notice is paced {dispatcher.lane_interval}s after the one before)")


if __name__ == "__main__":
    main()
