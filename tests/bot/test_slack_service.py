"""The service methods the Slack app relies on: dedupe keys in the turn's transaction,
answering the latest open conversation, answers given up front, stale buttons."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import AlreadyProcessed, Conflict, InvalidFields, NotFound
from bot.registry import FlowRegistry
from bot.service import QualificationService
from flows.definitions import load_frameworks
from storage.dedupe import ProcessedEventRepository
from storage.models import Answer, ProcessedEvent

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def flows() -> FlowRegistry:
    return FlowRegistry(load_frameworks())


@pytest.fixture
def service(session_factory: sessionmaker[Session], flows: FlowRegistry) -> QualificationService:
    ticks = itertools.count()  # every turn a second later: "most recent" is well defined
    return QualificationService(
        session_factory, flows, clock=lambda: NOW + timedelta(seconds=next(ticks))
    )


def start(service: QualificationService, company: str = "Acme", user: str = "U1") -> int:
    return service.start(
        framework="bant", company=company, channel="slack", participant=user, team_id="T1"
    ).conversation_id


def test_a_dedupe_key_is_claimed_once(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        repo = ProcessedEventRepository(session)
        assert repo.claim("event:Ev1") is True
        assert repo.claim("event:Ev1") is False
        assert repo.claim("event:Ev2") is True
        assert repo.prune(datetime(2000, 1, 1, tzinfo=UTC)) == 0
        assert repo.prune(datetime(2100, 1, 1, tzinfo=UTC)) >= 2


def test_answer_latest_goes_to_the_most_recent_open_conversation(
    service: QualificationService,
) -> None:
    first = start(service, "Acme")
    second = start(service, "Globex")
    result = service.answer_latest("slack", "U1", "allocated", team_id="T1", dedupe_key="e1")
    assert result.conversation_id == second and result.state == "budget_amount"
    with pytest.raises(AlreadyProcessed):
        service.answer_latest("slack", "U1", "allocated", team_id="T1", dedupe_key="e1")
    service.resume(first)  # Acme becomes the latest
    assert service.answer_latest("slack", "U1", "none", team_id="T1").conversation_id == first
    with pytest.raises(NotFound):
        service.answer_latest("slack", "U1", "x", team_id="T2")
    with pytest.raises(NotFound):
        service.answer_latest("slack", "U9", "x")


def test_a_failed_turn_does_not_record_its_dedupe_key(
    service: QualificationService, db_session: Session
) -> None:
    with pytest.raises(NotFound):
        service.answer_latest("slack", "U1", "allocated", dedupe_key="e2")
    assert db_session.scalar(select(func.count()).select_from(ProcessedEvent)) == 0
    start(service)
    service.answer_latest("slack", "U1", "allocated", dedupe_key="e2")  # a retry works


def test_cancel_latest_and_stale_buttons(service: QualificationService) -> None:
    conversation = start(service)
    with pytest.raises(Conflict):
        service.skip(conversation, expected_question="authority")
    assert service.skip(conversation, expected_question="budget").state == "authority"
    with pytest.raises(Conflict):
        service.back(conversation, expected_question="budget")
    assert service.cancel_latest("slack", "U1").state == "cancelled"
    with pytest.raises(NotFound):
        service.cancel_latest("slack", "U1")


def test_start_with_answers(service: QualificationService, db_session: Session) -> None:
    with pytest.raises(InvalidFields) as problems:
        service.start(framework="bant", company="Acme", channel="slack", participant="U1",
                      answers={"timeline": "purple", "need": "back", "nope": "x"})
    assert set(problems.value.fields) == {"timeline", "need", "nope"}
    assert db_session.scalar(select(func.count()).select_from(Answer)) == 0
    result = service.start(
        framework="bant", company="Acme", channel="slack", participant="U1",
        answers={"budget": "allocated", "authority": "I'm the CFO", "need": ""},
        dedupe_key="view:V1:h1",
    )
    assert result.state == "need"  # budget amount skipped (left empty before authority)
    assert result.messages[0]["text"].startswith("Noted 2 answers")
    with pytest.raises(AlreadyProcessed):
        service.start(framework="bant", company="Acme", channel="slack", participant="U1",
                      dedupe_key="view:V1:h1")
