"""Repositories: small query helpers around a :class:`~sqlalchemy.orm.Session`.

They build ``select()`` statements and at most ``flush()`` (to get ids and surface constraint
errors early); they never commit or roll back. The caller owns the transaction::

    with session_factory.begin() as session:
        leads = LeadRepository(session)
        lead = leads.add(Lead(company="Acme", source="rep", framework="bant"))
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import (
    CLOSED_STATES,
    Answer,
    Base,
    Conversation,
    Lead,
    OutboxMessage,
    Score,
    utcnow,
)

#: Rows per INSERT/UPDATE round trip in the bulk helpers.
BULK_CHUNK = 5000


def _chunks(rows: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


class LeadRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, lead: Lead) -> Lead:
        self.session.add(lead)
        self.session.flush()
        return lead

    def get(self, lead_id: int) -> Lead | None:
        return self.session.get(Lead, lead_id)

    def list_recent(
        self,
        limit: int = 50,
        owner: str | None = None,
        created_by: str | None = None,
        team_id: str | None = None,
    ) -> list[Lead]:
        """Newest first. Each filter given (not ``None``) must match."""
        stmt = select(Lead).order_by(Lead.created_at.desc(), Lead.id.desc()).limit(limit)
        if owner is not None:
            stmt = stmt.where(Lead.owner == owner)
        if created_by is not None:
            stmt = stmt.where(Lead.created_by == created_by)
        if team_id is not None:
            stmt = stmt.where(Lead.team_id == team_id)
        return list(self.session.scalars(stmt))

    def find_by_email(self, email: str, team_id: str | None = None) -> Lead | None:
        """The most recent lead with this contact e-mail (case-insensitive), or ``None``.

        With ``team_id`` only that workspace's leads are considered; without, all leads.
        """
        normalised = email.strip().lower()
        if not normalised:
            return None
        stmt = (
            select(Lead)
            .where(Lead.contact_email == normalised)
            .order_by(Lead.created_at.desc(), Lead.id.desc())
            .limit(1)
        )
        if team_id is not None:
            stmt = stmt.where(Lead.team_id == team_id)
        return self.session.scalars(stmt).first()

    def update_many(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Bulk UPDATE by primary key: each row is a dict with ``id`` and the columns to set
        (e.g. ``{"id": 1, "score_total": 72.5, "verdict": "qualified"}``); all rows of one
        call must set the same columns. ``updated_at`` is set to now unless given. Returns the
        number of rows given.

        This is a Core executemany (fast: 100k rows in well under a second on SQLite); ORM
        objects of these leads already loaded in the session are not refreshed.
        """
        table = Base.metadata.tables[Lead.__tablename__]
        count = 0
        for chunk in _chunks(rows, BULK_CHUNK):
            keys = set(chunk[0]) - {"id"}
            unknown = keys - set(table.c.keys())
            if unknown:
                raise ValueError(f"not columns of leads: {sorted(unknown)}")
            if any(set(row) - {"id"} != keys or "id" not in row for row in chunk):
                raise ValueError("every row needs 'id' and the same columns")
            now = utcnow()
            stmt = (
                update(table)
                .where(table.c.id == bindparam("_pk"))
                .values({key: bindparam(key) for key in keys | {"updated_at"}})
            )
            params = [
                {"updated_at": now, **{k: v for k, v in row.items() if k != "id"}, "_pk": row["id"]}
                for row in chunk
            ]
            self.session.execute(stmt, params)
            count += len(chunk)
        return count


class ConversationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, conversation: Conversation) -> Conversation:
        self.session.add(conversation)
        self.session.flush()
        return conversation

    def get_with_lead(self, conversation_id: int) -> tuple[Conversation, Lead] | None:
        """A conversation and its lead in one query (the per-turn load)."""
        stmt = (
            select(Conversation, Lead)
            .join(Lead, Lead.id == Conversation.lead_id)
            .where(Conversation.id == conversation_id)
        )
        row = self.session.execute(stmt).first()
        return None if row is None else (row[0], row[1])

    def get(self, conversation_id: int) -> Conversation | None:
        return self.session.get(Conversation, conversation_id)

    def get_by_public_id(self, public_id: uuid.UUID | str) -> Conversation | None:
        """By the public UUID (as ``UUID`` or string); ``None`` for unknown or malformed ids."""
        if isinstance(public_id, str):
            try:
                public_id = uuid.UUID(public_id)
            except ValueError:
                return None
        stmt = select(Conversation).where(Conversation.public_id == public_id)
        return self.session.scalars(stmt).first()

    def latest_open_for(
        self, channel: str, participant: str, team_id: str | None = None
    ) -> Conversation | None:
        """The participant's most recently active open conversation on ``channel``.

        Open means ``completed_at IS NULL`` and state not in ``done``/``cancelled``/
        ``abandoned``. With ``team_id`` only that workspace's conversations are considered.
        """
        stmt = (
            select(Conversation)
            .where(
                Conversation.channel == channel,
                Conversation.participant == participant,
                Conversation.completed_at.is_(None),
                Conversation.state.not_in(CLOSED_STATES),
            )
            .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
            .limit(1)
        )
        if team_id is not None:
            stmt = stmt.where(Conversation.team_id == team_id)
        return self.session.scalars(stmt).first()

    def list_for_participant(
        self, channel: str, participant: str, limit: int = 20
    ) -> list[Conversation]:
        """Most recently active first, open and closed."""
        stmt = (
            select(Conversation)
            .where(Conversation.channel == channel, Conversation.participant == participant)
            .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
            .limit(limit)
        )
        return list(self.session.scalars(stmt))

    def list_for_lead(self, lead_id: int) -> list[Conversation]:
        """Oldest first."""
        stmt = (
            select(Conversation)
            .where(Conversation.lead_id == lead_id)
            .order_by(Conversation.created_at, Conversation.id)
        )
        return list(self.session.scalars(stmt))

    def iter_batches(self, batch_size: int = 1000) -> Iterator[list[Conversation]]:
        """All conversations in id order, ``batch_size`` per query (keyset pagination).

        Memory stays flat: the session's identity map holds unmodified objects weakly, so
        processed batches are garbage-collected once the caller drops them. Rows inserted
        during the iteration with a higher id are included.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        last_id: int | None = None
        while True:
            stmt = select(Conversation).order_by(Conversation.id).limit(batch_size)
            if last_id is not None:
                stmt = stmt.where(Conversation.id > last_id)
            batch = list(self.session.scalars(stmt))
            if not batch:
                return
            yield batch
            if len(batch) < batch_size:
                return
            last_id = batch[-1].id

    def iter_all(self, batch_size: int = 1000) -> Iterator[Conversation]:
        """Stream all conversations in id order (see :meth:`iter_batches`)."""
        for batch in self.iter_batches(batch_size):
            yield from batch


class AnswerRepository:
    """Answers are append-only: a correction is a new row."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, answer: Answer, *, flush: bool = True) -> Answer:
        """Add an answer. `flush=False` leaves the INSERT to the caller's next flush (one
        round trip per turn on the hot path)."""
        self.session.add(answer)
        if flush:
            self.session.flush()
        return answer

    def list_for_lead(self, lead_id: int) -> list[Answer]:
        """Oldest first (the latest answer to a question is the last one)."""
        stmt = select(Answer).where(Answer.lead_id == lead_id).order_by(Answer.id)
        return list(self.session.scalars(stmt))

    def list_for_conversation(self, conversation_id: int) -> list[Answer]:
        """Oldest first."""
        stmt = select(Answer).where(Answer.conversation_id == conversation_id).order_by(Answer.id)
        return list(self.session.scalars(stmt))


class ScoreRepository:
    """Score history: every scoring is a new row; the latest one is current."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, score: Score) -> Score:
        self.session.add(score)
        self.session.flush()
        return score

    def add_many(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Bulk INSERT score rows given as dicts of column values: ``lead_id``, ``framework``,
        ``framework_version``, ``total``, ``verdict``, ``breakdown``, optionally
        ``conversation_id``, ``fit_score`` (default ``None``) and ``created_at`` (default now;
        give it in all rows or none). A Core executemany in chunks: no ORM objects are created
        (100k rows take ~1.5 s on SQLite). Returns the number of rows inserted."""
        table = Base.metadata.tables[Score.__tablename__]
        count = 0
        for chunk in _chunks(rows, BULK_CHUNK):
            params = [{"conversation_id": None, "fit_score": None, **row} for row in chunk]
            self.session.execute(insert(table), params)
            count += len(chunk)
        return count

    def history(self, lead_id: int) -> list[Score]:
        """Oldest first."""
        stmt = select(Score).where(Score.lead_id == lead_id).order_by(Score.id)
        return list(self.session.scalars(stmt))

    def latest(self, lead_id: int) -> Score | None:
        stmt = select(Score).where(Score.lead_id == lead_id).order_by(Score.id.desc()).limit(1)
        return self.session.scalars(stmt).first()


