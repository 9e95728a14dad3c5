"""SQLAlchemy 2.0 models for Qualibot.

Conventions
-----------
* Every timestamp is a :class:`UTCDateTime`: timezone-aware in and out, stored in UTC on both
  SQLite (which has no time zones: values are stored as UTC text) and PostgreSQL
  (``timestamp with time zone``). Naive datetimes are refused with ``ValueError``.
* Generic types only (``JSON``, ``Uuid``), so the same models run on SQLite and PostgreSQL;
  JSON is stored as ``JSONB`` on PostgreSQL.
* The metadata has a naming convention, so Alembic migrations get stable constraint names.
* Relationships are ``lazy="raise"``: load them explicitly (``selectinload``) or query through
  a repository. One-to-many sides use ``passive_deletes=True``: deleting a lead is done by the
  database's ``ON DELETE CASCADE`` (conversations, answers, scores) without loading children.

JSON columns and mutation
-------------------------
Change tracking on JSON columns is by **assignment only**: SQLAlchemy does not see in-place
changes such as ``conv.data["state"] = x`` or ``conv.data["history"].append(...)``, and they
would be silently lost at commit. The rule for ``Conversation.data`` (and every other JSON
column: ``Answer.parsed``, ``Score.breakdown``, ``OutboxMessage.payload`` / ``result``) is:
always assign a new value, e.g. ``conv.data = {**conv.data, "history": [*history, item]}`` or
``conv.update_data(history=[*history, item])``. (If you really must mutate in place, call
``sqlalchemy.orm.attributes.flag_modified(conv, "data")`` afterwards.) Mutation tracking
(``MutableDict``) is deliberately not used: it only covers top-level keys and costs ~25% of the
load time when streaming 100k conversations for re-scoring.

Optimistic locking
------------------
``Conversation.version`` is the mapper's ``version_id_col``: every ORM UPDATE of a conversation
is ``... WHERE id = :id AND version = :loaded_version`` and bumps the version. When another
transaction updated the row first, the flush raises ``sqlalchemy.orm.exc.StaleDataError``
(the caller should roll back, reload and retry). Core ``update()`` statements bypass this.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnDefault,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    Uuid,
    func,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates
from sqlalchemy.types import DateTime, TypeEngine

NAMING_CONVENTION: Final[dict[str, str]] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

LEAD_SOURCES: Final = ("rep", "widget")
LEAD_STATUSES: Final = ("open", "qualified", "nurture", "disqualified", "won", "lost")
#: The largest key of an INTEGER id column (leads, conversations, widget sessions: 32 bits on
#: PostgreSQL, 64 on SQLite) and of a BIGINT one (answers, scores, the outbox, ...). A larger
#: number names no row; PostgreSQL would refuse it with an out-of-range error.
MAX_INTEGER_ID: Final = 2**31 - 1
MAX_BIGINT_ID: Final = 2**63 - 1


def fits_id(value: int, *, bigint: bool = False) -> bool:
    """Whether `value` can be a row's id (of an INTEGER key, or with `bigint` a BIGINT one):
    looking up anything else finds nothing, without asking the database."""
    return 0 < value <= (MAX_BIGINT_ID if bigint else MAX_INTEGER_ID)


#: Lead statuses a new score replaces with its verdict (a won or lost lead keeps its status
#: and reason, even when it qualifies again in a new conversation: the outcome is a fact
#: about the deal, undone only by Re-open on its notice).
SCORED_STATUSES: Final = frozenset({"open", "qualified", "nurture", "disqualified"})
LEAD_EVENT_KINDS: Final = (
    "claimed", "released", "assigned", "nurture", "disqualified", "won", "lost", "reopened"
)
CHANNELS: Final = ("slack", "widget", "cli")
ANSWER_STATUSES: Final = ("answered", "unknown", "skipped")
OUTBOX_STATUSES: Final = ("pending", "sent", "failed")
#: Conversation states that are never "open", whatever ``completed_at`` says.
CLOSED_STATES: Final = ("done", "cancelled", "abandoned")
#: Closed states a conversation can be resumed from.
PAUSED_STATES: Final = ("cancelled", "abandoned")


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def normalise_email(value: str | None) -> str | None:
    """A contact email as leads store it and are matched by: trimmed and lower-cased
    (None for nothing)."""
    if value is None:
        return None
    return value.strip().lower() or None


def _as_utc(value: datetime) -> datetime:
    """`value` in UTC; ValueError for a naive datetime."""
    if value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: Qualibot stores timezone-aware values")
    return value.astimezone(UTC)


#: The datetime last bound on SQLite and its text: (value, text), replaced as one tuple so
#: that no thread sees a mixed pair. It holds the value, so no other datetime can take its id
#: while it is compared with `is`.
_last_bound: list[tuple[datetime | None, str]] = [(None, "")]


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always round-trips aware UTC datetimes.

    SQLite drops the offset of stored datetimes and returns naive values; PostgreSQL returns
    values in the session time zone. This type normalises both to UTC and refuses naive input.
    """

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else _as_utc(value)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, `process_bind_param` and SQLAlchemy's DATETIME formatting in one step,
        with the same text ("2026-12-07 09:30:00.000000", UTC): half the time of the two.
        The last value's text is kept (one for all columns): a turn binds its `now` to the
        conversation's two times, and a new outbox row its time to two columns."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            last_value, last_text = _last_bound[0]
            if value is last_value:
                return last_text
            text = _as_utc(value).isoformat(" ", "microseconds")[:26]
            _last_bound[0] = (value, text)
            return text

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _json(*, nullable: bool = False) -> TypeEngine[Any]:
    """Generic JSON (JSONB on PostgreSQL). Nullable columns store Python ``None`` as SQL NULL."""
    return JSON(none_as_null=nullable).with_variant(
        postgresql.JSONB(none_as_null=nullable), "postgresql"
    )


