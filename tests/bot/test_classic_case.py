"""The classic case, end to end through the real parsers, flows, scoring and storage.

A Fortune-1000 CEO calls, wants it ASAP, budget is no issue — but names no metrics and no
pain. BANT scores near the top; MEDDIC's first gate (metrics and pain) fails, near zero.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.registry import FlowRegistry
from bot.service import QualificationService, TurnResult
from flows.definitions import load_frameworks

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture
def service(session_factory: sessionmaker[Session]) -> QualificationService:
    return QualificationService(session_factory, FlowRegistry(load_frameworks()),
                                clock=lambda: NOW)


def converse(service: QualificationService, framework: str, answers: list[str]) -> TurnResult:
    result = service.start(framework=framework, company="Globex (Fortune 1000)",
                           channel="cli", participant="rep")
    for text in answers:
        assert not result.done, f"flow ended before {text!r}"
        result = service.answer(result.conversation_id, text)
    assert result.done
    return result


def test_ceo_who_wants_it_asap_is_qualified_under_bant(service: QualificationService) -> None:
    result = converse(service, "bant", [
        "budget is no issue", "whatever it takes, 500k", "I'm the CEO",
        "We need a modern platform across the company", "ASAP"])
    assert result.score is not None
    assert result.score["total"] >= 90
    assert result.score["verdict"] == "qualified"


def test_same_ceo_is_disqualified_under_meddic(service: QualificationService) -> None:
    result = converse(service, "meddic", [
        "nothing specific really", "I'm the CEO, I sign", "not sure yet", "not known yet",
        "no pain, things are going fine", "me, I am, as CEO"])  # the champion: who too
    assert result.score is not None
    assert result.score["total"] <= 10
    assert result.score["verdict"] == "disqualified"
    reasons = " ".join(c["reason"] for c in result.score["criteria"])
    assert '"nothing specific really"' in reasons  # reasons quote the answers as given
    summary = result.messages[-1]
    assert summary["kind"] == "summary" and "disqualified" in summary["text"].lower()