class OutboxRepository:
    """The transactional outbox.

    ``enqueue`` in the same transaction as the change that causes the message; the dispatcher
    ``claim_due``s messages in its own transaction, delivers them and records the outcome with
    ``mark_sent`` / ``retry_later`` / ``mark_failed`` before committing. ``attempts`` counts
    delivery attempts (each of those three adds one).

    On PostgreSQL claimed rows stay locked (``FOR UPDATE SKIP LOCKED``) until the dispatcher's
    transaction ends, so several dispatchers never get the same row. SQLite has no row locks:
    run a single dispatcher there.
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def enqueue(
        self,
        kind: str,
        channel: str,
        lane: str,
        payload: dict[str, Any],
        dedupe_key: str | None = None,
        *,
        not_before: datetime | None = None,
        flush: bool = True,
    ) -> OutboxMessage:
        """Add a pending message, due at ``not_before`` (default: now).

        With a ``dedupe_key`` that is already in the outbox (in any status), no row is added
        and the existing message is returned. This never breaks the caller's transaction:
        it uses ``INSERT ... ON CONFLICT DO NOTHING`` (PostgreSQL, SQLite) or a savepoint.
        """
        values: dict[str, Any] = {
            "kind": kind,
            "channel": channel,
            "lane": lane,
            "payload": payload,
            "dedupe_key": dedupe_key,
            "next_attempt_at": not_before or utcnow(),
        }
        if dedupe_key is None:
            message = OutboxMessage(**values)
            self.session.add(message)
            if flush:
                self.session.flush()
            return message

        existing = self._by_dedupe_key(dedupe_key)
        if existing is not None:
            return existing

        dialect = self.session.get_bind().dialect
        if dialect.name in ("postgresql", "sqlite") and dialect.insert_returning:
            insert_ = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
            stmt = (
                insert_(OutboxMessage)
                .values(**values)
                .on_conflict_do_nothing(index_elements=[OutboxMessage.dedupe_key])
                .returning(OutboxMessage)
            )
            inserted = self.session.scalars(stmt).first()
            if inserted is not None:
                return inserted
        else:  # pragma: no cover - other dialects, SQLite < 3.35: savepoint, catch the duplicate
            try:
                with self.session.begin_nested():
                    message = OutboxMessage(**values)
                    self.session.add(message)
                return message
            except IntegrityError:
                pass

        existing = self._by_dedupe_key(dedupe_key)
        if existing is None:  # pragma: no cover - conflicting row invisible (e.g. SERIALIZABLE)
            raise RuntimeError(f"outbox dedupe_key {dedupe_key!r} conflicts but is not visible")
        return existing

    def _by_dedupe_key(self, dedupe_key: str) -> OutboxMessage | None:
        stmt = select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
        return self.session.scalars(stmt).first()

    def get(self, message_id: int) -> OutboxMessage | None:
        return self.session.get(OutboxMessage, message_id)

    def claim_due(self, now: datetime, limit: int = 50) -> list[OutboxMessage]:
        """Pending messages with ``next_attempt_at <= now``, oldest due first, at most
        ``limit``. On PostgreSQL they are locked ``FOR UPDATE SKIP LOCKED`` until the end of
        the caller's transaction (rows locked by another dispatcher are skipped)."""
        stmt = (
            select(OutboxMessage)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        return list(self.session.scalars(stmt))

    def mark_sent(self, message: OutboxMessage, result: dict[str, Any] | None = None) -> None:
        message.status = "sent"
        message.attempts += 1
        message.sent_at = utcnow()
        message.result = result
        message.last_error = None
        self.session.flush()

    def retry_later(self, message: OutboxMessage, when: datetime, error: str) -> None:
        message.status = "pending"
        message.attempts += 1
        message.next_attempt_at = when
        message.last_error = error
        self.session.flush()

    def mark_failed(self, message: OutboxMessage, error: str) -> None:
        """Give up on the message (it stays in the outbox for ``list_failed``/``requeue``)."""
        message.status = "failed"
        message.attempts += 1
        message.last_error = error
        self.session.flush()

    def list_failed(self, limit: int = 100) -> list[OutboxMessage]:
        """Failed messages, most recent first."""
        stmt = (
            select(OutboxMessage)
            .where(OutboxMessage.status == "failed")
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
            .limit(limit)
        )
        return list(self.session.scalars(stmt))

    def requeue(self, message_id: int) -> OutboxMessage | None:
        """Make a failed (or pending) message due now with ``attempts`` reset to 0; the last
        error is kept. ``None`` if there is no such message; ``ValueError`` if it was sent."""
        message = self.session.get(OutboxMessage, message_id)
        if message is None:
            return None
        if message.status == "sent":
            raise ValueError(f"outbox message {message_id} was already sent")
        message.status = "pending"
        message.attempts = 0
        message.next_attempt_at = utcnow()
        self.session.flush()
        return message

    def count_by_status(self) -> dict[str, int]:
        """``{"pending": n, "sent": n, "failed": n}`` (statuses without rows are 0)."""
        stmt = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        counts = {"pending": 0, "sent": 0, "failed": 0}
        for status, n in self.session.execute(stmt):
            counts[status] = n
        return counts


__all__ = [
    "AnswerRepository",
    "ConversationRepository",
    "LeadRepository",
    "OutboxRepository",
    "ScoreRepository",
]
