"""The ICP pre-filter through the service: asked before the framework, scored apart."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.registry import FlowRegistry
from bot.service import QualificationService
from flows.definitions import load_frameworks
from flows.icp import IcpConfig
from storage.models import Lead, Score

ICP = IcpConfig(enabled=True, sizes=("51-200", "201-1000"), industries=("software",),
                regions=("europe", "uk"))


def test_icp_questions_come_first_and_give_a_separate_fit_score(
    session_factory: sessionmaker[Session], db_session: Session
) -> None:
    service = QualificationService(session_factory, FlowRegistry(load_frameworks(), ICP),
                                   clock=lambda: datetime(2026, 11, 22, tzinfo=UTC))
    result = service.start(framework="bant", company="Acme", channel="cli", participant="U1")
    assert result.messages[-1]["question"]["criterion"] == "icp_size"
    for text in ["about 120 people", "software", "we're in Germany"]:
        result = service.answer(result.conversation_id, text)
    assert result.state == "budget"  # the framework starts after the profile
    for text in ["allocated", "80k a year", "CFO",
                 "Our reps lose 10 hours a week to reporting", "this quarter"]:
        result = service.answer(result.conversation_id, text)
    assert result.done
    lead = db_session.get(Lead, result.lead_id)
    assert lead is not None
    assert lead.fit_score == 100.0
    assert lead.score_total == 100.0  # the framework score does not include the fit
    score = db_session.query(Score).filter(Score.lead_id == result.lead_id).one()
    assert score.fit_score == 100.0


def test_a_poor_fit_lowers_only_the_fit_score(
    session_factory: sessionmaker[Session], db_session: Session
) -> None:
    service = QualificationService(session_factory, FlowRegistry(load_frameworks(), ICP))
    result = service.start(framework="bant", company="Tiny", channel="cli", participant="U1")
    for text in ["just 5 of us", "retail", "Brazil", "allocated", "80k a year", "CFO",
                 "Our reps lose 10 hours a week to reporting", "this quarter"]:
        result = service.answer(result.conversation_id, text)
    lead = db_session.get(Lead, result.lead_id)
    assert lead is not None and lead.fit_score is not None
    assert lead.fit_score < 30
    assert lead.verdict == "qualified"
