"""The mock backend against the real API's shapes (no browser needed)."""

from __future__ import annotations

from bot.widget.messages import question_payload
from flows.contact import contact_questions
from flows.engine import BotMessage

from .mock_api import QUESTIONS, ask


def test_the_mock_asks_contact_questions_with_the_real_api_types() -> None:
    # the mock's company question said "text" where the real API says "company"
    real = {q.criterion: question_payload(BotMessage("question", "?", question=q).to_dict()
                                          ["question"])["type"]
            for q in contact_questions()}
    asked = [ask(step)["question"] for step in range(len(QUESTIONS))]
    contact = [(q["criterion"], q["type"]) for q in asked if q["criterion"] in real]
    assert [criterion for criterion, _ in contact] == ["company", "email"]
    assert contact == [(criterion, real[criterion]) for criterion, _ in contact]
