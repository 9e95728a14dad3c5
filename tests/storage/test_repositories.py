from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import InvalidRequestError, StatementError
from sqlalchemy.orm import Session, selectinload, sessionmaker
from sqlalchemy.orm.attributes import flag_modified

from storage import (
    Answer,
    AnswerRepository,
    Conversation,
    ConversationRepository,
    Lead,
    LeadRepository,
    OutboxMessage,
    OutboxRepository,
    Score,
    ScoreRepository,
    utcnow,
)
from storage.models import UTCDateTime, WidgetSession
from storage.repositories import WidgetSessionRepository
from tests.storage.helpers import make_conversation, make_lead, make_widget_session

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _answer(conversation: Conversation, question_id: str, raw: str, **kw: Any) -> Answer:
    values: dict[str, Any] = {
        "conversation_id": conversation.id,
        "lead_id": conversation.lead_id,
        "question_id": question_id,
        "criterion": question_id.split("_")[0],
        "raw_text": raw,
        "parsed": {"value": raw},
        "status": "answered",
        "answered_by": "U1",
    }
    values.update(kw)
    return Answer(**values)


def _score(lead: Lead, total: float, **kw: Any) -> Score:
    values: dict[str, Any] = {
        "lead_id": lead.id,
        "framework": "bant",
        "framework_version": 1,
        "total": total,
        "verdict": "qualified" if total >= 70 else "nurture",
        "breakdown": {"budget": total / 4},
    }
    values.update(kw)
    return Score(**values)


# --- fixtures -------------------------------------------------------------------------------


def test_session_factory_shares_the_rolled_back_transaction(
    session_factory: sessionmaker[Session], db_session: Session
) -> None:
    with session_factory.begin() as session:
        lead = LeadRepository(session).add(Lead(company="Via factory", source="rep", framework="x"))
    # "committed" by the service-style block, visible on the shared connection ...
    assert db_session.get(Lead, lead.id) is not None
    # ... and rolled back at the end of the test (see test_nothing_leaks_between_tests).


def test_nothing_leaks_between_tests(db_session: Session) -> None:
    companies = db_session.scalars(select(Lead.company)).all()
    assert "Via factory" not in companies


def test_commit_inside_a_test_only_releases_a_savepoint(db_session: Session) -> None:
    make_lead(db_session, company="Committed")
    db_session.commit()
    assert db_session.scalar(select(func.count()).where(Lead.company == "Committed")) == 1


# --- leads ----------------------------------------------------------------------------------


def test_lead_add_sets_id_and_defaults(db_session: Session) -> None:
    repo = LeadRepository(db_session)
    lead = repo.add(Lead(company="Acme", source="widget", framework="champ"))
    assert lead.id is not None
    assert lead.status == "open"
    assert lead.engagement_score == 0
    assert lead.created_at.tzinfo is not None
    assert repo.get(lead.id) is lead


def test_added_lead_is_stored_and_attached_with_nothing_pending(db_session: Session) -> None:
    lead = LeadRepository(db_session).add(
        Lead(company="Acme", contact_email=" Ann@Acme.COM ", source="rep", framework="bant")
    )
    # attached as if loaded: nothing left to flush, unset columns read None without a query
    assert lead in db_session and not db_session.new and not db_session.dirty
    assert lead.owner is None and lead.verdict is None
    row = db_session.execute(
        select(Lead.company, Lead.contact_email, Lead.status, Lead.created_at)
        .where(Lead.id == lead.id)
    ).one()
    assert tuple(row) == ("Acme", "ann@acme.com", "open", lead.created_at)
    # later changes go through the unit of work as usual
    lead.owner = "U1"
    db_session.flush()
    assert db_session.scalar(select(Lead.owner).where(Lead.id == lead.id)) == "U1"


def test_added_conversation_keeps_optimistic_locking(db_session: Session) -> None:
    lead = make_lead(db_session)
    repo = ConversationRepository(db_session)
    conversation = repo.add(
        Conversation(lead_id=lead.id, framework="bant", framework_version=1,
                     channel="slack", participant="U1", state="ask_budget")
    )
    assert conversation.version == 1
    assert not db_session.new and not db_session.dirty
    conversation.state = "ask_authority"
    db_session.flush()
    assert conversation.version == 2
    assert db_session.scalar(
        select(Conversation.version).where(Conversation.id == conversation.id)
    ) == 2


