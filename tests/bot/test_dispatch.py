"""The outbox dispatcher against the fake Slack over real HTTP: what Slack received.

Runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL. The tests drive `run_once()` with
a clock they move (no sleeping, no timing assertions); one test runs the background thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from click.testing import CliRunner
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from sqlalchemy import Engine, delete, text
from sqlalchemy.orm import Session, sessionmaker

import bot.cli
from bot.handoff.routing import HandoffRouter
from bot.registry import FlowRegistry
from bot.service import QualificationService
from bot.slack.clients import SlackClients, normalize_api_url
from bot.slack.dispatch import EVENT_TYPE, OutboxDispatcher
from bot.slack.ids import ActionId
from bot.slack.render import LIMITS, check_limits
from flows.definitions import load_frameworks
from storage.db import make_session_factory
from storage.models import OutboxMessage
from tests.bot.dispatchkit import (
    HOSTILE,
    HOSTILE_ESCAPED,
    TEAM,
    FakeClock,
    blocks_by_id,
    drain,
    enqueue,
    handoff_payload,
    make_dispatcher,
    mrkdwn_texts,
    row,
    rows,
)
from tests.fakeslack import FakeSlack, Workspace

dm_channel = FakeSlack.dm_channel

REP = "U0REP0001"
BANT_QUALIFIED = ["allocated", "about $80k a year", "I'm the CFO and I sign the contract",
                  "Our reps lose 10 hours a week to manual reporting", "this quarter"]


@pytest.fixture(scope="module")
def flows() -> FlowRegistry:
    return FlowRegistry(load_frameworks())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def dispatcher(
    session_factory: sessionmaker[Session], fake_slack: FakeSlack, clock: FakeClock
) -> OutboxDispatcher:
    return make_dispatcher(session_factory, fake_slack, clock)


@pytest.fixture
def service(session_factory: sessionmaker[Session], flows: FlowRegistry) -> QualificationService:
    return QualificationService(session_factory, flows,
                                router=HandoffRouter(default_channel="C0SALES"))


def start(service: QualificationService, company: str = "Acme") -> int:
    result = service.start(framework="bant", company=company, channel="slack",
                           participant=REP, team_id=TEAM)
    return result.conversation_id


def posts(fake: FakeSlack, channel: str | None = None) -> list[dict[str, Any]]:
    """Successful chat.postMessage calls' arguments (to one channel, or all)."""
    return [c.args for c in fake.calls("chat.postMessage")
            if c.ok and (channel is None or (c.response or {}).get("channel") == channel)]


def assert_safe(message: dict[str, Any]) -> None:
    for text_ in mrkdwn_texts(message):
        for live in ("<!", "<@U1>", "<http"):
            assert live not in text_, text_


# -- replies ----------------------------------------------------------------------------------


def test_reply_posts_the_question_with_its_buttons(
    service: QualificationService, dispatcher: OutboxDispatcher, fake_slack: FakeSlack,
    session_factory: sessionmaker[Session],
) -> None:
    conversation_id = start(service)
    assert dispatcher.run_once() == 1

    [opened] = fake_slack.calls("conversations.open")
    assert opened.args["users"] == REP
    [post] = fake_slack.calls("chat.postMessage")
    assert post.response is not None and post.response["channel"] == dm_channel(REP)
    args = post.args
    assert args["unfurl_links"] is False and args["unfurl_media"] is False
    assert "link_names" not in args
    [reply] = rows(session_factory, "reply")
    assert args["metadata"] == {"event_type": EVENT_TYPE,
                                "event_payload": {"outbox_id": reply.id}}
    blocks = blocks_by_id(args)
    assert blocks["question:budget"]["text"]["text"].startswith("Does Acme have budget")
    choices = blocks[f"answer_choices|{conversation_id}|budget|1"]["elements"]
    assert [b["action_id"] for b in choices] == [
        "answer_choice:allocated", "answer_choice:planned", "answer_choice:none"]
    nav = blocks[f"question_nav|{conversation_id}|budget|1"]["elements"]
    assert [b["action_id"] for b in nav] == ["skip", "cancel"]  # no Back on the first
    check_limits({"text": args["text"], "blocks": args["blocks"]})

    done = row(session_factory, reply.id)
    assert done.status == "sent" and done.attempts == 1
    assert done.result == {"channel": dm_channel(REP), "ts": post.response["ts"]}


def test_reply_combines_readback_and_next_question_in_one_message(
    service: QualificationService, dispatcher: OutboxDispatcher, fake_slack: FakeSlack,
    clock: FakeClock,
) -> None:
    conversation_id = start(service)
    service.answer(conversation_id, "allocated", by=REP)
    drain(dispatcher, clock)
    _first, second = posts(fake_slack)
    blocks = second["blocks"]
    assert blocks[0]["text"]["text"] == "✓ Budget: Yes – budget is allocated"
    ids = [b.get("block_id") for b in blocks]
    assert "question:budget" in ids  # the follow-up (amount) belongs to the budget criterion
    nav = blocks_by_id(second)[f"question_nav|{conversation_id}|budget_amount|2"]
    assert [b["action_id"] for b in nav["elements"]] == ["back", "skip", "cancel"]
    assert second["text"].startswith("Budget: Yes")


def test_the_dm_channel_is_opened_once_per_rep(
    service: QualificationService, dispatcher: OutboxDispatcher, fake_slack: FakeSlack,
    clock: FakeClock,
) -> None:
    conversation_id = start(service)
    service.answer(conversation_id, "allocated", by=REP)
    start(service, company="Globex")
    drain(dispatcher, clock)
    assert len(posts(fake_slack, dm_channel(REP))) == 3
    assert len(fake_slack.calls("conversations.open")) == 1