#: 64-bit primary keys on PostgreSQL; plain INTEGER on SQLite so that ROWID autoincrement works.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

#: Table options of the tables whose ids people see or other rows name (leads, conversations,
#: widget sessions): on SQLite, AUTOINCREMENT, so the id of a row deleted (`qualibot forget`)
#: is never handed out again; without it SQLite gives a new row the highest id plus one.
#: PostgreSQL's sequences never reuse an id. Why these tables: migration 0005.
NEVER_REUSED_IDS: Final[dict[str, Any]] = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    def __init__(self, **kwargs: Any) -> None:
        """Keyword constructor that also fills in Python-side column defaults right away, so a
        new object has ``status == "open"``, ``attempts == 0``, ``data == {}``, a
        ``public_id`` etc. before it is flushed (plain SQLAlchemy applies them at INSERT)."""
        cls = type(self)
        for key, value in kwargs.items():
            if not hasattr(cls, key):
                raise TypeError(f"{key!r} is an invalid keyword argument for {cls.__name__}")
            setattr(self, key, value)
        for key, default in _python_defaults(cls):
            if key not in kwargs:
                setattr(self, key, default.arg(None) if default.is_callable else default.arg)


@functools.cache
def _python_defaults(cls: type[Base]) -> tuple[tuple[str, ColumnDefault], ...]:
    """A model's columns with a Python-side default (a value or a callable), found once: a
    new lead or conversation is made on every `/qualify`."""
    return tuple(
        (attr.key, default)
        for attr in sa_inspect(cls).column_attrs
        if isinstance(default := attr.columns[0].default, ColumnDefault)
        and (default.is_callable or default.is_scalar)
    )


class _Timestamps:
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class Lead(_Timestamps, Base):
    __tablename__ = "leads"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str | None] = mapped_column(String(64))
    company: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(320), index=True)
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    status_reason: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[str | None] = mapped_column(String(100))
    framework: Mapped[str] = mapped_column(String(40))
    score_total: Mapped[float | None] = mapped_column(Float)
    verdict: Mapped[str | None] = mapped_column(String(16))
    fit_score: Mapped[float | None] = mapped_column(Float)
    engagement_score: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")

    conversations: Mapped[list[Conversation]] = relationship(
        back_populates="lead",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Conversation.id",
    )
    answers: Mapped[list[Answer]] = relationship(
        back_populates="lead",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Answer.id",
    )
    scores: Mapped[list[Score]] = relationship(
        back_populates="lead",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Score.id",
    )

    @validates("contact_email")
    def _normalise_email(self, _key: str, value: str | None) -> str | None:
        return normalise_email(value)

    def __repr__(self) -> str:
        return f"<Lead id={self.id} company={self.company!r} status={self.status}>"


class Conversation(_Timestamps, Base):
    __tablename__ = "conversations"
    __table_args__ = (Index(None, "channel", "participant", "last_activity_at"), NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    framework: Mapped[str] = mapped_column(String(40))
    framework_version: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    participant: Mapped[str] = mapped_column(String(100))
    team_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(64))
    #: Opaque to storage. Assign a new dict to change it (see the module docstring).
    data: Mapped[dict[str, Any]] = mapped_column(_json(), default=dict)
    version: Mapped[int] = mapped_column(Integer)
    locale: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    last_activity_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    lead: Mapped[Lead] = relationship(back_populates="conversations", lazy="raise")
    answers: Mapped[list[Answer]] = relationship(
        back_populates="conversation",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Answer.id",
    )

    __mapper_args__: Mapping[str, Any] = {"version_id_col": version}

    def update_data(self, **changes: Any) -> dict[str, Any]:
        """Set top-level keys of :attr:`data` by assigning a new dict (so the change is saved).

        Nested values are shared with the old dict: replace them, don't mutate them
        (``conv.update_data(history=[*conv.data.get("history", []), item])``).
        """
        self.data = {**self.data, **changes}
        return self.data

    @property
    def is_open(self) -> bool:
        return self.completed_at is None and self.state not in CLOSED_STATES

    def __repr__(self) -> str:
        return (
            f"<Conversation id={self.id} lead_id={self.lead_id} {self.channel}:"
            f"{self.participant} state={self.state} v{self.version}>"
        )