def test_adding_a_lead_with_related_objects_cascades(db_session: Session) -> None:
    lead = Lead(company="Acme", source="rep", framework="bant")
    lead.conversations = [
        Conversation(framework="bant", framework_version=1, channel="slack",
                     participant="U1", state="ask_budget")
    ]
    LeadRepository(db_session).add(lead)
    stored = db_session.scalars(
        select(Conversation).where(Conversation.lead_id == lead.id)
    ).all()
    assert [c.participant for c in stored] == ["U1"]


def test_lead_get_unknown_is_none(db_session: Session) -> None:
    assert LeadRepository(db_session).get(999_999) is None


def test_lead_timestamps_round_trip_as_aware_utc(db_session: Session) -> None:
    paris = timezone(timedelta(hours=2))
    lead = make_lead(db_session, created_at=datetime(2024, 5, 1, 14, 0, tzinfo=paris))
    db_session.expire_all()
    reloaded = LeadRepository(db_session).get(lead.id)
    assert reloaded is not None
    assert reloaded.created_at == T0
    assert reloaded.created_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(db_session: Session) -> None:
    db_session.add(Lead(company="Naive", source="rep", framework="bant", created_at=datetime.now()))
    with pytest.raises(StatementError, match="naive datetime"):
        db_session.flush()
    db_session.rollback()