def test_reply_escapes_everything_a_person_typed(
    service: QualificationService, dispatcher: OutboxDispatcher, fake_slack: FakeSlack,
    clock: FakeClock,
) -> None:
    conversation_id = start(service, company=HOSTILE)
    service.answer(conversation_id, "allocated", by=REP)
    service.answer(conversation_id, f"{HOSTILE} no idea", by=REP)  # unreadable: a hint
    drain(dispatcher, clock)
    for message in posts(fake_slack):
        assert_safe(message)
    first = posts(fake_slack)[0]
    assert HOSTILE_ESCAPED in blocks_by_id(first)["question:budget"]["text"]["text"]
    assert HOSTILE_ESCAPED in first["text"]
    context = blocks_by_id(first)["question_context"]["elements"][0]["text"]
    assert HOSTILE_ESCAPED in context


def test_summary_ends_the_last_reply(
    service: QualificationService, dispatcher: OutboxDispatcher, fake_slack: FakeSlack,
    clock: FakeClock,
) -> None:
    conversation_id = start(service)
    for answer in BANT_QUALIFIED:
        service.answer(conversation_id, answer, by=REP)
    drain(dispatcher, clock)
    last = posts(fake_slack, dm_channel(REP))[-1]
    blocks = blocks_by_id(last)
    assert blocks["reply_summary"]["text"]["text"].startswith("*Qualified* — score *")
    assert "question:timeline" not in blocks
    reasons = last["blocks"][-1]["text"]["text"]
    assert "BANT score" in reasons and "Budget 25/25" in reasons
    assert "Qualified — score" in last["text"]


# -- handoff notices --------------------------------------------------------------------------


def test_handoff_notice_shows_the_lead_and_the_answers_as_given(
    service: QualificationService, dispatcher: OutboxDispatcher, fake_slack: FakeSlack,
    clock: FakeClock, session_factory: sessionmaker[Session],
) -> None:
    conversation_id = start(service)
    for answer in BANT_QUALIFIED:
        service.answer(conversation_id, answer, by=REP)
    drain(dispatcher, clock)

    [notice] = posts(fake_slack, "C0SALES")
    blocks = blocks_by_id(notice)
    assert blocks["handoff_header"]["text"]["text"] == "Acme"
    fields = [f["text"] for f in blocks["handoff_summary"]["fields"]]
    assert "*Framework*\nBANT" in fields and "*Verdict*\nQualified" in fields
    assert "*Score*\n100 / 100" in fields
    # a rep's lead has no engagement score (the widget's page views and events make one)
    assert not any(f.startswith("*Engagement*") for f in fields)
    budget = blocks["handoff_criterion:budget"]["text"]["text"]
    assert "> allocated" in budget and "*Budget amount*\n> about $80k a year" in budget
    assert "> I'm the CFO and I sign the contract" in (
        blocks["handoff_criterion:authority"]["text"]["text"])
    assert blocks["handoff_source"]["elements"][0]["text"].startswith("Source: Slack (rep)")
    assert [b["action_id"] for b in blocks["handoff_actions"]["elements"]] == [
        "claim", "nurture", "disqualify", "view_answers"]
    assert "Source: Slack (rep)" in notice["text"] and "Qualified lead: Acme" in notice["text"]
    [handoff] = rows(session_factory, "handoff")
    assert handoff.status == "sent"
    assert handoff.result == {"channel": "C0SALES",
                              "ts": fake_slack.messages("C0SALES")[0]["ts"]}


def test_widget_notice_says_so_and_escapes(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, session_factory: sessionmaker[Session],
) -> None:
    answers = [{"question_id": "budget", "raw": HOSTILE, "readback": HOSTILE,
                "status": "answered"}]
    payload = handoff_payload(company=HOSTILE, source="widget", answers=answers)
    payload["lead"]["contact_name"] = HOSTILE
    enqueue(session_factory, "handoff", "C0SALES", payload)
    dispatcher.run_once()
    [notice] = posts(fake_slack, "C0SALES")
    assert_safe(notice)
    blocks = blocks_by_id(notice)
    assert "Source: website widget" in blocks["handoff_source"]["elements"][0]["text"]
    assert "Source: website widget" in notice["text"]
    assert HOSTILE_ESCAPED in blocks["handoff_criterion:budget"]["text"]["text"]
    assert HOSTILE_ESCAPED in notice["text"]
    assert blocks["handoff_header"]["text"]["text"] == HOSTILE  # plain_text: shown verbatim


def test_a_10000_character_answer_is_truncated_visibly(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, session_factory: sessionmaker[Session],
) -> None:
    payload = handoff_payload(company="C" * 10_000)
    payload["answers"][0]["raw"] = "a" * 10_000
    message_id = enqueue(session_factory, "handoff", "C0SALES", payload)
    dispatcher.run_once()
    [notice] = posts(fake_slack, "C0SALES")
    check_limits({"text": notice["text"], "blocks": notice["blocks"]})
    budget = blocks_by_id(notice)["handoff_criterion:budget"]["text"]["text"]
    assert len(budget) <= LIMITS["section_text"]
    assert "a" * 900 + "…" in budget
    assert len(notice["text"]) <= LIMITS["fallback_text"]
    assert row(session_factory, message_id).result.get("degraded") is None  # type: ignore[union-attr]


def action_ids(message: dict[str, Any]) -> list[str]:
    actions = blocks_by_id(message).get("handoff_actions") or {"elements": []}
    return [element["action_id"] for element in actions["elements"]]


