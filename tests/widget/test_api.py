"""The widget's JSON API over the real ASGI app and the real database (SQLite by default,
PostgreSQL with TEST_DATABASE_URL): every route and every error path."""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.turns import ERASED
from bot.widget.config import WidgetConfig
from flows.contact import CONSENT_TEXT
from storage.models import (
    Answer,
    Conversation,
    EngagementEvent,
    Lead,
    OutboxMessage,
    Score,
    WidgetSession,
    utcnow,
)
from storage.repositories import AnswerRepository

from .conftest import API, CONTACT, HANDOFF_CHANNEL, NURTURING, QUALIFYING, Chat, WidgetApi

MakeWidget = Callable[..., WidgetApi]
CODE = re.compile(r"^[A-HJ-NP-Z]{4}-[0-9]{4}$")


def count(db: Session, model: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def error_of(response: Any) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"]
    return dict(body["error"])


def conversation_of(db: Session, chat: Chat) -> Conversation:
    db.expire_all()
    public_id = uuid.UUID(chat.session_id)
    return db.scalars(select(Conversation).where(Conversation.public_id == public_id)).one()


def widget_session_of(db: Session, chat: Chat) -> WidgetSession:
    conversation = conversation_of(db, chat)
    return db.scalars(
        select(WidgetSession).where(WidgetSession.conversation_id == conversation.id)
    ).one()


def handoffs(db: Session, lead_id: int) -> list[OutboxMessage]:
    db.expire_all()
    rows = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "handoff")).all()
    return [r for r in rows if r.payload["lead"]["id"] == lead_id]


def assert_prospect_safe(messages: list[dict[str, Any]]) -> None:
    """The widget's message shape, and nothing meant for reps."""
    for message in messages:
        assert set(message) <= {"from", "text", "question"}, message
        assert message["from"] in ("bot", "visitor")
        assert isinstance(message["text"], str) and message["text"]
        if "question" in message:
            assert set(message["question"]) <= {"id", "criterion", "type", "skippable",
                                                 "options"}
            for option in message["question"].get("options", []):
                assert set(option) == {"label", "value"}
        text = message["text"].lower()
        assert "score" not in text and "/100" not in text and "verdict" not in text, message


# --- starting -------------------------------------------------------------------------------


def test_create_session_greets_and_asks_the_name(widget: WidgetApi, db_session: Session) -> None:
    response = widget.client.post(
        f"{API}/sessions", json={"framework": "BANT", "locale": "en-US", "page": "https://x/p"}
    )
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"session_id", "token", "resume_code", "messages", "max_message_chars"}
    assert CODE.match(body["resume_code"])
    assert len(body["token"]) >= 40
    assert body["max_message_chars"] == 2000
    [ask] = body["messages"]
    assert ask["from"] == "bot" and "name" in ask["text"].lower()
    assert ask["question"] == {"id": "name", "criterion": "name", "type": "name",
                               "skippable": False}

    public_id = uuid.UUID(body["session_id"])
    conversation = db_session.scalars(
        select(Conversation).where(Conversation.public_id == public_id)
    ).one()
    assert (conversation.channel, conversation.state, conversation.locale) == (
        "widget", "name", "en-US"
    )
    lead = db_session.get(Lead, conversation.lead_id)
    assert lead is not None and lead.source == "widget"
    stored = db_session.scalars(
        select(WidgetSession).where(WidgetSession.conversation_id == conversation.id)
    ).one()
    # Only the token's SHA-256 is stored.
    assert stored.token_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    assert body["token"] not in json.dumps(
        [stored.token_hash, stored.resume_code, stored.page, stored.visitor_ip]
    )
    assert stored.page == "https://x/p" and stored.visitor_ip == "testclient"
    assert stored.consent_at is None


def test_contact_given_up_front_is_not_asked_and_consent_is_recorded(
    widget: WidgetApi, db_session: Session
) -> None:
    chat = widget.start(
        contact={"name": "Dana Lee", "email": "Dana@Acme.example", "company": "Acme"},
        consent=True,
    )
    assert chat.first[0]["text"].startswith("Hi!")
    assert chat.first[-1]["question"]["criterion"] == "budget"
    assert [o["value"] for o in chat.first[-1]["question"]["options"]] == [
        "allocated", "planned", "none"
    ]
    stored = widget_session_of(db_session, chat)
    assert stored.consent_text == CONSENT_TEXT and stored.consent_at is not None
    conversation = conversation_of(db_session, chat)
    lead = db_session.get(Lead, conversation.lead_id)
    assert lead is not None
    assert (lead.contact_name, lead.contact_email, lead.company) == (
        "Dana Lee", "dana@acme.example", "Acme"
    )
    answers = db_session.scalars(
        select(Answer.question_id).where(Answer.conversation_id == conversation.id)
    ).all()
    assert sorted(answers) == ["company", "consent", "email", "name"]


def test_a_non_name_is_asked_again_and_a_name_is_stored_without_its_lead_in(
    widget: WidgetApi, db_session: Session
) -> None:
    chat = widget.start()
    reply = chat.say("idk")  # was stored as the visitor's name
    assert reply["messages"][0]["text"].startswith("Sorry, I didn't quite get that.")
    assert "Dana Lee" in reply["messages"][0]["text"]  # the hint's example
    assert reply["messages"][-1]["question"]["criterion"] == "name"
    reply = chat.say("Hi, I'm Dana Lee.")
    assert reply["messages"][0]["text"] == "Name: Dana Lee"
    lead = db_session.get(Lead, conversation_of(db_session, chat).lead_id)
    assert lead is not None and lead.contact_name == "Dana Lee"


def test_a_non_company_is_asked_again_and_a_company_is_stored_as_read(
    widget: WidgetApi, db_session: Session
) -> None:
    chat = widget.start(contact={"name": "Dana Lee", "email": "dana@acme.example"})
    assert chat.question() == {"id": "company", "criterion": "company", "type": "company",
                               "skippable": False}
    reply = chat.say("n/a")  # was stored as the company (and on the lead)
    assert reply["messages"][0]["text"].startswith("Sorry, I didn't quite get that.")
    assert "self-employed" in reply["messages"][0]["text"]  # the hint
    assert reply["messages"][-1]["question"]["criterion"] == "company"
    reply = chat.say("I work at Acme Logistics.")
    assert reply["messages"][0]["text"] == "Company: Acme Logistics"
    lead = db_session.get(Lead, conversation_of(db_session, chat).lead_id)
    assert lead is not None and lead.company == "Acme Logistics"


