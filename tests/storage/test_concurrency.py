"""Tests that need real, committed transactions on several connections.

They use the session-wide ``engine`` directly (not the rolled-back ``db_session``) and delete
what they created.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from storage import (
    Conversation,
    ConversationRepository,
    Lead,
    OutboxMessage,
    OutboxRepository,
    make_session_factory,
)


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def committed_conversation(factory: sessionmaker[Session]) -> Iterator[int]:
    """A committed lead + conversation; deleted afterwards (ON DELETE CASCADE)."""
    with factory.begin() as session:
        lead = Lead(company="Locking Ltd", source="rep", framework="bant")
        session.add(lead)
        session.flush()
        conversation = Conversation(
            lead_id=lead.id,
            framework="bant",
            framework_version=1,
            channel="slack",
            participant=f"U{uuid.uuid4().hex[:8]}",
            state="ask_budget",
        )
        session.add(conversation)
        session.flush()
        lead_id, conversation_id = lead.id, conversation.id
    try:
        yield conversation_id
    finally:
        with factory.begin() as session:
            session.execute(delete(Lead).where(Lead.id == lead_id))


def test_stale_update_raises_stale_data_error(
    factory: sessionmaker[Session], committed_conversation: int
) -> None:
    """Session 1 read the conversation, session 2 changed it since: session 1 must not
    overwrite that change (works on SQLite and PostgreSQL)."""
    first = factory()
    try:
        mine = ConversationRepository(first).get(committed_conversation)
        assert mine is not None and mine.version == 1
        first.commit()  # ends the read transaction; the object keeps its state

        with factory.begin() as second:
            theirs = ConversationRepository(second).get(committed_conversation)
            assert theirs is not None
            theirs.data = {"answers": {"budget": "50k"}}
            theirs.state = "ask_authority"
        assert theirs.version == 2

        mine.state = "ask_need"
        with pytest.raises(StaleDataError):
            first.commit()
        first.rollback()
    finally:
        first.close()

    with factory() as check:
        fresh = ConversationRepository(check).get(committed_conversation)
        assert fresh is not None
        assert (fresh.state, fresh.version) == ("ask_authority", 2)
        assert fresh.data == {"answers": {"budget": "50k"}}


def test_concurrent_transactions_raise_stale_data_error_on_postgres(
    engine: Engine, factory: sessionmaker[Session], committed_conversation: int
) -> None:
    """Two overlapping transactions load version 1; the second writer loses."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises write transactions (BEGIN IMMEDIATE)")
    first, second = factory(), factory()
    try:
        mine = ConversationRepository(first).get(committed_conversation)
        theirs = ConversationRepository(second).get(committed_conversation)
        assert mine is not None and theirs is not None
        assert mine.version == theirs.version == 1

        theirs.state = "ask_authority"
        second.commit()

        mine.state = "ask_need"
        with pytest.raises(StaleDataError):
            first.flush()
        first.rollback()
    finally:
        first.close()
        second.close()


@pytest.fixture
def lane(factory: sessionmaker[Session]) -> Iterator[str]:
    lane = f"C{uuid.uuid4().hex[:10]}"
    yield lane
    with factory.begin() as session:
        session.execute(delete(OutboxMessage).where(OutboxMessage.lane == lane))


def test_claim_due_skips_rows_locked_by_another_dispatcher(
    engine: Engine, factory: sessionmaker[Session], lane: str
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks (FOR UPDATE SKIP LOCKED) are PostgreSQL only")
    long_ago = datetime(1990, 1, 1, tzinfo=UTC)  # due before anything else in the table
    with factory.begin() as session:
        ids = [
            OutboxRepository(session)
            .enqueue("k", "slack", lane, {"i": i}, not_before=long_ago + timedelta(seconds=i))
            .id
            for i in range(3)
        ]
    now = datetime.now(UTC)
    first, second = factory(), factory()
    try:
        claimed_first = [m.id for m in OutboxRepository(first).claim_due(now, limit=2)]
        assert claimed_first == ids[:2]
        claimed_second = [m.id for m in OutboxRepository(second).claim_due(now, limit=100)]
        assert not set(claimed_first) & set(claimed_second)
        assert ids[2] in claimed_second
        assert claimed_second[0] == ids[2]

        # The first dispatcher sends one and gives up; the lock on the other is released.
        repo = OutboxRepository(first)
        messages = {m.id: m for m in repo.claim_due(now, limit=2)}
        repo.mark_sent(messages[ids[0]], {"ok": True})
        first.commit()
        second.rollback()

        again = [m.id for m in OutboxRepository(second).claim_due(now, limit=100)]
        assert ids[0] not in again
        assert ids[1] in again and ids[2] in again
        second.rollback()
    finally:
        first.close()
        second.close()
