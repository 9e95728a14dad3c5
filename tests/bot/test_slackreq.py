"""The signed requests of `tests.slackreq`: Slack's signature scheme, and Bolt accepting them."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from tests.fakeslack import FakeSlack
from tests.slackreq import (
    SIGNING_SECRET,
    SignedRequest,
    SlackRequests,
    actions_from,
    button,
    sign,
)


def every_kind(slack: SlackRequests) -> dict[str, SignedRequest]:
    view = slack.view(callback_id="qualify_modal")
    return {
        "command": slack.command("/qualify", "bant Acme & <Co>"),
        "block_actions": slack.block_actions([button("skip", "42")]),
        "block_actions_in_view": slack.block_actions([button("claim", "7")], view=view),
        "view_submission": slack.view_submission(
            view, values={"company": {"company_input": "Acme"}}
        ),
        "view_closed": slack.view_closed(view),
        "message_im": slack.message_im("50k a year"),
        "app_home_opened": slack.app_home_opened(),
        "app_uninstalled": slack.app_uninstalled(),
        "tokens_revoked": slack.tokens_revoked(),
        "url_verification": slack.url_verification("challenge-1"),
    }


@pytest.fixture
def verifier() -> SignatureVerifier:
    return SignatureVerifier(SIGNING_SECRET)


def test_sign_matches_slack_sdk() -> None:
    body = "token=x&text=hi"
    assert sign("secret", 1_700_000_000, body) == SignatureVerifier("secret").generate_signature(
        timestamp="1700000000", body=body
    )


@pytest.mark.parametrize("kind", list(every_kind(SlackRequests())))
def test_verifier_accepts_good_and_rejects_bad_signatures(
    kind: str, slack_requests: SlackRequests, verifier: SignatureVerifier
) -> None:
    req = every_kind(slack_requests)[kind]
    assert verifier.is_valid_request(req.body, req.headers)
    assert verifier.is_valid_request(req.body.encode(), req.headers)

    assert not verifier.is_valid_request(req.body, req.resigned(secret="wrong").headers)
    assert not verifier.is_valid_request(req.body, req.resigned(age=6 * 60).headers)
    assert not verifier.is_valid_request(req.body, req.resigned(age=-6 * 60).headers)
    assert verifier.is_valid_request(req.body, req.resigned(age=4 * 60).headers)
    assert not verifier.is_valid_request(req.body + " ", req.headers)  # body tampered with
    assert not verifier.is_valid_request(req.body, req.without_signature().headers)

    retry = req.retried(2, "http_timeout")
    assert retry.body == req.body
    assert retry.headers["X-Slack-Retry-Num"] == "2"
    assert retry.headers["X-Slack-Retry-Reason"] == "http_timeout"
    assert verifier.is_valid_request(retry.body, retry.headers)


def test_sign_options_on_the_builders(
    slack_requests: SlackRequests, verifier: SignatureVerifier
) -> None:
    stale = slack_requests.command("/qualify", "help", age=10 * 60)
    forged = slack_requests.message_im("hi", secret="not-the-secret")
    retried = slack_requests.message_im("hi", retry_num=1, retry_reason="http_error")
    assert not verifier.is_valid_request(stale.body, stale.headers)
    assert not verifier.is_valid_request(forged.body, forged.headers)
    assert verifier.is_valid_request(retried.body, retried.headers)
    assert retried.headers["X-Slack-Retry-Reason"] == "http_error"


def test_slash_command_fields(slack_requests: SlackRequests, fake_slack: FakeSlack) -> None:
    req = slack_requests.command("/qualify", "bant Acme & Co")
    assert req.content_type == "application/x-www-form-urlencoded"
    assert "text=bant+Acme+%26+Co" in req.body
    data = req.data
    assert list(data)[:3] == ["token", "team_id", "team_domain"]
    assert data["command"] == "/qualify" and data["text"] == "bant Acme & Co"
    assert data["team_id"] == fake_slack.workspace.team_id
    assert data["api_app_id"] == fake_slack.workspace.app_id
    assert data["user_id"] == "U0REP0001" and data["channel_id"] == "C0SALES01"
    assert data["response_url"].startswith(fake_slack.url + "/response/")
    assert data["trigger_id"]
    in_dm = slack_requests.command("/qualify", "list", channel_id="D0REP0001").data
    assert in_dm["channel_name"] == "directmessage"


def test_interactivity_payloads(slack_requests: SlackRequests) -> None:
    blocks = [{
        "type": "actions",
        "block_id": "question_nav|42|budget|1",
        "elements": [{"type": "button", "action_id": "skip", "value": "42",
                      "text": {"type": "plain_text", "text": "Skip"}}],
    }]
    message = {"ts": "1700000000.000100", "text": "Budget?", "blocks": blocks}
    req = slack_requests.block_actions([actions_from(blocks, "skip")], message=message,
                                       channel_id="D0REP0001")
    assert req.body.startswith("payload=")
    payload = req.data
    assert payload["type"] == "block_actions"
    assert payload["container"] == {"type": "message", "message_ts": "1700000000.000100",
                                    "channel_id": "D0REP0001", "is_ephemeral": False}
    assert payload["message"]["blocks"] == blocks
    [action] = payload["actions"]
    assert action["action_id"] == "skip" and action["value"] == "42"
    assert action["block_id"] == "question_nav|42|budget|1"

    submitted = slack_requests.view_submission(
        callback_id="qualify_modal", private_metadata='{"c": 1}',
        values={"framework": {"pick": {"type": "static_select",
                                       "selected_option": {"value": "bant"}}},
                "company": {"company_input": "Acme"}},
    ).data
    assert submitted["type"] == "view_submission"
    assert submitted["view"]["callback_id"] == "qualify_modal"
    assert submitted["view"]["private_metadata"] == '{"c": 1}'
    values = submitted["view"]["state"]["values"]
    assert values["company"]["company_input"] == {"type": "plain_text_input", "value": "Acme"}
    assert values["framework"]["pick"]["selected_option"]["value"] == "bant"

    closed = slack_requests.view_closed(callback_id="qualify_modal", is_cleared=True).data
    assert closed["type"] == "view_closed" and closed["is_cleared"] is True


def test_events_api_envelopes(slack_requests: SlackRequests, fake_slack: FakeSlack) -> None:
    req = slack_requests.message_im("50k", user_id="U0REP0001", event_id="Ev0001")
    assert req.content_type == "application/json"
    envelope = json.loads(req.body)
    assert envelope["type"] == "event_callback" and envelope["event_id"] == "Ev0001"
    assert envelope["team_id"] == fake_slack.workspace.team_id
    assert isinstance(envelope["event_time"], int)
    assert envelope["authorizations"][0]["user_id"] == fake_slack.workspace.bot_user_id
    event = envelope["event"]
    assert event["type"] == "message" and event["channel_type"] == "im"
    assert event["channel"] == "D0REP0001" and event["user"] == "U0REP0001"
    assert event["text"] == "50k" and "bot_id" not in event

    own = slack_requests.message_im("Budget?", bot_id=fake_slack.workspace.bot_id).data["event"]
    assert own["bot_id"] == fake_slack.workspace.bot_id and own["subtype"] == "bot_message"

    home = slack_requests.app_home_opened(tab="messages").data["event"]
    assert home == {**home, "type": "app_home_opened", "tab": "messages", "channel": "D0REP0001"}

    assert slack_requests.url_verification("abc").data == {
        "token": "fake-verification-token", "challenge": "abc", "type": "url_verification"
    }


def test_bolt_accepts_them_and_rejects_forgeries(
    fake_slack: FakeSlack, slack_requests: SlackRequests
) -> None:
    """The whole plumbing: Bolt checks its token against the fake (auth.test), verifies the
    signatures, and routes each kind of request to a listener."""
    app = App(
        signing_secret=SIGNING_SECRET,
        client=WebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url),
    )
    seen: list[str] = []

    @app.command("/qualify")
    def on_command(ack: Ack, command: dict[str, Any]) -> None:
        ack()
        seen.append("command:" + command["text"])

    @app.action("skip")
    def on_skip(ack: Ack) -> None:
        ack()
        seen.append("action:skip")

    @app.view("qualify_modal")
    def on_submit(ack: Ack) -> None:
        ack()
        seen.append("view_submission")

    @app.view_closed("qualify_modal")
    def on_closed(ack: Ack) -> None:
        ack()
        seen.append("view_closed")

    @app.event("message")
    def on_message(event: dict[str, Any]) -> None:
        seen.append("message:" + event["text"])

    @app.event("app_home_opened")
    def on_home(event: dict[str, Any]) -> None:
        seen.append("app_home_opened")

    assert [c.method for c in fake_slack.calls()] == ["auth.test"]
    dispatch = app.dispatch

    assert dispatch(slack_requests.command("/qualify", "bant Acme").bolt_request()).status == 200
    click = slack_requests.block_actions([button("skip", "1")])
    assert dispatch(click.bolt_request()).status == 200
    assert dispatch(
        slack_requests.view_submission(callback_id="qualify_modal").bolt_request()
    ).status == 200
    assert dispatch(
        slack_requests.view_closed(callback_id="qualify_modal").bolt_request()
    ).status == 200
    assert dispatch(slack_requests.message_im("hello").bolt_request()).status == 200
    assert dispatch(slack_requests.app_home_opened().bolt_request()).status == 200
    verification = dispatch(slack_requests.url_verification("xyz").bolt_request())
    assert verification.status == 200 and json.loads(verification.body) == {"challenge": "xyz"}

    good = slack_requests.command("/qualify", "forged")
    assert dispatch(good.resigned(secret="wrong").bolt_request()).status == 401
    assert dispatch(good.resigned(age=10 * 60).bolt_request()).status == 401
    assert dispatch(good.without_signature().bolt_request()).status == 401

    # the events ran on Bolt's thread pool; give them a moment
    deadline = time.monotonic() + 5
    while len(seen) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(seen) == sorted([
        "command:bant Acme", "action:skip", "view_submission", "view_closed",
        "message:hello", "app_home_opened",
    ])