def test_missing_contact_details_are_asked_first(widget: WidgetApi) -> None:
    chat = widget.start(contact={"name": "Dana Lee"})
    assert chat.first[-1]["question"]["criterion"] == "email"
    chat.say("dana@acme.example")
    chat.say("Acme")
    consent = chat.question()
    assert consent == {
        "id": "consent",
        "criterion": "consent",
        "type": "yesno",
        "skippable": False,
        "options": [{"label": "Yes", "value": "yes"}, {"label": "No", "value": "no"}],
    }
    assert chat.shown[-1]["text"] == CONSENT_TEXT


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"framework": "spin"}, 422, "unknown_framework"),
        ({"contact": {"email": "not an email"}}, 422, "invalid_input"),
        ({"contact": {"name": "n/a"}}, 422, "invalid_input"),
        ({"contact": {"company": "n/a"}}, 422, "invalid_input"),
        ({"contact": {"name": "x" * 201}}, 422, "invalid_request"),
        ({"contact": "Dana"}, 422, "invalid_request"),
        ({"consent": "perhaps"}, 422, "invalid_request"),
        ({"framework": 7}, 422, "invalid_request"),
        ([], 422, "invalid_request"),
    ],
)
def test_create_session_refuses_bad_input(
    widget: WidgetApi, db_session: Session, body: Any, status: int, code: str
) -> None:
    before = count(db_session, Lead)
    response = widget.client.post(f"{API}/sessions", json=body)
    assert response.status_code == status, response.text
    assert error_of(response)["code"] == code
    assert count(db_session, Lead) == before


@pytest.mark.parametrize("framework", [None, "bant", "CHAMP", "meddic", "gpctba"])
def test_the_opening_is_what_a_new_session_starts_with_and_stores_nothing(
    make_widget: MakeWidget, db_session: Session, framework: str | None
) -> None:
    """The widget shows the bot's first messages before any session exists (a visitor who
    only looks, or resumes a conversation from another device, leaves nothing behind); the
    session is created with the first answer, and starts with the very same messages."""
    widget = make_widget(max_message_chars=1500)
    tables = (Lead, Conversation, WidgetSession, Answer, EngagementEvent)
    before = [count(db_session, m) for m in tables]
    query = {} if framework is None else {"framework": framework}
    response = widget.client.get(f"{API}/opening", params=query)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"messages", "max_message_chars"}
    assert body["max_message_chars"] == 1500
    assert [count(db_session, m) for m in tables] == before
    started = widget.start(**query)
    assert body["messages"] == started.first
    assert body["messages"][-1]["question"]["id"] == "name"


def test_the_opening_refuses_an_unknown_framework_and_other_sites(
    make_widget: MakeWidget,
) -> None:
    widget = make_widget(origins="https://www.shop.example")
    unknown = widget.client.get(f"{API}/opening", params={"framework": "spin"})
    assert unknown.status_code == 422 and error_of(unknown)["code"] == "unknown_framework"
    long = widget.client.get(f"{API}/opening", params={"framework": "x" * 41})
    assert long.status_code == 422 and error_of(long)["code"] == "invalid_request"
    shop = widget.client.get(f"{API}/opening", headers={"Origin": "https://www.shop.example"})
    assert shop.status_code == 200
    assert shop.headers["access-control-allow-origin"] == "https://www.shop.example"
    evil = widget.client.get(f"{API}/opening", headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and error_of(evil)["code"] == "origin_not_allowed"
    assert widget.client.post(f"{API}/opening", json={}).status_code == 405


def test_malformed_json_and_missing_body(widget: WidgetApi) -> None:
    bad = widget.client.post(
        f"{API}/sessions", content=b'{"framework": ', headers={"Content-Type": "application/json"}
    )
    assert bad.status_code == 400 and error_of(bad)["code"] == "invalid_json"
    missing = widget.client.post(f"{API}/sessions")
    assert missing.status_code == 422 and error_of(missing)["code"] == "invalid_request"
    text = widget.client.post(
        f"{API}/sessions", content=b"hello", headers={"Content-Type": "text/plain"}
    )
    assert text.status_code == 422 and error_of(text)["code"] == "invalid_request"


def test_odd_locale_and_long_page_are_tolerated(widget: WidgetApi, db_session: Session) -> None:
    chat = widget.start(locale="x" * 40, page="https://shop.example/?" + "q" * 5000)
    stored = widget_session_of(db_session, chat)
    assert stored.page is not None and len(stored.page) == 2000
    assert conversation_of(db_session, chat).locale == "en"


# --- the conversation -----------------------------------------------------------------------


def test_full_bant_qualification_hands_off_once_with_the_answers_as_typed(
    widget: WidgetApi, db_session: Session
) -> None:
    chat = widget.start()
    for answer in CONTACT:
        chat.say(answer)
    chat.say(("choice", "yes"))
    injection = "Our reps lose 10 hours a week <!channel> <script>alert(1)</script>"
    answers = [*QUALIFYING]
    answers[3] = injection
    last: dict[str, Any] = {}
    for answer in answers:
        last = chat.say(answer)
    assert last["done"] is True
    closing = last["messages"][-1]["text"]
    assert "sales" in closing and "reach out" in closing
    assert_prospect_safe(chat.shown)
    # Read-back of what was understood, plain text (the markup is data, returned as typed).
    assert {"from": "bot", "text": f"Need: {injection}"} in chat.shown
    assert {"from": "bot", "text": "Budget: Yes – budget is allocated"} in chat.shown

    conversation = conversation_of(db_session, chat)
    assert conversation.state == "done"
    lead = db_session.get(Lead, conversation.lead_id)
    assert lead is not None and lead.verdict == "qualified" and lead.source == "widget"
    [handoff] = handoffs(db_session, lead.id)
    assert handoff.lane == HANDOFF_CHANNEL
    payload = handoff.payload
    assert payload["lead"]["source"] == "widget"
    assert payload["lead"]["contact_email"] == "dana@acme.example"
    raw = {a["question_id"]: a["raw"] for a in payload["answers"]}
    assert raw["need"] == injection
    assert raw["name"] == "Dana Lee" and raw["company"] == "Acme Logistics"
    stored = widget_session_of(db_session, chat)
    assert stored.consent_text == CONSENT_TEXT and stored.consent_at is not None

    # After the end nothing more is taken.
    late = chat.send({"text": "one more thing"})
    assert late.status_code == 409 and error_of(late)["code"] == "conversation_closed"
    assert len(handoffs(db_session, lead.id)) == 1


def test_history_redraws_the_conversation(widget: WidgetApi) -> None:
    chat = widget.start()
    for answer in [*CONTACT, ("choice", "yes"), *QUALIFYING[:3]]:
        chat.say(answer)
    response = chat.history()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "session_id", "messages", "done", "state", "resume_code", "max_message_chars"
    }
    assert body["session_id"] == chat.session_id and body["resume_code"] == chat.resume_code
    assert body["state"] == "need" and body["done"] is False
    assert body["messages"] == chat.shown
    assert_prospect_safe(body["messages"])

    for answer in QUALIFYING[3:]:
        chat.say(answer)
    done = chat.history().json()
    assert done["done"] is True and done["state"] == "done"
    assert done["messages"] == chat.shown


