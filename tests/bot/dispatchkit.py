"""Helpers for the outbox dispatcher tests: a clock the test moves, rows in the outbox, and a
dispatcher on the fake Slack."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.slack.clients import SlackClients
from bot.slack.dispatch import OutboxDispatcher
from storage.models import OutboxMessage
from storage.repositories import OutboxRepository
from tests.fakeslack import FakeSlack

HOSTILE = "<!channel> <@U1> <http://x|y> & co"
HOSTILE_ESCAPED = "&lt;!channel&gt; &lt;@U1&gt; &lt;http://x|y&gt; &amp; co"
TEAM = "T0QUALI01"  # the fake's workspace


@dataclass
class FakeClock:
    """Wall clock (for due times: the real time plus what the test moved it by, so rows
    written at the real time are due) and monotonic clock (for pacing: only the test moves
    it)."""

    offset: timedelta = field(default_factory=timedelta)
    mono: float = 1000.0

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)
        self.mono += seconds


def make_dispatcher(
    session_factory: sessionmaker[Session],
    fake: FakeSlack,
    clock: FakeClock,
    *,
    timeout: int = 5,
    **options: Any,
) -> OutboxDispatcher:
    clients = SlackClients(bot_token=fake.bot_token, base_url=fake.api_url, timeout=timeout)
    options.setdefault("jitter", lambda: 0.0)
    return OutboxDispatcher(
        session_factory, clients, clock=clock.now, monotonic=clock.monotonic, **options
    )


def enqueue(
    session_factory: sessionmaker[Session],
    kind: str,
    lane: str,
    payload: dict[str, Any],
) -> int:
    with session_factory.begin() as session:
        return OutboxRepository(session).enqueue(kind, "slack", lane, payload).id


def row(session_factory: sessionmaker[Session], message_id: int) -> OutboxMessage:
    with session_factory() as session:
        found = session.get(OutboxMessage, message_id)
        assert found is not None
        session.expunge(found)
        return found


def rows(session_factory: sessionmaker[Session], kind: str | None = None) -> list[OutboxMessage]:
    with session_factory() as session:
        stmt = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind is not None:
            stmt = stmt.where(OutboxMessage.kind == kind)
        found = list(session.scalars(stmt))
        session.expunge_all()
        return found


def drain(dispatcher: OutboxDispatcher, clock: FakeClock, *, step: float = 1.5,
          cycles: int = 200) -> int:
    """Run cycles, moving the clock `step` seconds whenever nothing was due, until a cycle
    after a move still finds nothing. Returns the rows handled."""
    handled = idle = 0
    for _ in range(cycles):
        n = dispatcher.run_once()
        handled += n
        if n:
            idle = 0
            continue
        idle += 1
        if idle > 3:
            return handled
        clock.advance(step)
    raise AssertionError("the outbox did not drain")


def handoff_payload(
    *,
    channel: str = "C0SALES",
    company: str = "Acme GmbH",
    source: str = "rep",
    answers: list[dict[str, Any]] | None = None,
    team_id: str | None = TEAM,
    lead_id: int = 7,
) -> dict[str, Any]:
    """A handoff payload as `bot.handoff.notice.handoff_payload` writes it."""
    answers = answers if answers is not None else [
        {"question_id": "budget", "raw": "allocated", "readback": "Allocated",
         "status": "answered"},
        {"question_id": "budget_amount", "raw": "about $80k a year",
         "readback": "USD 80,000 per year", "status": "answered"},
        {"question_id": "authority", "raw": "CFO, signs", "readback": "CFO",
         "status": "answered"},
        {"question_id": "need", "raw": "Manual reporting eats 10h a week", "readback": "",
         "status": "answered"},
        {"question_id": "timeline", "raw": "", "readback": "", "status": "skipped"},
    ]
    return {
        "channel": channel,
        "team_id": team_id,
        "lead": {
            "id": lead_id, "company": company, "contact_name": "Dana Buyer",
            "contact_email": "dana@acme.example", "source": source, "created_by": "U0REP0001",
            "engagement_score": 35.0, "fit_score": None, "owner": None,
        },
        "conversation_id": 11,
        "framework": "bant",
        "answers": answers,
        "score": {
            "framework": "bant", "framework_version": 1, "total": 82.5, "verdict": "qualified",
            "criteria": [
                {"criterion": "budget", "label": "Budget", "score": 1.0, "points": 25.0,
                 "max_points": 25.0, "reason": "Budget 25/25: allocated",
                 "answers": ["budget", "budget_amount"]},
                {"criterion": "authority", "label": "Authority", "score": 1.0, "points": 25.0,
                 "max_points": 25.0, "reason": "Authority 25/25: CFO", "answers": ["authority"]},
                {"criterion": "need", "label": "Need", "score": 1.0, "points": 30.0,
                 "max_points": 30.0, "reason": "Need 30/30", "answers": ["need"]},
                {"criterion": "timeline", "label": "Timeline", "score": 0.1, "points": 2.5,
                 "max_points": 20.0, "reason": "Timeline 2.5/20: skipped", "answers": []},
            ],
            "gates": [],
        },
    }


def blocks_by_id(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in message.get("blocks") or [] if "block_id" in b}


def mrkdwn_texts(payload: dict[str, Any]) -> list[str]:
    """The fallback `text` of a message and every mrkdwn text object in it (or in a view)."""
    out = [payload["text"]] if isinstance(payload.get("text"), str) else []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
                out.append(value["text"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(payload.get("blocks") or [])
    return out
