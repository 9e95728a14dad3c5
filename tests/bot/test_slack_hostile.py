"""Hostile traffic on `POST /slack/events`, over HTTP into the real app: forged, stale,
tampered, malformed, oversized and unknown requests are refused (or ignored) without a 500
and without changing anything; and whatever a person typed renders for Slack as inert text
within Block Kit's limits."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.leads import AnswerView, LeadDetail, LeadSummary, ScoreView
from bot.registry import FlowRegistry
from bot.slack.http import MAX_BODY_BYTES
from bot.slack.notices import render_handoff, render_notice_update, render_reply
from bot.slack.render import check_limits
from bot.slack.screens import answers_modal
from flows.definitions import load_frameworks
from storage.models import Answer, Conversation, Lead, OutboxMessage, ProcessedEvent
from tests.bot.dispatchkit import handoff_payload, mrkdwn_texts
from tests.bot.slackapp import SlackHarness
from tests.slackreq import DEFAULT_USER, FORM, SignedRequest, actions_from, dm_channel

MODELS = (Lead, Conversation, Answer, OutboxMessage, ProcessedEvent)


def counts(slack: SlackHarness) -> dict[str, int]:
    """How many leads, conversations, answers, outbox rows and processed events are stored."""
    with slack.runtime.sessions() as session:
        return {
            m.__name__: int(session.scalar(select(func.count()).select_from(m)) or 0)
            for m in MODELS
        }


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> int:
    """The time by the signature verifier's clock, frozen (so "301 s old" is exactly that)."""
    frozen = int(time.time())
    monkeypatch.setattr("slack_sdk.signature.Clock.now", lambda self: float(frozen))
    return frozen


def started(slack: SlackHarness) -> dict[str, Any]:
    """A qualification under way in the rep's DM; its first question as posted."""
    slack.command("bant Acme")
    slack.deliver()
    return slack.last_dm()


def without(request: SignedRequest, header: str) -> SignedRequest:
    return replace(request, headers={k: v for k, v in request.headers.items() if k != header})


def tampered(request: SignedRequest) -> SignedRequest:
    """The body changed after it was signed (headers as signed)."""
    body = request.body.replace("Globex", "Initech").replace("allocated", "unfunded")
    assert body != request.body
    return replace(request, body=body)


FORGERIES = {
    "missing-signature": lambda r, now: without(r, "X-Slack-Signature"),
    "missing-timestamp": lambda r, now: without(r, "X-Slack-Request-Timestamp"),
    "wrong-signature": lambda r, now: r.resigned(secret="not-the-signing-secret", timestamp=now),
    "stale-301s": lambda r, now: r.resigned(timestamp=now - 301),
    "future-301s": lambda r, now: r.resigned(timestamp=now + 301),
    "non-numeric-timestamp": lambda r, now: replace(
        r, headers={**r.headers, "X-Slack-Request-Timestamp": "yesterday"}
    ),
    "body-altered-after-signing": lambda r, now: tampered(r.resigned(timestamp=now)),
}


@pytest.mark.parametrize("forge", list(FORGERIES.values()), ids=list(FORGERIES))
def test_an_unauthentic_request_is_refused_with_401_and_changes_nothing(
    slack: SlackHarness, now: int, forge: Any
) -> None:
    first = started(slack)
    before = counts(slack)
    posted = len(slack.fake.calls("chat.postMessage"))
    genuine = [
        slack.requests.command("/qualify", "bant Globex", timestamp=now),
        slack.requests.message_im("allocated", timestamp=now),
        slack.requests.block_actions(
            [_action(first, "skip")], channel_id=dm_channel(DEFAULT_USER), message=first,
            timestamp=now,
        ),
    ]
    for request in genuine:
        response = slack.send(forge(request, now))
        assert response.status_code == 401, (request.body[:80], response.text)
    assert counts(slack) == before
    slack.deliver()
    assert len(slack.fake.calls("chat.postMessage")) == posted
    # The same requests, untouched, do take effect: the refusal was the signature's doing.
    for request in genuine:
        assert slack.send(request).status_code == 200
    after = counts(slack)
    assert after["Lead"] == before["Lead"] + 1 and after["Answer"] > before["Answer"]