def test_notice_update_adds_the_status_and_keeps_the_buttons_still_useful(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, clock: FakeClock,
    session_factory: sessionmaker[Session],
) -> None:
    payload = handoff_payload()
    handoff_id = enqueue(session_factory, "handoff", "C0SALES", payload)
    dispatcher.run_once()
    result = row(session_factory, handoff_id).result
    assert result is not None
    update = {"team_id": TEAM, "channel": result["channel"], "ts": result["ts"],
              "handoff": payload, "status": "claimed", "by": "U0REP0002"}
    update_id = enqueue(session_factory, "notice_update", "C0SALES", update)
    clock.advance(2)
    assert dispatcher.run_once() == 1
    [message] = fake_slack.messages("C0SALES")
    blocks = blocks_by_id(message)
    assert blocks["handoff_status"]["text"]["text"] == "Claimed by <@U0REP0002>"
    # claimed: no second claim, but the owner may record the outcome or give it back, and
    # the lead may still go to nurture or be disqualified
    assert action_ids(message) == [
        ActionId.WON, ActionId.LOST, ActionId.NURTURE, ActionId.DISQUALIFY, ActionId.RELEASE,
        ActionId.VIEW_ANSWERS]
    assert "*Owner*\n<@U0REP0002>" in [f["text"] for f in blocks["handoff_summary"]["fields"]]
    assert "Claimed by <@U0REP0002>" in message["text"]
    assert row(session_factory, update_id).status == "sent"

    nurture = {**update, "status": "nurture", "by": "U0REP0003", "reason": HOSTILE}
    enqueue(session_factory, "notice_update", "C0SALES", nurture)
    clock.advance(2)
    dispatcher.run_once()
    [message] = fake_slack.messages("C0SALES")
    status = blocks_by_id(message)["handoff_status"]["text"]["text"]
    assert status == f"Moved to nurture by <@U0REP0003>: {HOSTILE_ESCAPED}"
    # decided: the answers stay at hand, and the decision can be undone
    assert action_ids(message) == [ActionId.VIEW_ANSWERS, ActionId.REOPEN]
    assert len(fake_slack.calls("chat.postMessage")) == 1  # updated in place


def test_notice_buttons_name_the_notice(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, clock: FakeClock,
    session_factory: sessionmaker[Session],
) -> None:
    payload = handoff_payload()
    payload["lead"]["owner"] = "U0REP0002"  # assigned by a routing rule when posted
    handoff_id = enqueue(session_factory, "handoff", "C0SALES", payload)
    dispatcher.run_once()
    [message] = fake_slack.messages("C0SALES")
    values = {b["value"] for b in blocks_by_id(message)["handoff_actions"]["elements"]}
    assert values == {f"7:{handoff_id}"}  # the lead, and the notice's own outbox row
    result = row(session_factory, handoff_id).result
    assert result is not None
    decided = {"team_id": TEAM, "channel": result["channel"], "ts": result["ts"],
               "handoff": payload, "notice_id": handoff_id, "status": "nurture",
               "by": "U0REP0003", "owner": None, "reason": "later"}
    enqueue(session_factory, "notice_update", "C0SALES", decided)
    clock.advance(2)
    dispatcher.run_once()
    [message] = fake_slack.messages("C0SALES")
    blocks = blocks_by_id(message)
    assert {b["value"] for b in blocks["handoff_actions"]["elements"]} == {f"7:{handoff_id}"}
    # the owner now (nobody), not the one it was posted with
    assert not any(f["text"].startswith("*Owner*") for f in blocks["handoff_summary"]["fields"])


def test_a_step_back_is_a_dated_context_line_under_the_usual_form(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, clock: FakeClock,
    session_factory: sessionmaker[Session],
) -> None:
    payload = handoff_payload()
    payload["lead"]["owner"] = "U0REP0002"  # assigned by a routing rule when posted
    handoff_id = enqueue(session_factory, "handoff", "C0SALES", payload)
    dispatcher.run_once()
    result = row(session_factory, handoff_id).result
    assert result is not None
    released = {"team_id": TEAM, "channel": result["channel"], "ts": result["ts"],
                "handoff": payload, "notice_id": handoff_id, "status": "released",
                "by": "U0REP0002", "owner": None, "at": "2026-03-05T14:03:00+00:00"}
    enqueue(session_factory, "notice_update", "C0SALES", released)
    clock.advance(2)
    dispatcher.run_once()
    [message] = fake_slack.messages("C0SALES")
    blocks = blocks_by_id(message)
    note = blocks["handoff_status"]
    assert note["type"] == "context"
    assert note["elements"][0]["text"] == (
        "Released by <@U0REP0002> at <!date^1772719380^{time}, {date_short_pretty}"
        "|14:03 UTC, 2026-03-05>")
    assert action_ids(message) == [  # unclaimed again, and nobody is shown as its owner
        ActionId.CLAIM, ActionId.NURTURE, ActionId.DISQUALIFY, ActionId.VIEW_ANSWERS]
    assert not any(f["text"].startswith("*Owner*") for f in blocks["handoff_summary"]["fields"])
    assert {b["value"] for b in blocks["handoff_actions"]["elements"]} == {f"7:{handoff_id}"}
    assert "Released by <@U0REP0002>" in message["text"]
    check_limits({"text": message["text"], "blocks": message["blocks"]})

    reopened = {**released, "status": "reopened", "by": "U0REP0003", "owner": "U0REP0002",
                "was": {"status": "disqualified", "reason": HOSTILE}}
    enqueue(session_factory, "notice_update", "C0SALES", reopened)
    clock.advance(2)
    dispatcher.run_once()
    [message] = fake_slack.messages("C0SALES")
    blocks = blocks_by_id(message)
    assert blocks["handoff_status"]["elements"][0]["text"].startswith(
        "Re-opened by <@U0REP0003> at <!date^1772719380^")
    assert blocks["handoff_status"]["elements"][0]["text"].endswith(
        f"(it was disqualified: {HOSTILE_ESCAPED})")
    assert action_ids(message) == [  # it has an owner: the claimed form
        ActionId.WON, ActionId.LOST, ActionId.NURTURE, ActionId.DISQUALIFY, ActionId.RELEASE,
        ActionId.VIEW_ANSWERS]
    assert "*Owner*\n<@U0REP0002>" in [f["text"] for f in blocks["handoff_summary"]["fields"]]
    check_limits({"text": message["text"], "blocks": message["blocks"]})
    assert len(fake_slack.calls("chat.postMessage")) == 1  # updated in place