@pytest.mark.parametrize(
    "value",
    [
        datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 12, 7, 9, 30, tzinfo=UTC),
        datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_sqlite_stores_datetimes_as_sqlalchemy_does(value: datetime) -> None:
    # UTCDateTime binds in one step on SQLite; the text must be what SQLAlchemy's own
    # DATETIME stores, which rows written before (and comparisons in SQL) rely on
    dialect = sqlite.dialect()
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    theirs = sqlite.DATETIME().bind_processor(dialect)
    assert ours is not None and theirs is not None
    assert ours(value) == theirs(value.astimezone(UTC))
    assert ours(value) == theirs(value.astimezone(UTC))  # again: the kept text
    other = value.replace(microsecond=(value.microsecond + 1) % 1_000_000)
    assert ours(other) == theirs(other.astimezone(UTC))  # a new value is formatted anew
    assert ours(value) == theirs(value.astimezone(UTC))
    assert ours(None) is None
    with pytest.raises(ValueError, match="naive datetime"):
        ours(value.replace(tzinfo=None))


def test_lead_updated_at_changes_on_update(db_session: Session) -> None:
    lead = make_lead(db_session, created_at=T0, updated_at=T0)
    lead.status = "qualified"
    db_session.flush()
    assert lead.updated_at > T0


def test_lead_email_is_stored_lower_case(db_session: Session) -> None:
    lead = make_lead(db_session, contact_email="  Jane.Doe@Example.COM ")
    assert lead.contact_email == "jane.doe@example.com"
    assert make_lead(db_session, contact_email="  ").contact_email is None


def test_list_recent_orders_limits_and_filters(db_session: Session) -> None:
    repo = LeadRepository(db_session)
    team = f"T{uuid.uuid4().hex[:8]}"
    a = make_lead(db_session, team_id=team, owner="U1", created_by="U1", created_at=T0)
    b = make_lead(
        db_session, team_id=team, owner="U2", created_by="U1", created_at=T0 + timedelta(hours=1)
    )
    c = make_lead(
        db_session, team_id=team, owner=None, created_by="U2", created_at=T0 + timedelta(hours=2)
    )
    make_lead(db_session, team_id="other", owner="U1", created_at=T0 + timedelta(hours=3))

    assert repo.list_recent(team_id=team) == [c, b, a]
    assert repo.list_recent(limit=2, team_id=team) == [c, b]
    assert repo.list_recent(team_id=team, owner="U1") == [a]
    assert repo.list_recent(team_id=team, created_by="U1") == [b, a]
    assert repo.list_recent(team_id=team, owner="U2", created_by="U1") == [b]
    assert len(repo.list_recent(owner="U1")) >= 2  # no team filter: all workspaces


def test_find_by_email(db_session: Session) -> None:
    repo = LeadRepository(db_session)
    old = make_lead(db_session, team_id="TA", contact_email="ceo@acme.io", created_at=T0)
    new = make_lead(
        db_session, team_id="TA", contact_email="ceo@acme.io", created_at=T0 + timedelta(days=1)
    )
    other_team = make_lead(
        db_session, team_id="TB", contact_email="ceo@acme.io", created_at=T0 - timedelta(days=1)
    )
    assert repo.find_by_email("CEO@Acme.io ", team_id="TA") is new
    assert repo.find_by_email("ceo@acme.io", team_id="TB") is other_team
    assert repo.find_by_email("ceo@acme.io") is new
    assert repo.find_by_email("nobody@acme.io") is None
    assert repo.find_by_email("   ") is None
    assert old.id != new.id
    # leaving one out (a visitor's own lead): the next most recent
    assert repo.find_by_email("ceo@acme.io", team_id="TA", exclude_id=new.id) is old
    assert repo.find_by_email("ceo@acme.io", exclude_id=new.id) is old
    assert repo.find_by_email("ceo@acme.io", team_id="TB", exclude_id=other_team.id) is None


def test_set_contact_updates_the_row_and_a_loaded_lead(db_session: Session) -> None:
    """A contact answer's UPDATE: the row changes (with `updated_at`), an email is stored
    normalised as the model stores it, and a lead already loaded shows the new values."""
    repo = LeadRepository(db_session)
    lead = make_lead(db_session, team_id="TA", created_at=T0)
    later = T0 + timedelta(hours=2)
    repo.set_contact(lead.id, "contact_email", "  Dana@Acme.EXAMPLE ", later)
    repo.set_contact(lead.id, "contact_name", "Dana Lee", later)
    repo.set_contact(lead.id, "company", "Acme Logistics", later)
    assert (lead.contact_email, lead.contact_name, lead.company) == (
        "dana@acme.example", "Dana Lee", "Acme Logistics")
    assert lead.updated_at == later
    assert not db_session.dirty  # nothing left for a flush to write
    row = db_session.execute(
        select(Lead.contact_email, Lead.contact_name, Lead.company, Lead.updated_at)
        .where(Lead.id == lead.id)
    ).one()
    assert tuple(row) == ("dana@acme.example", "Dana Lee", "Acme Logistics", later)
    assert repo.find_by_email("DANA@acme.example", team_id="TA") is lead


def test_record_consent_updates_the_row_and_a_loaded_widget_session(db_session: Session) -> None:
    """The consent answer's UPDATE: its text and time, or none (a no), on the row and on a
    widget session object already loaded."""
    lead = make_lead(db_session, source="widget")
    conversation = make_conversation(db_session, lead, channel="widget", participant="v1")
    widget = make_widget_session(db_session, conversation)
    repo = WidgetSessionRepository(db_session)

    repo.record_consent(widget.id, "You may contact me.", T0)
    assert (widget.consent_text, widget.consent_at) == ("You may contact me.", T0)
    stored = db_session.execute(
        select(WidgetSession.consent_text, WidgetSession.consent_at)
        .where(WidgetSession.id == widget.id)
    ).one()
    assert tuple(stored) == ("You may contact me.", T0)

    repo.record_consent(widget.id, None, None)
    assert (widget.consent_text, widget.consent_at) == (None, None)
    assert not db_session.dirty


def test_relationships_never_lazy_load(db_session: Session) -> None:
    lead = make_lead(db_session)
    make_conversation(db_session, lead)
    db_session.expire_all()
    loaded = LeadRepository(db_session).get(lead.id)
    assert loaded is not None
    with pytest.raises(InvalidRequestError):
        _ = loaded.conversations
    eager = db_session.scalars(
        select(Lead).where(Lead.id == lead.id).options(selectinload(Lead.conversations))
    ).one()
    assert len(eager.conversations) == 1


def test_deleting_a_lead_cascades_in_the_database(db_session: Session) -> None:
    lead = make_lead(db_session)
    conversation = make_conversation(db_session, lead)
    AnswerRepository(db_session).add(_answer(conversation, "budget_amount", "50k"))
    ScoreRepository(db_session).add(_score(lead, 80, conversation_id=conversation.id))
    lead_id, conversation_id = lead.id, conversation.id
    db_session.expunge_all()

    db_session.delete(LeadRepository(db_session).get(lead_id))
    db_session.flush()
    db_session.expunge_all()
    assert ConversationRepository(db_session).get(conversation_id) is None
    assert AnswerRepository(db_session).list_for_lead(lead_id) == []
    assert ScoreRepository(db_session).history(lead_id) == []


# --- conversations --------------------------------------------------------------------------


def test_conversation_add_and_get(db_session: Session) -> None:
    repo = ConversationRepository(db_session)
    lead = make_lead(db_session)
    conversation = repo.add(
        Conversation(
            lead_id=lead.id,
            framework="bant",
            framework_version=2,
            channel="widget",
            participant="visitor-1",
            state="start",
        )
    )
    assert conversation.version == 1
    assert isinstance(conversation.public_id, uuid.UUID)
    assert conversation.data == {}
    assert conversation.locale == "en"
    assert conversation.completed_at is None
    assert conversation.is_open
    assert repo.get(conversation.id) is conversation
    assert repo.get(999_999) is None


def test_get_by_public_id(db_session: Session) -> None:
    repo = ConversationRepository(db_session)
    conversation = make_conversation(db_session, make_lead(db_session))
    db_session.expire_all()
    found = repo.get_by_public_id(conversation.public_id)
    assert found is not None and found.id == conversation.id
    assert repo.get_by_public_id(str(conversation.public_id)) is found
    assert repo.get_by_public_id(uuid.uuid4()) is None
    assert repo.get_by_public_id("not-a-uuid") is None


def test_latest_open_for(db_session: Session) -> None:
    repo = ConversationRepository(db_session)
    lead = make_lead(db_session)
    who = f"U{uuid.uuid4().hex[:8]}"

    def conv(minutes: int, **kw: Any) -> Conversation:
        return make_conversation(
            db_session,
            lead,
            participant=who,
            last_activity_at=T0 + timedelta(minutes=minutes),
            **kw,
        )

    older = conv(1, team_id="TA")
    latest_open = conv(5, team_id="TA")
    conv(10, team_id="TA", completed_at=T0)
    for state in ("done", "cancelled", "abandoned"):
        conv(20, team_id="TA", state=state)
    conv(30, team_id="TA", channel="widget")
    other_team = conv(3, team_id="TB")
    make_conversation(db_session, lead, participant="someone-else", last_activity_at=T0)

    assert repo.latest_open_for("slack", who) == latest_open
    assert repo.latest_open_for("slack", who, team_id="TA") == latest_open
    assert repo.latest_open_for("slack", who, team_id="TB") == other_team
    assert repo.latest_open_for("slack", who, team_id="TC") is None
    assert repo.latest_open_for("cli", who) is None

    latest_open.state = "done"
    db_session.flush()
    assert repo.latest_open_for("slack", who, team_id="TA") == older


def test_list_for_participant(db_session: Session) -> None:
    repo = ConversationRepository(db_session)
    lead = make_lead(db_session)
    who = f"U{uuid.uuid4().hex[:8]}"
    convs = [
        make_conversation(
            db_session, lead, participant=who, last_activity_at=T0 + timedelta(minutes=i)
        )
        for i in range(4)
    ]
    convs[0].completed_at = T0
    make_conversation(db_session, lead, participant=who, channel="cli")
    db_session.flush()
    assert repo.list_for_participant("slack", who, limit=10) == convs[::-1]
    assert repo.list_for_participant("slack", who, limit=2) == [convs[3], convs[2]]
    assert repo.list_for_participant("widget", who, limit=10) == []


def test_list_for_lead(db_session: Session) -> None:
    repo = ConversationRepository(db_session)
    lead = make_lead(db_session)
    first = make_conversation(db_session, lead, created_at=T0)
    second = make_conversation(db_session, lead, created_at=T0 + timedelta(hours=1))
    make_conversation(db_session, make_lead(db_session))
    assert repo.list_for_lead(lead.id) == [first, second]


def test_iter_all_streams_everything_in_id_order(db_session: Session) -> None:
    repo = ConversationRepository(db_session)
    lead = make_lead(db_session)
    mine = {make_conversation(db_session, lead).id for _ in range(7)}
    seen = [c.id for c in repo.iter_all(batch_size=3)]
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen))
    assert mine <= set(seen)
    batches = list(repo.iter_batches(batch_size=3))
    assert all(1 <= len(b) <= 3 for b in batches)
    with pytest.raises(ValueError):
        next(repo.iter_batches(batch_size=0))