@pytest.mark.parametrize(
    ("answers", "verdict", "words"),
    [
        (
            NURTURING,
            "nurture",
            "resources",
        ),
        (
            [("choice", "none"), "I'm an analyst looking around", "Just curious what's out there",
             "no timeline"],
            "disqualified",
            "thank you",
        ),
    ],
)
def test_closing_message_fits_the_verdict_and_never_shows_the_score(
    widget: WidgetApi,
    db_session: Session,
    answers: list[Any],
    verdict: str,
    words: str,
) -> None:
    chat = widget.start(contact=dict(zip(("name", "email", "company"), CONTACT, strict=True)),
                        consent=True)
    last: dict[str, Any] = {}
    for answer in answers:
        last = chat.say(answer)
    assert last["done"] is True
    conversation = conversation_of(db_session, chat)
    lead = db_session.get(Lead, conversation.lead_id)
    assert lead is not None and lead.verdict == verdict
    assert words in last["messages"][-1]["text"].lower()
    assert_prospect_safe(chat.shown)
    assert handoffs(db_session, lead.id) == []
    assert chat.history().json()["messages"][-1] == last["messages"][-1]


def test_nurture_lists_configured_resources(make_widget: MakeWidget) -> None:
    widget = make_widget(resources=[{"label": "Buyer's guide", "url": "https://x.example/g"}])
    chat = widget.start(contact=dict(zip(("name", "email", "company"), CONTACT, strict=True)),
                        consent=True)
    for answer in NURTURING:
        last = chat.say(answer)
    closing = last["messages"][-1]
    assert "• Buyer's guide: https://x.example/g" in closing["text"]
    # the URL is a link too, in the turn and in the history the widget redraws from
    assert closing["links"] == [{"label": "Buyer's guide", "url": "https://x.example/g"}]
    assert chat.history().json()["messages"][-1] == closing


def test_an_answer_to_a_question_the_conversation_has_left_is_refused(
    widget: WidgetApi, db_session: Session
) -> None:
    # two tabs on the same conversation: tab B answered the budget question meanwhile
    chat = widget.start(contact=dict(zip(("name", "email", "company"), CONTACT, strict=True)),
                        consent=True)
    assert chat.question()["id"] == "budget"
    chat.say(("choice", "planned"))
    stored = len(answers_of(db_session, chat))
    for stale in ({"choice": "none"}, {"text": "no budget"}, {"text": "skip"}):
        refused = chat.send({**stale, "question": "budget"})
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "conflict"
        assert "moved on" in refused.json()["error"]["message"]
    assert len(answers_of(db_session, chat)) == stored  # nothing recorded
    assert chat.history().json()["messages"][-1]["question"]["id"] == "budget_amount"
    # the question on screen: taken as usual
    taken = chat.send({"text": "about $80k a year", "question": "budget_amount"})
    assert taken.status_code == 200, taken.text
    assert len(answers_of(db_session, chat)) == stored + 1


def test_read_backs_for_prospects_name_the_criterion_not_internal_ids(widget: WidgetApi) -> None:
    chat = widget.start(contact=dict(zip(("name", "email", "company"), CONTACT, strict=True)),
                        consent=True)
    chat.say(("choice", "allocated"))
    reply = chat.say("about $80k a year")
    readback = reply["messages"][0]["text"]
    assert readback.startswith("Budget: ") and "budget amount" not in readback
    assert "Budget: " in json.dumps(chat.history().json())
    assert "budget amount" not in json.dumps(chat.history().json())


def test_a_budget_typed_with_its_amount_is_not_asked_for_the_amount(
    widget: WidgetApi, db_session: Session
) -> None:
    chat = widget.start(contact=dict(zip(("name", "email", "company"), CONTACT, strict=True)),
                        consent=True)
    reply = chat.say("yes, around €50k a year")
    texts = [m["text"] for m in reply["messages"]]
    assert texts[:2] == ["Budget: Yes – budget is allocated", "Budget: EUR 50,000 per year"]
    assert reply["messages"][-1]["question"]["criterion"] == "authority"
    assert answers_of(db_session, chat)[-2:] == [
        ("budget", "yes, around €50k a year"), ("budget_amount", "yes, around €50k a year")
    ]
    # the redrawn conversation shows the amount as answered, not as a question still open
    assert chat.history().json()["state"] == "authority"


def test_an_answer_of_several_lines_keeps_them_as_typed_and_in_its_read_back(
    widget: WidgetApi, db_session: Session
) -> None:
    """The widget's answer box takes several lines: they are stored as typed, and the
    visitor's read-back shows them (it ran them together: "Need: line one line two"), live
    and redrawn; markup stays text. What the parser understood (the rep's side) is one line."""
    chat = widget.start(contact=dict(zip(("name", "email", "company"), CONTACT, strict=True)),
                        consent=True)
    for answer in QUALIFYING[:3]:
        chat.say(answer)
    typed = "Our reps lose 10 hours a week\n\n  <b>to manual</b>   reporting \nand forecasting\n"
    reply = chat.say(typed)
    said = "Need: Our reps lose 10 hours a week\n<b>to manual</b> reporting\nand forecasting"
    assert reply["messages"][0] == {"from": "bot", "text": said}
    history = chat.history().json()["messages"]
    assert {"from": "visitor", "text": typed.strip()} in history
    assert {"from": "bot", "text": said} in history
    conversation = conversation_of(db_session, chat)
    [stored] = db_session.scalars(select(Answer).where(
        Answer.conversation_id == conversation.id, Answer.question_id == "need")).all()
    assert stored.raw_text == typed.strip()
    assert stored.parsed["text"] == " ".join(typed.split())


def test_back_skip_and_restart_as_words(widget: WidgetApi) -> None:
    chat = widget.start(contact=dict(zip(("name", "email", "company"), CONTACT, strict=True)),
                        consent=True)
    chat.say(("choice", "planned"))
    assert chat.question() == {"id": "budget_amount", "criterion": "budget", "type": "money",
                               "skippable": True}
    skipped = chat.say("skip")
    assert skipped["messages"][0]["text"] == "Skipped."
    assert chat.question() == {"id": "authority", "criterion": "authority", "type": "authority",
                               "skippable": True}
    back = chat.say("back")
    assert back["messages"][-1]["question"]["criterion"] == "budget"
    back = chat.say("back")
    assert back["messages"][-1]["question"]["criterion"] == "budget"
    assert back["messages"][-1]["question"]["type"] == "choice"
    restarted = chat.say("restart")
    assert restarted["messages"][0]["text"] == "Starting over."
    assert restarted["messages"][-1]["question"]["criterion"] == "budget"
    assert chat.history().json()["state"] == "budget"