def test_dm_ephemeral_and_api_rows(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, session_factory: sessionmaker[Session],
) -> None:
    dm = enqueue(session_factory, "dm", f"dm:{REP}",
                 {"team_id": TEAM, "user": REP, "text": "You have a new lead"})
    eph = enqueue(session_factory, "ephemeral", "dm:U0REP0002",
                  {"team_id": TEAM, "channel": "C0SALES", "user": "U0REP0002",
                   "text": "Already claimed"})
    home = {"type": "home", "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Your leads"}}]}
    api = enqueue(session_factory, "api", "home:U0REP0003",
                  {"team_id": TEAM, "method": "views.publish",
                   "args": {"user_id": "U0REP0003", "view": home}})
    assert dispatcher.run_once() == 3
    [message] = fake_slack.messages(dm_channel(REP))
    assert message["text"] == "You have a new lead"
    assert message["metadata"]["event_payload"] == {"outbox_id": dm}
    [ephemeral] = fake_slack.ephemeral_messages()
    assert ephemeral["user"] == "U0REP0002" and ephemeral["text"] == "Already claimed"
    published = fake_slack.home_view("U0REP0003")
    assert published is not None and published["blocks"] == home["blocks"]
    assert all(row(session_factory, i).status == "sent" for i in (dm, eph, api))
    assert row(session_factory, api).result["view_id"] == published["id"]  # type: ignore[index]


def test_chat_delete_of_a_message_already_gone_is_done_other_refusals_fail(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, clock: FakeClock,
    session_factory: sessionmaker[Session],
) -> None:
    posted = enqueue(session_factory, "dm", f"dm:{REP}",
                     {"team_id": TEAM, "user": REP, "text": "About to go"})
    assert dispatcher.run_once() == 1
    ts = row(session_factory, posted).result["ts"]  # type: ignore[index]
    fake_slack.add_message("C0SALES", "a person's message", ts="1700000000.000100")
    args = [{"channel": dm_channel(REP), "ts": ts},
            {"channel": dm_channel(REP), "ts": ts},  # again: gone by now
            {"channel": "C0SALES", "ts": "1700000000.000100"}]  # not the bot's
    ids = [enqueue(session_factory, "api", "deletions",  # one lane: in this order
                   {"team_id": TEAM, "method": "chat.delete", "args": a}) for a in args]
    assert drain(dispatcher, clock) == 3
    assert fake_slack.messages(dm_channel(REP)) == []
    first, again, refused = (row(session_factory, i) for i in ids)
    assert first.status == "sent" and first.result == {
        "method": "chat.delete", "channel": dm_channel(REP), "ts": ts}
    assert again.status == "sent" and again.result == {
        "method": "chat.delete", "channel": dm_channel(REP), "ts": ts, "already_deleted": True}
    assert refused.status == "failed" and refused.last_error == "cant_delete_message"


# -- failures ---------------------------------------------------------------------------------


def test_429_waits_for_retry_after_then_posts_once(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, clock: FakeClock,
    session_factory: sessionmaker[Session],
) -> None:
    fake_slack.rate_limit("chat.postMessage", retry_after=3)
    message_id = enqueue(session_factory, "handoff", "C0SALES", handoff_payload())
    assert dispatcher.run_once() == 1
    waiting = row(session_factory, message_id)
    assert waiting.status == "pending" and "ratelimited" in (waiting.last_error or "")
    wait = (waiting.next_attempt_at - clock.now()).total_seconds()
    assert 2.5 < wait <= 3
    clock.advance(2)
    assert dispatcher.run_once() == 0  # not before Retry-After
    clock.advance(1.1)
    assert dispatcher.run_once() == 1
    assert len(fake_slack.messages("C0SALES")) == 1
    sent = row(session_factory, message_id)
    assert sent.status == "sent" and sent.attempts == 2
    assert not fake_slack.calls("conversations.history")  # a 429 is a clear "no"


@pytest.mark.parametrize("statuses", [[500], [503, 502]])
def test_5xx_is_retried_then_delivered_once(
    statuses: list[int], dispatcher: OutboxDispatcher, fake_slack: FakeSlack, clock: FakeClock,
    session_factory: sessionmaker[Session],
) -> None:
    for status in statuses:
        fake_slack.http_error("chat.postMessage", status)
    message_id = enqueue(session_factory, "handoff", "C0SALES", handoff_payload())
    drain(dispatcher, clock, step=30)
    assert len(fake_slack.messages("C0SALES")) == 1
    sent = row(session_factory, message_id)
    assert sent.status == "sent" and sent.attempts == len(statuses) + 1
    # Slack may have posted before failing: it looked before posting again
    assert len(fake_slack.calls("conversations.history")) == len(statuses)


def test_backoff_grows_and_gives_up_after_the_cap(
    fake_slack: FakeSlack, clock: FakeClock, session_factory: sessionmaker[Session],
) -> None:
    dispatcher = make_dispatcher(session_factory, fake_slack, clock, max_attempts=3,
                                 uncertain_delay=0, base_backoff=2)
    fake_slack.http_error("chat.postMessage", 503, times=5)
    message_id = enqueue(session_factory, "handoff", "C0SALES", handoff_payload())
    delays = []
    for _ in range(3):
        before = clock.now()
        assert dispatcher.run_once() == 1
        current = row(session_factory, message_id)
        if current.status == "failed":
            break
        delays.append(round((current.next_attempt_at - before).total_seconds()))
        clock.advance(max(delays[-1], dispatcher.lane_interval) + 0.1)
    assert delays == [1, 2]  # 2 s and 4 s halved by the (zero) jitter
    failed = row(session_factory, message_id)
    assert failed.status == "failed" and failed.last_error is not None
    assert failed.last_error.startswith("gave up after 3 attempts: HTTP 503")
    assert not fake_slack.messages("C0SALES")


