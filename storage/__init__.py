"""Qualibot storage layer: models, engine/session setup, repositories, migrations.

Typical start-up::

    engine = create_engine_for(settings.database_url)
    prepare_database(engine, auto_migrate=engine.dialect.name == "sqlite")
    session_factory = make_session_factory(engine)

    with session_factory.begin() as session:  # commit on success, rollback on error
        lead = LeadRepository(session).add(Lead(company="Acme", source="rep", framework="bant"))

This package must not import ``bot`` or ``flows``.
"""

from storage.db import (
    DatabaseUnavailable,
    check_connection,
    create_engine_for,
    make_session_factory,
    redact_url,
)
from storage.migrate import (
    DatabaseNotMigrated,
    current_revision,
    downgrade,
    head_revision,
    is_up_to_date,
    prepare_database,
    upgrade,
)
from storage.models import (
    ANSWER_STATUSES,
    CHANNELS,
    CLOSED_STATES,
    LEAD_EVENT_KINDS,
    LEAD_SOURCES,
    LEAD_STATUSES,
    OUTBOX_STATUSES,
    Answer,
    Base,
    Conversation,
    Lead,
    LeadEvent,
    OutboxMessage,
    Score,
    utcnow,
)
from storage.repositories import (
    AnswerRepository,
    ConversationRepository,
    LeadEventRepository,
    LeadRepository,
    OutboxRepository,
    ScoreRepository,
)

__all__ = [
    "ANSWER_STATUSES",
    "CHANNELS",
    "CLOSED_STATES",
    "LEAD_EVENT_KINDS",
    "LEAD_SOURCES",
    "LEAD_STATUSES",
    "OUTBOX_STATUSES",
    "Answer",
    "AnswerRepository",
    "Base",
    "Conversation",
    "ConversationRepository",
    "DatabaseNotMigrated",
    "DatabaseUnavailable",
    "Lead",
    "LeadEvent",
    "LeadEventRepository",
    "LeadRepository",
    "OutboxMessage",
    "OutboxRepository",
    "Score",
    "ScoreRepository",
    "check_connection",
    "create_engine_for",
    "current_revision",
    "downgrade",
    "head_revision",
    "is_up_to_date",
    "make_session_factory",
    "prepare_database",
    "redact_url",
    "upgrade",
    "utcnow",
]
