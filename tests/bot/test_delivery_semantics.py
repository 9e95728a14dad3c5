"""Delivery semantics from Slack: what Slack's retries, double clicks, two replicas, unhandled
requests, failing listeners and slow dependencies come to.

Already covered elsewhere (not repeated here):

- a retried event (X-Slack-Retry-Num 1-3) has effect once: `test_slack_flow.py::
  test_a_retried_event_has_effect_once`; the same click delivered twice (re-signed, as by a
  second replica): `test_the_same_click_delivered_twice_has_effect_once`; a double click on
  an answer: `test_choice_by_button_and_a_double_click_has_effect_once`; a modal submitted
  twice: `test_slack_commands.py::test_a_modal_submitted_twice_starts_once`; the Home tab
  once per event: `test_slack_safety.py::test_the_home_tab_is_published_once_per_event`.
- Claim once, a second claim refused politely: `test_slack_handoff.py::
  test_claim_once_and_a_second_claim_is_refused_politely`; two claims racing in the service:
  `test_two_replicas_claiming_at_once_one_wins`.
- unhandled event types get 200, also when retried: `test_slack_hostile.py::
  test_an_unknown_event_type_gets_200_so_slack_does_not_retry`, `test_slack_safety.py::
  test_url_verification_and_unhandled_events_get_200`.
- an unexpected listener error is answered 200 with a reference the rep sees:
  `test_slack_safety.py::test_an_unexpected_error_is_logged_with_a_reference_the_rep_sees`.

Here: identical requests sent at the same moment to two servers (two runtimes, two Bolt
apps, one database); a double-clicked Claim sent to both; more kinds of unhandled requests;
what a failing listener answers (and that Slack's retries of it have effect once); and the
ack deadline over real HTTP (uvicorn on loopback) while the database is locked for 5 s or
the Web API is slow.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from slack_bolt import BoltResponse
from sqlalchemy import Engine, func, select

from bot.runtime import build_runtime
from bot.server import create_server
from bot.slack.app import create_bolt_app
from bot.slack.http import WORKING_ON_IT, late_view_errors
from bot.slack.outbox import SlackOutbox
from storage.db import create_engine_for
from storage.models import Answer, Conversation, Lead, OutboxMessage, ProcessedEvent
from tests.bot.slackapp import SALES_CHANNEL, SlackHarness, blocks_text, slack_settings
from tests.bot.test_slack_handoff import qualified_notice
from tests.loopback import serve_in_thread
from tests.slackreq import SignedRequest, actions_from

ANSWERS = [
    "allocated",
    "about $80k a year",
    "I'm the CFO and I sign the contract",
    "Our reps lose 10 hours a week to manual reporting",
    "this quarter",
]
ALICE = "U0ALICE01"
#: Slack gives up on a request after 3 s; the server answers at its 2 s deadline.
SLACK_WAITS = 3.0
LOCK_SECONDS = 5.0


def count(slack: SlackHarness, model: type) -> int:
    with slack.runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def states(slack: SlackHarness) -> list[str]:
    with slack.runtime.sessions() as session:
        return list(session.scalars(select(Conversation.state).order_by(Conversation.id)))


def at_once(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Run the calls in threads released together (as two replicas receiving one delivery)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[], httpx.Response]) -> None:
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.fixture
def replica(
    slack: SlackHarness, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[TestClient]:
    """A second server on the same database: its own runtime (engine, pool, writer lock),
    Bolt app and HTTP front, as another `qualibot serve` process would have."""
    settings = slack_settings(monkeypatch, database_url, tmp_path)
    runtime = build_runtime(settings)
    try:
        app = create_bolt_app(settings, runtime)
        assert app is not None
        runtime.outbox_hooks.append(slack.dispatcher.notify)
        with TestClient(create_server(runtime, slack_app=app)) as http:
            yield http
    finally:
        runtime.close()


def post(http: TestClient, request: SignedRequest) -> httpx.Response:
    response: httpx.Response = http.post(request.path, content=request.body,
                                         headers=request.headers)
    return response


# -- two replicas, one delivery -----------------------------------------------------------------


def test_one_delivery_to_two_replicas_at_once_has_effect_once(
    slack: SlackHarness, replica: TestClient
) -> None:
    command = slack.requests.command("/qualify", "bant Acme")
    first, second = at_once(lambda: slack.send(command), lambda: post(replica, command))
    assert (first.status_code, second.status_code) == (200, 200)
    assert count(slack, Lead) == 1
    slack.deliver()
    assert len(slack.dm_messages()) == 1  # one question, not two

    for answer in ANSWERS:
        event = slack.requests.message_im(answer)
        retry = event.retried(1, "http_timeout")
        responses = at_once(
            lambda e=event: slack.send(e),  # type: ignore[misc]
            lambda e=event: post(replica, e.resigned()),  # type: ignore[misc]
            lambda r=retry: post(replica, r),  # type: ignore[misc]
        )
        assert [r.status_code for r in responses] == [200, 200, 200]
    slack.deliver()
    assert count(slack, Answer) == len(ANSWERS)
    assert states(slack) == ["done"]
    # the first question, then one reply per turn; one handoff notice
    assert len(slack.dm_messages()) == 1 + len(ANSWERS)
    [notice] = slack.channel_messages(SALES_CHANNEL)
    assert "Acme" in notice["text"]
    assert all(c.ok for c in slack.fake.calls("chat.postMessage"))


def test_a_double_clicked_claim_on_two_replicas_claims_once(
    slack: SlackHarness, replica: TestClient
) -> None:
    slack.command("bant Acme")
    for answer in ANSWERS:
        slack.say(answer)
    slack.deliver()
    [notice] = slack.channel_messages(SALES_CHANNEL)
    action = actions_from(notice["blocks"], "claim")
    # a double click: two deliveries with their own action_ts, each sent to another replica
    clicks = [
        slack.requests.block_actions(
            [{**action, "action_ts": f"{time.time() + i:.6f}"}],
            user_id=ALICE, channel_id=SALES_CHANNEL, message=notice,
        )
        for i in range(2)
    ]
    first, second = at_once(lambda: slack.send(clicks[0]), lambda: post(replica, clicks[1]))
    assert (first.status_code, second.status_code) == (200, 200)
    slack.deliver()
    with slack.runtime.sessions() as session:
        assert session.scalars(select(Lead.owner)).one() == ALICE
    # the owner's second click only re-applies the same update (chat.update is idempotent:
    # nothing shows twice) and is not refused
    updates = [json.dumps(c.args["blocks"]) for c in slack.fake.calls("chat.update")]
    assert updates and len(set(updates)) == 1 and f"Claimed by <@{ALICE}>" in updates[0]
    assert len(slack.channel_messages(SALES_CHANNEL)) == 1
    assert slack.fake.ephemeral_messages() == []


# -- requests nothing handles -----------------------------------------------------------------


def test_requests_no_listener_handles_get_200_and_change_nothing(slack: SlackHarness) -> None:
    requests = slack.requests
    unhandled = [
        requests.command("/unknown", "whatever"),
        requests.block_actions([{"type": "button", "action_id": "no_such_button",
                                 "block_id": "x", "value": "1"}]),
        requests.interactive({"type": "shortcut", "callback_id": "no_such_shortcut",
                              "trigger_id": requests.trigger_id(), "team": {"id": "T0QUALI01"},
                              "user": {"id": "U0REP0001"}}),
        requests.view_submission(callback_id="no_such_modal"),
    ]
    for request in unhandled:
        response = slack.send(request)
        assert response.status_code == 200, (request.data, response.text)
        assert slack.send(request.retried(1, "http_error")).status_code == 200
    slack.deliver()
    assert count(slack, Lead) == count(slack, OutboxMessage) == 0
    assert [c.method for c in slack.fake.calls()] in ([], ["auth.test"])  # Bolt's own check


# -- a listener that fails ----------------------------------------------------------------------


def test_a_failing_listener_is_answered_200_and_its_retries_say_it_once(
    slack: SlackHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack retries a non-2xx (up to 3 times) and shows the person an error: a listener that
    raises is answered 200, the person is told once, and nothing is half-done."""
    slack.command("bant Acme")
    slack.deliver()
    question = slack.last_dm()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(slack.runtime.service, "choose", broken)
    click = slack.requests.block_actions(
        [actions_from(question["blocks"], "answer_choice:allocated")],
        channel_id=slack.fake.dm_channel("U0REP0001"), message=question,
    )
    with caplog.at_level(logging.ERROR, logger="bot.slack"):
        responses = [slack.send(click)] + [
            slack.send(click.retried(n, "http_error")) for n in (1, 2, 3)
        ]
    assert [r.status_code for r in responses] == [200] * 4
    slack.deliver()
    told = [m for m in slack.fake.ephemeral_messages() if "something went wrong" in m["text"]]
    assert len(told) == 1  # to the clicker, where they clicked; not once per retry
    assert count(slack, Answer) == 0 and states(slack) == ["budget"]
    assert any("database on fire" in str(r.exc_info) for r in caplog.records if r.exc_info)


