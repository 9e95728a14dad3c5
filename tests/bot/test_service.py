"""The qualification service over a real database (SQLite, or PostgreSQL via TEST_DATABASE_URL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import Conflict, InvalidInput, NotFound
from bot.handoff.routing import HandoffRouter
from bot.registry import FlowRegistry
from bot.service import QualificationService, TurnResult
from flows.definitions import load_frameworks
from storage.db import make_session_factory
from storage.models import Answer, Conversation, Lead, OutboxMessage, Score

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

BANT_QUALIFIED = ["allocated", "about $80k a year", "I'm the CFO and I sign the contract",
                  "Our reps lose 10 hours a week to manual reporting", "this quarter"]
BANT_POOR = ["no budget", "I'm an analyst looking around",
             "Just curious what's out there", "no timeline"]


@pytest.fixture(scope="module")
def flows() -> FlowRegistry:
    return FlowRegistry(load_frameworks())


@pytest.fixture
def service(session_factory: sessionmaker[Session], flows: FlowRegistry) -> QualificationService:
    return QualificationService(session_factory, flows, clock=lambda: NOW,
                                router=HandoffRouter(default_channel="C0SALES"))


def run(service: QualificationService, first: TurnResult, answers: list[str]) -> TurnResult:
    result = first
    for text in answers:
        result = service.answer(result.conversation_id, text, by="U1")
    return result


def start_bant(service: QualificationService, channel: str = "slack") -> TurnResult:
    return service.start(framework="BANT", company="Acme", channel=channel,  # type: ignore[arg-type]
                         participant="U1")


def test_start_creates_lead_and_asks_first_question(
    service: QualificationService, db_session: Session
) -> None:
    result = start_bant(service)
    assert result.state == "budget"
    question = result.messages[-1]
    assert question["kind"] == "question"
    assert question["question"]["criterion"] == "budget"
    lead = db_session.get(Lead, result.lead_id)
    assert lead is not None and lead.company == "Acme" and lead.source == "rep"
    assert lead.status == "open"


def test_slack_replies_go_through_the_outbox_cli_replies_do_not(
    service: QualificationService, db_session: Session
) -> None:
    slack = start_bant(service, "slack")
    cli = start_bant(service, "cli")
    rows = db_session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reply")).all()
    conversation_ids = [r.payload["conversation_id"] for r in rows]
    assert slack.conversation_id in conversation_ids
    assert cli.conversation_id not in conversation_ids
    reply = next(r for r in rows if r.payload["conversation_id"] == slack.conversation_id)
    assert reply.lane == "dm:U1"
    assert reply.payload["messages"][0]["question"]["criterion"] == "budget"


def test_full_bant_run_scores_and_hands_off(
    service: QualificationService, db_session: Session
) -> None:
    result = run(service, start_bant(service), BANT_QUALIFIED)
    assert result.done and result.state == "done"
    assert result.score is not None and result.score["verdict"] == "qualified"
    summary = result.messages[-1]
    assert summary["kind"] == "summary" and summary["verdict"] == "qualified"
    lead = db_session.get(Lead, result.lead_id)
    assert lead is not None and lead.verdict == "qualified" and lead.status == "qualified"
    answers = db_session.scalars(select(Answer).where(Answer.lead_id == result.lead_id)).all()
    assert [a.question_id for a in answers] == [
        "budget", "budget_amount", "authority", "need", "timeline"]
    assert answers[1].raw_text == "about $80k a year"
    assert answers[1].parsed["amount"] == 80000
    scores = db_session.scalars(select(Score).where(Score.lead_id == result.lead_id)).all()
    assert len(scores) == 1 and scores[0].verdict == "qualified"
    handoffs = [m for m in db_session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "handoff")) if m.payload["lead"]["id"] == result.lead_id]
    assert len(handoffs) == 1 and handoffs[0].lane == "C0SALES"
    notice = handoffs[0].payload
    assert notice["lead"]["source"] == "rep"
    assert {"question_id": "budget_amount", "raw": "about $80k a year",
            "readback": "USD 80,000 per year", "status": "answered"} in notice["answers"]


def test_poor_lead_is_not_handed_off(service: QualificationService, db_session: Session) -> None:
    result = run(service, start_bant(service), BANT_POOR)
    assert result.done
    assert result.score is not None and result.score["verdict"] == "disqualified"
    count = db_session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "handoff"))
    assert count == 0


def test_back_and_correction_keep_the_history(
    service: QualificationService, db_session: Session
) -> None:
    first = start_bant(service)
    service.answer(first.conversation_id, "no budget")
    back = service.back(first.conversation_id)
    assert back.state == "budget"
    again = service.answer(first.conversation_id, "allocated")
    assert again.state == "budget_amount"
    answers = db_session.scalars(
        select(Answer).where(Answer.conversation_id == first.conversation_id)).all()
    assert [a.raw_text for a in answers] == ["no budget", "allocated"]  # append-only


def test_cancel_then_resume(service: QualificationService) -> None:
    first = start_bant(service)
    service.answer(first.conversation_id, "allocated")
    cancelled = service.cancel(first.conversation_id)
    assert cancelled.state == "cancelled"
    with pytest.raises(InvalidInput, match="resume"):
        service.answer(first.conversation_id, "50k")
    resumed = service.resume(first.conversation_id)
    assert resumed.state == "budget_amount"


def test_skip_and_restart(service: QualificationService) -> None:
    first = start_bant(service)
    skipped = service.skip(first.conversation_id)
    assert skipped.state == "authority"
    restarted = service.restart(first.conversation_id)
    assert restarted.state == "budget"


def test_choose_guards_against_a_stale_click(service: QualificationService) -> None:
    first = start_bant(service)
    service.choose(first.conversation_id, "allocated", expected_question="budget")
    with pytest.raises(Conflict):
        service.choose(first.conversation_id, "allocated", expected_question="budget")


def test_unknown_framework_and_company(service: QualificationService) -> None:
    with pytest.raises(InvalidInput, match=r"Unknown framework 'spiced'.*bant"):
        service.start(framework="spiced", company="Acme", channel="cli", participant="U1")
    with pytest.raises(InvalidInput, match="name the company"):
        service.start(framework="bant", company="  ", channel="cli", participant="U1")
    with pytest.raises(NotFound):
        service.answer(999_999, "hello")


def test_oversized_answer_changes_nothing_but_the_reply(
    service: QualificationService, db_session: Session
) -> None:
    first = start_bant(service)
    service.answer(first.conversation_id, "allocated")
    result = service.answer(first.conversation_id, "9" * 100_000)
    assert "characters long" in result.messages[0]["text"]
    assert result.state == "budget_amount"
    count = db_session.scalar(select(func.count()).select_from(Answer).where(
        Answer.conversation_id == first.conversation_id))
    assert count == 1


def test_control_characters_and_emoji_are_stored_cleanly(
    service: QualificationService, db_session: Session
) -> None:
    first = start_bant(service)
    for text in ["allocated", "50k", "CFO", "We need 🚀 speed\x00\x1b[31m for reporting"]:
        service.answer(first.conversation_id, text)
    need = db_session.scalars(select(Answer).where(
        Answer.conversation_id == first.conversation_id, Answer.question_id == "need")).one()
    assert need.raw_text == "We need 🚀 speed[31m for reporting"


def test_a_failing_turn_leaves_nothing_half_written(
    service: QualificationService, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = start_bant(service)
    for text in BANT_QUALIFIED[:-1]:
        service.answer(first.conversation_id, text)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("scoring exploded")

    monkeypatch.setattr(FlowRegistry, "score", broken)
    with pytest.raises(RuntimeError):
        service.answer(first.conversation_id, "this quarter")
    conversation = db_session.get(Conversation, first.conversation_id)
    assert conversation is not None
    db_session.refresh(conversation)
    assert conversation.state == "timeline"
    timeline = db_session.scalar(select(func.count()).select_from(Answer).where(
        Answer.conversation_id == first.conversation_id, Answer.question_id == "timeline"))
    assert timeline == 0


def test_rescore_ages_the_answers(service: QualificationService, flows: FlowRegistry,
                                  session_factory: sessionmaker[Session]) -> None:
    result = run(service, start_bant(service), BANT_QUALIFIED)
    later = QualificationService(session_factory, flows,
                                 clock=lambda: datetime(2028, 1, 1, tzinfo=UTC))
    rescored = later.score(result.lead_id)
    assert result.score is not None
    assert rescored.total < result.score["total"]


@pytest.fixture
def committed_factory(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Real commits on separate connections (for concurrency); cleaned up afterwards."""
    factory = make_session_factory(engine)
    yield factory
    with factory.begin() as session:
        for model in (OutboxMessage, Score, Answer, Conversation, Lead):
            session.execute(delete(model))