def _action(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    return actions_from(message["blocks"], action_id)


MALFORMED_PAYLOADS = {
    "not-json": "{this is not json",
    "empty": "",
    "json-list": json.dumps([{"type": "block_actions"}]),
    "json-string": json.dumps("block_actions"),
    "json-null": "null",
    "json-number": "42",
    "no-type": json.dumps({"actions": [{"action_id": "skip", "value": "1"}]}),
    "unknown-type": json.dumps({"type": "dialog_submission", "submission": {}}),
    "block-actions-without-actions": json.dumps(
        {"type": "block_actions", "user": {"id": "U0REP0001"}}
    ),
    "block-actions-with-junk-actions": json.dumps(
        {"type": "block_actions", "user": {"id": "U0REP0001"}, "actions": "skip"}
    ),
    "block-actions-action-not-a-dict": json.dumps(
        {"type": "block_actions", "user": {"id": "U0REP0001"}, "actions": [7]}
    ),
    "view-submission-without-view": json.dumps(
        {"type": "view_submission", "user": {"id": "U0REP0001"}}
    ),
    "view-submission-view-not-a-dict": json.dumps(
        {"type": "view_submission", "user": {"id": "U0REP0001"}, "view": "qualify"}
    ),
    "view-submission-view-without-type": json.dumps(
        {"type": "view_submission", "user": {"id": "U0REP0001"},
         "view": {"id": "V1", "callback_id": "qualify_modal"}}
    ),
    "view-submission-state-not-a-dict": json.dumps(
        {"type": "view_submission", "user": {"id": "U0REP0001"},
         "view": {"id": "V1", "type": "modal", "callback_id": "qualify_modal",
                  "state": "values"}}
    ),
    "view-submission-metadata-not-json": json.dumps(
        {"type": "view_submission", "user": {"id": "U0REP0001"},
         "view": {"id": "V1", "type": "modal", "callback_id": "qualify_modal",
                  "private_metadata": "{[",
                  "state": {"values": {"company": {"company": {"value": ["Acme"]}}}}}}
    ),
}


@pytest.mark.parametrize("payload", list(MALFORMED_PAYLOADS.values()), ids=list(MALFORMED_PAYLOADS))
def test_malformed_interactivity_is_refused_or_ignored_never_a_500(
    slack: SlackHarness, payload: str
) -> None:
    started(slack)
    before = counts(slack)
    request = slack.requests.signed(urlencode({"payload": payload}), FORM)
    response = slack.send(request)
    assert response.status_code < 500, response.text
    assert response.status_code == 200 or 400 <= response.status_code < 500
    assert counts(slack) == before


# -- size limit, unknown events ------------------------------------------------------------


def test_a_body_over_the_size_limit_gets_413_and_stores_nothing(slack: SlackHarness) -> None:
    started(slack)
    before = counts(slack)
    over = "x" * (MAX_BODY_BYTES + 1)
    # Declared too big (Content-Length) ...
    assert slack.send(slack.requests.message_im(over)).status_code == 413
    assert slack.send(slack.requests.command("/qualify", f"bant {over}")).status_code == 413
    # ... and too big as streamed, with no Content-Length to go by.
    request = slack.requests.message_im(over)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    body = request.body.encode()
    chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))
    streamed = slack.http.post(request.path, content=chunks, headers=headers)
    assert streamed.status_code == 413
    assert counts(slack) == before


@pytest.mark.parametrize(
    "event",
    [
        {"type": "reaction_added", "user": "U0REP0001", "reaction": "tada",
         "item": {"type": "message", "channel": "C0SALES01", "ts": "1.2"}, "event_ts": "1.3"},
        {"type": "channel_created", "channel": {"id": "C0NEW0001", "name": "new"}},
        {"type": "made_up_event_type", "anything": ["goes"]},
    ],
    ids=["reaction_added", "channel_created", "made-up"],
)
def test_an_unknown_event_type_gets_200_so_slack_does_not_retry(
    slack: SlackHarness, event: dict[str, Any]
) -> None:
    started(slack)
    before = counts(slack)
    request = slack.requests.event_callback(event)
    assert slack.send(request).status_code == 200
    assert slack.send(request.retried(1, "http_error")).status_code == 200
    assert counts(slack) == before


# -- user text rendered for Slack ------------------------------------------------------------

OURS = "U0REP0002"  # a real user id: the mentions we add ourselves (`by`, owner)
MARKUP = [
    "<!channel>", "<!here>", "<!everyone>", "<@U123>", "<@W0ABC|bob>", "<#C1>", "<#C1|sales>",
    "<http://evil.example|click>", "<https://evil.example>", "<mailto:a@evil.example|mail>",
    "<!subteam^S123>", "<!date^1392734382^{date}|x>", "&", "&amp;", "&lt;", "&gt;", "<", ">",
    "*bold*", "_it_", "`code`", "\n", "> quote", "\u0000", "\u202e", "\ud800", "🎉", " ",
]
markup = st.lists(
    st.one_of(st.sampled_from(MARKUP), st.text(max_size=8)), max_size=25
).map("".join)
long_markup = st.builds(
    lambda piece, times: piece * times, st.sampled_from(MARKUP[:12]), st.integers(200, 1500)
)
user_text = st.one_of(st.text(), markup, long_markup, st.text(max_size=40).map(lambda t: t * 400))
ENTITIES = ("&amp;", "&lt;", "&gt;")