def test_conversation_data_is_saved_when_a_new_dict_is_assigned(db_session: Session) -> None:
    repo = ConversationRepository(db_session)
    conversation = make_conversation(db_session, make_lead(db_session), data={"answers": {}})

    conversation.data = {**conversation.data, "history": ["q1"]}
    db_session.flush()
    conversation.update_data(attempts={"q1": 1})
    db_session.flush()
    db_session.expire_all()
    reloaded = repo.get(conversation.id)
    assert reloaded is not None
    assert reloaded.data == {"answers": {}, "history": ["q1"], "attempts": {"q1": 1}}
    assert reloaded.version == 3


def test_conversation_data_in_place_changes_are_not_detected(db_session: Session) -> None:
    """The documented caveat: in-place changes are lost unless flagged as modified."""
    repo = ConversationRepository(db_session)
    conversation = make_conversation(db_session, make_lead(db_session), data={"history": ["q1"]})
    conversation.data["history"].append("q2")
    conversation.data["state"] = "x"
    db_session.flush()
    db_session.expire_all()
    reloaded = repo.get(conversation.id)
    assert reloaded is not None and reloaded.data == {"history": ["q1"]}

    reloaded.data["history"].append("q2")
    flag_modified(reloaded, "data")
    db_session.flush()
    db_session.expire_all()
    again = repo.get(conversation.id)
    assert again is not None and again.data == {"history": ["q1", "q2"]}