@pytest.mark.parametrize("kind", ["handoff", "reply"])
def test_connection_dropped_after_slack_posted_is_reconciled(
    kind: str, dispatcher: OutboxDispatcher, fake_slack: FakeSlack, clock: FakeClock,
    session_factory: sessionmaker[Session], service: QualificationService,
) -> None:
    fake_slack.drop_after_accept("chat.postMessage")
    if kind == "handoff":
        message_id = enqueue(session_factory, kind, "C0SALES", handoff_payload())
        channel = "C0SALES"
    else:
        start(service)
        message_id = rows(session_factory, "reply")[0].id
        channel = dm_channel(REP)
    assert dispatcher.run_once() == 1
    uncertain = row(session_factory, message_id)
    assert uncertain.status == "pending" and "uncertain" in (uncertain.result or {})
    drain(dispatcher, clock, step=30)

    assert len(fake_slack.messages(channel)) == 1
    assert len(fake_slack.calls("chat.postMessage")) == 1  # never posted again
    [history] = fake_slack.calls("conversations.history")
    assert history.args["include_all_metadata"] in (True, "true", "1")
    sent = row(session_factory, message_id)
    assert sent.status == "sent"
    assert sent.result == {"channel": channel, "ts": fake_slack.messages(channel)[0]["ts"],
                           "reconciled": True}


def test_timeout_after_slack_posted_is_reconciled(
    fake_slack: FakeSlack, clock: FakeClock, session_factory: sessionmaker[Session],
) -> None:
    dispatcher = make_dispatcher(session_factory, fake_slack, clock, timeout=1)
    fake_slack.slow("chat.postMessage", 1.6)
    message_id = enqueue(session_factory, "handoff", "C0SALES", handoff_payload())
    assert dispatcher.run_once() == 1
    assert "TimeoutError" in (row(session_factory, message_id).last_error or "")
    fake_slack.wait_for("chat.postMessage")  # the slow post lands after the client gave up
    drain(dispatcher, clock, step=30)
    assert len(fake_slack.messages("C0SALES")) == 1
    assert row(session_factory, message_id).result["reconciled"] is True  # type: ignore[index]


def test_connection_dropped_before_slack_posted_is_posted_after_checking(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, clock: FakeClock,
    session_factory: sessionmaker[Session],
) -> None:
    fake_slack.drop_before_accept("chat.postMessage")
    message_id = enqueue(session_factory, "handoff", "C0SALES", handoff_payload())
    drain(dispatcher, clock, step=30)
    assert len(fake_slack.messages("C0SALES")) == 1
    assert len(fake_slack.calls("conversations.history")) == 1
    sent = row(session_factory, message_id)
    assert sent.status == "sent" and "reconciled" not in (sent.result or {})


def test_a_dispatcher_that_died_mid_post_is_reconciled_after_its_lease(
    fake_slack: FakeSlack, clock: FakeClock, session_factory: sessionmaker[Session],
) -> None:
    dead = make_dispatcher(session_factory, fake_slack, clock, lease_seconds=60)
    message_id = enqueue(session_factory, "handoff", "C0SALES", handoff_payload())
    [job] = dead._claim(1)  # claimed, then Slack got the post, then the process died
    dead._deliver(job)
    assert len(fake_slack.messages("C0SALES")) == 1

    other = make_dispatcher(session_factory, fake_slack, clock)
    assert other.run_once() == 0  # leased
    clock.advance(61)
    assert other.run_once() == 1
    assert len(fake_slack.calls("chat.postMessage")) == 1
    assert row(session_factory, message_id).result["reconciled"] is True  # type: ignore[index]


PERMANENT = ["channel_not_found", "not_in_channel", "is_archived", "invalid_auth",
             "token_revoked", "account_inactive", "msg_too_long", "missing_scope",
             "restricted_action"]


@contextmanager
def cli_runtime(session_factory: sessionmaker[Session]) -> Iterator[Any]:
    class _Runtime:
        sessions = session_factory

    yield _Runtime()


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, session_factory: sessionmaker[Session]) -> CliRunner:
    monkeypatch.setattr(bot.cli, "_runtime", lambda **_: cli_runtime(session_factory))
    return CliRunner()


@pytest.mark.parametrize("error", PERMANENT)
def test_permanent_errors_fail_at_once_are_listed_and_can_be_retried(
    error: str, dispatcher: OutboxDispatcher, fake_slack: FakeSlack, clock: FakeClock,
    session_factory: sessionmaker[Session], cli: CliRunner, caplog: pytest.LogCaptureFixture,
) -> None:
    fake_slack.fail("chat.postMessage", error)
    message_id = enqueue(session_factory, "handoff", "C0SALES", handoff_payload())
    assert dispatcher.run_once() == 1
    failed = row(session_factory, message_id)
    assert failed.status == "failed" and failed.attempts == 1
    assert failed.last_error is not None and failed.last_error.startswith(error)
    assert any(r.levelname == "ERROR" and error in r.getMessage() for r in caplog.records)
    clock.advance(3600)
    while dispatcher.run_once():  # (a channel error also tells the rep, by DM)
        clock.advance(2)
    assert row(session_factory, message_id).status == "failed"  # failed stays failed

    listing = cli.invoke(bot.cli.main, ["outbox", "--failed"])
    assert listing.exit_code == 0, listing.output
    line = next(li for li in listing.output.splitlines() if li.strip().startswith(str(message_id)))
    assert "handoff" in line and "C0SALES" in line and error in line
    counts = cli.invoke(bot.cli.main, ["outbox"])
    assert "failed: 1" in counts.output

    retried = cli.invoke(bot.cli.main, ["outbox", "retry", str(message_id)])
    assert retried.exit_code == 0, retried.output
    requeued = row(session_factory, message_id)
    assert requeued.status == "pending" and requeued.attempts == 0
    assert dispatcher.run_once() == 1
    assert row(session_factory, message_id).status == "sent"
    assert len(fake_slack.messages("C0SALES")) == 1


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found", "is_archived"])
def test_a_notice_its_channel_refuses_goes_to_the_default_channel_saying_why(
    fake_slack: FakeSlack, clock: FakeClock, session_factory: sessionmaker[Session],
    cli: CliRunner, error: str,
) -> None:
    # A rule's channel the bot was never invited to: the lead used to reach nobody.
    dispatcher = make_dispatcher(session_factory, fake_slack, clock, fallback_channel="C0SALES")
    fake_slack.set_channel_error("C0EMEA", error)
    refused = enqueue(session_factory, "handoff", "C0EMEA",
                      handoff_payload(channel="C0EMEA", source="widget"))
    while dispatcher.run_once():
        clock.advance(2)
    assert row(session_factory, refused).status == "failed"  # listed, as before
    [notice] = fake_slack.messages("C0SALES")
    rerouted = blocks_by_id(notice)["handoff_rerouted"]["elements"][0]["text"]
    assert rerouted.startswith(":warning: Meant for <#C0EMEA>, but ")
    assert "invite the bot there or fix the routing rule" in rerouted
    assert blocks_by_id(notice)["handoff_header"]["text"]["text"] == "Acme GmbH"

    # retried by hand and refused again: still one notice in the default channel
    assert cli.invoke(bot.cli.main, ["outbox", "retry", str(refused)]).exit_code == 0
    while dispatcher.run_once():
        clock.advance(2)
    assert len(fake_slack.messages("C0SALES")) == 1


