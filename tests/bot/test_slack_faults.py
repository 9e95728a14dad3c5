"""Slack faults injected by the fake Slack, and what each comes to.

The dispatcher's fault matrix is in `test_dispatch.py` (not repeated here): 429 with
Retry-After (`test_429_waits_for_retry_after_then_posts_once`), 500/503
(`test_5xx_is_retried_then_delivered_once`, `test_backoff_grows_and_gives_up_after_the_cap`),
timeouts and connections reset after or before Slack accepted the post (reconciled through
the message metadata: `test_timeout_after_slack_posted_is_reconciled`,
`test_connection_dropped_*`), `channel_not_found` / `not_in_channel` / `is_archived` /
`invalid_auth` / `token_revoked` / ... failing at once, listed by `qualibot outbox --failed`
and retried once (`test_permanent_errors_fail_at_once_are_listed_and_can_be_retried`),
`invalid_blocks` sent as plain text (`test_invalid_blocks_is_sent_once_more_as_plain_text`).

Here: a workspace whose token stopped working is marked inactive (single workspace and
OAuth, from the Web API's errors and from Slack's `tokens_revoked` / `app_uninstalled`
events): its messages fail at once without calling Slack, its requests change nothing, the
state is visible in `qualibot outbox --failed`, and it clears on a reinstall or a restart
with a token that works, after which `qualibot outbox retry` delivers once. And a 429 that
never ends is given up (no endless loop).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

import bot.cli
from bot.slack.clients import SINGLE_WORKSPACE, InactiveWorkspaces, SlackClients
from bot.slack.dispatch import OutboxDispatcher
from storage.models import Answer, InactiveWorkspace, Lead, OutboxMessage
from tests.bot.dispatchkit import FakeClock, enqueue, handoff_payload, make_dispatcher, row
from tests.bot.slackapp import SlackHarness
from tests.bot.test_slack_safety import install, oauth_slack  # noqa: F401  (fixture)
from tests.fakeslack import FakeSlack, Workspace
from tests.slackreq import SlackRequests

ACME = Workspace.for_team("T0ACME001", "Acme Sales")
GLOBEX = Workspace.for_team("T0GLOBEX1", "Globex Sales")


def count(slack: SlackHarness, model: type) -> int:
    with slack.runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def outbox(slack: SlackHarness) -> list[OutboxMessage]:
    with slack.runtime.sessions() as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        session.expunge_all()
        return rows


def marks(slack: SlackHarness) -> dict[str, str]:
    with slack.runtime.sessions() as session:
        rows = session.execute(select(InactiveWorkspace.team_id, InactiveWorkspace.reason))
        return {team: reason for team, reason in rows}


@contextmanager
def _cli_runtime(sessions: sessionmaker[Session]) -> Iterator[Any]:
    class _Runtime:
        pass

    runtime = _Runtime()
    runtime.sessions = sessions  # type: ignore[attr-defined]
    yield runtime


def cli(slack: SlackHarness, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """Run `qualibot <args>` on the harness's database; its output."""
    monkeypatch.setattr(bot.cli, "_runtime", lambda **_: _cli_runtime(slack.runtime.sessions))
    result = CliRunner().invoke(bot.cli.main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def new_process_dispatcher(slack: SlackHarness) -> OutboxDispatcher:
    """The dispatcher a restarted `qualibot serve` would have (fresh clients and caches)."""
    clients = SlackClients.from_settings(slack.runtime.settings, slack.runtime.engine)
    return OutboxDispatcher(slack.runtime.sessions, clients, lane_interval=0.0,
                            jitter=lambda: 0.0)


# -- one workspace (SLACK_BOT_TOKEN) ---------------------------------------------------------


def test_a_revoked_token_marks_the_workspace_inactive_until_a_restart_with_a_working_token(
    slack: SlackHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    slack.command("bant Acme")
    slack.say("allocated")
    slack.fake.revoke_token(slack.fake.bot_token)
    with caplog.at_level(logging.ERROR):
        slack.deliver()
    first, second = outbox(slack)
    assert first.status == second.status == "failed"
    assert first.last_error == "token_revoked"  # the row that found out
    assert second.last_error is not None and "SLACK_BOT_TOKEN" in second.last_error
    assert "qualibot outbox retry" in second.last_error
    assert marks(slack) == {SINGLE_WORKSPACE: "token_revoked"}
    told = [r for r in caplog.records if "no longer works" in r.getMessage()]
    assert len(told) == 1 and told[0].levelname == "ERROR"  # once, not per message

    # no more calls to Slack for that workspace: further rows fail at once
    calls = len(slack.fake.calls())
    slack.runtime.service.answer_latest("slack", "U0REP0001", "about 80k", team_id="T0QUALI01",
                                        by="U0REP0001")
    slack.deliver()
    assert len(slack.fake.calls()) == calls
    assert outbox(slack)[-1].status == "failed"

    # its requests change nothing; a slash command says why
    refused = slack.command("champ Globex").json()
    assert "lost access" in refused["text"] and "reinstall" in refused["text"]
    answers = count(slack, Answer)
    assert slack.say("I'm the CFO").status_code == 200
    assert count(slack, Answer) == answers and count(slack, Lead) == 1

    listing = cli(slack, monkeypatch, "outbox", "--failed")
    assert "Inactive: the workspace of SLACK_BOT_TOKEN is inactive since" in listing
    assert "token_revoked" in listing and "Send one again with: qualibot outbox retry ID" in listing
    assert "Inactive Slack workspaces: 1" in cli(slack, monkeypatch, "outbox")

    # a restart with a token that works clears the mark; retry delivers each once
    slack.fake.add_workspace(slack.fake.workspace)  # the token works again
    dispatcher = new_process_dispatcher(slack)
    dispatcher._clients.recheck()  # what the dispatcher's thread does first
    assert marks(slack) == {}
    for message in outbox(slack):
        cli(slack, monkeypatch, "outbox", "retry", str(message.id))
    while dispatcher.run_once():
        pass
    assert [m.status for m in outbox(slack)] == ["sent"] * 3
    assert len(slack.dm_messages()) == 3
    assert "Inactive" not in cli(slack, monkeypatch, "outbox", "--failed")


def test_a_restart_with_a_token_that_still_fails_keeps_the_mark(slack: SlackHarness) -> None:
    slack.command("bant Acme")
    slack.fake.revoke_token(slack.fake.bot_token)
    slack.deliver()
    assert SINGLE_WORKSPACE in marks(slack)
    new_process_dispatcher(slack)._clients.recheck()
    assert SINGLE_WORKSPACE in marks(slack)


def test_the_start_up_recheck_survives_a_database_that_is_down(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The dispatcher's thread rechecks the inactive mark first; a database that is down at
    that moment used to raise there and end the thread (nothing delivered until a restart)."""
    unreachable = create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    marks_store = InactiveWorkspaces(sessionmaker(bind=unreachable), single=True)
    clients = SlackClients(bot_token="xoxb-test", inactive=marks_store)
    clients.recheck()  # logs, does not raise
    assert "could not read the inactive-workspace mark" in caplog.text


@pytest.mark.parametrize("error", ["invalid_auth", "account_inactive", "token_expired"])
def test_every_token_error_marks_the_workspace_inactive(
    error: str, fake_slack: FakeSlack, session_factory: sessionmaker[Session]
) -> None:
    """The dispatcher on its own: a token error on a post marks the workspace, the next row
    fails at once without calling Slack."""
    clock = FakeClock()
    dispatcher = make_dispatcher(session_factory, fake_slack, clock)
    dispatcher._clients.inactive = InactiveWorkspaces(session_factory, single=True)
    fake_slack.fail("chat.postMessage", error)
    first = enqueue(session_factory, "handoff", "C0SALES", handoff_payload())
    assert dispatcher.run_once() == 1
    assert row(session_factory, first).last_error == error
    calls = len(fake_slack.calls())
    second = enqueue(session_factory, "handoff", "C0SALES", handoff_payload())
    clock.advance(2)  # past the lane's pacing
    assert dispatcher.run_once() == 1
    assert len(fake_slack.calls()) == calls
    failed = row(session_factory, second)
    assert failed.status == "failed" and f"({error})" in (failed.last_error or "")


# -- several workspaces (OAuth) ----------------------------------------------------------------


@pytest.mark.parametrize("event", ["tokens_revoked", "app_uninstalled"])
def test_oauth_revocation_events_mark_the_workspace_until_it_is_reinstalled(
    event: str, oauth_slack: SlackHarness  # noqa: F811
) -> None:
    install(oauth_slack, ACME)
    install(oauth_slack, GLOBEX)
    oauth_slack.command("bant Acme")  # Acme's question is waiting in the outbox
    request = getattr(oauth_slack.requests, event)()
    assert oauth_slack.send(request).status_code == 200
    assert oauth_slack.send(request.retried(1)).status_code == 200
    assert marks(oauth_slack) == {ACME.team_id: event}

    globex = SlackRequests(workspace=GLOBEX, response_url_base=f"{oauth_slack.fake.url}/r/")
    assert oauth_slack.send(globex.command("/qualify", "champ Initech")).status_code == 200
    oauth_slack.deliver()
    by_team = {m.payload["team_id"]: m for m in outbox(oauth_slack)}
    assert by_team[GLOBEX.team_id].status == "sent"  # other workspaces are unaffected
    acme = by_team[ACME.team_id]
    assert acme.status == "failed" and "workspace T0ACME001 is inactive" in (acme.last_error or "")
    assert "/slack/install" in (acme.last_error or "")
    assert all(c.team_id != ACME.team_id for c in oauth_slack.fake.calls("chat.postMessage"))

    install(oauth_slack, ACME)  # reinstalled: active again
    assert "Starting BANT" in oauth_slack.command("bant Hooli").text
    assert marks(oauth_slack) == {}
    oauth_slack.deliver()
    assert any(c.team_id == ACME.team_id and c.ok
               for c in oauth_slack.fake.calls("chat.postMessage"))


def test_oauth_a_token_error_refuses_that_workspaces_requests_until_reinstalled(
    oauth_slack: SlackHarness,  # noqa: F811
) -> None:
    install(oauth_slack, ACME)
    oauth_slack.command("bant Acme")
    oauth_slack.fake.revoke_token(ACME.bot_token)  # revoked, and we missed the event
    oauth_slack.deliver()
    assert marks(oauth_slack) == {ACME.team_id: "token_revoked"}
    # auth.test is cached per token, so the request reaches our middleware, which refuses
    # it and says why (nothing changed)
    assert "lost access to this workspace" in oauth_slack.command("bant Globex").text
    assert count(oauth_slack, Lead) == 1
    oauth_slack.fake.add_workspace(ACME)
    install(oauth_slack, ACME)
    assert "Starting BANT" in oauth_slack.command("bant Globex").text
    assert count(oauth_slack, Lead) == 2 and marks(oauth_slack) == {}


# -- never an endless loop ---------------------------------------------------------------------


def test_a_429_that_never_ends_is_given_up_visibly(
    fake_slack: FakeSlack, session_factory: sessionmaker[Session]
) -> None:
    clock = FakeClock()
    dispatcher = make_dispatcher(session_factory, fake_slack, clock, max_rate_limited=4)
    fake_slack.rate_limit("chat.postMessage", retry_after=30, times=10)
    message_id = enqueue(session_factory, "handoff", "C0SALES", handoff_payload())
    for _ in range(4):
        assert dispatcher.run_once() == 1
        clock.advance(31)
    failed = row(session_factory, message_id)
    assert failed.status == "failed" and failed.attempts == 4
    assert (failed.last_error or "").startswith("gave up after 4 attempts: ratelimited")
    assert dispatcher.run_once() == 0
    assert not fake_slack.messages("C0SALES")
