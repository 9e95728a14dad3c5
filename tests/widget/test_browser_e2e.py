"""The whole prospect experience in a real browser against the real server.

`qualibot serve`'s app under uvicorn on 127.0.0.1 (a temporary SQLite file,
`QUALIBOT_HANDOFF_CHANNEL` set), Debian's headless Chromium driven by Playwright: open the demo
page, qualify with BANT by clicking and typing (one answer carries `<!channel>` and a
`<script>`), refresh half-way and go on, and check that exactly one handoff is queued for
Slack, marked `widget`, with the answers as typed. Also refreshes `docs/widget.png`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.runtime import Runtime
from bot.slack.app import build_slack
from storage.models import Conversation, EngagementEvent, Lead, OutboxMessage, WidgetSession
from tests.browser import INPUT, LAUNCHER, W, in_shadow, messages, wait_for_bot
from tests.fakeslack import FakeSlack

from .live import HANDOFF_CHANNEL, LiveServer, live_server

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "widget.png"
# Typed over two lines (Shift+Enter), as a prospect describing their need might.
INJECTION = "Our reps lose 10 hours a week on reports\n<!channel> <script>alert(1)</script>"

def type_answer(page: Any, text: str, then: str) -> None:
    page.locator(INPUT).fill(text)
    page.locator(INPUT).press("Enter")
    wait_for_bot(page, then)


def click_chip(page: Any, label: str, then: str) -> None:
    page.locator(f"{W} .choices button", has_text=label).click()
    wait_for_bot(page, then)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack
) -> Iterator[LiveServer]:
    """The server as `qualibot serve` runs it, with Slack on (a fake Slack on loopback): the
    outbox dispatcher delivers handoff notices while the browser test runs."""
    env = {
        "SLACK_API_URL": fake_slack.api_url,
        "SLACK_BOT_TOKEN": fake_slack.bot_token,
        "SLACK_SIGNING_SECRET": "widget-e2e-signing-secret",
    }

    def slack_stack(runtime: Runtime) -> list[Any]:
        stack = build_slack(runtime)
        assert stack is not None, "Slack should be on in this test"
        return [stack]

    with live_server(tmp_path, monkeypatch, env=env, background=slack_stack) as server:
        yield server


def count(live: LiveServer, model: Any) -> int:
    with live.runtime.sessions() as db:
        return len(db.scalars(select(model.id)).all())


def page_views(live: LiveServer) -> int:
    with live.runtime.sessions() as db:
        stmt = select(EngagementEvent.id).where(EngagementEvent.event == "page_view")
        return len(db.scalars(stmt).all())


def handoff_rows(live: LiveServer, lead_id: int) -> list[OutboxMessage]:
    with live.runtime.sessions() as db:
        rows = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "handoff")).all()
        return [r for r in rows if r.payload["lead"]["id"] == lead_id]


def assert_handed_off(live: LiveServer, lead_id: int, typed: dict[str, str]) -> OutboxMessage:
    """Exactly one handoff row for the lead, for the sales channel, marked widget, answers as
    typed (what Slack then receives is checked against the fake Slack)."""
    [row] = handoff_rows(live, lead_id)
    assert row.channel == "slack" and row.lane == HANDOFF_CHANNEL
    payload = row.payload
    assert payload["lead"]["source"] == "widget"
    assert payload["score"]["verdict"] == "qualified"
    raw = {a["question_id"]: a["raw"] for a in payload["answers"]}
    for question_id, text in typed.items():
        assert raw[question_id] == text, question_id
    return row


def test_prospect_qualifies_in_the_browser(
    live: LiveServer, new_page: Any, fake_slack: FakeSlack
) -> None:
    page = new_page()
    page.goto(live.url + "/")
    assert page.evaluate("document.querySelectorAll('script').length") == 1
    page.locator(LAUNCHER).click()
    page.get_by_role("dialog", name="Chat with us").wait_for()
    wait_for_bot(page, "what's your name?")
    # Opening the chat stores nothing: the first answer starts the conversation.
    assert [count(live, m) for m in (WidgetSession, Conversation, Lead)] == [0, 0, 0]

    type_answer(page, "Dana Lee", then="work email address")
    type_answer(page, "dana@acme.example", then="Which company do you work for?")
    type_answer(page, "Acme Logistics", then="May we store your answers")
    click_chip(page, "Yes", then="Do you have budget set aside")
    chips = page.locator(f"{W} .choices button").all_inner_texts()
    assert chips == [
        "Yes – budget is allocated",
        "Being planned – in the next budget cycle or awaiting sign-off",
        "No budget yet",
    ]
    # The open widget talking to the real back end, for the docs.
    page.mouse.move(5, 790)  # no hover effect on a chip
    page.wait_for_timeout(300)  # let the open animation settle
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))

    click_chip(page, "Yes – budget is allocated", then="Roughly how much is the budget?")
    with live.runtime.sessions() as db:
        stored = db.scalars(select(WidgetSession)).one()
        conversation = db.get(Conversation, stored.conversation_id)
        assert conversation is not None and conversation.state == "budget_amount"
    assert page.locator(f"{W} .code strong").inner_text() == stored.resume_code

    # Refresh half-way: the panel comes back open with the conversation from the server.
    before = messages(page)
    page.reload()
    page.get_by_role("dialog", name="Chat with us").wait_for()
    wait_for_bot(page, "Roughly how much is the budget?")
    assert messages(page) == before
    with live.runtime.sessions() as db:
        assert len(db.scalars(select(WidgetSession)).all()) == 1  # the same session
    wait_until(lambda: page_views(live) == 2)  # one per page load, sent by the script

    type_answer(page, "about $80k a year", then="What's your role")
    type_answer(page, "I'm the CFO and I sign the contract", then="What problem are you hoping")
    first_line, second_line = INJECTION.split("\n")
    page.locator(INPUT).fill(first_line)
    page.locator(INPUT).press("Shift+Enter")
    page.keyboard.type(second_line)
    page.keyboard.press("Enter")
    wait_for_bot(page, "When would you like to have a solution in place?")
    # The lines show in the visitor's bubble and in the bot's read-back, as text.
    assert messages(page)[-3:-1] == [("visitor", INJECTION), ("bot", f"Need: {INJECTION}")]
    # innerText is the text as rendered: a line break in it is one that shows
    visitor, readback = in_shadow(
        page, "[...root.querySelectorAll('.bubble')].slice(-3, -1).map(b => b.innerText)")
    assert visitor.endswith(f"\n{INJECTION}") and readback.endswith(f"\nNeed: {INJECTION}")
    type_answer(page, "this quarter", then="Someone from our sales team will reach out")

    # The end: a closing message for a qualified prospect, no score, no rep summary.
    shown = messages(page)
    assert ("visitor", INJECTION) in shown
    assert not any("score" in text.lower() or "/100" in text for _, text in shown)
    assert page.locator(f"{W} .composer").is_hidden()
    assert page.get_by_role("button", name="Start over").is_visible()
    # The markup stayed text: no new elements, no alert (a dialog would fail the test).
    assert in_shadow(page, "root.querySelectorAll('script, img').length") == 0
    assert page.evaluate("document.querySelectorAll('script').length") == 1

    with live.runtime.sessions() as db:
        lead = db.get(Lead, conversation.lead_id)
        assert lead is not None and lead.verdict == "qualified" and lead.source == "widget"
        assert lead.engagement_score == 4  # two page views (one per page load)
        lead_id = lead.id
    row = assert_handed_off(
        live,
        lead_id,
        {
            "name": "Dana Lee",
            "email": "dana@acme.example",
            "company": "Acme Logistics",
            "consent": "Yes",
            "budget": "Yes – budget is allocated",
            "budget_amount": "about $80k a year",
            "authority": "I'm the CFO and I sign the contract",
            "need": INJECTION,
            "timeline": "this quarter",
        },
    )
    assert row.payload["lead"]["engagement_score"] == 4

    # Slack received exactly one notice, with the prospect's text escaped: no live
    # <!channel>, no markup.
    wait_until(lambda: len(fake_slack.messages(HANDOFF_CHANNEL)) >= 1)
    time.sleep(0.5)  # a second notice, if there were one, would have been sent by now
    [notice] = fake_slack.messages(HANDOFF_CHANNEL)
    posted = json.dumps(notice)
    assert "website widget" in posted and "Acme Logistics" in posted
    assert "&lt;!channel&gt;" in posted and "&lt;script&gt;" in posted
    assert "<!channel>" not in posted and "<script>" not in posted
    assert not page.errors


def test_resume_on_another_device(live: LiveServer, new_page: Any) -> None:
    laptop = new_page()
    laptop.goto(live.url + "/")
    laptop.locator(LAUNCHER).click()
    wait_for_bot(laptop, "what's your name?")
    type_answer(laptop, "Sam Roe", then="work email address")
    code = laptop.locator(f"{W} .code strong").inner_text()

    phone = new_page(viewport={"width": 390, "height": 780})
    phone.goto(live.url + "/")
    phone.locator(LAUNCHER).click()
    wait_for_bot(phone, "what's your name?")
    phone.get_by_role("button", name="Continue a conversation from another device").click()
    phone.locator(f"{W} #qb-code").fill(code.lower())
    phone.get_by_role("button", name="Resume", exact=True).click()
    phone.locator(f"{W} .msg.visitor .bubble", has_text="Sam Roe").wait_for()
    assert messages(phone) == messages(laptop)
    # Opening the chat and resuming created no session, conversation or lead of its own.
    assert [count(live, m) for m in (WidgetSession, Conversation, Lead)] == [1, 1, 1]
    type_answer(phone, "sam@roe.example", then="Which company do you work for?")
    with live.runtime.sessions() as db:
        conversation = db.scalars(
            select(Conversation).where(Conversation.state == "company")
        ).one()
        lead = db.get(Lead, conversation.lead_id)
        assert lead is not None and lead.contact_email == "sam@roe.example"
