"""How long migration 0005 (AUTOINCREMENT ids on SQLite) takes on a grown database: a fresh
SQLite file at revision 0004 with `--leads` qualified leads (a conversation each with a real
BANT conversation's data, its five answers and score, a widget session and a visitor message
key for every other lead, a handoff notice's outbox row each), then `upgrade` to head.

    python benchmarks/bench_migration.py [--leads 100000]
"""

from __future__ import annotations

import argparse
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

from sqlalchemy import Engine, insert, select

from benchmarks.bench_slack import BANT_ANSWERS  # the answers every benchmark gives
from bot.handoff.routing import HandoffRouter
from bot.registry import FlowRegistry
from bot.service import QualificationService
from flows.definitions import load_frameworks
from storage.db import create_engine_for, make_session_factory
from storage.migrate import current_revision, upgrade
from storage.models import (
    Answer,
    Conversation,
    Lead,
    OutboxMessage,
    ProcessedEvent,
    Score,
    WidgetSession,
)

BEFORE = "0004_lead_events"
CHUNK = 5_000


def template(engine: Engine) -> dict[str, Any]:
    """One real BANT conversation's rows, to copy."""
    flows = FlowRegistry(load_frameworks())
    service = QualificationService(make_session_factory(engine), flows,
                                   router=HandoffRouter(default_channel="C0SALES"))
    started = service.start(framework="bant", company="Template", channel="cli",
                            participant="U0")
    for text in BANT_ANSWERS:
        service.answer(started.conversation_id, text)
    with engine.connect() as connection:
        return {
            "data": connection.scalar(select(Conversation.data)),
            "answers": [row._asdict() for row in connection.execute(
                select(Answer.question_id, Answer.criterion, Answer.raw_text, Answer.parsed,
                       Answer.status))],
            "score": connection.execute(
                select(Score.total, Score.verdict, Score.breakdown)).one()._asdict(),
        }


def seed(engine: Engine, count: int) -> None:
    made = template(engine)
    now = datetime.now(UTC)
    first = 2  # the template took id 1
    with engine.begin() as connection:
        for start in range(first, count + 1, CHUNK):
            ids = range(start, min(count + 1, start + CHUNK))
            connection.execute(insert(Lead), [
                {"id": i, "company": f"Acme {i}", "contact_email": f"p{i}@example.com",
                 "source": "widget", "status": "qualified", "framework": "bant",
                 "score_total": made["score"]["total"], "verdict": made["score"]["verdict"],
                 "created_at": now, "updated_at": now} for i in ids])
            connection.execute(insert(Conversation), [
                {"id": i, "public_id": uuid.uuid4(), "lead_id": i, "framework": "bant",
                 "framework_version": 1, "channel": "widget", "participant": f"v{i}",
                 "state": "done", "data": made["data"], "version": 6, "locale": "en",
                 "created_at": now, "updated_at": now, "last_activity_at": now,
                 "completed_at": now} for i in ids])
            connection.execute(insert(Answer), [
                {**answer, "conversation_id": i, "lead_id": i, "created_at": now}
                for i in ids for answer in made["answers"]])
            connection.execute(insert(Score), [
                {**made["score"], "lead_id": i, "conversation_id": i, "framework": "bant",
                 "framework_version": 1, "created_at": now} for i in ids])
            widget = [i for i in ids if i % 2 == 0]
            connection.execute(insert(WidgetSession), [
                {"id": i, "conversation_id": i, "token_hash": f"{i:064x}",
                 "resume_code": f"R{i:07d}", "visitor_ip": "203.0.113.9",
                 "page": "https://example.com/pricing", "created_at": now, "last_seen_at": now}
                for i in widget])
            connection.execute(insert(ProcessedEvent), [
                {"key": f"widget:{i}:{uuid.uuid4()}", "created_at": now} for i in widget])
            connection.execute(insert(OutboxMessage), [
                {"kind": "handoff", "channel": "slack", "lane": "C0SALES",
                 "payload": {"lead": {"id": i, "company": f"Acme {i}"}, "conversation_id": i},
                 "dedupe_key": f"handoff:{i}", "status": "sent", "created_at": now,
                 "next_attempt_at": now} for i in ids])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grown.db"
        engine = create_engine_for(f"sqlite:///{path}")
        upgrade(engine, BEFORE)
        seeded = time.perf_counter()
        seed(engine, args.leads)
        engine.dispose()  # checkpointed: the migration starts from a settled file
        size = path.stat().st_size / 2**20
        print(f"seeded {args.leads:,} leads at {BEFORE} in {time.perf_counter() - seeded:.1f} s"
              f" ({size:,.0f} MB)")
        engine = create_engine_for(f"sqlite:///{path}")
        started, cpu = time.perf_counter(), time.process_time()
        upgrade(engine)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(f"upgrade to {current_revision(engine)}: {elapsed:.2f} s ({cpu:.2f} s of CPU)")
        engine.dispose()


if __name__ == "__main__":
    main()