def unescape_once(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


#: The one other markup of ours: a date Slack shows in the reader's time zone.
OUR_DATE = re.compile(r"<!date\^\d+\^\{time\}, \{date_short_pretty\}\|[0-9:, A-Z-]+>")


def assert_inert(payload: dict[str, Any], typed: list[str]) -> None:
    """Valid JSON within Slack's limits; in every mrkdwn text and the fallback, no markup
    but our own mentions, and what was typed escaped exactly once."""
    assert json.loads(json.dumps(payload, ensure_ascii=False)) == payload
    check_limits(payload)
    texts = mrkdwn_texts(payload)
    assert texts and (payload.get("type") == "modal" or texts[0] == payload["text"])
    for text in texts:
        bare = OUR_DATE.sub("", text.replace(f"<@{OURS}>", ""))
        for live in ("<!", "<@", "<#", "<http", "<mailto"):
            assert live not in bare, (live, text)
        assert "<" not in bare, text  # user text's `<` is always `&lt;`
        assert re.sub(r"&(amp|lt|gt);", "", text).count("&") == 0, text  # no bare `&`
        once = unescape_once(text)
        for entity in ENTITIES:  # `&amp;lt;` would unescape to `&lt;`: escaped twice
            if entity in once:
                assert any(entity in t for t in typed), (entity, text)


def reply_payload(t: list[str]) -> dict[str, Any]:
    return {
        "conversation_id": 3, "lead_id": 2, "company": t[0], "user": "U0REP0001",
        "team_id": "T0QUALI01",
        "messages": [
            {"kind": "readback", "text": t[1]},
            {"kind": "hint", "text": t[2]},
            {"kind": "info", "text": t[3]},
            {"kind": "question", "text": t[4],
             "question": {"id": "budget", "criterion": "budget", "type": "choice",
                          "hint": t[2], "skippable": True,
                          "options": [{"label": t[5], "value": "yes"},
                                      {"label": "No", "value": "no"}]},
             "position": {"index": 2, "total": 5}},
            {"kind": "done", "text": t[1]},
            {"kind": "summary", "text": t[6], "verdict": t[7], "total": 50.0},
        ],
    }


def handoff_of(t: list[str]) -> dict[str, Any]:
    answers = [
        {"question_id": "budget", "raw": t[1], "readback": t[2], "status": "answered"},
        {"question_id": "budget_amount", "raw": t[3], "readback": "", "status": "answered"},
        {"question_id": "authority", "raw": t[4], "readback": "", "status": "unknown"},
        {"question_id": "timeline", "raw": t[5], "readback": "", "status": "skipped"},
    ]
    payload = handoff_payload(company=t[0], answers=answers)
    payload["lead"].update(contact_name=t[6], contact_email=t[7])
    payload["score"]["criteria"][0]["reason"] = t[2]
    return payload


FLOWS = FlowRegistry(load_frameworks())
WHEN = datetime(2026, 1, 2, tzinfo=UTC)


def lead_detail(t: list[str]) -> LeadDetail:
    lead = LeadSummary(
        id=7, company=t[0], framework="bant", source="widget", status="nurture",
        score_total=42.0, verdict="nurture", owner=OURS, updated_at=WHEN,
    )
    answers = [
        AnswerView(qid, qid, raw, {}, status, "U0REP0001", WHEN)
        for qid, raw, status in (
            ("budget", t[1], "answered"), ("budget_amount", t[3], "answered"),
            ("authority", t[4], "unknown"), ("need", t[5], "skipped"),
            (t[7][:40], t[2], "answered"),
        )
    ]
    breakdown = {
        "criteria": [{"criterion": "budget", "label": "Budget", "points": 10, "max_points": 25,
                      "reason": t[2]}],
        "gates": [{"reason": t[3], "passed": False}],
    }
    score = ScoreView(42.0, "nurture", "bant", 1, breakdown, None, WHEN)
    return LeadDetail(lead, t[6], t[7], [], answers, [score], status_reason=t[1])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(t=st.lists(user_text, min_size=8, max_size=8))
def test_whatever_a_person_types_reaches_slack_as_inert_text_within_limits(t: list[str]) -> None:
    # The rep's DM after a turn, every kind of bot message in it (the dispatcher's `reply`).
    assert_inert(render_reply(reply_payload(t)), t)
    # The handoff notice, and its updates (the dispatcher's `handoff` / `notice_update`).
    handoff = handoff_of(t)
    assert_inert(render_handoff(handoff), t)
    for status in ("claimed", "disqualified", "open", "on_hold"):
        update = {"handoff": handoff, "status": status, "by": OURS, "reason": t[1]}
        assert_inert(render_notice_update(update), t)
    for status in ("released", "reopened"):  # a step back: when, and what was undone
        update = {"handoff": handoff, "notice_id": 3, "status": status, "by": OURS,
                  "owner": OURS, "at": "2026-01-02T10:00:00+00:00",
                  "was": {"status": "disqualified", "reason": t[1]}}
        assert_inert(render_notice_update(update), t)
    # "View answers" (the listener's `screens.answers_modal`, the lead read from the store).
    leads = SimpleNamespace(detail=lambda lead_id, team_id: lead_detail(t))
    services = SimpleNamespace(leads=leads, flows=FLOWS)
    modal = answers_modal(services, 7, team_id="T0QUALI01")  # type: ignore[arg-type]
    assert modal["type"] == "modal"
    assert_inert(modal, t)
