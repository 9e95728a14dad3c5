"""Crashes: `qualibot serve` killed with SIGKILL at random moments loses nothing.

The real server runs as a process (`tests.reliability.procs.ServeProcess`) on the test
database, Slack played by the fake Web API in this process. Reps qualify leads in their DM
(a signed `/qualify bant <company>`, then signed `message` events) and website visitors in
the widget, all at once, while the server is killed (SIGKILL: no cleanup, no graceful
shutdown) `KILLS` times at random moments and restarted on the same port each time.

The clients behave like the real ones:

* Slack re-delivers an event whose delivery failed (connection refused or reset, 5xx),
  with the same `event_id` and `X-Slack-Retry-Num` / `X-Slack-Retry-Reason`; a rep whose
  `/qualify` failed types it again (Slack never retries a slash command).
* The widget re-sends a message whose request failed, with the same `message_id`; a
  browser whose new session failed asks again.

At the end (after the outbox is drained and the server stopped) every answer that was
acknowledged is stored exactly once, in order, in the right conversation; every
conversation's state matches its answers, completed ones are scored once and handed off at
most once; every outbox row was sent, and the fake Slack holds exactly one message per
outbox id (the dispatcher puts it in `metadata.event_payload.outbox_id`).

It runs in CI (not marked slow: about a minute). Replay a failure with the seed it printed:
`QUALIBOT_CRASH_SEED=<seed> pytest -s tests/reliability/test_crash.py` (thread timing
still varies; the kill schedule and the answers do not). `QUALIBOT_CRASH_KILLS` sets the
number of kills.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from flows.engine import DONE, FlowState
from storage.db import create_engine_for
from storage.models import Answer, Conversation, Lead, OutboxMessage, Score
from tests.bot.slackapp import wipe
from tests.fakeslack import FakeSlack
from tests.reliability.procs import (
    DEFAULT_HANDOFF_CHANNEL,
    ServeProcess,
    WidgetClient,
    WidgetSession,
    send_signed,
)
from tests.slackreq import SlackRequests, dm_channel

KILLS = int(os.environ.get("QUALIBOT_CRASH_KILLS", "20"))
REPS = 5
VISITORS = 3
LEASE_SECONDS = 2
POST_LATENCY = 0.2
#: How long a client keeps re-sending one request while the server is down or restarting.
GIVE_UP_AFTER = 30.0
CONTACT_QUESTIONS = ("name", "email", "company", "consent")

#: BANT answers, typed, in the order asked (the budget amount only follows a budget).
PROFILES: dict[str, tuple[str, ...]] = {
    "qualified": (
        "approved",
        "60k a year",
        "the CFO, final decision maker",
        "our reps spend 10 hours a week on manual reporting",
        "within 2 months",
    ),
    "nurture": (
        "planned",
        "20k a year",
        "IT manager, recommends to the COO",
        "we need one tool for our three regional sales teams",
        "early next year",
    ),
    "disqualified": (
        "no budget",
        "analyst, will use it day to day",
        "reporting is slow for the whole team",
        "within 12 months",
    ),
}
INBOUND_CHANNEL = "C0INBOUND"
INBOUND_REPS = ("U0DAN", "U0ERIN")
#: The load is the test's own (one client IP); website leads go to their own channel and
#: are assigned round-robin (an owner and a DM to them, in the handoff's transaction).
SERVER_TOML = f"""
[widget]
sessions_per_hour = 100000
messages_per_minute = 100000

[[handoff.rules]]
name = "inbound"
source = "widget"
channel = "{INBOUND_CHANNEL}"
assign = ["U0DAN", "U0ERIN"]
"""


class Retriable(Exception):
    """The request failed the way a crash makes requests fail: send it again."""


@dataclass
class Tally:
    """What the clients did, for the assertions and the figures."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    #: rep user -> answers acknowledged with 200, in order
    rep_answers: dict[str, list[str]] = field(default_factory=dict)
    #: widget session id -> answers acknowledged with 200, in order
    visitor_answers: dict[str, list[str]] = field(default_factory=dict)
    commands: int = 0
    sessions: int = 0
    #: (request kind, how it failed) -> count: `refused` (the server was down: nothing
    #: reached it), `lost` (the connection died with the request sent: it may or may not
    #: have been handled), `5xx`
    failed_requests: Counter[tuple[str, str]] = field(default_factory=Counter)

    def failed(self, what: str, how: str) -> None:
        with self.lock:
            self.failed_requests[what, how] += 1


