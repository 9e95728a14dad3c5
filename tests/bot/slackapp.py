"""The Slack app under test, end to end: the real Bolt app on the real FastAPI server
(`TestClient`, the sync endpoint in the thread pool), a real database with committed
transactions (the test database; every table is emptied after each test), the real outbox
dispatcher, and the fake Slack Web API on loopback recording what Slack received.

    def test_x(slack: SlackHarness) -> None:
        assert slack.send(slack.requests.command("/qualify", "bant Acme")).status_code == 200
        slack.deliver()                         # run the dispatcher until the outbox is empty
        [question] = slack.dm_messages()        # what the rep sees in the DM
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from slack_bolt import App
from sqlalchemy import Engine

from bot.config import Settings
from bot.runtime import Runtime, build_runtime
from bot.server import create_server
from bot.slack.app import create_bolt_app
from bot.slack.clients import SlackClients
from bot.slack.dispatch import OutboxDispatcher
from storage.models import Base
from tests.fakeslack import FakeSlack
from tests.slackreq import (
    DEFAULT_CHANNEL,
    DEFAULT_USER,
    SIGNING_SECRET,
    SignedRequest,
    SlackRequests,
    dm_channel,
)

SALES_CHANNEL = DEFAULT_CHANNEL


@dataclass
class SlackHarness:
    runtime: Runtime
    app: App
    http: TestClient
    dispatcher: OutboxDispatcher
    fake: FakeSlack
    requests: SlackRequests

    # -- talking to the app -------------------------------------------------------------

    def send(self, request: SignedRequest) -> httpx.Response:
        """POST a signed request to the server, as Slack would."""
        return self.http.post(request.path, content=request.body, headers=request.headers)

    def command(self, text: str, **options: Any) -> httpx.Response:
        response = self.send(self.requests.command("/qualify", text, **options))
        assert response.status_code == 200, response.text
        return response

    def say(self, text: str, *, user: str = DEFAULT_USER, **options: Any) -> httpx.Response:
        """The rep types `text` in the DM with the bot."""
        response = self.send(self.requests.message_im(text, user_id=user, **options))
        assert response.status_code == 200, response.text
        return response

    def click(
        self,
        message: dict[str, Any],
        action_id: str,
        *,
        channel: str | None = None,
        user: str = DEFAULT_USER,
    ) -> httpx.Response:
        """Click a button of a message as posted (in `channel`: default, the user's DM)."""
        from tests.slackreq import actions_from

        action = actions_from(message["blocks"], action_id)
        request = self.requests.block_actions(
            [action], user_id=user, channel_id=channel or dm_channel(user), message=message
        )
        response = self.send(request)
        assert response.status_code == 200, response.text
        return response

    # -- what Slack received ------------------------------------------------------------

    def deliver(self, rounds: int = 100) -> int:
        """Run the dispatcher until nothing is due; returns how many rows it handled."""
        total = 0
        for _ in range(rounds):
            handled = self.dispatcher.run_once()
            if not handled:
                return total
            total += handled
        raise AssertionError("the outbox did not drain")

    def dm_messages(self, user: str = DEFAULT_USER) -> list[dict[str, Any]]:
        return self.fake.messages(dm_channel(user))

    def last_dm(self, user: str = DEFAULT_USER) -> dict[str, Any]:
        messages = self.dm_messages(user)
        assert messages, "no DM was posted"
        return messages[-1]

    def channel_messages(self, channel: str = SALES_CHANNEL) -> list[dict[str, Any]]:
        return self.fake.messages(channel)

    def current_question(self, user: str = DEFAULT_USER) -> str | None:
        """The criterion of the question in the rep's latest DM (None if it asks none)."""
        for block in self.last_dm(user).get("blocks") or []:
            block_id = block.get("block_id") or ""
            if block_id.startswith("question:"):
                return str(block_id.split(":", 1)[1])
        return None

    def ephemeral_response(self, response: httpx.Response) -> dict[str, Any]:
        payload: dict[str, Any] = response.json()
        assert payload.get("response_type", "ephemeral") == "ephemeral"
        return payload


def wipe(engine: Engine) -> None:
    """Delete every row the test committed (children first)."""
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


def slack_settings(
    monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path, **env: str | None
) -> Settings:
    values: dict[str, str | None] = {
        "QUALIBOT_DATABASE_URL": database_url,
        "QUALIBOT_CONFIG": str(tmp_path / "no-qualibot.toml"),
        "QUALIBOT_HANDOFF_CHANNEL": SALES_CHANNEL,
        **env,
    }
    for name, value in values.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def make_harness(
    settings: Settings, fake: FakeSlack, requests: SlackRequests
) -> Iterator[SlackHarness]:
    runtime = build_runtime(settings)
    try:
        app = create_bolt_app(settings, runtime)
        assert app is not None
        clients = SlackClients.from_settings(settings, runtime.engine)
        dispatcher = OutboxDispatcher(
            runtime.sessions, clients, lane_interval=0.0, jitter=lambda: 0.0, workers=4
        )
        runtime.outbox_hooks.append(dispatcher.notify)
        api = create_server(runtime, slack_app=app)
        with TestClient(api) as http:
            yield SlackHarness(runtime, app, http, dispatcher, fake, requests)
    finally:
        wipe(runtime.engine)
        runtime.close()


@pytest.fixture
def slack(slack_with_config: ConfiguredSlack) -> Iterator[SlackHarness]:
    """The single-workspace app on the fake Slack (see the module docstring), with an empty
    `qualibot.toml` (no routing rules: notices go to `SALES_CHANNEL`)."""
    yield from slack_with_config("")


#: `for slack in slack_with_config(toml): ...`: see the fixture.
ConfiguredSlack = Callable[[str], Iterator[SlackHarness]]


@pytest.fixture
def slack_with_config(
    engine: Engine,
    database_url: str,
    fake_slack: FakeSlack,
    slack_requests: SlackRequests,
    slack_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> ConfiguredSlack:
    """The app of `slack`, with a `qualibot.toml` of the test's own (routing rules, say):
    `for slack in slack_with_config('[[handoff.rules]]...'): ...`."""

    def harness(toml: str) -> Iterator[SlackHarness]:
        config = tmp_path / "qualibot.toml"
        config.write_text(toml)
        settings = slack_settings(monkeypatch, database_url, tmp_path,
                                  QUALIBOT_CONFIG=str(config))
        assert settings.slack_signing_secret == SIGNING_SECRET
        yield from make_harness(settings, fake_slack, slack_requests)

    return harness


def blocks_text(message: dict[str, Any]) -> str:
    """Every text in a message or view (fallback text and blocks), for assertions."""
    return json.dumps(message, ensure_ascii=False)
