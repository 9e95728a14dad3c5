"""Core benchmarks (issue 2): service answer steps, memory with 100k open conversations,
re-scoring 100k leads. All on a fresh SQLite file, pinned to one core.

    python benchmarks/bench_core.py [--conversations 100000] [--leads 100000]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # this checkout's code, not an installed copy from elsewhere
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert

from benchmarks.bench_slack import BANT_ANSWERS  # the answers every benchmark gives
from bot.handoff.routing import HandoffRouter
from bot.registry import FlowRegistry
from bot.service import QualificationService
from flows.definitions import load_frameworks
from flows.engine import FlowState
from storage.db import create_engine_for, make_session_factory
from storage.migrate import upgrade
from storage.models import Conversation, Lead


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fresh_service(folder: Path, name: str) -> tuple[QualificationService, Any]:
    engine = create_engine_for(f"sqlite:///{folder / name}")
    upgrade(engine)
    flows = FlowRegistry(load_frameworks())
    service = QualificationService(make_session_factory(engine), flows,
                                   router=HandoffRouter(default_channel="C0SALES"))
    return service, engine


def bench_steps(folder: Path, conversations: int) -> None:
    """One full answer step: load, parse, transition, store answer, update, enqueue, commit."""
    service, engine = fresh_service(folder, "steps.db")
    ids = [service.start(framework="bant", company=f"Acme {i}", channel="slack",
                         participant=f"U{i}").conversation_id for i in range(conversations)]
    samples: list[float] = []
    started = time.perf_counter()
    for text in BANT_ANSWERS:
        for conversation_id in ids:
            t0 = time.perf_counter()
            service.answer(conversation_id, text, by="U1")
            samples.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    print(f"answer step (SQLite, 1 core): {len(samples)} steps in {elapsed:.2f} s = "
          f"{len(samples) / elapsed:,.0f} steps/s; p50 {statistics.median(samples) * 1e3:.2f} ms, "
          f"p99 {percentile(samples, 0.99) * 1e3:.2f} ms, "
          f"max {max(samples) * 1e3:.2f} ms")
    engine.dispose()


def seed_open_conversations(engine: Any, count: int) -> None:
    """Bulk-insert `count` leads, each with a Slack conversation waiting on its first question."""
    now = datetime.now(UTC)
    data = FlowState(state="budget").to_data()
    with engine.begin() as connection:
        for start in range(0, count, 10_000):
            chunk = range(start, min(count, start + 10_000))
            connection.execute(insert(Lead), [
                {"id": i + 1, "company": f"Acme {i}", "source": "rep", "status": "open",
                 "framework": "bant", "created_by": f"U{i}", "created_at": now,
                 "updated_at": now} for i in chunk])
            connection.execute(insert(Conversation), [
                {"id": i + 1, "public_id": uuid.uuid4(), "lead_id": i + 1, "framework": "bant",
                 "framework_version": 1, "channel": "slack", "participant": f"U{i}",
                 "state": "budget", "data": data, "version": 1, "locale": "en",
                 "created_at": now, "updated_at": now, "last_activity_at": now}
                for i in chunk])


def bench_memory(folder: Path, count: int) -> None:
    service, engine = fresh_service(folder, "memory.db")
    seed_open_conversations(engine, count)
    warmup = min(2000, count)
    for conversation_id in range(1, warmup + 1):
        service.answer(conversation_id, "allocated")
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    for conversation_id in range(warmup + 1, count + 1):
        service.answer(conversation_id, "allocated")
    elapsed = time.perf_counter() - started
    gc.collect()
    after = rss_mb()
    print(f"memory: {count:,} open conversations, one answer each ({count / elapsed:,.0f} "
          f"steps/s): RSS {before:.1f} MB -> {after:.1f} MB (+{after - before:.1f} MB)")
    engine.dispose()


def seed_completed_leads(service: QualificationService, engine: Any, count: int) -> None:
    """Run one real BANT conversation, then clone its final state and score into `count`
    leads."""
    first = service.start(framework="bant", company="Template", channel="cli", participant="U0")
    for text in BANT_ANSWERS:
        service.answer(first.conversation_id, text)
    with engine.connect() as connection:
        data = connection.execute(
            Conversation.__table__.select().where(Conversation.id == first.conversation_id)
        ).one().data
        scored = connection.execute(
            Lead.__table__.select().where(Lead.id == first.lead_id)).one()
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for start in range(0, count, 10_000):
            chunk = range(start + 2, min(count, start + 10_000) + 2)
            connection.execute(insert(Lead), [
                {"id": i, "company": f"Acme {i}", "source": "rep", "status": scored.status,
                 "framework": "bant", "score_total": scored.score_total,
                 "verdict": scored.verdict, "created_at": now, "updated_at": now}
                for i in chunk])
            connection.execute(insert(Conversation), [
                {"id": i, "public_id": uuid.uuid4(), "lead_id": i, "framework": "bant",
                 "framework_version": 1, "channel": "cli", "participant": "U0", "state": "done",
                 "data": data, "version": 1, "locale": "en", "created_at": now,
                 "updated_at": now, "last_activity_at": now, "completed_at": now}
                for i in chunk])


def bench_rescore(folder: Path, count: int) -> None:
    service, engine = fresh_service(folder, "rescore.db")
    seed_completed_leads(service, engine, count - 1)
    started = time.perf_counter()
    scored = service.rescore_all().scored
    elapsed = time.perf_counter() - started
    print(f"re-score all: {scored:,} leads in {elapsed:.2f} s ({scored / elapsed:,.0f} leads/s)")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps-conversations", type=int, default=2000)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--leads", type=int, default=100_000)
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bench_steps(folder, args.steps_conversations)
        bench_memory(folder, args.conversations)
        bench_rescore(folder, args.leads)


if __name__ == "__main__":
    main()