def test_conversation_version_increments(db_session: Session) -> None:
    conversation = make_conversation(db_session, make_lead(db_session))
    assert conversation.version == 1
    conversation.state = "ask_authority"
    db_session.flush()
    assert conversation.version == 2


# --- answers --------------------------------------------------------------------------------


def test_answers(db_session: Session) -> None:
    repo = AnswerRepository(db_session)
    lead = make_lead(db_session)
    c1 = make_conversation(db_session, lead)
    c2 = make_conversation(db_session, lead)
    a1 = repo.add(_answer(c1, "budget_amount", "about 50k"))
    a2 = repo.add(_answer(c1, "timeline_when", "no idea", status="unknown", parsed={"unknown": 1}))
    a3 = repo.add(_answer(c2, "budget_amount", "60k"))
    make_conversation(db_session, make_lead(db_session))

    assert a1.id is not None and a1.created_at is not None
    assert repo.list_for_lead(lead.id) == [a1, a2, a3]
    assert repo.list_for_conversation(c1.id) == [a1, a2]
    assert repo.list_for_conversation(c2.id) == [a3]
    db_session.expire_all()
    assert repo.list_for_conversation(c1.id)[1].parsed == {"unknown": 1}


# --- scores ---------------------------------------------------------------------------------


def test_scores_history_and_latest(db_session: Session) -> None:
    repo = ScoreRepository(db_session)
    lead = make_lead(db_session)
    other = make_lead(db_session)
    assert repo.latest(lead.id) is None
    assert repo.history(lead.id) == []
    s1 = repo.add(_score(lead, 40))
    s2 = repo.add(_score(lead, 75, fit_score=0.8))
    repo.add(_score(other, 10))
    assert repo.history(lead.id) == [s1, s2]
    assert repo.latest(lead.id) is s2
    assert s2.breakdown == {"budget": 18.75}


def test_scores_add_many(db_session: Session) -> None:
    repo = ScoreRepository(db_session)
    leads = [make_lead(db_session) for _ in range(3)]
    rows = [
        {
            "lead_id": lead.id,
            "conversation_id": None,
            "framework": "bant",
            "framework_version": 3,
            "total": float(i),
            "verdict": "nurture",
            "breakdown": {"i": i},
            "fit_score": None,
        }
        for i, lead in enumerate(leads)
    ]
    assert repo.add_many(rows) == 3
    assert repo.add_many([]) == 0
    for i, lead in enumerate(leads):
        latest = repo.latest(lead.id)
        assert latest is not None
        assert (latest.total, latest.framework_version, latest.breakdown) == (i, 3, {"i": i})
        assert latest.created_at.tzinfo is not None