class Answer(Base):
    """One answer as given (append-only; a correction is a new row)."""

    __tablename__ = "answers"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[str] = mapped_column(String(64))
    criterion: Mapped[str] = mapped_column(String(64))
    raw_text: Mapped[str] = mapped_column(Text)
    parsed: Mapped[dict[str, Any]] = mapped_column(_json(), default=dict)
    status: Mapped[str] = mapped_column(String(16))
    answered_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )

    conversation: Mapped[Conversation] = relationship(back_populates="answers", lazy="raise")
    lead: Mapped[Lead] = relationship(back_populates="answers", lazy="raise")

    def __repr__(self) -> str:
        return f"<Answer id={self.id} {self.question_id}={self.raw_text!r} ({self.status})>"


class Score(Base):
    """A scoring result (history: every re-score is a new row)."""

    __tablename__ = "scores"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    framework: Mapped[str] = mapped_column(String(40))
    framework_version: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(16))
    breakdown: Mapped[dict[str, Any]] = mapped_column(_json(), default=dict)
    fit_score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )

    lead: Mapped[Lead] = relationship(back_populates="scores", lazy="raise")

    def __repr__(self) -> str:
        return f"<Score id={self.id} lead_id={self.lead_id} {self.total} {self.verdict}>"


class LeadEvent(Base):
    """Something a rep (or a routing rule) did with a lead: claimed, released, assigned,
    moved to nurture, disqualified, marked won or lost, re-opened. With the scores, the
    lead's history: the lead row holds only its state now (a re-open clears the reason)."""

    __tablename__ = "lead_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # one of LEAD_EVENT_KINDS
    #: Who did it (a Slack user id); None: Qualibot itself (a routing rule's assignment).
    actor: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    #: What else the event needs to be told: `{"to": rep}` for an assignment, `{"was":
    #: status, "was_reason": reason}` for a re-open.
    detail: Mapped[dict[str, Any]] = mapped_column(_json(), default=dict)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )

    def __repr__(self) -> str:
        return f"<LeadEvent id={self.id} lead_id={self.lead_id} {self.kind} by {self.actor}>"


class OutboxMessage(Base):
    """A message to deliver (e.g. a Slack post), written in the same transaction as the change
    that caused it and delivered later by the dispatcher."""

    __tablename__ = "outbox"
    __table_args__ = (Index(None, "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    lane: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(_json())
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(_json(nullable=True))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return (
            f"<OutboxMessage id={self.id} {self.kind} lane={self.lane!r} {self.status}"
            f" attempts={self.attempts}>"
        )


class ProcessedEvent(Base):
    """A Slack delivery already handled (an `event_id`, or an action's own id): Slack retries,
    double clicks and deliveries to two replicas have effect once."""

    __tablename__ = "processed_events"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now(), index=True
    )


class WidgetSession(Base):
    """A website visitor's chat session: the bearer token (stored hashed) and the resume code
    that open one conversation."""

    __tablename__ = "widget_sessions"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), unique=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), index=True)
    resume_code: Mapped[str] = mapped_column(String(16), unique=True)
    visitor_ip: Mapped[str | None] = mapped_column(String(64))
    page: Mapped[str | None] = mapped_column(Text)
    consent_text: Mapped[str | None] = mapped_column(Text)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )
    last_seen_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )


class EngagementEvent(Base):
    """Behaviour on the website (page views, pricing viewed, demo watched): it feeds the lead's
    engagement score, kept apart from the framework score."""

    __tablename__ = "engagement_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
    event: Mapped[str] = mapped_column(String(64))
    props: Mapped[dict[str, Any]] = mapped_column(_json(), default=dict)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )


class RoundRobin(Base):
    """Where each round-robin list of reps stands (row-locked while picking the next rep)."""

    __tablename__ = "round_robin"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class InactiveWorkspace(Base):
    """A Slack workspace whose installation stopped working (token revoked or expired, app
    uninstalled): nothing is posted there, and its requests are refused, until it is
    reinstalled (OAuth) or, with one workspace, the server starts with a token that works.
    `team_id` is `(SLACK_BOT_TOKEN)` for the single-workspace install."""

    __tablename__ = "slack_inactive_workspaces"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )


# Slack's OAuth installation and state stores (multi-workspace installs), as slack_sdk defines
# them, so that Alembic manages them with everything else.
slack_installations_table = SQLAlchemyInstallationStore.build_installations_table(
    Base.metadata, "slack_installations"
)
slack_bots_table = SQLAlchemyInstallationStore.build_bots_table(Base.metadata, "slack_bots")
slack_oauth_states_table = SQLAlchemyOAuthStateStore.build_oauth_states_table(
    Base.metadata, "slack_oauth_states"
)