def test_a_refused_notice_with_nowhere_else_to_go_is_told_to_the_rep(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, clock: FakeClock,
    session_factory: sessionmaker[Session],
) -> None:
    fake_slack.set_channel_error("C0SALES", "not_in_channel")
    refused = enqueue(session_factory, "handoff", "C0SALES", handoff_payload())  # rep U0REP0001
    while dispatcher.run_once():
        clock.advance(2)
    assert row(session_factory, refused).status == "failed"
    [dm] = posts(fake_slack)
    assert dm["text"] == (
        "The handoff notice for *Acme GmbH* could not be posted to <#C0SALES>: the bot is "
        "not in that channel. Ask whoever runs Qualibot to invite the bot there or change "
        f"the routing; it can then be sent again with `qualibot outbox retry {refused}`."
    )
    [opened] = fake_slack.calls("conversations.open")
    assert opened.args["users"] == "U0REP0001"


def test_a_refused_visitor_notice_without_a_default_channel_only_fails(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, clock: FakeClock,
    session_factory: sessionmaker[Session],
) -> None:
    fake_slack.set_channel_error("C0SALES", "is_archived")
    refused = enqueue(session_factory, "handoff", "C0SALES", handoff_payload(source="widget"))
    while dispatcher.run_once():
        clock.advance(2)
    assert row(session_factory, refused).status == "failed"
    assert not posts(fake_slack)


def test_sticky_channel_error_and_retry_of_sent_or_unknown_rows(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, session_factory: sessionmaker[Session],
    cli: CliRunner,
) -> None:
    fake_slack.set_channel_error("C0OLD", "is_archived")
    old = enqueue(session_factory, "handoff", "C0OLD",
                  handoff_payload(channel="C0OLD", source="widget"))
    ok = enqueue(session_factory, "handoff", "C0SALES", handoff_payload())
    assert dispatcher.run_once() == 2
    assert row(session_factory, old).last_error == "is_archived"
    assert cli.invoke(bot.cli.main, ["outbox", "retry", str(ok)]).exit_code != 0
    missing = cli.invoke(bot.cli.main, ["outbox", "retry", "999999"])
    assert missing.exit_code != 0 and "no outbox message 999999" in missing.output
    assert "pending: 0  sent: 1  failed: 1" in cli.invoke(bot.cli.main, ["outbox"]).output


def test_invalid_blocks_is_sent_once_more_as_plain_text(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_slack.fail("chat.postMessage", "invalid_blocks")
    message_id = enqueue(session_factory, "handoff", "C0SALES", handoff_payload())
    dispatcher.run_once()
    first, second = fake_slack.calls("chat.postMessage")
    assert "blocks" in first.args and "blocks" not in second.args
    [message] = fake_slack.messages("C0SALES")
    assert message["text"].startswith("Qualified lead: Acme GmbH")
    sent = row(session_factory, message_id)
    assert sent.status == "sent" and "invalid_blocks" in sent.result["degraded"]  # type: ignore[index]
    assert any(r.levelname == "ERROR" for r in caplog.records)

    fake_slack.fail("chat.postMessage", "invalid_blocks", times=2)
    twice = enqueue(session_factory, "handoff", "C0OTHER", handoff_payload(channel="C0OTHER"))
    dispatcher.run_once()
    assert row(session_factory, twice).status == "failed"
    assert not fake_slack.messages("C0OTHER")


def test_blocks_over_slacks_limits_are_caught_before_sending(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, session_factory: sessionmaker[Session],
) -> None:
    too_many = [{"type": "divider"}] * 60
    message_id = enqueue(session_factory, "dm", f"dm:{REP}",
                         {"team_id": TEAM, "user": REP, "text": "hi", "blocks": too_many})
    dispatcher.run_once()
    [post] = fake_slack.calls("chat.postMessage")
    assert "blocks" not in post.args and post.ok
    assert "blocks" in row(session_factory, message_id).result["degraded"]  # type: ignore[index]


def test_unknown_workspace_is_failed_not_posted(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, session_factory: sessionmaker[Session],
) -> None:
    message_id = enqueue(session_factory, "handoff", "C0SALES",
                         handoff_payload(team_id="T0NOTOURS"))
    dm = enqueue(session_factory, "dm", "dm:U0X", {"team_id": "T0NOTOURS", "user": "U0X",
                                                   "text": "x"})
    assert dispatcher.run_once() == 2
    for message in (message_id, dm):
        failed = row(session_factory, message)
        assert failed.status == "failed"
        assert "T0NOTOURS is not installed" in (failed.last_error or "")
    assert not fake_slack.calls("chat.postMessage")
    assert not fake_slack.calls("conversations.open")
    assert len(fake_slack.calls("auth.test")) == 1  # learnt once


def test_unknown_kind_and_malformed_payload_fail(
    dispatcher: OutboxDispatcher, session_factory: sessionmaker[Session],
) -> None:
    odd = enqueue(session_factory, "carrier_pigeon", "x", {"team_id": TEAM})
    broken = enqueue(session_factory, "handoff", "C0SALES", {"team_id": TEAM})
    dispatcher.run_once()
    assert "unknown outbox kind" in (row(session_factory, odd).last_error or "")
    assert "cannot render" in (row(session_factory, broken).last_error or "")


def enqueue_ephemeral(sessions: sessionmaker[Session], channel: str, text: str) -> int:
    """An ephemeral notice for rep U0REP0002 in `channel`, queued; its outbox id."""
    return enqueue(sessions, "ephemeral", "dm:U0REP0002",
                   {"team_id": TEAM, "channel": channel, "user": "U0REP0002", "text": text})


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "is_archived"])
def test_an_ephemeral_the_bot_cannot_post_there_goes_as_a_dm(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, session_factory: sessionmaker[Session],
    error: str,
) -> None:
    # e.g. a Resume clicked in a DM between two people, where the bot is not
    fake_slack.fail("chat.postEphemeral", error)
    message_id = enqueue_ephemeral(session_factory, "D0PEOPLE1", "That button is out of date.")
    dispatcher.run_once()
    sent = row(session_factory, message_id)
    assert sent.status == "sent", sent.last_error
    [dm] = posts(fake_slack)
    assert dm["text"] == "That button is out of date."
    [opened] = fake_slack.calls("conversations.open")
    assert opened.args["users"] == "U0REP0002" and dm["channel"] == sent.result["channel"]