# --- outbox ---------------------------------------------------------------------------------


def _outbox_count(session: Session, **where: Any) -> int:
    stmt = select(func.count()).select_from(OutboxMessage).filter_by(**where)
    return session.scalar(stmt) or 0


def test_enqueue_defaults(db_session: Session) -> None:
    repo = OutboxRepository(db_session)
    before = utcnow()
    message = repo.enqueue("post_summary", "slack", "C123", {"text": "hi"})
    assert message.id is not None
    assert (message.status, message.attempts, message.dedupe_key) == ("pending", 0, None)
    assert message.next_attempt_at >= before
    assert message.result is None and message.sent_at is None
    later = repo.enqueue("x", "slack", "C123", {}, not_before=T0)
    assert later.next_attempt_at == T0
    assert repo.get(message.id) is message


def test_enqueue_without_dedupe_key_always_adds(db_session: Session) -> None:
    repo = OutboxRepository(db_session)
    lane = f"C{uuid.uuid4().hex[:8]}"
    repo.enqueue("k", "slack", lane, {})
    repo.enqueue("k", "slack", lane, {})
    assert _outbox_count(db_session, lane=lane) == 2


def test_enqueue_dedupes_and_keeps_the_transaction_usable(db_session: Session) -> None:
    repo = OutboxRepository(db_session)
    key = f"lead-1-qualified-{uuid.uuid4()}"
    first = repo.enqueue("notify", "slack", "C1", {"n": 1}, dedupe_key=key)
    second = repo.enqueue("notify", "slack", "C1", {"n": 2}, dedupe_key=key)
    assert second.id == first.id
    assert second.payload == {"n": 1}
    assert _outbox_count(db_session, dedupe_key=key) == 1
    # The transaction still works.
    lead = make_lead(db_session)
    db_session.commit()
    assert db_session.get(Lead, lead.id) is not None


def test_append_once_adds_a_key_once_and_has_sees_it(db_session: Session) -> None:
    repo = OutboxRepository(db_session)
    key = f"handoff:{uuid.uuid4()}"
    assert not repo.has(key)
    assert repo.append_once("handoff", "slack", "C1", {"n": 1}, key) is True
    assert repo.append_once("handoff", "slack", "C1", {"n": 2}, key) is False
    assert repo.has(key)
    [row] = db_session.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))
    assert (row.payload, row.status, row.attempts) == ({"n": 1}, "pending", 0)
    assert row.next_attempt_at is not None and row.created_at is not None


def test_enqueue_dedupe_conflict_path(db_session: Session) -> None:
    """A second enqueue with the same key hits the unique constraint (ON CONFLICT DO NOTHING),
    returns the existing row, and leaves the transaction usable."""
    repo = OutboxRepository(db_session)
    key = f"race-{uuid.uuid4()}"
    existing = repo.enqueue("notify", "slack", "C1", {"n": 1}, dedupe_key=key)
    again = repo.enqueue("notify", "slack", "C1", {"n": 2}, dedupe_key=key)
    assert again.id == existing.id
    assert again.payload == {"n": 1}
    assert _outbox_count(db_session, dedupe_key=key) == 1
    make_lead(db_session)  # transaction still usable


def test_claim_due(db_session: Session) -> None:
    repo = OutboxRepository(db_session)
    lane = f"C{uuid.uuid4().hex[:8]}"
    now = datetime(2000, 1, 1, tzinfo=UTC)  # earlier than anything else in the table
    due_late = repo.enqueue("k", "slack", lane, {}, not_before=now - timedelta(minutes=1))
    due_early = repo.enqueue("k", "slack", lane, {}, not_before=now - timedelta(minutes=5))
    due_now = repo.enqueue("k", "slack", lane, {}, not_before=now)
    repo.enqueue("k", "slack", lane, {}, not_before=now + timedelta(seconds=1))  # not yet
    sent = repo.enqueue("k", "slack", lane, {}, not_before=now - timedelta(hours=1))
    repo.mark_sent(sent, {"ts": "1"})
    failed = repo.enqueue("k", "slack", lane, {}, not_before=now - timedelta(hours=1))
    repo.mark_failed(failed, "boom")

    assert repo.claim_due(now, limit=10) == [due_early, due_late, due_now]
    assert repo.claim_due(now, limit=2) == [due_early, due_late]