def test_an_error_that_cannot_even_be_reported_gets_500_so_slack_retries(
    slack: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one non-2xx answer: nothing was stored and nobody was told, so Slack's retry (at
    most 3) is the only way the turn can still happen."""
    slack.command("bant Acme")
    slack.deliver()
    real_answer = slack.runtime.service.answer_latest

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database gone")

    monkeypatch.setattr(slack.runtime.service, "answer_latest", broken)
    monkeypatch.setattr(SlackOutbox, "dm", broken)  # telling the rep fails too
    event = slack.requests.message_im("allocated")
    assert slack.send(event).status_code == 500
    monkeypatch.setattr(slack.runtime.service, "answer_latest", real_answer)
    assert slack.send(event.retried(1, "http_error")).status_code == 200
    assert slack.send(event.retried(2, "http_error")).status_code == 200
    assert count(slack, Answer) == 1 and states(slack) == ["budget_amount"]


# -- the ack deadline: over real HTTP -------------------------------------------------------------


@contextmanager
def served(slack: SlackHarness) -> Iterator[str]:
    """The harness's runtime and Bolt app under uvicorn on loopback; yields the base URL."""
    api = create_server(slack.runtime, slack_app=slack.app)
    with serve_in_thread(api, name="slack-live") as (url, _port):
        yield url


