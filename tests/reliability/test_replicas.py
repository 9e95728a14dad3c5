"""Two `qualibot serve` replicas on one PostgreSQL lose nothing and say nothing twice.

Two real server processes on different ports share the test database and one fake Slack.
200 conversations run at once (100 Slack DM flows started by signed `/qualify` commands, 100
widget sessions), every turn sent to a random replica. On top of that, as Slack and browsers
really do:

* some deliveries go to BOTH replicas at the same moment (the same Slack `event_id`, the
  same widget `message_id`): they must have effect once;
* some turns race: the same answer sent twice as two different deliveries, one to each
  replica, at once. Both are real turns (the second answers the next question): optimistic
  locking must make the loser re-run on fresh data instead of overwriting the winner;
* some handoff notices get a double-clicked **Claim** (two clicks, one per replica, and the
  first click delivered to both): one claim, one notice update.

Then: every turn that got a success response is stored once (answers per question, and the
conversation's version counts exactly the turns processed: a lost update would leave it
short), every conversation ends `done` with the verdict its answers deserve, every outbox row
was delivered and is in the fake Slack exactly once (the outbox id travels in each message's
metadata), every qualified lead has exactly one notice, and both replicas delivered a fair
share of the outbox (`FOR UPDATE SKIP LOCKED` spreads the work). Replica A reaches the fake
Slack as `127.0.0.1`, replica B as `localhost`, so the `Host` header of each post says which
replica sent it.

PostgreSQL only: SQLite is single-process by design (docs/DEPLOY.md); CI runs the suite on
PostgreSQL too. Seeded: set `REPLICAS_SEED` to replay a run (the seed is printed).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from storage.models import Answer, Conversation, Lead, OutboxMessage
from tests.bot.slackapp import wipe
from tests.fakeslack import FakeSlack
from tests.reliability.procs import BANT_NURTURE, BANT_QUALIFYING, ServeProcess
from tests.slackreq import SignedRequest, SlackRequests, actions_from

SLACK_CONVERSATIONS = 100
WIDGET_CONVERSATIONS = 100
IN_FLIGHT = 24  # requests in flight at once, over both replicas
REP_CHANNEL = "C0SALES01"  # QUALIBOT_HANDOFF_CHANNEL (ServeProcess's default)
WEB_CHANNEL = "C0WEBSALES1"  # widget leads, by a routing rule
TOML = f"""
[widget]
sessions_per_hour = 0
messages_per_minute = 0
events_per_minute = 0