def test_outbox_status_transitions(db_session: Session) -> None:
    repo = OutboxRepository(db_session)
    message = repo.enqueue("k", "slack", "C1", {"text": "hi"})

    when = utcnow() + timedelta(minutes=5)
    repo.retry_later(message, when, "429 rate limited")
    assert (message.status, message.attempts, message.last_error) == (
        "pending",
        1,
        "429 rate limited",
    )
    assert message.next_attempt_at == when

    repo.mark_sent(message, {"ok": True, "ts": "123.45"})
    assert (message.status, message.attempts, message.last_error) == ("sent", 2, None)
    assert message.sent_at is not None
    db_session.expire_all()
    reloaded = repo.get(message.id)
    assert reloaded is not None and reloaded.result == {"ok": True, "ts": "123.45"}
    with pytest.raises(ValueError, match="already sent"):
        repo.requeue(message.id)


def test_failed_messages_can_be_listed_and_requeued(db_session: Session) -> None:
    repo = OutboxRepository(db_session)
    m1 = repo.enqueue("k", "slack", "C1", {}, not_before=T0)
    m2 = repo.enqueue("k", "slack", "C1", {}, not_before=T0)
    repo.mark_failed(m1, "channel_not_found")
    repo.mark_failed(m2, "invalid_auth")
    failed = repo.list_failed()
    assert failed[:2] == [m2, m1]
    assert repo.list_failed(limit=1) == [m2]
    assert repo.count_by_status()["failed"] >= 2

    before = utcnow()
    requeued = repo.requeue(m1.id)
    assert requeued is m1
    assert (m1.status, m1.attempts, m1.last_error) == ("pending", 0, "channel_not_found")
    assert m1.next_attempt_at >= before
    assert m1 not in repo.list_failed()
    assert m1 in repo.claim_due(utcnow(), limit=1000)
    assert repo.requeue(999_999_999) is None


def test_nullable_json_stores_sql_null(db_session: Session) -> None:
    repo = OutboxRepository(db_session)
    message = repo.enqueue("k", "slack", "C1", {})
    repo.mark_sent(message, None)
    is_null = db_session.scalar(
        select(OutboxMessage.result.is_(None)).where(OutboxMessage.id == message.id)
    )
    assert is_null


def test_export_reads_every_lead_in_batches_with_its_latest_answers(
    db_session: Session,
) -> None:
    leads = [make_lead(db_session, company=f"Lead {i}", created_at=T0 + timedelta(days=i))
             for i in range(5)]
    visitor = make_lead(db_session, company="Visitor", source="widget", created_at=T0)
    conversation = make_conversation(db_session, leads[0])
    db_session.add_all([_answer(conversation, "budget", "no"),
                        _answer(conversation, "need", "reporting"),
                        _answer(conversation, "budget", "allocated")])
    db_session.flush()
    repo = LeadRepository(db_session)

    ours = {lead.id for lead in [*leads, visitor]}  # the database is shared with other tests

    def exported(**kw: Any) -> list[str]:
        return [lead.company for batch in repo.iter_export(**kw) for lead in batch
                if lead.id in ours]

    assert all(len(batch) <= 2 for batch in repo.iter_export(batch_size=2))
    assert exported(batch_size=2) == ["Lead 0", "Lead 1", "Lead 2", "Lead 3", "Lead 4"]
    assert exported(since=T0 + timedelta(days=3)) == ["Lead 3", "Lead 4"]
    assert exported(unanswered_widget=True) == [
        "Lead 0", "Lead 1", "Lead 2", "Lead 3", "Lead 4", "Visitor"]

    latest = AnswerRepository(db_session).latest_for_leads([leads[0].id, leads[1].id])
    assert {q: a.raw_text for q, a in latest[leads[0].id].items()} == {
        "need": "reporting", "budget": "allocated"}
    assert leads[1].id not in latest
