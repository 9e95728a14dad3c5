"""Ids are never handed out twice (migration 0005): on SQLite, leads, conversations and widget
sessions are AUTOINCREMENT tables, and the migration rebuilds them on a database made at 0004
keeping every row, id, index and foreign key. Runs on SQLite and, with TEST_DATABASE_URL, on
PostgreSQL (where the migration does nothing and sequences never reused an id anyway)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, delete, inspect
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from storage import current_revision, downgrade, upgrade
from storage.models import (
    Answer,
    Base,
    EngagementEvent,
    Lead,
    LeadEvent,
    OutboxMessage,
    ProcessedEvent,
    Score,
)
from tests.storage.helpers import make_conversation, make_lead, make_widget_session

BEFORE = "0004_lead_events"
REVISION = "0005_sqlite_autoincrement"
REBUILT = ("leads", "conversations", "widget_sessions")
#: Every table with rows here: the rebuilt ones and those referencing them.
FILLED = (*REBUILT, "answers", "scores", "lead_events", "engagement_events", "outbox",
          "processed_events")


def _is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _qualified_lead(session: Session, n: int) -> Lead:
    """A lead with a widget conversation and a row in every table that references it (or
    names it: the handoff notice's outbox row, a visitor message's dedupe key)."""
    lead = make_lead(session, company=f"Company {n}", contact_email=f"p{n}@example.com")
    conversation = make_conversation(session, lead, channel="widget", participant=f"v{n}")
    widget = make_widget_session(session, conversation, token_hash=f"{n:064d}",
                                 resume_code=f"R{n:05d}", visitor_ip="203.0.113.9")
    session.add_all([
        ProcessedEvent(key=f"widget:{widget.id}:{uuid.uuid4()}"),  # a visitor message
        Answer(conversation_id=conversation.id, lead_id=lead.id, question_id="budget",
               criterion="budget", raw_text=f"{n}0k", parsed={"value": n}, status="answered"),
        Score(lead_id=lead.id, conversation_id=conversation.id, framework="bant",
              framework_version=1, total=50.0 + n, verdict="nurture", breakdown={}),
        EngagementEvent(lead_id=lead.id, conversation_id=conversation.id, event="demo_watched"),
        LeadEvent(lead_id=lead.id, kind="claimed", actor="U1"),
        OutboxMessage(kind="handoff", channel="slack", lane="C1",
                      payload={"lead": {"id": lead.id}, "conversation_id": conversation.id},
                      dedupe_key=f"handoff:{conversation.id}"),
    ])
    session.flush()
    return lead


def _fill(engine: Engine, leads: int = 4) -> None:
    """`leads` qualified leads, then the newest deleted as `qualibot forget` does (its rows
    go by ON DELETE CASCADE, its outbox row stays)."""
    with Session(engine) as session, session.begin():
        made = [_qualified_lead(session, n) for n in range(1, leads + 1)]
        session.add(ProcessedEvent(key="event:Ev1"))
        session.flush()
        session.execute(delete(Lead).where(Lead.id == made[-1].id))


def _rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as connection:
        return {
            table: [tuple(row) for row in connection.exec_driver_sql(
                f"SELECT * FROM {table} ORDER BY 1")]
            for table in FILLED
        }


def _schema(engine: Engine) -> dict[str, Any]:
    """What the rebuild must keep, table by table (its SQL text changes: AUTOINCREMENT)."""
    with engine.connect() as connection:
        inspector = inspect(connection)
        return {
            table: {
                "columns": [(c["name"], str(c["type"]), c["nullable"])
                            for c in inspector.get_columns(table)],
                "pk": inspector.get_pk_constraint(table)["constrained_columns"],
                "fks": sorted(
                    (fk["name"], tuple(fk["constrained_columns"]), fk["referred_table"],
                     tuple(fk["referred_columns"]), fk["options"].get("ondelete"))
                    for fk in inspector.get_foreign_keys(table)
                ),
                "indexes": sorted((ix["name"], tuple(ix["column_names"]), ix["unique"])
                                  for ix in inspector.get_indexes(table)),
                "uniques": sorted((uq["name"], tuple(uq["column_names"]))
                                  for uq in inspector.get_unique_constraints(table)),
            }
            for table in FILLED
        }


def _autoincrement_tables(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%AUTOINCREMENT%'"
        ).scalars())


def _foreign_key_problems(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.exec_driver_sql("PRAGMA foreign_key_check"))


def _highest_ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {table: connection.exec_driver_sql(f"SELECT max(id) FROM {table}").scalar() or 0
                for table in REBUILT}


def _new_ids(engine: Engine) -> dict[str, int]:
    """The ids a new lead, conversation and widget session get."""
    with Session(engine) as session, session.begin():
        lead = make_lead(session, company="Newcomer")
        conversation = make_conversation(session, lead, channel="widget", participant="new")
        widget = make_widget_session(session, conversation, token_hash="f" * 64,
                                     resume_code="NEW001")
        return {"leads": lead.id, "conversations": conversation.id,
                "widget_sessions": widget.id}


# --- the models -----------------------------------------------------------------------------


def test_the_models_make_autoincrement_tables_on_sqlite() -> None:
    made = {
        table.name: "AUTOINCREMENT" in str(CreateTable(table).compile(dialect=sqlite.dialect()))
        for table in Base.metadata.sorted_tables
    }
    assert {name for name, yes in made.items() if yes} == set(REBUILT)


def test_an_id_deleted_is_never_handed_out_again(empty_engine: Engine) -> None:
    # Without AUTOINCREMENT, SQLite gave the next row the highest id plus one: the deleted
    # newest lead's id, conversation id and widget session id came back.
    upgrade(empty_engine)
    _fill(empty_engine, leads=3)
    assert _highest_ids(empty_engine) == {table: 2 for table in REBUILT}
    assert _new_ids(empty_engine) == {table: 4 for table in REBUILT}
    if _is_sqlite(empty_engine):
        assert _autoincrement_tables(empty_engine) >= set(REBUILT)


# --- the migration --------------------------------------------------------------------------


def test_the_migration_keeps_every_row_id_index_and_foreign_key(empty_engine: Engine) -> None:
    upgrade(empty_engine, BEFORE)
    _fill(empty_engine)
    rows, schema = _rows(empty_engine), _schema(empty_engine)
    assert all(rows.values()), "every table has rows"
    upgrade(empty_engine)
    assert current_revision(empty_engine) == REVISION
    assert _rows(empty_engine) == rows
    assert _schema(empty_engine) == schema
    if _is_sqlite(empty_engine):
        assert _autoincrement_tables(empty_engine) & set(FILLED) == set(REBUILT)
        assert _foreign_key_problems(empty_engine) == []
        with empty_engine.connect() as connection:  # the pooled connection enforces them again
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    # lead 4 (the newest) was deleted before the migration: its ids are not handed out
    assert _new_ids(empty_engine) == {table: 5 for table in REBUILT}
    # the foreign keys still cascade
    with Session(empty_engine) as session, session.begin():
        session.execute(delete(Lead).where(Lead.id == 1))
    with empty_engine.connect() as connection:
        for table, column in (("conversations", "lead_id"), ("answers", "lead_id"),
                              ("scores", "lead_id"), ("lead_events", "lead_id"),
                              ("engagement_events", "lead_id"),
                              ("widget_sessions", "conversation_id")):
            count = f"SELECT count(*) FROM {table} WHERE {column} = 1"
            assert connection.exec_driver_sql(count).scalar() == 0, table
        left = "SELECT id FROM conversations ORDER BY id"
        assert list(connection.exec_driver_sql(left).scalars()) == [2, 3, 5]


def test_downgrade_and_upgrade_again_keep_the_rows(empty_engine: Engine) -> None:
    upgrade(empty_engine, BEFORE)
    _fill(empty_engine)
    rows, schema = _rows(empty_engine), _schema(empty_engine)
    upgrade(empty_engine)
    downgrade(empty_engine, BEFORE)
    assert current_revision(empty_engine) == BEFORE
    assert _rows(empty_engine) == rows
    assert _schema(empty_engine) == schema
    if _is_sqlite(empty_engine):
        assert _autoincrement_tables(empty_engine) & set(FILLED) == set()
        assert _foreign_key_problems(empty_engine) == []
    upgrade(empty_engine)
    assert _rows(empty_engine) == rows
    assert _schema(empty_engine) == schema
    assert _new_ids(empty_engine) == {table: 5 for table in REBUILT}


def test_ids_named_by_what_an_erasure_kept_are_not_handed_out(empty_engine: Engine) -> None:
    if not _is_sqlite(empty_engine):
        pytest.skip("SQLite only: PostgreSQL's sequences are already past every id used")
    upgrade(empty_engine, BEFORE)
    _fill(empty_engine, leads=2)
    # what erasures before 0005 left of leads, conversations and widget sessions it deleted:
    # outbox rows with their keys (renamed or not) and payloads, a visitor message's key
    with Session(empty_engine) as session, session.begin():
        session.add_all([
            OutboxMessage(kind="dm", channel="slack", lane="dm:U1", dedupe_key="assign:7:2",
                          payload={"erased": True, "user": "U1"}),
            OutboxMessage(kind="handoff", channel="slack", lane="C1",
                          dedupe_key="erased:9:handoff:11", payload={"erased": True}),
            OutboxMessage(kind="dm", channel="slack", lane="dm:U1", dedupe_key="requalified:5",
                          payload={"lead_id": 8, "text": "lead 8"}),
            OutboxMessage(kind="notice_update", channel="slack", lane="C1", dedupe_key=None,
                          payload={"handoff": {"lead": {"id": 6}, "conversation_id": 10}}),
            OutboxMessage(kind="api", channel="slack", lane="C1", payload={"lead_id": "x"},
                          dedupe_key="handoff-refused:12"),
            ProcessedEvent(key=f"widget:13:{uuid.uuid4()}"),
            ProcessedEvent(key="widget:4:1"),
        ])
    upgrade(empty_engine)
    assert _new_ids(empty_engine) == {"leads": 9, "conversations": 12, "widget_sessions": 14}


def test_the_migration_refuses_to_run_with_foreign_keys_on(empty_engine: Engine) -> None:
    # An engine's connection enforces foreign keys, and inside a transaction they cannot be
    # turned off: dropping `leads` there would delete every conversation.
    if not _is_sqlite(empty_engine):
        pytest.skip("SQLite only")
    upgrade(empty_engine, BEFORE)
    _fill(empty_engine)
    rows = _rows(empty_engine)
    with pytest.raises(RuntimeError, match="foreign keys off"), empty_engine.begin() as connection:
        upgrade(connection)
    assert current_revision(empty_engine) == BEFORE
    assert _rows(empty_engine) == rows