[[handoff.rules]]
source = "widget"
channel = "{WEB_CHANNEL}"
"""
QUESTIONS = ["budget", "budget_amount", "authority", "need", "timeline"]
RACE_AT = 2  # a racing conversation sends its authority answer twice at once (-> need too)
CLAIMS = 8  # notices that get a double-clicked Claim
DRAIN_SECONDS = 120.0
#: Slack conversations start at version 2 (the first question asked); each turn adds one.
SLACK_START_VERSION = 2


@dataclass
class Plan:
    """One conversation: what is answered, and which turns are doubled or raced."""

    key: str  # the Slack user id, or the widget's company name
    qualified: bool
    race: bool
    duplicates: set[int]  # turn indexes delivered to both replicas at once
    session: dict[str, str] = field(default_factory=dict)  # widget: session id and token
    turns: int = 0  # deliveries with effect (a duplicate counts once)

    @property
    def script(self) -> list[str]:
        return BANT_QUALIFYING if self.qualified else BANT_NURTURE

    def expected_answers(self) -> dict[str, str]:
        texts = list(self.script)
        if self.race:
            texts[RACE_AT + 1] = texts[RACE_AT]
        return dict(zip(QUESTIONS, texts, strict=True))


@dataclass
class Driver:
    """Sends requests to the two replicas with bounded concurrency and records failures."""

    replicas: list[httpx.AsyncClient]
    rng: random.Random
    limit: asyncio.Semaphore
    failures: list[str] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)

    def pick(self) -> httpx.AsyncClient:
        return self.rng.choice(self.replicas)

    async def post(
        self, client: httpx.AsyncClient, path: str, expect: int, **kwargs: Any
    ) -> httpx.Response | None:
        async with self.limit:
            try:
                response = await client.post(path, **kwargs)
            except httpx.HTTPError as exc:
                self.failures.append(f"{client.base_url}{path}: {exc!r}")
                return None
        self.requests[str(client.base_url)] += 1
        if response.status_code != expect:
            self.failures.append(
                f"{client.base_url}{path}: {response.status_code} {response.text[:300]}"
            )
            return None
        return response

    async def slack(self, client: httpx.AsyncClient, request: SignedRequest) -> bool:
        response = await self.post(
            client, request.path, 200, content=request.body, headers=request.headers
        )
        return response is not None

    async def slack_everywhere(self, *deliveries: tuple[httpx.AsyncClient, SignedRequest]) -> None:
        await asyncio.gather(*(self.slack(client, req) for client, req in deliveries))


async def slack_conversation(driver: Driver, slack: SlackRequests, plan: Plan) -> None:
    """A rep: `/qualify bant <company>`, then the answers in the DM, each to any replica."""
    await asyncio.sleep(driver.rng.random() * 2)  # reps do not all start at the same instant
    a, b = driver.replicas
    command = slack.command("/qualify", f"bant Replica Co {plan.key}", user_id=plan.key)
    if not await driver.slack(driver.pick(), command):
        return
    script = plan.script
    index = 0
    while index < len(script):
        if plan.race and index == RACE_AT:
            # the same words sent twice, as two deliveries: two turns (authority, then need)
            first = slack.message_im(script[index], user_id=plan.key)
            second = slack.message_im(script[index], user_id=plan.key)
            await driver.slack_everywhere((a, first), (b, second))
            plan.turns += 2
            index += 2
            continue
        event = slack.message_im(script[index], user_id=plan.key)
        if index in plan.duplicates:  # Slack delivering one event to both replicas at once
            await driver.slack_everywhere((a, event), (b, event))
        else:
            await driver.slack(driver.pick(), event)
        plan.turns += 1
        index += 1
        await asyncio.sleep(driver.rng.random() * 0.2)


async def widget_conversation(driver: Driver, plan: Plan) -> None:
    """A visitor on the website: contact given up front, then the answers, each to any
    replica; the first answer is a click on a quick reply."""
    await asyncio.sleep(driver.rng.random() * 2)
    body = {
        "framework": "bant",
        "contact": {
            "name": "Visitor",
            "email": f"{plan.key.lower().replace(' ', '-')}@example.com",
            "company": plan.key,
        },
        "consent": True,
    }
    created = await driver.post(driver.pick(), "/widget/api/sessions", 201, json=body)
    if created is None:
        return
    data = created.json()
    plan.session = {"id": data["session_id"], "token": data["token"]}
    path = f"/widget/api/sessions/{data['session_id']}/messages"
    headers = {"Authorization": f"Bearer {data['token']}"}
    a, b = driver.replicas
    script = plan.script
    index = 0
    while index < len(script):
        message: dict[str, Any] = (
            {"choice": script[index]} if index == 0 else {"text": script[index]}
        )
        if plan.race and index == RACE_AT:
            await asyncio.gather(
                driver.post(a, path, 200, headers=headers,
                            json={**message, "message_id": uuid.uuid4().hex}),
                driver.post(b, path, 200, headers=headers,
                            json={**message, "message_id": uuid.uuid4().hex}),
            )
            plan.turns += 2
            index += 2
            continue
        message["message_id"] = uuid.uuid4().hex
        if index in plan.duplicates:  # a re-sent message that reached both replicas
            await asyncio.gather(
                driver.post(a, path, 200, headers=headers, json=message),
                driver.post(b, path, 200, headers=headers, json=message),
            )
        else:
            await driver.post(driver.pick(), path, 200, headers=headers, json=message)
        plan.turns += 1
        index += 1
        await asyncio.sleep(driver.rng.random() * 0.2)


def make_plans(rng: random.Random, prefix: str, count: int) -> list[Plan]:
    plans = []
    for i in range(count):
        race = i % 5 == 1
        turns = [t for t in range(len(QUESTIONS)) if not (race and t in (RACE_AT, RACE_AT + 1))]
        duplicates = {t for t in turns if rng.random() < 0.2}
        key = f"U0RPL{i:04d}" if prefix == "slack" else f"Web Co {i:03d}"
        plans.append(Plan(key, qualified=i % 5 == 0, race=race, duplicates=duplicates))
    return plans


def drain(engine: Engine, replicas: list[ServeProcess], timeout: float = DRAIN_SECONDS) -> None:
    """Wait until no outbox row is pending (both dispatchers keep running)."""
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as connection:
            pending = connection.scalar(
                select(func.count()).select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending")
            )
        if not pending:
            return
        for replica in replicas:
            assert replica.alive, f"a replica died:\n{replica.log_tail()}"
        assert time.monotonic() < deadline, f"{pending} outbox rows still pending"
        time.sleep(0.25)


async def double_claims(driver: Driver, slack: SlackRequests, notices: list[dict[str, Any]],
                        ) -> dict[str, str]:
    """Each notice: one rep's double click (two deliveries, one per replica) plus the first
    click delivered to both replicas. Returns notice ts -> the rep."""
    a, b = driver.replicas
    claimed: dict[str, str] = {}
    clicks = []
    for n, notice in enumerate(notices):
        rep = f"U0CLAIM{n:03d}"
        action = actions_from(notice["blocks"], "claim")
        first = slack.block_actions(
            [{**action, "action_ts": f"{time.time():.6f}"}], user_id=rep,
            channel_id=REP_CHANNEL, message=notice,
        )
        second = slack.block_actions(
            [{**action, "action_ts": f"{time.time() + 0.25:.6f}"}], user_id=rep,
            channel_id=REP_CHANNEL, message=notice,
        )
        clicks.append(driver.slack_everywhere((a, first), (b, second), (b, first)))
        claimed[notice["ts"]] = rep
    await asyncio.gather(*clicks)
    return claimed


@pytest.fixture
def clean(engine: Engine) -> Iterator[Engine]:
    if engine.dialect.name != "postgresql":
        pytest.skip(
            "two replicas need PostgreSQL (row locks, SKIP LOCKED); SQLite is single-process "
            "by design. Run with TEST_DATABASE_URL=postgresql+psycopg://... (CI does)."
        )
    wipe(engine)
    yield engine
    wipe(engine)


def test_two_replicas_share_one_postgresql_and_lose_nothing(
    clean: Engine, database_url: str, tmp_path: Path
) -> None:
    seed = int(os.environ.get("REPLICAS_SEED") or random.randrange(1 << 32))
    print(f"replicas test seed: {seed} (REPLICAS_SEED={seed} replays it)")
    rng = random.Random(seed)
    slack_plans = make_plans(rng, "slack", SLACK_CONVERSATIONS)
    widget_plans = make_plans(rng, "widget", WIDGET_CONVERSATIONS)
    requests = SlackRequests()

    with FakeSlack() as fake:
        # Slack's pacing: a second post into a channel within a second gets 429. Each
        # dispatcher paces its own posts; two replicas may still post into one lane less than
        # a second apart, and must then honour Retry-After (docs/DEPLOY.md, "Caveats").
        fake.limit_channel_rate(1)
        replica_a = ServeProcess(tmp_path / "a", database_url=database_url, slack=fake,
                                 toml=TOML, name="a", log_level="info")
        replica_b = ServeProcess(
            tmp_path / "b", database_url=database_url, slack=fake, toml=TOML, name="b",
            env={"SLACK_API_URL": fake.api_url.replace("127.0.0.1", "localhost")},
            log_level="info",
        )
        with replica_a, replica_b:
            replicas = [replica_a, replica_b]

            async def conversations() -> tuple[Driver, float]:
                async with (
                    httpx.AsyncClient(base_url=replica_a.base_url, timeout=30) as a,
                    httpx.AsyncClient(base_url=replica_b.base_url, timeout=30) as b,
                ):
                    driver = Driver([a, b], rng, asyncio.Semaphore(IN_FLIGHT))
                    started = time.monotonic()
                    await asyncio.gather(
                        *(slack_conversation(driver, requests, p) for p in slack_plans),
                        *(widget_conversation(driver, p) for p in widget_plans),
                    )
                    return driver, time.monotonic() - started

            driver, took = asyncio.run(conversations())
            plans = slack_plans + widget_plans
            print(f"{len(plans)} conversations in {took:.1f}s; requests per replica: "
                  f"{dict(driver.requests)}; turns delivered to both replicas at once: "
                  f"{sum(len(p.duplicates) for p in plans)}; racing turn pairs: "
                  f"{sum(p.race for p in plans)}; qualified leads: "
                  f"{sum(p.qualified for p in plans)}")
            assert not driver.failures, "\n".join(driver.failures[:20])
            drain(clean, replicas)

            notices = fake.messages(REP_CHANNEL)[:CLAIMS]
            assert len(notices) == CLAIMS

            async def claims() -> tuple[Driver, dict[str, str]]:
                async with (
                    httpx.AsyncClient(base_url=replica_a.base_url, timeout=30) as a,
                    httpx.AsyncClient(base_url=replica_b.base_url, timeout=30) as b,
                ):
                    driver = Driver([a, b], rng, asyncio.Semaphore(IN_FLIGHT))
                    return driver, await double_claims(driver, requests, notices)

            claim_driver, claimed = asyncio.run(claims())
            assert not claim_driver.failures, "\n".join(claim_driver.failures)
            drain(clean, replicas)

        retries = sum(
            r.log_path.read_text(errors="replace").count("changed concurrently; retrying")
            for r in replicas
        )
        print(f"turns re-run after losing an optimistic-locking race: {retries}; "
              f"posts answered 429 by the fake Slack's pacing: {len(fake.channel_rate_limited)}")
        check_conversations(clean, slack_plans, widget_plans)
        check_outbox(clean, fake, slack_plans, widget_plans)
        check_claims(clean, fake, claimed)
        check_shared_delivery(fake)


def check_conversations(engine: Engine, slack_plans: list[Plan], widget_plans: list[Plan]
                        ) -> None:
    """Every turn with a success response stored once; no lost update; right verdicts."""
    with engine.connect() as connection:
        conversations = connection.execute(
            select(Conversation.id, Conversation.channel, Conversation.participant,
                   Conversation.public_id, Conversation.state, Conversation.version,
                   Lead.company, Lead.verdict)
            .join(Lead, Lead.id == Conversation.lead_id)
        ).all()
        answers: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for conversation_id, question_id, text in connection.execute(
            select(Answer.conversation_id, Answer.question_id, Answer.raw_text)
            .where(Answer.question_id.in_(QUESTIONS))
        ):
            answers[conversation_id].append((question_id, text))

    by_user = {row.participant: row for row in conversations if row.channel == "slack"}
    by_public = {str(row.public_id): row for row in conversations if row.channel == "widget"}
    assert len(by_user) == len(slack_plans) and len(by_public) == len(widget_plans)
    problems: list[str] = []
    widget_offsets: Counter[int] = Counter()
    for plan, row in [(p, by_user.get(p.key)) for p in slack_plans] + [
        (p, by_public.get(p.session.get("id", ""))) for p in widget_plans
    ]:
        if row is None:
            problems.append(f"{plan.key}: no conversation")
            continue
        stored = answers[row.id]
        counts = Counter(question for question, _ in stored)
        if any(n != 1 for n in counts.values()) or set(counts) != set(QUESTIONS):
            problems.append(f"{plan.key}: answers per question {dict(counts)}")
        expected = plan.expected_answers()
        for question, text in stored:
            if question != "budget" and text != expected[question]:
                problems.append(f"{plan.key}: {question} = {text!r}, sent {expected[question]!r}")
        if row.state != "done":
            problems.append(f"{plan.key}: state {row.state}")
        verdict = "qualified" if plan.qualified else "nurture"
        if row.verdict != verdict:
            problems.append(f"{plan.key}: verdict {row.verdict}, expected {verdict}")
        offset = row.version - plan.turns
        if row.channel == "slack" and offset != SLACK_START_VERSION:
            problems.append(f"{plan.key}: version {row.version} after {plan.turns} turns "
                            f"(a lost or doubled update)")
        if row.channel == "widget":
            widget_offsets[offset] += 1
    # Every widget conversation starts at the same version: one offset for all of them,
    # racing or not (a lost update would leave a racing one a version short).
    assert len(widget_offsets) == 1, f"widget versions minus turns: {dict(widget_offsets)}"
    assert not problems, "\n".join(problems[:30])


def posted_outbox_ids(fake: FakeSlack) -> Counter[int]:
    """How many messages in the fake Slack carry each outbox id."""
    found: Counter[int] = Counter()
    for message in fake.messages():
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        if "outbox_id" in payload:
            found[int(payload["outbox_id"])] += 1
    return found


def check_outbox(engine: Engine, fake: FakeSlack, slack_plans: list[Plan],
                 widget_plans: list[Plan]) -> None:
    """Every row sent, every post exactly once, one notice per qualified lead."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.status,
                   OutboxMessage.last_error, OutboxMessage.payload)
        ).all()
    not_sent = [(r.id, r.kind, r.status, r.last_error) for r in rows if r.status != "sent"]
    assert not not_sent, f"outbox rows not sent: {not_sent[:20]}"
    posted = posted_outbox_ids(fake)
    posting = [r for r in rows if r.kind in ("reply", "handoff")]
    twice = {i: n for i, n in posted.items() if n != 1}
    assert not twice, f"outbox ids posted more than once: {twice}"
    assert set(posted) == {r.id for r in posting}, "posts and sent rows differ"
    # each Slack conversation: the first question, one reply per turn
    replies = Counter(r.payload["user"] for r in rows if r.kind == "reply")
    assert replies == {p.key: 1 + p.turns for p in slack_plans}
    notices = Counter(r.payload["channel"] for r in rows if r.kind == "handoff")
    assert notices == {
        REP_CHANNEL: sum(p.qualified for p in slack_plans),
        WEB_CHANNEL: sum(p.qualified for p in widget_plans),
    }
    leads = [r.payload["lead"]["id"] for r in rows if r.kind == "handoff"]
    assert len(set(leads)) == len(leads), "a lead got two notices"
    assert len(fake.messages(REP_CHANNEL)) == notices[REP_CHANNEL]
    assert len(fake.messages(WEB_CHANNEL)) == notices[WEB_CHANNEL]