def test_refusals_of_the_flow_are_422_with_a_reason(widget: WidgetApi) -> None:
    chat = widget.start()
    first = chat.send({"text": "back"})
    assert first.status_code == 422 and "first question" in error_of(first)["message"]
    skip = chat.send({"text": "skip"})
    assert skip.status_code == 422 and "can't be skipped" in error_of(skip)["message"]
    empty = chat.send({"text": "   "})
    assert empty.status_code == 422 and error_of(empty)["code"] == "invalid_input"
    choice = chat.send({"choice": "allocated"})
    assert choice.status_code == 422 and error_of(choice)["code"] == "invalid_input"
    both = chat.send({"text": "x", "choice": "y"})
    assert both.status_code == 422 and error_of(both)["code"] == "invalid_request"
    neither = chat.send({})
    assert neither.status_code == 422
    wrong_type = chat.send({"text": 42})
    assert wrong_type.status_code == 422 and error_of(wrong_type)["message"].startswith("text")
    assert chat.history().json()["state"] == "name"


def test_a_reask_comes_with_a_hint(widget: WidgetApi) -> None:
    chat = widget.start(contact={"name": "Dana"})
    reply = chat.say("my email is secret")
    assert reply["messages"][0]["text"].startswith("Sorry, I didn't quite get that.")
    assert reply["messages"][-1]["question"]["criterion"] == "email"


def test_consent_no_stops_without_contacting(widget: WidgetApi, db_session: Session) -> None:
    chat = widget.start(contact=dict(zip(("name", "email", "company"), CONTACT, strict=True)))
    reply = chat.say(("choice", "no"))
    assert reply["done"] is True
    assert "won't contact you" in reply["messages"][-1]["text"]
    assert not any("question" in m for m in reply["messages"])
    conversation = conversation_of(db_session, chat)
    assert conversation.state == "cancelled"
    assert widget_session_of(db_session, chat).consent_at is None
    history = chat.history().json()
    assert history["done"] is True and history["messages"][-1] == reply["messages"][-1]
    assert chat.send({"text": "restart"}).status_code == 409
    # Nothing they typed for their name or email is kept.
    db_session.expire_all()
    lead = db_session.get(Lead, conversation.lead_id)
    assert lead is not None and lead.contact_name is None and lead.contact_email is None
    stored = [a.raw_text for a in db_session.scalars(
        select(Answer).where(Answer.conversation_id == conversation.id))]
    refreshed = db_session.get(Conversation, conversation.id)
    assert refreshed is not None
    for name_or_email in CONTACT[:2]:
        assert not any(name_or_email in text for text in stored)
        assert name_or_email not in json.dumps(refreshed.data)
        assert name_or_email not in json.dumps(history)


def test_after_a_no_to_consent_the_history_shows_the_erasure_not_skips(
    widget: WidgetApi,
) -> None:
    chat = widget.start()
    for typed in CONTACT:  # name, email and company typed in the chat
        chat.say(typed)
    chat.say(("choice", "no"))
    history = chat.history().json()["messages"]
    said = [m["text"] for m in history if m["from"] == "visitor"]
    assert said[:2] == [ERASED, ERASED]  # the name and the email, erased as asked
    assert "skip" not in said and not any(m["text"] == "Skipped." for m in history)
    for name_or_email in CONTACT[:2]:
        assert name_or_email not in json.dumps(history)


