"""Slack test plumbing for the bot tests: a fake Slack Web API on loopback and signed requests.

* ``fake_slack``: a started `tests.fakeslack.FakeSlack` (one per test) — records every Web API
  call, keeps posted messages and views, and can be scripted to fail.
* ``slack_client``: a `slack_sdk.WebClient` on the fake with the workspace's bot token and
  no automatic retries (so a scripted failure reaches the test exactly once).
* ``slack_requests``: a `tests.slackreq.SlackRequests` that builds requests exactly as Slack
  sends them to `/slack/events`, signed with ``SIGNING_SECRET``, for the fake's workspace,
  with response_urls that point at the fake.
* ``slack_env``: the environment variables of a single-workspace install pointed at the fake
  (`SLACK_API_URL`, `SLACK_BOT_TOKEN`, `SLACK_SIGNING_SECRET`; OAuth and Socket Mode unset).

    def test_qualify(fake_slack, slack_requests, app):   # `app`: a Bolt app on the fake
        req = slack_requests.command("/qualify", "bant Acme")
        assert app.dispatch(req.bolt_request()).status == 200
        [post] = fake_slack.wait_for("chat.postMessage")
        assert post.args["channel"] == "U0REP0001" and post.response["channel"] == "D0REP0001"
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from tests.bot.slackapp import slack, slack_with_config  # noqa: F401  (the app end to end)
from tests.fakeslack import FakeSlack
from tests.slackreq import SIGNING_SECRET, SlackRequests


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake
    assert not fake.internal_errors, f"the fake Slack itself failed: {fake.internal_errors}"


@pytest.fixture
def slack_client(fake_slack: FakeSlack) -> WebClient:
    return WebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url, retry_handlers=[])


@pytest.fixture
def slack_requests(fake_slack: FakeSlack) -> SlackRequests:
    return SlackRequests(
        signing_secret=SIGNING_SECRET,
        workspace=fake_slack.workspace,
        response_url_base=f"{fake_slack.url}/response/",
    )


@pytest.fixture
def slack_env(fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "SLACK_API_URL": fake_slack.api_url,
        "SLACK_BOT_TOKEN": fake_slack.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }
    for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