def _retrying(
    what: str, tally: Tally, stop_at: float, send: Callable[[int], httpx.Response]
) -> httpx.Response:
    """`send(attempt)` until it gets an answer that is not a crash symptom (a connection
    error or a 5xx); attempt 0 is the first."""
    attempt = 0
    while True:
        try:
            response = send(attempt)
            if response.status_code < 500:
                return response
            tally.failed(what, "5xx")
        except httpx.ConnectError:
            tally.failed(what, "refused")
        except httpx.TransportError:
            tally.failed(what, "lost")
        if time.monotonic() > stop_at:
            raise AssertionError(f"{what}: no answer after {GIVE_UP_AFTER:g}s of retries")
        attempt += 1
        time.sleep(0.1)


def _rep(
    index: int, base_url: str, fake: FakeSlack, tally: Tally, seed: int, stop: threading.Event
) -> None:
    """A rep qualifying one lead after another in the DM until `stop`."""
    rng = random.Random(f"{seed}:rep:{index}")
    user = f"U0CRASH{index:02d}"
    requests = SlackRequests(user_id=user, user_name=f"rep{index}")
    channel = dm_channel(user)
    answered: list[str] = tally.rep_answers.setdefault(user, [])
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        number = 0
        while not stop.is_set():
            number += 1
            profile = PROFILES[rng.choice(sorted(PROFILES))]
            seen = len(fake.messages(channel))

            def command(attempt: int, company: str = f"Rep{index} Co {number}") -> httpx.Response:
                # Slack does not retry slash commands: the rep types it again (a new request).
                return send_signed(http, requests.command("/qualify", f"bant {company}"))

            response = _retrying("slash command", tally, time.monotonic() + GIVE_UP_AFTER,
                                 command)
            assert response.status_code == 200, response.text
            with tally.lock:
                tally.commands += 1
            for text in profile:
                # A rep reads the question (it may come late after a crash), then types.
                _wait_for_new_message(fake, channel, seen, timeout=15.0)
                time.sleep(rng.uniform(0.0, 0.8))
                seen = len(fake.messages(channel))
                event = requests.message_im(text, user_id=user)

                def deliver(attempt: int, event: Any = event) -> httpx.Response:
                    request = event if attempt == 0 else event.retried(
                        min(attempt, 3), rng.choice(["http_timeout", "http_error"])
                    )
                    return send_signed(http, request)

                response = _retrying("DM answer event", tally,
                                     time.monotonic() + GIVE_UP_AFTER, deliver)
                assert response.status_code == 200, response.text
                answered.append(text)