def test_an_ephemeral_refused_for_other_reasons_fails_visibly(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, session_factory: sessionmaker[Session],
) -> None:
    fake_slack.fail("chat.postEphemeral", "invalid_auth")
    message_id = enqueue_ephemeral(session_factory, "C0SALES", "Already claimed")
    dispatcher.run_once()
    failed = row(session_factory, message_id)
    assert failed.status == "failed" and "invalid_auth" in (failed.last_error or "")
    assert not posts(fake_slack)


def test_ephemeral_with_unknown_outcome_is_failed_not_repeated(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, session_factory: sessionmaker[Session],
    clock: FakeClock, cli: CliRunner,
) -> None:
    fake_slack.drop_after_accept("chat.postEphemeral")
    message_id = enqueue_ephemeral(session_factory, "C0SALES", "Already claimed")
    dispatcher.run_once()
    failed = row(session_factory, message_id)
    assert failed.status == "failed" and "outcome unknown" in (failed.last_error or "")
    assert len(fake_slack.calls("chat.postEphemeral")) == 1

    assert cli.invoke(bot.cli.main, ["outbox", "retry", str(message_id)]).exit_code == 0
    clock.advance(2)
    dispatcher.run_once()
    assert "cannot be looked up" in (row(session_factory, message_id).last_error or "")
    assert len(fake_slack.calls("chat.postEphemeral")) == 1

    forced = cli.invoke(bot.cli.main, ["outbox", "retry", "--force", str(message_id)])
    assert forced.exit_code == 0, forced.output
    clock.advance(2)
    dispatcher.run_once()
    assert row(session_factory, message_id).status == "sent"
    assert len(fake_slack.ephemeral_messages()) == 2  # shown twice: what --force accepts


# -- lanes and pacing -------------------------------------------------------------------------


def test_a_lane_is_delivered_in_id_order_even_when_its_head_must_wait(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, clock: FakeClock,
    session_factory: sessionmaker[Session],
) -> None:
    fake_slack.rate_limit("chat.postMessage", retry_after=5)
    ids = [enqueue(session_factory, "dm", f"dm:{REP}",
                   {"team_id": TEAM, "user": REP, "text": f"message {i}"}) for i in range(4)]
    assert dispatcher.run_once() == 1  # only the head of the lane: 429
    assert row(session_factory, ids[0]).status == "pending"
    other = enqueue(session_factory, "dm", "dm:U0REP0002",
                    {"team_id": TEAM, "user": "U0REP0002", "text": "elsewhere"})
    assert dispatcher.run_once() == 1
    assert row(session_factory, other).status == "sent"  # the other lane is not held up
    for _ in range(2):
        clock.advance(2)
        assert dispatcher.run_once() == 0  # the rest of the lane waits for its head
    drain(dispatcher, clock)
    texts = [m["text"] for m in fake_slack.messages(dm_channel(REP))]
    assert texts == [f"message {i}" for i in range(4)]


def test_a_burst_to_one_channel_is_paced_per_lane(
    dispatcher: OutboxDispatcher, fake_slack: FakeSlack, clock: FakeClock,
    session_factory: sessionmaker[Session],
) -> None:
    for i in range(5):
        enqueue(session_factory, "handoff", "C0BURST", handoff_payload(channel="C0BURST",
                                                                      lead_id=i))
    for channel in ("C0EAST", "C0WEST"):
        enqueue(session_factory, "handoff", channel, handoff_payload(channel=channel))
    per_tick = []
    for _ in range(8):
        per_tick.append(dispatcher.run_once())
        per_tick.append(dispatcher.run_once())  # at once again: every lane is paced
        clock.advance(dispatcher.lane_interval)
    assert per_tick[:4] == [3, 0, 1, 0]  # a message per lane per interval
    assert sum(per_tick) == 7
    assert len(fake_slack.messages("C0BURST")) == 5
    assert [m["text"] for m in fake_slack.messages("C0BURST")] == [
        p["text"] for p in posts(fake_slack, "C0BURST")]


def test_background_thread_delivers_promptly_and_a_slow_lane_holds_nobody(
    engine: Engine, fake_slack: FakeSlack,
) -> None:
    sessions = make_session_factory(engine)
    slow_started = threading.Event()

    def post(args: dict[str, Any], call: Any) -> dict[str, Any]:
        if args.get("channel") == "C0SLOW":
            slow_started.set()
            time.sleep(1.5)
        return fake_slack._api_chat_postMessage(args, call)

    fake_slack.set_handler("chat.postMessage", post)
    dispatcher = OutboxDispatcher(
        sessions, SlackClients(bot_token=fake_slack.bot_token, base_url=fake_slack.api_url),
        poll_interval=5.0,  # so only notify() explains a prompt delivery
    )
    ids: list[int] = []
    try:
        dispatcher.start()
        ids.append(enqueue(sessions, "handoff", "C0SLOW", handoff_payload(channel="C0SLOW")))
        dispatcher.notify()
        assert slow_started.wait(3)
        ids.append(enqueue(sessions, "handoff", "C0FAST", handoff_payload(channel="C0FAST")))
        dispatcher.notify()
        fast, _slow = fake_slack.wait_for("chat.postMessage", 2, timeout=5)
        assert fast.args["channel"] == "C0FAST"  # answered while the slow lane still waited
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(
            row(sessions, i).status != "sent" for i in ids
        ):
            time.sleep(0.05)
        assert [row(sessions, i).status for i in ids] == ["sent", "sent"]
    finally:
        dispatcher.stop()
        with sessions.begin() as session:
            session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))
    assert not dispatcher.running


