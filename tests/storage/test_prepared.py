"""Prepared statements (`storage.prepared`) give exactly what `Connection.execute` gives:
the same converted values in and out, Python-side defaults, row counts and SQLAlchemy's
errors. They run on SQLite and on PostgreSQL (`TEST_DATABASE_URL`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage import Answer, Conversation, Lead, LeadRepository
from storage.prepared import Prepared
from tests.storage.helpers import make_conversation, make_lead

T0 = datetime(2024, 5, 1, 12, 0, 30, 123456, tzinfo=UTC)

_CONVERSATIONS = Conversation.__table__
_BY_ID = select(*_CONVERSATIONS.c, Lead.company).join(Lead).where(
    _CONVERSATIONS.c.id == bindparam("id")
)
_INSERT_ANSWER = insert(Answer.__table__)
_BUMP = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("_id"), _CONVERSATIONS.c.version == bindparam("_v"))
    .values(
        version=_CONVERSATIONS.c.version + 1,
        data=bindparam("_data", type_=_CONVERSATIONS.c.data.type),
    )
)


def test_a_select_gives_the_same_row_as_connection_execute(db_session: Session) -> None:
    lead = make_lead(db_session, company="Ünïcode & <Co>")
    conversation = make_conversation(
        db_session, lead, data={"answers": {"budget": {"raw": "50k", "n": 1.5}}, "x": [None]},
        last_activity_at=T0,
    )
    connection = db_session.connection()
    expected = connection.execute(_BY_ID, {"id": conversation.id}).first()

    row = Prepared(_BY_ID).first(connection, {"id": conversation.id})

    assert row is not None and expected is not None
    assert row._asdict() == expected._asdict()
    assert row.last_activity_at == T0 and row.last_activity_at.tzinfo is not None
    assert isinstance(row.public_id, uuid.UUID)
    assert row.data["answers"]["budget"] == {"raw": "50k", "n": 1.5}
    assert row.company == "Ünïcode & <Co>"
    assert Prepared(_BY_ID).first(connection, {"id": conversation.id + 1000}) is None


def test_all_gives_every_row_as_connection_execute_does(db_session: Session) -> None:
    lead = make_lead(db_session, company="Acme")
    ids = [make_conversation(db_session, lead, data={"n": i}, last_activity_at=T0).id
           for i in range(3)]
    by_lead = select(*_CONVERSATIONS.c).where(
        _CONVERSATIONS.c.lead_id == bindparam("lead")).order_by(_CONVERSATIONS.c.id)
    connection = db_session.connection()
    expected = [r._asdict() for r in connection.execute(by_lead, {"lead": lead.id})]

    rows = Prepared(by_lead).all(connection, {"lead": lead.id})

    assert [r._asdict() for r in rows] == expected and [r.id for r in rows] == ids
    assert [r.data for r in rows] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert Prepared(by_lead).all(connection, {"lead": lead.id + 1000}) == []


def test_an_insert_fills_python_defaults_for_columns_not_given(db_session: Session) -> None:
    conversation = make_conversation(db_session, make_lead(db_session))
    before = datetime.now(UTC)

    Prepared(_INSERT_ANSWER).run(
        db_session.connection(),
        {
            "conversation_id": conversation.id,
            "lead_id": conversation.lead_id,
            "question_id": "budget",
            "criterion": "budget",
            "raw_text": "about $50k",
            "status": "answered",
        },
    )

    answers = select(Answer).where(Answer.conversation_id == conversation.id)
    answer = db_session.scalars(answers).one()
    assert answer.parsed == {}  # the column's default
    assert before - timedelta(seconds=1) <= answer.created_at <= datetime.now(UTC)


def test_an_update_counts_the_rows_it_changed_and_applies_onupdate(db_session: Session) -> None:
    conversation = make_conversation(db_session, make_lead(db_session), updated_at=T0)
    bump = Prepared(_BUMP)
    connection = db_session.connection()

    changed = bump.rowcount(connection, {"_id": conversation.id, "_v": conversation.version,
                                         "_data": {"k": "v"}})
    stale = bump.rowcount(connection, {"_id": conversation.id, "_v": conversation.version,
                                       "_data": {"k": "w"}})

    assert (changed, stale) == (1, 0)
    db_session.expire_all()
    stored = db_session.get(Conversation, conversation.id)
    assert stored is not None and stored.data == {"k": "v"}
    assert stored.updated_at > T0  # the column's onupdate


def test_driver_errors_are_raised_as_sqlalchemy_errors(db_session: Session) -> None:
    with pytest.raises(IntegrityError), db_session.begin_nested():
        Prepared(_INSERT_ANSWER).run(
            db_session.connection(),
            {"conversation_id": 10**9, "lead_id": 10**9, "question_id": "budget",
             "criterion": "budget", "raw_text": "x", "status": "answered"},
        )
    # the transaction goes on
    assert make_lead(db_session).id is not None


def test_a_lead_loaded_for_a_turn_is_an_ordinary_persistent_object(db_session: Session) -> None:
    lead_id = make_lead(db_session, contact_email="ana@example.com").id
    db_session.expunge_all()
    leads = LeadRepository(db_session)

    lead = leads.get_for_turn(lead_id)

    assert lead is not None and lead.contact_email == "ana@example.com"
    assert lead in db_session and not db_session.dirty
    assert leads.get_for_turn(lead_id) is lead is db_session.get(Lead, lead_id)
    lead.owner = "U0REP"  # changes flush as usual
    db_session.flush()
    db_session.expire_all()
    assert db_session.get(Lead, lead_id).owner == "U0REP"  # type: ignore[union-attr]
    assert leads.get_for_turn(lead_id + 1000) is None


def test_record_score_writes_the_row_and_leaves_nothing_to_flush(db_session: Session) -> None:
    lead = make_lead(db_session)
    leads = LeadRepository(db_session)

    leads.record_score(lead, score_total=72.5, verdict="qualified", fit_score=None,
                       status="qualified", updated_at=T0)

    assert (lead.score_total, lead.verdict, lead.updated_at) == (72.5, "qualified", T0)
    assert not db_session.dirty
    columns = (Lead.score_total, Lead.verdict, Lead.status, Lead.updated_at)
    stored = db_session.execute(select(*columns).where(Lead.id == lead.id)).one()
    assert tuple(stored) == (72.5, "qualified", "qualified", T0)