def check_claims(engine: Engine, fake: FakeSlack, claimed: dict[str, str]) -> None:
    """A double-clicked Claim claims once: the rep owns the lead, one notice update."""
    ts_to_lead: dict[str, int] = {}
    with engine.connect() as connection:
        for result, payload in connection.execute(
            select(OutboxMessage.result, OutboxMessage.payload)
            .where(OutboxMessage.kind == "handoff")
        ):
            ts_to_lead[result["ts"]] = payload["lead"]["id"]
        owners = dict(connection.execute(select(Lead.id, Lead.owner)).all())
        updates = Counter(
            payload["ts"] for (payload,) in connection.execute(
                select(OutboxMessage.payload).where(OutboxMessage.kind == "notice_update")
            )
        )
    for ts, rep in claimed.items():
        assert owners[ts_to_lead[ts]] == rep
    assert updates == dict.fromkeys(claimed, 1), f"notice updates per notice: {updates}"
    calls = Counter(c.args["ts"] for c in fake.calls("chat.update") if c.ok)
    assert calls == dict.fromkeys(claimed, 1)
    refusals = [m for m in fake.ephemeral_messages() if m["user"] in claimed.values()]
    assert not refusals, f"a rep was told off for their own double click: {refusals}"


def check_shared_delivery(fake: FakeSlack) -> None:
    """Both dispatchers delivered a fair share of the posts (the Host header says whose)."""
    by_replica: Counter[str] = Counter()
    for call in fake.calls("chat.postMessage"):
        if call.ok:
            host = (call.header("Host") or "").split(":")[0]
            by_replica["a" if host == "127.0.0.1" else "b" if host == "localhost" else host] += 1
    total = sum(by_replica.values())
    print(f"posts delivered per replica: {dict(by_replica)}")
    assert set(by_replica) == {"a", "b"}, by_replica
    assert min(by_replica.values()) >= total * 0.15, f"one replica did almost nothing: {by_replica}"
