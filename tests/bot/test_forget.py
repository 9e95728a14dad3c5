"""`qualibot forget`: erasing a person's data on request, end to end. A widget visitor (or a
rep in Slack) qualifies and the notice is posted to the fake Slack; the command (click's
runner, on the harness's database) erases their rows and scrubs the outbox, and the
dispatcher deletes the notice in Slack. Every table is scanned afterwards for what the person
typed. Runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from slack_sdk import WebClient
from sqlalchemy import Engine, func, select

from bot.cli import main
from bot.erasure import NOT_DELIVERED, Erasure
from storage.models import Base, Conversation, Lead, OutboxMessage, normalise_email
from storage.repositories import OutboxRepository
from tests.bot.dispatchkit import rows
from tests.bot.slackapp import SALES_CHANNEL, ConfiguredSlack, SlackHarness

ALICE = "U0ALICE01"
DANA = ("Dana Lee", "dana@acme.example", "Acme Logistics")
SAM = ("Sam Roe", "sam@globex.example", "Globex")
QUALIFYING: list[dict[str, str]] = [
    {"choice": "allocated"},
    {"text": "about $80k a year"},
    {"text": "I'm the CFO and I sign the contract"},
    {"text": "Our reps lose 10 hours a week to manual reporting"},
    {"text": "this quarter"},
]
#: A rep's answers; the need is the one answer no other lead here gives.
REP_NEED = "Our Zanzibar office loses 10 hours a week to manual reporting"
QUALIFYING_NEED = ["Our reps lose 10 hours a week to manual reporting", "this quarter"]
REP_ANSWERS = ["allocated", "about $80k a year", "I'm the CFO and I sign the contract",
               REP_NEED, "this quarter"]


@pytest.fixture
def assigning(slack_with_config: ConfiguredSlack) -> Iterator[SlackHarness]:
    """The Slack harness with a rule that assigns every lead to Alice (and DMs her)."""
    yield from slack_with_config(
        f'[[handoff.rules]]\nchannel = "{SALES_CHANNEL}"\nassign = ["{ALICE}"]\n')


def forget(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["forget", *args], input=input, catch_exceptions=False)
    return result.exit_code, result.output


def visitor(slack: SlackHarness, contact: tuple[str, str, str]) -> int:
    """A website visitor qualifies (typing their contact details, with a page and an event
    that name them too); returns their lead's id."""
    name, email, company = contact
    started = slack.http.post("/widget/api/sessions",
                              json={"page": f"https://example.com/pricing?ref={email}"})
    assert started.status_code == 201, started.text
    session_id, token = started.json()["session_id"], started.json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    api = f"/widget/api/sessions/{session_id}"
    event = slack.http.post(f"{api}/events", headers=auth,
                            json={"event": "demo_watched", "props": {"who": name}})
    assert event.status_code == 202, event.text
    body: dict[str, Any] = {}
    for message in [{"text": name}, {"text": email}, {"text": company}, {"choice": "yes"},
                    *QUALIFYING]:
        response = slack.http.post(f"{api}/messages", headers=auth, json=message)
        assert response.status_code == 200, response.text
        body = response.json()
    assert body["done"] is True
    return lead_with(slack, email)


def rep_qualifies(slack: SlackHarness, company: str, answers: list[str]) -> int:
    slack.command(f"bant {company}")
    for answer in answers:
        slack.say(answer)
    with slack.runtime.sessions() as session:
        return session.scalars(select(Lead.id).where(Lead.company == company)).one()


def lead_with(slack: SlackHarness, email: str) -> int:
    with slack.runtime.sessions() as session:
        return session.scalars(
            select(Lead.id).where(Lead.contact_email == normalise_email(email))).one()


def notice_of(slack: SlackHarness, company: str) -> dict[str, Any]:
    [notice] = [m for m in slack.channel_messages(SALES_CHANNEL) if company in m["text"]]
    return notice


def mentions(engine: Engine, *needles: str) -> dict[str, int]:
    """Table -> how many of its rows hold one of `needles` in any column (case-insensitive;
    JSON columns searched through)."""
    found: dict[str, int] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(table.select()).mappings():
                text = json.dumps(dict(row), default=str, ensure_ascii=False).lower()
                if any(needle.lower() in text for needle in needles):
                    found[table.name] = found.get(table.name, 0) + 1
    return found