def test_concurrent_answers_lose_nothing(
    committed_factory: sessionmaker[Session], flows: FlowRegistry
) -> None:
    """Two callers answer the same conversation at once: every successful answer is stored,
    and the conversation's state reflects all of them (the loser retried on fresh data)."""
    service = QualificationService(committed_factory, flows, clock=lambda: NOW)
    first = service.start(framework="gpctba", company="Acme", channel="cli", participant="U1")
    successes: list[TurnResult] = []
    errors: list[Exception] = []
    barrier = threading.Barrier(3)  # goals, plans, challenges: all free text

    def worker(text: str) -> None:
        barrier.wait()
        try:
            successes.append(service.answer(first.conversation_id, text))
        except Conflict as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"Goal number {i}: grow revenue 20%",))
               for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with committed_factory() as session:
        answers = session.scalars(select(Answer).where(
            Answer.conversation_id == first.conversation_id)).all()
        conversation = session.get(Conversation, first.conversation_id)
    assert conversation is not None
    assert len(answers) == len(successes)
    assert len(successes) + len(errors) == 3
    assert len(successes) >= 1
    assert len(conversation.data["history"]) == len(successes)


def test_rescoring_a_handed_off_lead_does_not_post_again(
    service: QualificationService, db_session: Session
) -> None:
    result = run(service, start_bant(service), BANT_QUALIFIED)
    service.score(result.lead_id)
    service.score(result.lead_id)
    handoffs = [m for m in db_session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "handoff")) if m.payload["lead"]["id"] == result.lead_id]
    assert len(handoffs) == 1
    scores = db_session.scalars(select(Score).where(Score.lead_id == result.lead_id)).all()
    assert len(scores) == 3  # the history keeps every scoring