def test_two_dispatchers_never_send_a_row_twice(engine: Engine, fake_slack: FakeSlack) -> None:
    """Replicas: claims lock (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: one writer) and
    lease the rows, so each row goes out once, and a lane's rows still in order."""
    sessions = make_session_factory(engine)
    ids = [enqueue(sessions, "dm", f"dm:U0R{i:03d}",
                   {"team_id": TEAM, "user": f"U0R{i:03d}", "text": f"row {i}"})
           for i in range(24)]
    ids += [enqueue(sessions, "dm", f"dm:{REP}", {"team_id": TEAM, "user": REP,
                                                  "text": f"in order {i}"}) for i in range(6)]
    dispatchers = [
        OutboxDispatcher(sessions, SlackClients(bot_token=fake_slack.bot_token,
                                                base_url=fake_slack.api_url),
                         lane_interval=0, workers=4)
        for _ in range(2)
    ]
    errors: list[BaseException] = []

    def run(dispatcher: OutboxDispatcher) -> None:
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if dispatcher.run_once() == 0 and all(
                    row(sessions, i).status == "sent" for i in ids
                ):
                    return
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in dispatchers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        posted = [c.args["metadata"]["event_payload"]["outbox_id"]
                  for c in fake_slack.calls("chat.postMessage") if c.ok]
        assert sorted(posted) == sorted(ids)  # every row once
        texts = [m["text"] for m in fake_slack.messages(dm_channel(REP))]
        assert texts == [f"in order {i}" for i in range(6)]
    finally:
        with sessions.begin() as session:
            session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))


# -- clients ----------------------------------------------------------------------------------


def test_api_url_is_normalised() -> None:
    assert normalize_api_url(None) == "https://slack.com/api/"
    assert normalize_api_url("http://127.0.0.1:9/") == "http://127.0.0.1:9/api/"
    assert normalize_api_url("http://127.0.0.1:9/api") == "http://127.0.0.1:9/api/"
    assert normalize_api_url("https://slack.com/api/") == "https://slack.com/api/"


def test_single_workspace_client_has_no_automatic_retries(fake_slack: FakeSlack) -> None:
    clients = SlackClients(bot_token=fake_slack.bot_token, base_url=fake_slack.url)
    client = clients.for_team(None)
    assert client is not None and client.retry_handlers == []
    assert client.base_url == fake_slack.api_url
    assert clients.for_team(TEAM) is client and clients.for_team("T0ELSE") is None
    assert clients.mode == "single"
    assert SlackClients().for_team(TEAM) is None and SlackClients().mode == "none"


def test_multi_workspace_tokens_come_from_the_installation_store(
    engine: Engine, fake_slack: FakeSlack, clock: FakeClock,
) -> None:
    sessions = make_session_factory(engine)  # committed rows: the store has its own connections
    ids: list[int] = []
    other = Workspace.for_team("T0OTHER02")
    fake_slack.add_workspace(other)
    store = SQLAlchemyInstallationStore(client_id="1001.2002", engine=engine)
    store.save(Installation(
        app_id=other.app_id, team_id=other.team_id, bot_token=other.bot_token,
        bot_id=other.bot_id, bot_user_id=other.bot_user_id, bot_scopes=list(other.scopes),
        user_id="U0INSTALL1",
    ))
    try:
        clients = SlackClients(installation_store=store, base_url=fake_slack.api_url)
        assert clients.mode == "multi"
        client = clients.for_team(other.team_id)
        assert client is not None and client.token == other.bot_token
        assert clients.for_team("T0NOBODY") is None and clients.for_team(None) is None

        dispatcher = OutboxDispatcher(sessions, clients, clock=clock.now,
                                      monotonic=clock.monotonic)
        message_id = enqueue(sessions, "handoff", "C0SALES",
                             handoff_payload(team_id=other.team_id))
        ids.append(message_id)
        assert dispatcher.run_once() == 1
        [post] = fake_slack.calls("chat.postMessage")
        assert post.token == other.bot_token and post.team_id == other.team_id
        assert row(sessions, message_id).status == "sent"
    finally:
        with engine.begin() as connection:
            connection.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))
            for table in ("slack_bots", "slack_installations"):
                connection.execute(text(f"DELETE FROM {table} WHERE team_id = :t"),
                                   {"t": other.team_id})


def test_an_unreachable_database_is_one_line_per_try_not_a_traceback(
    tmp_path: Any, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    # During a database outage the dispatcher retries every second; each try logged a full
    # traceback (~50 lines a second in the server's log).
    from storage.db import create_engine_for

    (tmp_path / "gone.db").mkdir()  # unopenable, like a database that is down
    engine = create_engine_for(f"sqlite:///{tmp_path / 'gone.db'}")
    dispatcher = OutboxDispatcher(
        make_session_factory(engine),
        SlackClients(bot_token=fake_slack.bot_token, base_url=fake_slack.api_url),
    )
    try:
        dispatcher.start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(
            "outbox" in r.getMessage() for r in caplog.records
        ):
            time.sleep(0.05)
    finally:
        dispatcher.stop()
        engine.dispose()
    [record, *_] = [r for r in caplog.records if r.name == "bot.slack.dispatch"]
    assert record.levelname == "WARNING" and record.exc_info is None
    assert "database" in record.getMessage() and "unable to open" in record.getMessage()