def _wait_for_new_message(fake: FakeSlack, channel: str, seen: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(fake.messages(channel)) <= seen and time.monotonic() < deadline:
        time.sleep(0.02)


def _visitor(
    index: int, base_url: str, tally: Tally, seed: int, stop: threading.Event
) -> None:
    """A website visitor after another, each answering every question, until `stop`."""
    rng = random.Random(f"{seed}:visitor:{index}")
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        widget = WidgetClient(http)
        number = 0
        while not stop.is_set():
            number += 1
            profile = PROFILES[rng.choice(sorted(PROFILES))]
            name = f"visitor{index}n{number}"
            body = {
                "framework": "bant",
                "contact": {
                    "name": f"Visitor {index}-{number}",
                    "email": f"{name}-{uuid.uuid4().hex[:6]}@example.com",
                    "company": f"Web{index} Co {number}",
                },
                "consent": True,
            }
            created: list[WidgetSession] = []
            response = _retrying(
                "widget session", tally, time.monotonic() + GIVE_UP_AFTER,
                partial(_create_session, http, body, created),
            )
            assert response.status_code == 201, response.text
            session = created[-1]
            answered = tally.visitor_answers.setdefault(session.session_id, [])
            with tally.lock:
                tally.sessions += 1
            for text in profile:
                send = partial(_send_message, widget, session, text, uuid.uuid4().hex)
                response = _retrying(
                    "widget message", tally, time.monotonic() + GIVE_UP_AFTER, send
                )
                assert response.status_code == 200, response.text
                answered.append(text)
                time.sleep(rng.uniform(0.0, 0.3))  # reading, typing


def _create_session(
    http: httpx.Client, body: dict[str, Any], created: list[WidgetSession], attempt: int
) -> httpx.Response:
    """A browser whose request for a session failed asks again: a new session (the first
    may exist, never answered; that is fine)."""
    response = http.post("/widget/api/sessions", json=body)
    if response.status_code == 201:
        data = response.json()
        created.append(
            WidgetSession(data["session_id"], data["token"], data["resume_code"], data["messages"])
        )
    return response


def _send_message(
    widget: WidgetClient, session: WidgetSession, text: str, message_id: str, attempt: int
) -> httpx.Response:
    """embed.js re-sends a failed message with the same `message_id`."""
    return widget.send(session, text=text, message_id=message_id)


@pytest.fixture
def crash_database(request: pytest.FixtureRequest, database_url: str, tmp_path: Path
                   ) -> Iterator[Engine]:
    """SQLite: a new file (the server creates and migrates it). PostgreSQL: the test
    database, migrated by the `engine` fixture and emptied before and after."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'crash.db'}"
        engine = create_engine_for(url)
        yield engine
        engine.dispose()
        return
    engine = request.getfixturevalue("engine")
    wipe(engine)
    try:
        yield engine
    finally:
        wipe(engine)


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    crash_database: Engine, tmp_path: Path
) -> None:
    seed = int(os.environ.get("QUALIBOT_CRASH_SEED") or random.randrange(1 << 32))
    print(f"crash test seed: {seed} (replay with QUALIBOT_CRASH_SEED={seed})")
    rng = random.Random(seed)
    tally = Tally()
    stop = threading.Event()
    url = crash_database.url.render_as_string(hide_password=False)
    with FakeSlack() as fake:
        server = ServeProcess(
            tmp_path / "serve",
            database_url=url,
            slack=fake,
            toml=SERVER_TOML,
            env={"QUALIBOT_OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS)},
        )
        # Slack answers a post after a moment, as it does: a kill then often lands between
        # the post and its record (the dispatcher must find it in the history, not post it
        # again).
        fake.slow("chat.postMessage", POST_LATENCY, times=1_000_000)
        server.start()
        failures: list[BaseException] = []

        def run(target: Callable[..., None], *args: Any) -> threading.Thread:
            def guarded() -> None:
                try:
                    target(*args)
                except BaseException as exc:  # reported by the test thread
                    failures.append(exc)
                    stop.set()

            thread = threading.Thread(target=guarded, daemon=True)
            thread.start()
            return thread

        started = time.monotonic()
        clients = [
            run(_rep, i, server.base_url, fake, tally, seed, stop) for i in range(1, REPS + 1)
        ] + [
            run(_visitor, i, server.base_url, tally, seed, stop)
            for i in range(1, VISITORS + 1)
        ]
        kills = 0
        try:
            for _ in range(KILLS):
                if stop.is_set():
                    break
                time.sleep(rng.uniform(0.1, 0.6))
                server.kill()
                kills += 1
                server.restart()
            time.sleep(0.5)
        finally:
            stop.set()
            for thread in clients:
                thread.join(GIVE_UP_AFTER + 20)
        if failures:
            raise failures[0]
        killing = time.monotonic() - started
        _wait_until_drained(crash_database, timeout=LEASE_SECONDS + 30, server=server)
        server.stop()
        elapsed = time.monotonic() - started

        assert kills == KILLS
        outbox = _check_database(crash_database, tally)
        _check_slack(fake, outbox)
        reconciled = sum(1 for row in outbox if (row.result or {}).get("reconciled"))
        log = server.log_path.read_text(encoding="utf-8", errors="replace")
        checked = log.count("an earlier delivery attempt never finished")
        print(
            f"crash test: {kills} SIGKILLs in {killing:.1f}s ({elapsed:.1f}s with the "
            f"drain); {tally.commands} /qualify, "
            f"{sum(map(len, tally.rep_answers.values()))} DM answers, {tally.sessions} widget "
            f"sessions, {sum(map(len, tally.visitor_answers.values()))} widget answers, "
            f"{len(outbox)} outbox messages ({checked} checked against Slack after a crash, "
            f"{reconciled} of them found already posted); failed requests, all re-sent: "
            + ", ".join(f"{w} {h}: {n}" for (w, h), n in sorted(tally.failed_requests.items()))
        )


def _wait_until_drained(engine: Engine, *, timeout: float, server: ServeProcess) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as connection:
            pending = connection.execute(
                select(OutboxMessage.id).where(OutboxMessage.status == "pending")
            ).scalars().all()
        if not pending:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"outbox rows still pending after {timeout}s: {pending}\n{server.log_tail()}"
            )
        time.sleep(0.1)


def _check_database(engine: Engine, tally: Tally) -> list[OutboxMessage]:
    from sqlalchemy.orm import Session

    from bot.config import Settings
    from bot.registry import FlowRegistry
    from flows.definitions import load_frameworks

    config = Settings(_env_file=None).load_file_config()  # type: ignore[call-arg]
    flows = FlowRegistry(load_frameworks(config.framework_dirs, config.frameworks), config.icp)
    with Session(engine) as session:
        conversations = session.scalars(select(Conversation).order_by(Conversation.id)).all()
        answers = session.scalars(select(Answer).order_by(Answer.id)).all()
        scores = session.scalars(select(Score)).all()
        outbox = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all())
        leads = {lead.id: lead for lead in session.scalars(select(Lead)).all()}
        public_ids = {str(c.public_id): c.id for c in conversations}
        by_conversation: dict[int, list[Answer]] = {}
        for answer in answers:
            by_conversation.setdefault(answer.conversation_id, []).append(answer)

        # Every acknowledged answer stored once, in order, in its conversation.
        for user, sent in tally.rep_answers.items():
            stored = [
                a.raw_text for c in conversations if c.participant == user
                for a in by_conversation.get(c.id, [])
            ]
            assert stored == sent, f"rep {user}: stored {stored}, acknowledged {sent}"
        for public_id, sent in tally.visitor_answers.items():
            conversation_id = public_ids[public_id]
            stored = [
                a.raw_text for a in by_conversation.get(conversation_id, [])
                if a.question_id not in CONTACT_QUESTIONS
            ]
            assert stored == sent, f"widget {public_id}: stored {stored}, acknowledged {sent}"

        # Every conversation consistent: its state, its answers, its score and its notices.
        score_count = Counter(s.conversation_id for s in scores)
        replies = Counter(
            m.payload.get("conversation_id") for m in outbox if m.kind == "reply"
        )
        handoffs = Counter(m.payload.get("conversation_id") for m in outbox if m.kind == "handoff")
        assigned_dms: Counter[str] = Counter()
        for conversation in conversations:
            where = f"conversation {conversation.id} ({conversation.channel})"
            flow = flows.get(conversation.framework)
            model = FlowState.from_data(conversation.state, conversation.data)
            stored_answers = by_conversation.get(conversation.id, [])
            questions = [a.question_id for a in stored_answers]
            assert len(questions) == len(set(questions)), f"{where}: answered twice: {questions}"
            assert {q: a.raw_text for q, a in zip(questions, stored_answers, strict=True)} == {
                q: r["raw"] for q, r in model.answers.items()
            }, f"{where}: the state's answers and the stored answers differ"
            if conversation.state == DONE:
                assert conversation.completed_at is not None, where
                assert score_count[conversation.id] == 1, f"{where}: scored {score_count}"
                [score] = [s for s in scores if s.conversation_id == conversation.id]
                assert leads[conversation.lead_id].verdict == score.verdict, where
                assert handoffs[conversation.id] == (score.verdict == "qualified"), where
                lead = leads[conversation.lead_id]
                if score.verdict == "qualified" and conversation.channel == "widget":
                    assert lead.owner in INBOUND_REPS, f"{where}: owner {lead.owner}"
                    assigned_dms[lead.owner] += 1
            else:
                assert conversation.state in flow.by_id, f"{where}: state {conversation.state}"
                assert conversation.state not in model.answers, where
                assert score_count[conversation.id] == 0, where
                assert handoffs[conversation.id] == 0, where
            if conversation.channel == "slack":
                # One reply per turn (the start, then each answer), written with the turn.
                turns = 1 + len(stored_answers)
                assert replies[conversation.id] == turns, f"{where}: {replies[conversation.id]}"
        # The owner of each assigned lead got one DM about it (same transaction).
        dms = Counter(m.payload.get("user") for m in outbox if m.kind == "dm")
        assert dms == assigned_dms, (dms, assigned_dms)
        assert [m.id for m in outbox if m.status != "sent"] == [], [
            (m.id, m.status, m.last_error) for m in outbox if m.status != "sent"
        ]
        for row in outbox:
            session.expunge(row)
        return outbox


def _check_slack(fake: FakeSlack, outbox: list[OutboxMessage]) -> None:
    """Exactly one message in Slack per outbox row, where the row says it went."""
    posted: Counter[int] = Counter()
    where: dict[int, tuple[str, str]] = {}
    for channel, messages in _all_messages(fake).items():
        for message in messages:
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if "outbox_id" in payload:
                outbox_id = int(payload["outbox_id"])
                posted[outbox_id] += 1
                where[outbox_id] = (channel, message["ts"])
    twice = {k: n for k, n in posted.items() if n > 1}
    assert not twice, f"outbox messages posted more than once: {twice}"
    missing = [row.id for row in outbox if row.id not in posted]
    assert not missing, f"outbox messages never posted: {missing}"
    for row in outbox:
        result = row.result or {}
        assert (result.get("channel"), result.get("ts")) == where[row.id], (row.id, result)
    handoff_channels = {where[r.id][0] for r in outbox if r.kind == "handoff"}
    assert handoff_channels <= {DEFAULT_HANDOFF_CHANNEL, INBOUND_CHANNEL}


def _all_messages(fake: FakeSlack) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for message in fake.messages():
        out.setdefault(str(message.get("channel", "?")), []).append(message)
    return out


def test_outbox_lease_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`QUALIBOT_OUTBOX_LEASE_SECONDS` reaches the server's dispatcher (the crash test above
    relies on it); the default stays long, and nonsense is refused at start-up."""
    from pydantic import ValidationError

    from bot.config import Settings
    from bot.runtime import build_runtime
    from bot.slack.app import build_slack

    monkeypatch.setenv("QUALIBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'lease.db'}")
    monkeypatch.setenv("QUALIBOT_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-lease")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "lease-secret")
    for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("QUALIBOT_OUTBOX_LEASE_SECONDS", raising=False)
    assert Settings(_env_file=None).outbox_lease_seconds == 120.0  # type: ignore[call-arg]
    monkeypatch.setenv("QUALIBOT_OUTBOX_LEASE_SECONDS", "0")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]

    monkeypatch.setenv("QUALIBOT_OUTBOX_LEASE_SECONDS", "7.5")
    runtime = build_runtime(Settings(_env_file=None))  # type: ignore[call-arg]
    try:
        stack = build_slack(runtime)
        assert stack is not None
        assert stack.dispatcher.lease_seconds == 7.5
    finally:
        runtime.close()