def referring(engine: Engine, lead_id: int) -> dict[str, int]:
    """Table -> how many of its rows have this `lead_id`."""
    with engine.connect() as connection:
        counts = {
            table.name: connection.execute(
                select(func.count()).select_from(table).where(table.c.lead_id == lead_id)
            ).scalar_one()
            for table in Base.metadata.sorted_tables if "lead_id" in table.c
        }
    return {name: n for name, n in counts.items() if n}


def everything(engine: Engine) -> dict[str, list[str]]:
    with engine.connect() as connection:
        return {
            table.name: sorted(json.dumps(dict(row), default=str, sort_keys=True)
                               for row in connection.execute(table.select()).mappings())
            for table in Base.metadata.sorted_tables
        }


def outbox(slack: SlackHarness, kind: str | None = None) -> list[OutboxMessage]:
    return rows(slack.runtime.sessions, kind)


def test_forget_email_erases_a_visitor_everywhere_and_deletes_their_notice(
    slack: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    dana = visitor(slack, DANA)
    sam = visitor(slack, SAM)
    slack.deliver()
    posted = notice_of(slack, "Acme Logistics")
    slack.click(posted, "claim", channel=SALES_CHANNEL, user=ALICE)  # a notice update, an event
    slack.deliver()
    engine = slack.runtime.engine
    before = mentions(engine, DANA[0], DANA[1])
    assert {"leads", "conversations", "answers", "widget_sessions", "engagement_events",
            "outbox"} <= set(before)  # the scan sees what it looks for
    assert set(referring(engine, dana)) == {
        "conversations", "answers", "scores", "lead_events", "engagement_events"}
    [handoff] = [r for r in outbox(slack, "handoff") if r.payload["lead"]["id"] == dana]
    sam_before = mentions(engine, SAM[1])

    caplog.set_level(logging.INFO, logger="bot.erasure")
    code, out = forget("--email", "  Dana@ACME.example ", "--yes")
    assert code == 0, out
    assert (f"Erased lead {dana} (Acme Logistics): 1 conversation, 9 answers, 1 score; "
            "1 Slack notice will be deleted by the running server.") in out
    assert "Messages to Slack about it: 2 sent (or failed) no longer hold the data." in out
    assert "deleted by `qualibot serve`" in out
    assert mentions(engine, *DANA) == {}  # the company too
    assert referring(engine, dana) == {}
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.erasure"]
    assert len(logged) == 1 and f"leads {dana} " in logged[0]
    assert DANA[1] not in logged[0] and DANA[0] not in logged[0]

    # the sent notice's row stays, with its key and where it went, but says nothing more
    [kept] = [r for r in outbox(slack, "handoff") if r.id == handoff.id]
    assert (kept.status, kept.dedupe_key, kept.result) == (
        "sent", handoff.dedupe_key, handoff.result)
    assert kept.payload == {"erased": True, "channel": SALES_CHANNEL, "team_id": None}
    # the other visitor is untouched, their notice too
    assert mentions(engine, SAM[1]) == sam_before
    with slack.runtime.sessions() as session:
        assert session.get(Lead, sam) is not None and session.get(Lead, dana) is None

    assert slack.channel_messages(SALES_CHANNEL)[0]["ts"] == posted["ts"]  # until delivered
    slack.deliver()
    [deleted] = slack.fake.calls("chat.delete")
    assert deleted.ok and deleted.args == {"channel": SALES_CHANNEL, "ts": posted["ts"]}
    assert [m["ts"] for m in slack.channel_messages(SALES_CHANNEL)] == [
        notice_of(slack, "Globex")["ts"]]
    assert mentions(engine, *DANA[:2]) == {}

    code, out = forget("--email", DANA[1], "--yes")
    assert code == 1 and f"No lead has the contact email {DANA[1]}." in out
    code, out = forget("--email", "   ")
    assert code == 2 and "--email is empty" in out


def test_forget_lead_erases_a_reps_qualification_and_its_notice(slack: SlackHarness) -> None:
    acme = rep_qualifies(slack, "Acme", REP_ANSWERS)
    slack.deliver()
    posted = notice_of(slack, "Acme")
    slack.click(posted, "claim", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    globex = rep_qualifies(slack, "Globex", REP_ANSWERS[:3] + QUALIFYING_NEED)
    slack.deliver()
    engine = slack.runtime.engine
    assert {"answers", "conversations", "outbox"} <= set(mentions(engine, REP_NEED))
    replies = [r.id for r in outbox(slack, "reply") if r.payload.get("lead_id") == acme]
    assert replies

    code, out = forget("--lead", str(acme), "--yes")
    assert code == 0, out
    assert (f"Erased lead {acme} (Acme): 1 conversation, 5 answers, 1 score; 1 Slack notice "
            "will be deleted by the running server.") in out
    assert mentions(engine, REP_NEED) == {}
    with slack.runtime.sessions() as session:
        assert session.get(Lead, acme) is None and session.get(Lead, globex) is not None
    for row in outbox(slack, "reply"):
        if row.id in replies:  # the rep's DMs were sent: kept, without what they said
            assert row.status == "sent" and row.payload == {
                "erased": True, "user": "U0REP0001", "team_id": "T0QUALI01"}
    slack.deliver()
    [deleted] = slack.fake.calls("chat.delete")
    assert deleted.args == {"channel": SALES_CHANNEL, "ts": posted["ts"]}
    assert [m["ts"] for m in slack.channel_messages(SALES_CHANNEL)] == [
        notice_of(slack, "Globex")["ts"]]
    code, out = forget("--lead", str(acme))
    assert code == 1 and f"There is no lead {acme}." in out


def test_declining_the_confirmation_changes_nothing(slack: SlackHarness) -> None:
    dana = visitor(slack, DANA)
    slack.deliver()
    before = everything(slack.runtime.engine)

    code, out = forget("--email", DANA[1], input="n\n")
    assert code == 1
    assert (f"lead {dana} (Acme Logistics; widget; Dana Lee, dana@acme.example): "
            "1 conversation, 9 answers, 1 score, 1 Slack notice, 1 outbox message") in out
    assert "Erase? [y/N]" in out and "Nothing was erased." in out
    assert everything(slack.runtime.engine) == before
    slack.deliver()
    assert not slack.fake.calls("chat.delete")

    code, out = forget("--lead", str(dana), input="y\n")
    assert code == 0 and f"Erased lead {dana} (Acme Logistics)" in out
    assert mentions(slack.runtime.engine, *DANA[:2]) == {}


def test_a_notice_deleted_in_slack_already_counts_as_deleted(slack: SlackHarness) -> None:
    visitor(slack, DANA)
    slack.deliver()
    posted = notice_of(slack, "Acme Logistics")
    code, out = forget("--email", DANA[1], "--yes")
    assert code == 0, out
    # someone deleted the notice by hand before the server got to it
    client = WebClient(token=slack.fake.bot_token, base_url=slack.fake.api_url)
    client.chat_delete(channel=SALES_CHANNEL, ts=posted["ts"])
    slack.deliver()
    _, retried = slack.fake.calls("chat.delete")
    assert not retried.ok and retried.response["error"] == "message_not_found"
    [row] = outbox(slack, "api")
    assert row.status == "sent" and row.last_error is None
    assert row.result == {"method": "chat.delete", "channel": SALES_CHANNEL,
                          "ts": posted["ts"], "already_deleted": True}
    assert row.payload == {"team_id": None, "method": "chat.delete",
                           "args": {"channel": SALES_CHANNEL, "ts": posted["ts"]}}


def test_a_notice_not_posted_yet_never_is(slack: SlackHarness) -> None:
    visitor(slack, DANA)  # not delivered: the server was down, say
    code, out = forget("--email", DANA[1], "--yes")
    assert code == 0, out
    assert "0 Slack notices" in out and "will be deleted" not in out
    assert "Messages to Slack about it: 1 not sent yet never will be." in out
    [handoff] = outbox(slack, "handoff")
    assert handoff.status == "failed" and handoff.last_error == NOT_DELIVERED
    slack.deliver()
    assert not slack.fake.calls("chat.postMessage") and not slack.fake.calls("chat.delete")
    retry = CliRunner().invoke(main, ["outbox", "retry", str(handoff.id)])
    assert retry.exit_code == 1 and "was erased" in retry.output
    assert outbox(slack, "handoff")[0].status == "failed"
    with slack.runtime.sessions.begin() as session:  # queued again some other way
        OutboxRepository(session).requeue(handoff.id)
    slack.deliver()
    assert not slack.fake.calls("chat.postMessage")
    assert outbox(slack, "handoff")[0].last_error == NOT_DELIVERED


def test_the_ids_of_an_erased_lead_are_never_handed_out_again(slack: SlackHarness) -> None:
    # SQLite used to give a new row the highest id plus one: erasing the newest lead handed
    # its id, and its conversation's, to the next visitor (migration 0005: AUTOINCREMENT).
    dana = visitor(slack, DANA)
    slack.deliver()
    with slack.runtime.sessions() as session:
        erased_id = session.scalars(select(Conversation.id)).one()
    assert forget("--email", DANA[1], "--yes")[0] == 0
    sam = visitor(slack, SAM)
    with slack.runtime.sessions() as session:
        new_id = session.scalars(select(Conversation.id).where(Conversation.lead_id == sam)).one()
    assert sam > dana and new_id > erased_id
    slack.deliver()
    assert notice_of(slack, "Globex")
    keys = {r.dedupe_key for r in outbox(slack, "handoff")}
    assert keys == {f"handoff:{erased_id}", f"handoff:{new_id}"}  # the erased one's stays


def test_a_notice_posted_while_its_lead_is_erased_is_deleted_once_posted(
    slack: SlackHarness,
) -> None:
    dana = visitor(slack, DANA)
    fake = slack.fake
    erased: list[Any] = []

    def post_during_erasure(args: dict[str, Any], call: Any) -> dict[str, Any]:
        if not erased:  # the erasure commits while Slack is posting the notice
            erased.append(Erasure(slack.runtime.sessions).erase(lead_id=dana))
        return fake._api_chat_postMessage(args, call)

    fake.set_handler("chat.postMessage", post_during_erasure)
    slack.deliver()
    [[lead]] = erased
    assert lead.id == dana and lead.undelivered == 1 and lead.notices == 0
    [posted] = fake.calls("chat.postMessage")
    [deleted] = fake.calls("chat.delete")
    assert deleted.args == {"channel": SALES_CHANNEL, "ts": posted.response["ts"]}
    assert slack.channel_messages(SALES_CHANNEL) == []
    [handoff] = outbox(slack, "handoff")
    assert handoff.status == "failed" and handoff.payload["erased"] is True
    assert mentions(slack.runtime.engine, *DANA[:2]) == {}


def test_the_service_finds_what_it_erases(slack: SlackHarness) -> None:
    dana = visitor(slack, DANA)
    again = visitor(slack, (DANA[0], DANA[1].upper(), "Acme Logistics"))  # same lead
    assert again == dana
    sam = visitor(slack, SAM)
    slack.deliver()
    erasure = Erasure(slack.runtime.sessions)
    before = everything(slack.runtime.engine)
    with pytest.raises(ValueError):
        erasure.find(email=DANA[1], lead_id=dana)
    assert erasure.find(lead_id=0) == [] and erasure.find(lead_id=2**70) == []
    [found] = erasure.find(email=f" {DANA[1].upper()}")
    assert (found.id, found.conversations, found.answers, found.scores, found.notices,
            found.undelivered, found.scrubbed) == (dana, 2, 18, 2, 2, 0, 2)
    assert everything(slack.runtime.engine) == before  # find only reads
    assert erasure.erase(email=DANA[1]) == [found]
    assert erasure.erase(email=DANA[1]) == [] and erasure.find(email=DANA[1]) == []
    assert [lead.id for lead in erasure.find(email=SAM[1])] == [sam]


def test_an_assigned_reps_dm_is_scrubbed_and_the_next_lead_is_assigned_as_usual(
    assigning: SlackHarness,
) -> None:
    slack = assigning
    dana = visitor(slack, DANA)
    slack.deliver()
    [dm] = outbox(slack, "dm")
    assert dm.payload["lead_id"] == dana and "Acme Logistics" in dm.payload["text"]
    assert forget("--email", DANA[1], "--yes")[0] == 0
    [dm] = outbox(slack, "dm")
    assert dm.status == "sent" and dm.payload == {"erased": True, "team_id": None, "user": ALICE}
    assert mentions(slack.runtime.engine, *DANA) == {}
    visitor(slack, SAM)
    slack.deliver()
    assert "Globex" in slack.last_dm(ALICE)["text"]


def test_the_reps_dm_about_a_notice_slack_refused_is_scrubbed(slack: SlackHarness) -> None:
    slack.fake.set_channel_error(SALES_CHANNEL, "not_in_channel")
    lead = rep_qualifies(slack, "Zanzibar Freight", REP_ANSWERS)
    slack.deliver()
    [handoff] = outbox(slack, "handoff")
    [told] = outbox(slack, "dm")  # it names the lead's company, not the lead
    assert handoff.status == "failed" and "Zanzibar Freight" in told.payload["text"]
    assert "lead_id" not in told.payload
    code, out = forget("--lead", str(lead), "--yes")
    assert code == 0, out
    assert f"Erased lead {lead} (Zanzibar Freight): 1 conversation, 5 answers, 1 score." in out
    [told] = outbox(slack, "dm")
    assert told.payload == {"erased": True, "team_id": "T0QUALI01", "user": "U0REP0001"}
    assert mentions(slack.runtime.engine, "Zanzibar") == {}
