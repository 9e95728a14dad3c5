"""Serving and safety: signatures, body limits, unhandled requests, unexpected errors, OAuth
installs in several workspaces (and a workspace without one), Slack switched off."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from bot.runtime import build_runtime
from bot.server import create_server
from bot.slack.app import build_slack, create_bolt_app, slack_mode, why_off
from storage.models import Lead, OutboxMessage, ProcessedEvent
from tests.bot.slackapp import (
    SALES_CHANNEL,
    ConfiguredSlack,
    SlackHarness,
    make_harness,
    slack_settings,
    wipe,
)
from tests.fakeslack import FakeSlack, Workspace
from tests.slackreq import SIGNING_SECRET, SlackRequests


def counts(slack: SlackHarness) -> tuple[int, int, int]:
    with slack.runtime.sessions() as session:
        return tuple(  # type: ignore[return-value]
            int(session.scalar(select(func.count()).select_from(m)) or 0)
            for m in (Lead, OutboxMessage, ProcessedEvent)
        )


@pytest.mark.parametrize(
    "forge",
    [
        lambda r: r.resigned(secret="not-the-signing-secret"),
        lambda r: r.resigned(age=6 * 60),  # stale: more than five minutes old
        lambda r: r.resigned(age=-6 * 60),  # from the future
        lambda r: r.without_signature(),
    ],
    ids=["bad-signature", "stale", "future", "unsigned"],
)
def test_bad_signatures_are_refused_and_change_nothing(slack: SlackHarness, forge: object) -> None:
    slack.command("bant Acme")
    before = counts(slack)
    requests = [
        slack.requests.command("/qualify", "bant Globex"),
        slack.requests.message_im("allocated"),
        slack.requests.app_home_opened(),
    ]
    for request in requests:
        response = slack.send(forge(request))  # type: ignore[operator]
        assert response.status_code == 401
    assert counts(slack) == before
    slack.deliver()
    assert slack.fake.calls("views.publish") == []


def test_a_body_over_the_limit_is_refused_before_anything_else(slack: SlackHarness) -> None:
    request = slack.requests.message_im("x" * (1024 * 1024 + 10))
    response = slack.send(request)
    assert response.status_code == 413
    assert counts(slack) == (0, 0, 0)


def test_url_verification_and_unhandled_events_get_200(slack: SlackHarness) -> None:
    challenge = slack.send(slack.requests.url_verification("abc123"))
    assert challenge.status_code == 200 and "abc123" in challenge.text
    reaction = slack.requests.event_callback(
        {"type": "reaction_added", "user": "U0REP0001", "reaction": "tada"}
    )
    assert slack.send(reaction).status_code == 200
    channel_message = slack.requests.event_callback(
        {"type": "message", "channel": "C0SALES01", "channel_type": "channel",
         "user": "U0REP0001", "text": "hi", "ts": "1.2"}
    )
    assert slack.send(channel_message).status_code == 200
    assert counts(slack) == (0, 0, 0)


def test_an_unexpected_error_is_logged_with_a_reference_the_rep_sees(
    slack: SlackHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(slack.runtime.service, "start", broken)
    with caplog.at_level(logging.ERROR, logger="bot.slack"):
        payload = slack.command("bant Acme").json()
    assert payload["response_type"] == "ephemeral"
    assert "something went wrong" in payload["text"]
    ref = payload["text"].split("reference ")[1].rstrip(").")
    assert any(ref in r.getMessage() and r.exc_info for r in caplog.records)
    assert "database on fire" not in payload["text"]


def test_an_unexpected_error_on_a_dm_answer_is_told_in_the_dm(
    slack: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(slack.runtime.service, "answer_latest", broken)
    request = slack.requests.message_im("allocated")
    assert slack.send(request).status_code == 200
    assert slack.send(request.retried(1)).status_code == 200
    slack.deliver()
    [dm] = slack.dm_messages()
    assert "something went wrong" in dm["text"]


def test_the_home_tab_is_published_once_per_event(slack: SlackHarness) -> None:
    request = slack.requests.app_home_opened()
    slack.send(request)
    slack.send(request.retried(1))
    slack.deliver()
    assert len(slack.fake.calls("views.publish")) == 1


# -- Slack off -----------------------------------------------------------------------------------


def test_without_slack_credentials_serve_still_runs(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = slack_settings(
        monkeypatch, database_url, tmp_path,
        SLACK_BOT_TOKEN=None, SLACK_SIGNING_SECRET=None, SLACK_CLIENT_ID=None,
        SLACK_CLIENT_SECRET=None, SLACK_APP_TOKEN=None, SLACK_API_URL=None,
    )
    runtime = build_runtime(settings)
    try:
        with caplog.at_level(logging.WARNING, logger="bot.slack"):
            stack = build_slack(runtime)
        assert stack is None
        off = [r.getMessage() for r in caplog.records if "Slack is off" in r.getMessage()]
        assert len(off) == 1
        assert "SLACK_BOT_TOKEN" in off[0] and "SLACK_CLIENT_ID" in off[0]
        with TestClient(create_server(runtime)) as http:
            health = http.get("/healthz")
            assert health.status_code == 200
            assert health.json() == {"status": "ok", "database": "ok", "slack": "off"}
            assert http.post("/slack/events", content="{}").status_code == 503
    finally:
        runtime.close()


def test_slack_mode_and_why_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def settings(**env: str | None) -> object:
        return slack_settings(monkeypatch, "sqlite://", tmp_path, **{
            "SLACK_BOT_TOKEN": None, "SLACK_SIGNING_SECRET": None, "SLACK_CLIENT_ID": None,
            "SLACK_CLIENT_SECRET": None, "SLACK_APP_TOKEN": None, **env,
        })

    assert slack_mode(settings()) is None  # type: ignore[arg-type]
    assert slack_mode(settings(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s")) == "single"  # type: ignore[arg-type]
    only_token = settings(SLACK_BOT_TOKEN="xoxb-1")
    assert slack_mode(only_token) is None  # type: ignore[arg-type]
    assert "SLACK_SIGNING_SECRET missing" in why_off(only_token)  # type: ignore[arg-type]
    socket = settings(SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1")
    assert slack_mode(socket, socket_mode=True) == "single"  # type: ignore[arg-type]
    oauth = settings(SLACK_CLIENT_ID="1.2", SLACK_CLIENT_SECRET="x", SLACK_SIGNING_SECRET="s")
    assert slack_mode(oauth) == "oauth"  # type: ignore[arg-type]
    no_secret = settings(SLACK_CLIENT_ID="1.2", SLACK_SIGNING_SECRET="s")
    assert slack_mode(no_secret) is None  # type: ignore[arg-type]
    assert "SLACK_CLIENT_SECRET missing" in why_off(no_secret)  # type: ignore[arg-type]


# -- OAuth: several workspaces ------------------------------------------------------------------


@pytest.fixture
def oauth_slack(
    engine: Engine,
    database_url: str,
    fake_slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[SlackHarness]:
    settings = slack_settings(
        monkeypatch, database_url, tmp_path,
        SLACK_API_URL=fake_slack.api_url, SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_CLIENT_ID=fake_slack.client_id, SLACK_CLIENT_SECRET=fake_slack.client_secret,
        SLACK_BOT_TOKEN=None, SLACK_APP_TOKEN=None,
    )
    requests = SlackRequests(
        workspace=Workspace.for_team("T0ACME001", "Acme Sales"),
        response_url_base=f"{fake_slack.url}/response/",
    )
    yield from make_harness(settings, fake_slack, requests)


def install(slack: SlackHarness, workspace: Workspace) -> None:
    """Go through /slack/install and /slack/oauth_redirect as a browser would."""
    start = slack.http.get("/slack/install", follow_redirects=False)
    assert start.status_code in (200, 302), start.text
    # the state cookie is Secure: sent back as the browser would over https (the test
    # client's own jar keeps it for https only)
    cookie = "; ".join(f"{name}={value}" for name, value in start.cookies.items())
    if start.status_code == 302:
        authorize_url = start.headers["location"]
    else:
        href = start.text.split('href="https://slack.com/oauth/v2/authorize?')[1]
        authorize_url = "?" + href.split('"')[0].replace("&amp;", "&")
    state = parse_qs(urlsplit(authorize_url).query)["state"][0]
    code = slack.fake.issue_oauth_code(workspace)
    done = slack.http.get(
        "/slack/oauth_redirect", params={"code": code, "state": state},
        headers={"Cookie": cookie},
    )
    assert done.status_code == 200, done.text


def test_oauth_install_then_each_workspace_uses_its_own_token(oauth_slack: SlackHarness) -> None:
    acme = Workspace.for_team("T0ACME001", "Acme Sales")
    globex = Workspace.for_team("T0GLOBEX1", "Globex Sales")
    install(oauth_slack, acme)
    install(oauth_slack, globex)
    oauth_slack.command("bant Acme")
    globex_requests = SlackRequests(
        workspace=globex, response_url_base=f"{oauth_slack.fake.url}/response/"
    )
    assert oauth_slack.send(globex_requests.command("/qualify", "champ Initech")).status_code == 200
    oauth_slack.deliver()
    posts = [c for c in oauth_slack.fake.calls("chat.postMessage") if c.ok]
    assert {(c.team_id, c.token) for c in posts} == {
        ("T0ACME001", acme.bot_token), ("T0GLOBEX1", globex.bot_token)
    }
    with oauth_slack.runtime.sessions() as session:
        teams = dict(session.execute(select(Lead.company, Lead.team_id)).all())
    assert teams == {"Acme": "T0ACME001", "Initech": "T0GLOBEX1"}
    # Each workspace's token is checked once (auth.test), not on every request: a Web API
    # call on the ack path would spend Slack's 3 s.
    checks = len(oauth_slack.fake.calls("auth.test"))
    oauth_slack.command("bant Acme Two")
    oauth_slack.command("bant Acme Three")
    assert len(oauth_slack.fake.calls("auth.test")) == checks


def test_oauth_a_workspace_without_an_installation_is_refused(oauth_slack: SlackHarness) -> None:
    install(oauth_slack, Workspace.for_team("T0ACME001", "Acme Sales"))
    stranger = SlackRequests(
        workspace=Workspace.for_team("T0STRANGE", "Nobody"),
        response_url_base=f"{oauth_slack.fake.url}/response/",
    )
    oauth_slack.fake.clear()
    for request in (
        stranger.command("/qualify", "bant Acme"),
        stranger.message_im("allocated"),
        stranger.app_home_opened(),
    ):
        response = oauth_slack.send(request)
        assert response.status_code == 200
        assert "install" not in response.text.lower() or "qualibot" in response.text.lower()
    oauth_slack.deliver()
    assert oauth_slack.fake.calls() == []  # nothing posted anywhere, not even response_url
    assert counts(oauth_slack) == (0, 0, 0)


def test_create_bolt_app_reads_nothing_from_the_environment_when_off(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = slack_settings(
        monkeypatch, database_url, tmp_path,
        SLACK_BOT_TOKEN=None, SLACK_SIGNING_SECRET=None, SLACK_CLIENT_ID=None,
        SLACK_CLIENT_SECRET=None,
    )
    runtime = build_runtime(settings)
    try:
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
        monkeypatch.setenv("SLACK_SIGNING_SECRET", "from-the-environment")
        assert create_bolt_app(settings, runtime) is None  # the Settings decide, not os.environ
    finally:
        wipe(runtime.engine)
        runtime.close()


def test_oauth_uninstall_removes_the_installation(oauth_slack: SlackHarness) -> None:
    install(oauth_slack, Workspace.for_team("T0ACME001", "Acme Sales"))
    assert "Starting BANT" in oauth_slack.command("bant Acme").text
    assert oauth_slack.send(oauth_slack.requests.app_uninstalled()).status_code == 200
    assert oauth_slack.command("bant Globex").text == ""  # refused: no installation any more
    with oauth_slack.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 1


def test_socket_mode_needs_no_signing_secret_and_serves_no_http_events(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    fake_slack: FakeSlack,
) -> None:
    settings = slack_settings(
        monkeypatch, database_url, tmp_path,
        SLACK_BOT_TOKEN=fake_slack.bot_token, SLACK_SIGNING_SECRET=None,
        SLACK_APP_TOKEN="xapp-1-A0QUALIBOT-1-abc", SLACK_API_URL=fake_slack.api_url,
        SLACK_CLIENT_ID=None, SLACK_CLIENT_SECRET=None,
    )
    runtime = build_runtime(settings)
    try:
        assert build_slack(runtime) is None  # over HTTP it would need the signing secret
        stack = build_slack(runtime, socket_mode=True)
        assert stack is not None and stack.socket_mode is not None
        assert stack.serve_http is False
        assert type(stack.socket_mode).__name__ == "SocketModeHandler"
        # a notice its rule's channel refuses goes to QUALIBOT_HANDOFF_CHANNEL
        assert stack.dispatcher.fallback_channel == SALES_CHANNEL
    finally:
        runtime.close()


def test_old_dedupe_keys_are_pruned(slack: SlackHarness) -> None:
    from datetime import UTC, datetime, timedelta

    from bot.slack.app import prune_dedupe_keys
    from storage.dedupe import ProcessedEventRepository

    with slack.runtime.sessions.begin() as session:
        repo = ProcessedEventRepository(session)
        repo.claim("event:old", now=datetime.now(UTC) - timedelta(days=4))
        repo.claim("event:new")
    assert prune_dedupe_keys(slack.runtime.sessions) == 1
    with slack.runtime.sessions() as session:
        assert session.scalars(select(ProcessedEvent.key)).all() == ["event:new"]


def test_qualibot_serve_wires_slack_and_the_dispatcher(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    fake_slack: FakeSlack, slack_requests: SlackRequests,
) -> None:
    import uvicorn
    from click.testing import CliRunner

    from bot.cli import main

    slack_settings(
        monkeypatch, database_url, tmp_path,
        SLACK_BOT_TOKEN=fake_slack.bot_token, SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.api_url, SLACK_CLIENT_ID=None, SLACK_CLIENT_SECRET=None,
        SLACK_APP_TOKEN=None,
    )
    seen: dict[str, object] = {}

    def fake_run(server: uvicorn.Server, sockets: list[socket.socket]) -> None:
        seen["address"] = sockets[0].getsockname()
        seen["timeout_keep_alive"] = server.config.timeout_keep_alive
        with TestClient(server.config.app) as http:
            seen["health"] = http.get("/healthz").json()
            request = slack_requests.command("/qualify", "bant Acme")
            http.post(request.path, content=request.body, headers=request.headers)
            fake_slack.wait_for("chat.postMessage")  # the dispatcher runs in the lifespan

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        result = CliRunner().invoke(main, ["serve", "--port", str(port)])
        assert result.exit_code == 0, result.output
        assert seen["address"] == ("127.0.0.1", port)  # bound before start-up
        # Idle connections outlive a balancer's (nginx: 60 s), so no request is sent on a
        # connection the server is just closing.
        assert seen["timeout_keep_alive"] == 75
        assert seen["health"] == {"status": "ok", "database": "ok", "slack": "on"}
    finally:
        wipe(engine)


def test_bolt_logs_its_debug_lines_when_debug_logging_is_on(
    slack_with_config: ConfiguredSlack, caplog: pytest.LogCaptureFixture
) -> None:
    # `qualibot serve --log-level debug` shows Bolt's own lines (at other levels, Bolt's
    # logger is set so that it does not even format them), also after an app was built at
    # another level in the same process
    for level in (logging.INFO, logging.DEBUG):
        caplog.clear()
        caplog.set_level(level)
        for slack in slack_with_config(""):
            assert slack.send(slack.requests.command("/qualify", "bant Acme")).status_code == 200
    assert any(
        r.name == "slack_bolt.qualibot" and r.levelno == logging.DEBUG for r in caplog.records
    )