def test_a_reps_decision_survives_a_rescore_and_gives_way_to_a_new_qualification(
    service: QualificationService, session_factory: sessionmaker[Session], db_session: Session
) -> None:
    from bot.handoff.actions import HandoffActions

    def visit(n: int) -> TurnResult:  # the same visitor (email) on the website, twice
        first = service.start(framework="bant", company="Acme", channel="widget",
                              participant=f"visitor-{n}", source="widget",
                              contact={"email": "dana@acme.example"})
        return run(service, first, BANT_QUALIFIED)

    lead_id = visit(1).lead_id
    HandoffActions(session_factory).decide(lead_id, "disqualified", "Student project",
                                           "U0BOB", team_id=None, notice=None)
    service.score(lead_id)  # the same answers again: the decision stands
    lead = db_session.get(Lead, lead_id)
    assert lead is not None
    assert (lead.status, lead.status_reason) == ("disqualified", "Student project")

    assert visit(2).lead_id == lead_id  # qualified again: a new notice, nothing decided yet
    db_session.expire_all()
    lead = db_session.get(Lead, lead_id)
    assert lead is not None and (lead.status, lead.status_reason) == ("qualified", None)


def test_every_handoff_click_that_enqueues_wakes_the_dispatcher(
    service: QualificationService, session_factory: sessionmaker[Session], db_session: Session
) -> None:
    # A refusal is an ephemeral through the outbox too: it must go out at once, not at the
    # dispatcher's next poll (a refused Won returned before waking it).
    from bot.handoff.actions import HandoffActions, Notice

    lead_id = run(service, start_bant(service), BANT_QUALIFIED).lead_id
    woken: list[int] = []
    actions = HandoffActions(session_factory, on_outbox=lambda: woken.append(1))
    notice = Notice("C0SALES01", "1700000000.000100")

    def pending() -> int:
        db_session.expire_all()
        return int(db_session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
        ) or 0)

    for act, user in ((actions.claim, "U0ALICE"), (actions.won, "U0BOB"),
                      (actions.release, "U0BOB"), (actions.claim, "U0BOB")):
        before, wakes = pending(), len(woken)
        act(lead_id, user, team_id=None, notice=notice)
        assert pending() == before + 1  # the notice's update, or the refusal to Bob
        assert len(woken) == wakes + 1, act.__name__


def test_ids_past_the_id_columns_are_not_found(service: QualificationService) -> None:
    # 2**32 does not fit PostgreSQL's INTEGER id columns: "not found", not a database error
    for call in (lambda: service.score(2**32), lambda: service.answer(2**32, "yes"),
                 lambda: service.resume(2**32, by="U1")):
        with pytest.raises(NotFound):
            call()