def test_a_no_to_consent_is_all_or_nothing(
    widget: WidgetApi, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer, the stop and the erasure are one transaction: if erasing fails (or the
    process dies) the "no" is not half applied (stored, but the name and email kept)."""
    chat = widget.start(contact=dict(zip(("name", "email", "company"), CONTACT, strict=True)))

    def disk_gone(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk gone")

    monkeypatch.setattr(AnswerRepository, "erase", disk_gone)
    assert chat.send({"choice": "no"}).status_code == 500
    db_session.expire_all()
    assert conversation_of(db_session, chat).state == "consent"
    consent_answers = select(func.count()).select_from(Answer).where(
        Answer.question_id == "consent"
    )
    assert db_session.scalar(consent_answers) == 0
    monkeypatch.undo()
    assert chat.say(("choice", "no"))["done"] is True  # the visitor's retry goes through


# "not 100% sure", "not entirely sure" were recorded as consent (the "100%", "sure" in them)
@pytest.mark.parametrize("unsure", ["not sure", "not 100% sure", "not entirely sure"])
def test_unclear_consent_is_asked_again(
    widget: WidgetApi, db_session: Session, unsure: str
) -> None:
    chat = widget.start(contact=dict(zip(("name", "email", "company"), CONTACT, strict=True)))
    reply = chat.say(unsure)
    assert reply["done"] is False
    assert reply["messages"][-1]["question"]["criterion"] == "consent"
    assert widget_session_of(db_session, chat).consent_at is None
    chat.say("yes")
    assert chat.question() is not None and chat.question()["criterion"] == "budget"  # type: ignore[index]
    assert widget_session_of(db_session, chat).consent_text == CONSENT_TEXT


def test_stop_ends_the_conversation_politely(widget: WidgetApi, db_session: Session) -> None:
    chat = widget.start(contact=dict(zip(("name", "email", "company"), CONTACT, strict=True)),
                        consent=True)
    reply = chat.say("stop")
    assert reply["done"] is True
    assert reply["messages"] == [{"from": "bot", "text": WidgetConfig().closing.stopped}]
    assert conversation_of(db_session, chat).state == "cancelled"


# --- limits on size ---------------------------------------------------------------------------


def test_message_of_more_than_2000_characters_is_413(widget: WidgetApi) -> None:
    chat = widget.start()
    ok = chat.send({"text": "Dana " + "x" * 1995})
    assert ok.status_code == 200
    too_long = chat.send({"text": "y" * 2001})
    assert too_long.status_code == 413
    error = error_of(too_long)
    assert error["code"] == "message_too_long"
    assert "2,001 characters" in error["message"] and "2,000" in error["message"]


def test_sessions_tell_the_widget_the_longest_message_accepted(
    make_widget: Callable[..., WidgetApi],
) -> None:
    """The embed script counts down to the limit before sending, so it must know the
    configured one (`max_message_chars`), not assume 2,000."""
    widget = make_widget(max_message_chars=500)
    created = widget.client.post(f"{API}/sessions", json={})
    assert created.json()["max_message_chars"] == 500
    chat = widget.start()
    assert chat.history().json()["max_message_chars"] == 500
    resumed = widget.client.post(f"{API}/resume", json={"resume_code": chat.resume_code})
    assert resumed.json()["max_message_chars"] == 500
    decoy = widget.client.post(f"{API}/sessions", json={"website": "http://spam.example"})
    assert decoy.json()["max_message_chars"] == 500


def test_oversized_body_is_413_before_parsing(widget: WidgetApi) -> None:
    chat = widget.start()
    huge = json.dumps({"text": "x", "pad": "p" * 20_000})
    response = chat.send({}, content=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and error_of(response)["code"] == "payload_too_large"

    def chunks() -> Any:
        yield b'{"text": "'
        for _ in range(40):
            yield b"z" * 1000
        yield b'"}'

    streamed = widget.client.post(
        f"{API}/sessions/{chat.session_id}/messages",
        content=chunks(),
        headers={**chat.auth, "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
    bad_length = widget.client.post(
        f"{API}/sessions", content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": "abc"},
    )
    assert bad_length.status_code in (400, 413)


# --- tokens -----------------------------------------------------------------------------------


def test_tokens_keep_sessions_apart(widget: WidgetApi) -> None:
    mine, theirs = widget.start(), widget.start()
    url = f"{API}/sessions/{theirs.session_id}"

    missing = widget.client.get(url)
    assert missing.status_code == 401 and error_of(missing)["code"] == "unauthorized"
    assert missing.headers["www-authenticate"] == "Bearer"
    basic = widget.client.get(url, headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401

    wrong = widget.client.get(url, headers=mine.auth)
    unknown = widget.client.get(
        f"{API}/sessions/00000000-0000-4000-8000-000000000000", headers=mine.auth
    )
    malformed = widget.client.get(f"{API}/sessions/not-a-session", headers=mine.auth)
    # Someone else's session looks exactly like one that does not exist.
    assert wrong.status_code == unknown.status_code == malformed.status_code == 404
    assert wrong.json() == unknown.json() == malformed.json()

    write = widget.client.post(f"{url}/messages", json={"text": "Mallory"}, headers=mine.auth)
    assert write.status_code == 404
    event = widget.client.post(f"{url}/events", json={"event": "page_view"}, headers=mine.auth)
    assert event.status_code == 404
    assert theirs.history().json()["state"] == "name"


# --- events and engagement --------------------------------------------------------------------


def test_events_feed_the_engagement_score(widget: WidgetApi, db_session: Session) -> None:
    chat = widget.start()
    assert chat.event("page_view", {"path": "/", "title": "Home"}).status_code == 202
    response = chat.event("pricing_viewed", {"plan": "growth"})
    assert response.status_code == 202 and response.content == b""
    assert chat.event("demo_watched").status_code == 202
    assert chat.event("newsletter_opened").status_code == 202  # kept, worth nothing
    conversation = conversation_of(db_session, chat)
    lead = db_session.get(Lead, conversation.lead_id)
    assert lead is not None and lead.engagement_score == 2 + 10 + 15
    events = db_session.scalars(
        select(EngagementEvent)
        .where(EngagementEvent.lead_id == lead.id)
        .order_by(EngagementEvent.id)
    ).all()
    assert [e.event for e in events] == [
        "page_view", "pricing_viewed", "demo_watched", "newsletter_opened"
    ]
    assert events[1].props == {"plan": "growth"} and events[1].conversation_id == conversation.id

    for _ in range(10):  # only the first few of a kind count; 100 at most
        chat.event("demo_watched")
    db_session.expire_all()
    lead = db_session.get(Lead, conversation.lead_id)
    assert lead is not None and lead.engagement_score == 2 + 10 + 15 * 5


def test_engagement_weights_are_configurable_and_reach_the_handoff(
    make_widget: MakeWidget, db_session: Session
) -> None:
    widget = make_widget(engagement_weights={"pricing_viewed": 40, "page_view": 1})
    chat = widget.start()
    chat.event("pricing_viewed")
    chat.event("page_view")
    for answer in [*CONTACT, ("choice", "yes"), *QUALIFYING]:
        chat.say(answer)
    lead_id = conversation_of(db_session, chat).lead_id
    [handoff] = handoffs(db_session, lead_id)
    assert handoff.payload["lead"]["engagement_score"] == 41


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 422, "invalid_request"),
        ({"event": ""}, 422, "invalid_request"),
        ({"event": "<script>"}, 422, "invalid_request"),
        ({"event": "x" * 65}, 422, "invalid_request"),
        ({"event": "page_view", "props": [1, 2]}, 422, "invalid_request"),
        ({"event": "page_view", "props": {"a": {"b": {"c": {"d": {"e": {"f": {}}}}}}}}, 422,
         "invalid_request"),
        ({"event": "page_view", "props": {"blob": "x" * 3000}}, 413, "props_too_large"),
        ({"event": "page_view", "props": {"n": 2**64}}, 422, "invalid_request"),
        ({"event": "page_view", "props": {"n": [-(2**63) - 1]}}, 422, "invalid_request"),
    ],
)
def test_bad_events_are_refused(
    widget: WidgetApi, db_session: Session, body: Any, status: int, code: str
) -> None:
    chat = widget.start()
    response = widget.client.post(
        f"{API}/sessions/{chat.session_id}/events", json=body, headers=chat.auth
    )
    assert response.status_code == status, response.text
    assert error_of(response)["code"] == code
    assert count(db_session, EngagementEvent) == 0


def test_event_props_are_stored_as_clean_data(widget: WidgetApi, db_session: Session) -> None:
    chat = widget.start()
    assert chat.event("page_view", {"title": "Nul\u0000 <b>bold</b>", "n": 3}).status_code == 202
    event = db_session.scalars(select(EngagementEvent)).one()
    assert event.props == {"title": "Nul <b>bold</b>", "n": 3}


# --- repeat visitors ----------------------------------------------------------------------------


def test_a_repeat_visitor_continues_on_their_lead(widget: WidgetApi, db_session: Session) -> None:
    first = widget.start()
    first.event("pricing_viewed")
    for answer in [*CONTACT, ("choice", "yes"), *NURTURING]:
        first.say(answer)
    leads_before = count(db_session, Lead)
    lead_id = conversation_of(db_session, first).lead_id

    again = widget.start()
    again.event("demo_watched")
    for answer in ["Dana Lee", "DANA@acme.example", "Acme Logistics Ltd", ("choice", "yes"),
                   *QUALIFYING]:
        again.say(answer)

    assert count(db_session, Lead) == leads_before  # no duplicate
    second = conversation_of(db_session, again)
    assert second.lead_id == lead_id
    lead = db_session.get(Lead, lead_id)
    assert lead is not None
    assert lead.company == "Acme Logistics Ltd" and lead.verdict == "qualified"
    assert lead.engagement_score == 10 + 15
    scores = db_session.scalars(select(Score.verdict).where(Score.lead_id == lead_id)).all()
    assert scores == ["nurture", "qualified"]
    answers = db_session.scalars(select(Answer).where(Answer.lead_id == lead_id)).all()
    first_id = conversation_of(db_session, first).id
    assert {a.conversation_id for a in answers} == {second.id, first_id}
    stray = select(func.count()).select_from(Answer).where(
        Answer.conversation_id == second.id, Answer.lead_id != lead_id
    )
    assert db_session.scalar(stray) == 0  # every answer of the visit moved with it
    [handoff] = handoffs(db_session, lead_id)
    assert handoff.payload["lead"]["engagement_score"] == 25
    # The new session keeps working on the lead it moved to.
    assert again.history().json()["done"] is True


def test_a_repeat_visitor_with_contact_up_front(widget: WidgetApi, db_session: Session) -> None:
    first = widget.start(contact={"name": "Dana Lee", "email": "dana@acme.example"})
    lead_id = conversation_of(db_session, first).lead_id
    leads_before = count(db_session, Lead)
    again = widget.start(contact={"name": "Dana L.", "email": "Dana@ACME.example",
                                  "company": "Acme"}, consent=True)
    assert count(db_session, Lead) == leads_before
    assert conversation_of(db_session, again).lead_id == lead_id
    lead = db_session.get(Lead, lead_id)
    assert lead is not None and (lead.contact_name, lead.company) == ("Dana L.", "Acme")
    assert again.question() is not None


def test_changing_the_email_after_a_match_gives_a_lead_of_its_own(
    widget: WidgetApi, db_session: Session
) -> None:
    first = widget.start(contact={"name": "Dana Lee", "email": "dana@acme.example"})
    lead_id = conversation_of(db_session, first).lead_id
    again = widget.start()
    again.say("Sam Roe")
    again.say("dana@acme.example")
    assert conversation_of(db_session, again).lead_id == lead_id
    again.say("back")
    again.say("sam@other.example")
    moved = conversation_of(db_session, again).lead_id
    assert moved != lead_id
    original = db_session.get(Lead, lead_id)
    assert original is not None and original.contact_email == "dana@acme.example"
    own = db_session.get(Lead, moved)
    assert own is not None and own.contact_email == "sam@other.example"
    assert own.contact_name == "Sam Roe"


# --- resume codes -------------------------------------------------------------------------------


def test_resume_with_the_code_on_another_device(widget: WidgetApi) -> None:
    laptop = widget.start()
    laptop.say("Dana Lee")
    code = laptop.resume_code.lower().replace("-", " ")
    response = widget.client.post(f"{API}/resume", json={"resume_code": f"  {code} "})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "session_id", "token", "resume_code", "messages", "done", "state", "max_message_chars"
    }
    assert body["session_id"] == laptop.session_id and body["token"] != laptop.token
    assert body["messages"] == laptop.shown and body["state"] == "email"

    phone = Chat(widget, body["session_id"], body["token"], body["resume_code"], [])
    phone.shown = body["messages"]
    phone.say("dana@acme.example")
    # The conversation moved to the phone: the laptop's token no longer opens it.
    assert laptop.history().status_code == 404
    assert phone.history().json()["state"] == "company"


@pytest.mark.parametrize("code", ["ZZZZ-0000", "nonsense", "ABCD-12345", "ÄBCD-1234"])
def test_unknown_resume_code_is_404(widget: WidgetApi, code: str) -> None:
    response = widget.client.post(f"{API}/resume", json={"resume_code": code})
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_resume_needs_a_code(widget: WidgetApi) -> None:
    for body in ({}, {"resume_code": ""}, {"resume_code": "x" * 65}, {"resume_code": 5}):
        response = widget.client.post(f"{API}/resume", json=body)
        assert response.status_code == 422, body


# --- idle expiry --------------------------------------------------------------------------------


def age(db: Session, chat: Chat, minutes: float) -> None:
    stored = widget_session_of(db, chat)
    db.execute(
        update(WidgetSession)
        .where(WidgetSession.id == stored.id)
        .values(last_seen_at=utcnow() - timedelta(minutes=minutes))
    )
    db.commit()


def test_an_idle_session_expires_on_access_and_keeps_its_answers(
    widget: WidgetApi, db_session: Session
) -> None:
    chat = widget.start()
    chat.say("Dana Lee")
    age(db_session, chat, 31)
    response = chat.history()
    assert response.status_code == 410
    error = error_of(response)
    assert error["code"] == "session_expired"
    assert "30 minutes" in error["message"] and "start a new conversation" in error["message"]
    conversation = conversation_of(db_session, chat)
    assert conversation.state == "abandoned"
    assert db_session.scalars(
        select(Answer.raw_text).where(Answer.conversation_id == conversation.id)
    ).all() == ["Dana Lee"]
    assert chat.send({"text": "dana@acme.example"}).status_code == 410
    assert chat.event("page_view").status_code == 410
    resumed = widget.client.post(f"{API}/resume", json={"resume_code": chat.resume_code})
    assert resumed.status_code == 410


def test_activity_keeps_a_session_alive(widget: WidgetApi, db_session: Session) -> None:
    chat = widget.start()
    age(db_session, chat, 29)
    assert chat.event("page_view").status_code == 202
    assert widget_session_of(db_session, chat).last_seen_at > utcnow() - timedelta(minutes=1)


def test_the_sweeper_abandons_idle_conversations(
    make_widget: MakeWidget, db_session: Session
) -> None:
    from bot.widget.sweeper import IdleSweeper, create_sweeper

    widget = make_widget(idle_timeout_minutes=5)
    idle, active, finished = widget.start(), widget.start(), widget.qualified_chat()
    idle.say("Dana Lee")
    age(db_session, idle, 6)
    age(db_session, finished, 60)
    sweeper = create_sweeper(widget.runtime)
    assert sweeper.interval == 60
    sweeper = IdleSweeper(sweeper.backend, interval=0.05)
    assert sweeper.sweep_once() == 1
    assert conversation_of(db_session, idle).state == "abandoned"
    assert conversation_of(db_session, active).state == "name"
    assert conversation_of(db_session, finished).state == "done"
    assert sweeper.sweep_once() == 0
    assert "5 minutes" in error_of(idle.history())["message"]

    # In the background, every `interval` seconds, until stopped.
    age(db_session, active, 6)
    sweeper.start()
    try:
        for _ in range(100):
            if conversation_of(db_session, active).state == "abandoned":
                break
            time.sleep(0.02)
    finally:
        sweeper.stop()
    assert not sweeper.running
    assert conversation_of(db_session, active).state == "abandoned"


# --- rate limits --------------------------------------------------------------------------------


def test_messages_per_session_per_minute(make_widget: MakeWidget) -> None:
    widget = make_widget(messages_per_minute=3)
    chat, other = widget.start(), widget.start()
    for text in ("Dana Lee", "back", "Dana Lee"):
        assert chat.send({"text": text}).status_code in (200, 422)
    limited = chat.send({"text": "dana@acme.example"})
    assert limited.status_code == 429
    assert error_of(limited)["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 20
    assert other.send({"text": "Sam Roe"}).status_code == 200  # per session


def test_sessions_per_ip_per_hour(make_widget: MakeWidget, db_session: Session) -> None:
    widget = make_widget(sessions_per_hour=2)
    widget.start()
    widget.start()
    before = count(db_session, Lead)
    limited = widget.client.post(f"{API}/sessions", json={})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 60  # the next slot is half an hour away
    assert count(db_session, Lead) == before


def test_events_per_session_per_minute(make_widget: MakeWidget) -> None:
    widget = make_widget(events_per_minute=2)
    chat = widget.start()
    assert [chat.event("page_view").status_code for _ in range(3)] == [202, 202, 429]


def test_resume_attempts_per_ip(make_widget: MakeWidget) -> None:
    widget = make_widget(resumes_per_hour=2)
    codes = ["AAAA-0000", "BBBB-0000", "CCCC-0000"]
    statuses = [
        widget.client.post(f"{API}/resume", json={"resume_code": c}).status_code for c in codes
    ]
    assert statuses == [404, 404, 429]


def test_limits_come_from_qualibot_toml(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.config import Settings

    config = tmp_path / "qualibot.toml"
    config.write_text("[widget]\nmessages_per_minute = 7\nidle_timeout_minutes = 10\n"
                      "[widget.engagement_weights]\nwebinar = 20\n")
    monkeypatch.setenv("QUALIBOT_CONFIG", str(config))
    loaded = WidgetConfig.from_file(Settings(_env_file=None).load_file_config().widget)
    assert loaded.messages_per_minute == 7 and loaded.idle_timeout_seconds == 600
    assert loaded.engagement_weights == {"webinar": 20}
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match=r"widget\.messages_per_minute"):
        WidgetConfig.from_file({"messages_per_minute": -1})


# --- origins and CORS ---------------------------------------------------------------------------


def test_cors_for_allowed_origins(make_widget: MakeWidget) -> None:
    widget = make_widget(origins="https://www.shop.example, https://shop.example:8443")
    for origin in ("https://www.shop.example", "https://shop.example:8443", "http://testserver"):
        preflight = widget.client.options(
            f"{API}/sessions/abc/messages",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization,content-type"},
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == origin
        assert "Authorization" in preflight.headers["access-control-allow-headers"]
        assert "Content-Type" in preflight.headers["access-control-allow-headers"]
        assert "POST" in preflight.headers["access-control-allow-methods"]
        response = widget.client.post(f"{API}/sessions", json={}, headers={"Origin": origin})
        assert response.status_code == 201
        assert response.headers["access-control-allow-origin"] == origin
        assert response.headers["access-control-expose-headers"] == "Retry-After"
        assert "Origin" in response.headers["vary"]
        assert "access-control-allow-credentials" not in response.headers


def test_other_origins_are_refused(widget: WidgetApi, db_session: Session) -> None:
    chat = widget.start()
    before = count(db_session, Lead)
    evil = {"Origin": "https://evil.example"}
    preflight = widget.client.options(
        f"{API}/sessions", headers={**evil, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    create = widget.client.post(f"{API}/sessions", json={}, headers=evil)
    assert create.status_code == 403 and error_of(create)["code"] == "origin_not_allowed"
    message = chat.send({"text": "Mallory"}, headers={**chat.auth, **evil})
    assert message.status_code == 403
    for origin in ("null", "http://testserver.evil.example", "https://testserver"):
        refused = widget.client.post(f"{API}/sessions", json={}, headers={"Origin": origin})
        assert refused.status_code == 403, origin
    assert count(db_session, Lead) == before
    assert chat.history().json()["state"] == "name"


# --- honeypot -----------------------------------------------------------------------------------


def test_honeypot_on_create_stores_nothing(widget: WidgetApi, db_session: Session) -> None:
    before = [count(db_session, m) for m in (Lead, Conversation, WidgetSession, OutboxMessage)]
    response = widget.client.post(
        f"{API}/sessions", json={"framework": "bant", "website": "http://spam.example",
                                 "contact": {"email": "bot@spam.example"}, "consent": True}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"session_id", "token", "resume_code", "messages", "max_message_chars"}
    assert CODE.match(body["resume_code"])
    assert body["messages"][-1]["question"]["criterion"] == "name"
    after = [count(db_session, m) for m in (Lead, Conversation, WidgetSession, OutboxMessage)]
    assert after == before
    fake = widget.client.post(
        f"{API}/sessions/{body['session_id']}/messages", json={"text": "x"},
        headers={"Authorization": f"Bearer {body['token']}"},
    )
    assert fake.status_code == 404


def test_honeypot_on_a_message_stores_nothing(widget: WidgetApi, db_session: Session) -> None:
    chat = widget.start()
    answers = count(db_session, Answer)
    response = chat.send({"text": "Dana Lee", "website": "http://spam.example"})
    assert response.status_code == 200 and response.json() == {"messages": [], "done": False}
    assert count(db_session, Answer) == answers
    assert chat.history().json()["state"] == "name"
    assert chat.send({"text": "Dana Lee", "website": ""}).status_code == 200  # empty: a person


# --- everything else ------------------------------------------------------------------------------


def test_unknown_routes_and_methods(widget: WidgetApi) -> None:
    missing = widget.client.get(f"{API}/nothing")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    wrong = widget.client.get(f"{API}/sessions")
    assert wrong.status_code == 405 and error_of(wrong)["code"] == "method_not_allowed"
    assert wrong.headers["allow"] == "POST"
    delete = widget.client.delete(f"{API}/sessions/abc")
    assert delete.status_code == 405


def test_openapi_documents_the_widget_api(widget: WidgetApi) -> None:
    schema = widget.client.get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths) >= {
        f"{API}/sessions",
        f"{API}/sessions/{{session_id}}",
        f"{API}/sessions/{{session_id}}/messages",
        f"{API}/sessions/{{session_id}}/events",
        f"{API}/resume",
        f"{API}/opening",
    }
    create = paths[f"{API}/sessions"]["post"]
    assert "201" in create["responses"] and "429" in create["responses"]
    assert create["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorOut"
    )
    message = schema["components"]["schemas"]["MessageOut"]
    assert set(message["properties"]) == {"from", "text", "question", "links"}
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    assert not any("{path}" in p for p in paths)


def test_everything_a_prospect_types_comes_back_as_plain_text(widget: WidgetApi) -> None:
    chat = widget.start()
    markup = "<img src=x onerror=alert(1)> & <!channel>"
    reply = chat.say(markup)
    assert reply["messages"][0] == {"from": "bot", "text": f"Name: {markup}"}
    assert reply["messages"] is not None
    raw = widget.client.get(f"{API}/sessions/{chat.session_id}", headers=chat.auth)
    assert raw.headers["content-type"] == "application/json"
    assert markup in raw.json()["messages"][1]["text"]


def test_demo_page_embeds_the_widget_with_one_tag(widget: WidgetApi) -> None:
    page = widget.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    html = page.text
    assert html.count("<script") == 1
    assert '<script src="/widget/embed.js" data-framework="bant" async></script>' in html
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"


def test_embed_script_is_served_with_type_and_cache_headers(widget: WidgetApi) -> None:
    from pathlib import Path

    script = widget.client.get("/widget/embed.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cache-control"] == "public, max-age=300"
    assert script.headers["x-content-type-options"] == "nosniff"
    assert script.headers["cross-origin-resource-policy"] == "cross-origin"
    source = Path(__file__).resolve().parents[2] / "bot" / "widget" / "static" / "embed.js"
    assert script.content == source.read_bytes()
    etag = script.headers["etag"]
    again = widget.client.get("/widget/embed.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    # A page on another site loads the script with a plain <script> tag: no CORS needed, and
    # the origin check applies to the API only.
    other = widget.client.get("/widget/embed.js", headers={"Origin": "https://evil.example"})
    assert other.status_code == 200


def test_embed_script_goes_out_gzipped_to_browsers_that_accept_it(widget: WidgetApi) -> None:
    from pathlib import Path

    source = (Path(__file__).resolve().parents[2] / "bot" / "widget" / "static" / "embed.js")
    gzipped = widget.client.get("/widget/embed.js", headers={"Accept-Encoding": "gzip, br"})
    assert gzipped.headers["content-encoding"] == "gzip"
    assert int(gzipped.headers["content-length"]) < 20_000  # what the site's visitors download
    assert gzipped.content == source.read_bytes()  # (the client unzipped it)
    assert gzipped.headers["vary"] == "Accept-Encoding"
    for refused in ("identity", "gzip;q=0, identity", ""):
        plain = widget.client.get("/widget/embed.js", headers={"Accept-Encoding": refused})
        assert "content-encoding" not in plain.headers, refused
        assert plain.content == source.read_bytes()
    # each variant has its own ETag: a cache never answers 304 for the other one
    assert gzipped.headers["etag"] != plain.headers["etag"]
    stale = widget.client.get("/widget/embed.js", headers={
        "Accept-Encoding": "gzip", "If-None-Match": plain.headers["etag"]})
    assert stale.status_code == 200


def test_head_requests_for_the_pages(widget: WidgetApi) -> None:
    for path in ("/", "/widget/embed.js"):
        head = widget.client.head(path)
        assert head.status_code == 200, path
        assert head.content == b""


# --- re-sent messages (message_id) -----------------------------------------------------------


KNOWN_CONTACT = dict(zip(("name", "email", "company"), CONTACT, strict=True))


def answers_of(db: Session, chat: Chat) -> list[tuple[str, str]]:
    conversation = conversation_of(db, chat)
    rows = db.scalars(
        select(Answer).where(Answer.conversation_id == conversation.id).order_by(Answer.id)
    ).all()
    return [(a.question_id, a.raw_text) for a in rows]


def test_a_resent_message_is_stored_once_and_gets_the_current_question(
    widget: WidgetApi, db_session: Session
) -> None:
    """The browser re-sends a message whose response was lost: the answer must not become
    the answer to the next question."""
    chat = widget.start(contact=KNOWN_CONTACT, consent=True)
    first = chat.send({"choice": "allocated", "message_id": "m-1"})
    assert first.status_code == 200, first.text
    asked = first.json()["messages"][-1]
    assert asked["question"]["criterion"] == "budget" and asked["question"]["type"] == "money"

    again = chat.send({"choice": "allocated", "message_id": "m-1"})
    assert again.status_code == 200, again.text
    assert again.json()["done"] is False
    assert again.json()["messages"][-1] == asked  # the question now asked, asked again

    typed = chat.send({"text": "about $80k a year", "message_id": "m-2"})
    assert typed.status_code == 200
    for _ in range(2):
        assert chat.send({"text": "about $80k a year", "message_id": "m-2"}).status_code == 200
    stored = answers_of(db_session, chat)
    assert [q for q, _ in stored if q.startswith("budget")] == ["budget", "budget_amount"]
    assert conversation_of(db_session, chat).state == "authority"


def test_message_ids_are_per_session(widget: WidgetApi, db_session: Session) -> None:
    contact = KNOWN_CONTACT
    one = widget.start(contact=contact, consent=True)
    other = widget.start(contact={**contact, "email": "other@acme.example"}, consent=True)
    for chat in (one, other):
        response = chat.send({"choice": "planned", "message_id": "same-id"})
        assert response.status_code == 200, response.text
    assert conversation_of(db_session, one).state == "budget_amount"
    assert conversation_of(db_session, other).state == "budget_amount"


def test_a_resent_last_message_gets_the_closing_message_not_409(
    widget: WidgetApi, db_session: Session
) -> None:
    chat = widget.start(contact=KNOWN_CONTACT, consent=True)
    last: Any = None
    for number, answer in enumerate(QUALIFYING):
        body = {"choice": answer[1]} if isinstance(answer, tuple) else {"text": answer}
        last = chat.send({**body, "message_id": f"m{number}"})
        assert last.status_code == 200, last.text
    assert last.json()["done"] is True
    closing = last.json()["messages"][-1]

    again = chat.send({"text": QUALIFYING[-1], "message_id": f"m{len(QUALIFYING) - 1}"})
    assert again.status_code == 200, again.text
    assert again.json()["done"] is True and again.json()["messages"][-1] == closing
    conversation = conversation_of(db_session, chat)
    assert count(db_session, Score) == 1
    assert len(handoffs(db_session, conversation.lead_id)) == 1
    # A new message (another id) after the end is still refused.
    late = chat.send({"text": "one more thing", "message_id": "m-late"})
    assert late.status_code == 409 and error_of(late)["code"] == "conversation_closed"


@pytest.mark.parametrize("message_id", ["", "x" * 65, "has space", "é", "a/b", "<script>"])
def test_bad_message_ids_are_422(widget: WidgetApi, message_id: str) -> None:
    chat = widget.start()
    response = chat.send({"text": "Dana Lee", "message_id": message_id})
    assert response.status_code == 422 and error_of(response)["code"] == "invalid_request"
    assert "message_id" in error_of(response)["message"]


def test_openapi_documents_message_id(widget: WidgetApi) -> None:
    schema = widget.client.get("/openapi.json").json()
    field = schema["components"]["schemas"]["MessageIn"]["properties"]["message_id"]
    assert "again" in field["description"]
    assert any(s.get("maxLength") == 64 for s in [field, *field.get("anyOf", [])])