def timed(url: str, request: SignedRequest) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(url + request.path, content=request.body, headers=request.headers,
                          timeout=30)
    return response, time.monotonic() - started


@contextmanager
def database_locked(engine: Engine, database_url: str, seconds: float) -> Iterator[None]:
    """Another connection holds what every Slack turn needs for `seconds` (from entry):
    SQLite's write lock (an open `BEGIN IMMEDIATE`, on its own engine, as another process
    would), or on PostgreSQL an exclusive lock on the dedupe table every turn inserts into."""
    other = create_engine_for(database_url) if engine.dialect.name == "sqlite" else engine
    ready, done = threading.Event(), threading.Event()

    def hold() -> None:
        with other.begin() as connection:  # SQLite: BEGIN IMMEDIATE (see storage.db)
            if other.dialect.name != "sqlite":
                connection.exec_driver_sql("LOCK TABLE processed_events IN EXCLUSIVE MODE")
            ready.set()
            time.sleep(seconds)
        done.set()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield
    finally:
        assert done.wait(seconds + 10)
        thread.join(5)
        if other is not engine:
            other.dispose()


def wait_until(condition: Callable[[], bool], what: Callable[[], object],
               timeout: float = 30.0) -> None:
    """Poll `condition`; on timeout, fail showing `what()` (the state seen)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out; state: {what()}"
        time.sleep(0.05)


def test_acks_stay_under_3s_while_the_database_is_locked_and_nothing_is_lost_or_doubled(
    slack: SlackHarness, engine: Engine, database_url: str
) -> None:
    slack.command("bant Acme")
    slack.deliver()
    with served(slack) as url:
        with database_locked(engine, database_url, LOCK_SECONDS):
            answer = slack.requests.message_im("allocated")
            # another rep: the same rep's new qualification would race for the answer
            command = slack.requests.command("/qualify", "champ Globex", user_id=ALICE)
            # sent while the lock is held: the answer; Slack's retry of it (Slack gave up
            # waiting, or another replica got it); a slash command; and a forged request
            requests = [answer, answer.retried(1, "http_timeout"), command,
                        answer.resigned(secret="not-the-secret")]
            results: list[tuple[httpx.Response, float]] = [None] * 4  # type: ignore[list-item]

            def send(i: int) -> None:
                results[i] = timed(url, requests[i])

            threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            for _, took in results:
                assert took < SLACK_WAITS, took
            assert [r.status_code for r, _ in results] == [200, 200, 200, 401]
            assert results[2][0].json() == {"response_type": "ephemeral", "text": WORKING_ON_IT}
        # the lock is gone: the work finishes
        wait_until(lambda: count(slack, Lead) == 2 and count(slack, Answer) == 1,
                   lambda: (count(slack, Lead), count(slack, Answer), states(slack)))
        [late] = slack.fake.wait_for("response_url", timeout=20)
        assert "Globex" in json.dumps(late.args) and late.args["response_type"] == "ephemeral"
    slack.deliver()
    assert count(slack, Answer) == 1 and count(slack, Lead) == 2
    assert states(slack) == ["budget_amount", "challenges"]
    replies = [m for m in slack.dm_messages() if "budget_amount" in blocks_text(m)]
    assert len(replies) == 1
    assert len(slack.fake.calls("response_url")) == 1
    assert count(slack, ProcessedEvent) >= 2


def test_modal_errors_found_after_the_deadline_reach_the_rep_in_a_dm(
    slack: SlackHarness, engine: Engine, database_url: str
) -> None:
    # A modal submission answered at the deadline has closed; errors its dispatch finds
    # later (here: the lead is gone, found once the locked database frees) are DMed.
    notice = qualified_notice(slack)
    slack.click(notice, "nurture", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    [opened] = slack.fake.calls("views.open")
    view = dict(opened.response["view"])
    metadata = json.loads(view["private_metadata"])
    view["private_metadata"] = json.dumps({**metadata, "lead": 999_999})
    submission = slack.requests.view_submission(
        view, values={"reason": {"reason": "Budget <!here> next year"}}, user_id=ALICE
    )
    queued = count(slack, OutboxMessage)
    with served(slack) as url:
        with database_locked(engine, database_url, LOCK_SECONDS):
            response, took = timed(url, submission)
            assert response.status_code == 200 and took < SLACK_WAITS, took
            assert response.text == ""  # Slack closes the modal: nothing more can show there
        wait_until(lambda: count(slack, OutboxMessage) > queued,
                   lambda: count(slack, OutboxMessage))
    slack.deliver()
    [told] = slack.dm_messages(ALICE)
    assert "was not saved" in told["text"] and "There is no lead 999999" in told["text"]
    assert "Please open it again" in told["text"]
    assert count(slack, Lead) == 1
    with slack.runtime.sessions() as session:
        assert session.scalars(select(Lead.status)).one() == "qualified"  # nothing changed


def test_late_modal_errors_name_each_field_and_are_escaped() -> None:
    body = {"view": {"title": {"type": "plain_text", "text": "Qualify <a> lead"}, "blocks": [
        {"type": "section", "block_id": "intro", "text": {"type": "mrkdwn", "text": "Hi"}},
        {"type": "input", "block_id": "question:budget",
         "label": {"type": "plain_text", "text": "Budget"}},
    ]}}
    errors = {"question:budget": "Can't read <!channel> & co", "question:other": "Too long"}
    response = BoltResponse(
        status=200, body=json.dumps({"response_action": "errors", "errors": errors})
    )
    text = late_view_errors(body, response)
    assert text is not None
    assert "*Budget*: Can't read &lt;!channel&gt; &amp; co" in text
    assert "*question:other*: Too long" in text  # a block without a label: its id
    assert "<!channel>" not in text and "Qualify &lt;a&gt; lead" in text
    # a submission that succeeded (or got no errors) tells nothing
    assert late_view_errors(body, BoltResponse(status=200, body="")) is None
    closed = BoltResponse(status=200, body=json.dumps({"response_action": "clear"}))
    assert late_view_errors(body, closed) is None


def test_acks_stay_under_3s_while_the_web_api_is_slow(slack: SlackHarness) -> None:
    slack.command("bant Acme")
    slack.deliver()
    slack.fake.slow("views.open", LOCK_SECONDS)
    slack.fake.slow("chat.postMessage", LOCK_SECONDS)
    slack.dispatcher.start()  # delivers in the background, slowly
    try:
        with served(slack) as url:
            form, took = timed(url, slack.requests.command("/qualify", ""))
            assert form.status_code == 200 and took < SLACK_WAITS, took
            for text in ANSWERS[:3]:
                acked, took = timed(url, slack.requests.message_im(text))
                assert acked.status_code == 200 and took < SLACK_WAITS, took
            [opened] = slack.fake.wait_for("views.open", timeout=20)
            assert opened.ok  # the modal still opened, once
            wait_until(lambda: len(slack.dm_messages()) >= 4,
                       lambda: (slack.dm_messages(), slack.fake.calls()), timeout=40)
    finally:
        slack.dispatcher.stop()
    assert count(slack, Answer) == 3
    assert len(slack.fake.calls("views.open")) == 1
    assert len(slack.dm_messages()) == 4  # first question + one reply per answer
