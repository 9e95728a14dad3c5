"""The handoff notice's buttons, end to end: Claim (once), Release, Nurture / Disqualify with
a reason, Won / Lost (the owner's, Lost with a reason), Re-open, View answers; the claim's,
the re-open's and the outcome's races between two replicas; and an older notice repainted
from, and its answers shown as, what it was posted with."""

from __future__ import annotations

import copy
import re
import threading
from typing import Any

from sqlalchemy import select

from bot.errors import AlreadyProcessed, Conflict
from bot.handoff.actions import HandoffActions, Notice
from bot.slack.render import check_limits
from storage.models import Lead
from tests.bot.slackapp import SALES_CHANNEL, ConfiguredSlack, SlackHarness, blocks_text
from tests.slackreq import actions_from

ANSWERS = [
    "allocated",
    "about $80k a year",
    "I'm the CFO and I sign the contract",
    "Our reps lose 10 hours a week to manual reporting <!channel>",
    "this quarter",
]
REP, ALICE, BOB = "U0REP0001", "U0ALICE01", "U0BOB0001"
#: A routing rule that assigns every lead to Bob.
ASSIGN_TO_BOB = f'[[handoff.rules]]\nchannel = "{SALES_CHANNEL}"\nassign = ["{BOB}"]\n'


def qualified_notice(slack: SlackHarness) -> dict[str, Any]:
    slack.command("bant Acme")
    for answer in ANSWERS:
        slack.say(answer.replace("<", "&lt;").replace(">", "&gt;"))
    slack.deliver()
    [notice] = slack.channel_messages(SALES_CHANNEL)
    return notice


def lead(slack: SlackHarness) -> Lead:
    with slack.runtime.sessions() as session:
        found = session.scalars(select(Lead)).one()
        session.expunge(found)
        return found


def test_claim_once_and_a_second_claim_is_refused_politely(slack: SlackHarness) -> None:
    notice = qualified_notice(slack)
    slack.click(notice, "claim", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    assert lead(slack).owner == ALICE
    [update] = slack.fake.calls("chat.update")
    assert update.args["ts"] == notice["ts"] and update.args["channel"] == SALES_CHANNEL
    updated = slack.channel_messages(SALES_CHANNEL)[0]
    assert f"Claimed by <@{ALICE}>" in blocks_text(updated)
    check_limits({"text": updated["text"], "blocks": updated["blocks"]})

    slack.click(notice, "claim", channel=SALES_CHANNEL, user=BOB)  # from a stale view
    slack.deliver()
    assert lead(slack).owner == ALICE
    assert len(slack.fake.calls("chat.update")) == 1
    [refusal] = slack.fake.ephemeral_messages()
    assert refusal["user"] == BOB and refusal["channel"] == SALES_CHANNEL
    assert f"already taken: its owner is <@{ALICE}>" in refusal["text"]
    slack.click(notice, "claim", channel=SALES_CHANNEL, user=ALICE)  # the owner again: fine
    slack.deliver()
    assert lead(slack).owner == ALICE and len(slack.fake.ephemeral_messages()) == 1
    assert len(slack.fake.calls("chat.update")) == 1  # a double click updates the notice once


def test_nurture_with_a_reason(slack: SlackHarness) -> None:
    notice = qualified_notice(slack)
    slack.click(notice, "nurture", channel=SALES_CHANNEL, user=ALICE)
    [opened] = slack.fake.calls("views.open")
    view = opened.response["view"]
    assert view["callback_id"] == "reason_modal"
    request = slack.requests.view_submission(
        view, values={"reason": {"reason": "Budget only next year <!here>"}}, user_id=ALICE
    )
    response = slack.send(request)
    assert response.status_code == 200 and response.text == ""
    slack.deliver()
    found = lead(slack)
    assert found.status == "nurture" and found.status_reason == "Budget only next year <!here>"
    updated = blocks_text(slack.channel_messages(SALES_CHANNEL)[0])
    assert f"Moved to nurture by <@{ALICE}>" in updated
    assert "&lt;!here&gt;" in updated and "<!here>" not in updated


def test_disqualify_needs_a_reason(slack: SlackHarness) -> None:
    notice = qualified_notice(slack)
    slack.click(notice, "disqualify", channel=SALES_CHANNEL, user=ALICE)
    [opened] = slack.fake.calls("views.open")
    view = opened.response["view"]
    empty = slack.send(slack.requests.view_submission(view, values={"reason": {"reason": "  "}}))
    assert empty.json()["response_action"] == "errors"
    assert "reason" in empty.json()["errors"]
    assert lead(slack).status == "qualified"
    ok = slack.send(
        slack.requests.view_submission(view, values={"reason": {"reason": "Student project"}})
    )
    assert ok.status_code == 200
    slack.deliver()
    assert lead(slack).status == "disqualified"
    assert "Disqualified by" in blocks_text(slack.channel_messages(SALES_CHANNEL)[0])


def test_the_claimer_can_still_disqualify_and_the_answers_stay_at_hand(
    slack: SlackHarness,
) -> None:
    notice = qualified_notice(slack)
    slack.click(notice, "claim", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    claimed = slack.channel_messages(SALES_CHANNEL)[0]
    slack.click(claimed, "disqualify", channel=SALES_CHANNEL, user=ALICE)  # on the new view
    [opened] = slack.fake.calls("views.open")
    slack.send(slack.requests.view_submission(
        opened.response["view"], values={"reason": {"reason": "Student project"}}, user_id=ALICE
    ))
    slack.deliver()
    assert lead(slack).status == "disqualified" and lead(slack).owner == ALICE
    decided = slack.channel_messages(SALES_CHANNEL)[0]
    assert f"Disqualified by <@{ALICE}>: Student project" in blocks_text(decided)
    slack.click(decided, "view_answers", channel=SALES_CHANNEL, user=BOB)
    answers = slack.fake.calls("views.open")[-1]
    assert answers.ok and answers.response["view"]["callback_id"] == "answers_modal"


def test_view_answers_opens_a_modal_with_the_answers_as_given(slack: SlackHarness) -> None:
    notice = qualified_notice(slack)
    slack.click(notice, "view_answers", channel=SALES_CHANNEL, user=ALICE)
    [opened] = slack.fake.calls("views.open")
    assert opened.ok, opened.response
    view = opened.response["view"]
    assert view["callback_id"] == "answers_modal"
    check_limits({k: view[k] for k in ("type", "title", "blocks", "close", "callback_id")})
    text = blocks_text(view["blocks"])
    assert "about $80k a year" in text and "I'm the CFO and I sign the contract" in text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert "Why this score" in text


def test_the_app_home_lists_the_reps_qualifications(slack: SlackHarness) -> None:
    slack.command("bant Acme")
    slack.command("champ Globex")
    slack.command("cancel")
    response = slack.send(slack.requests.app_home_opened(user_id=REP))
    assert response.status_code == 200
    slack.deliver()
    home = slack.fake.home_view(REP)
    assert home is not None and home["type"] == "home"
    text = blocks_text(home["blocks"])
    assert "Acme" in text and "Globex" in text and "paused" in text
    actions = [b["accessory"]["action_id"] for b in home["blocks"] if b.get("accessory")]
    assert actions.count("resume") == 2
    # the Messages tab opening publishes nothing
    slack.send(slack.requests.app_home_opened(user_id=REP, tab="messages"))
    slack.deliver()
    assert len(slack.fake.calls("views.publish")) == 1


def test_resume_from_the_home_tab(slack: SlackHarness) -> None:
    slack.command("bant Acme")
    slack.say("cancel")
    slack.send(slack.requests.app_home_opened(user_id=REP))
    slack.deliver()
    home = slack.fake.home_view(REP)
    assert home is not None
    action = actions_from(home["blocks"], "resume")
    request = slack.requests.block_actions([action], view=home)
    assert slack.send(request).status_code == 200
    slack.deliver()
    assert slack.current_question() == "budget"


def test_a_rep_with_many_qualifications_sees_how_many_are_not_listed(
    slack: SlackHarness,
) -> None:
    slack.command("bant Done Co")
    for answer in ["allocated", "about $80k a year", "I'm the CFO and I sign the contract",
                   "Our reps lose 10 hours a week to manual reporting", "this quarter"]:
        slack.say(answer)
    for n in range(45):
        slack.runtime.service.start(framework="bant", company=f"Company{n:02}",
                                    channel="slack", participant=REP, team_id="T0QUALI01")
    listing = slack.ephemeral_response(slack.command("list"))
    slack.send(slack.requests.app_home_opened(user_id=REP))
    slack.deliver()
    home = slack.fake.home_view(REP)
    assert home is not None
    for blocks, shown, more in ((listing["blocks"], 20, 25), (home["blocks"], 40, 5)):
        check_limits({"blocks": blocks})
        resumable = [b for b in blocks if (b.get("accessory") or {}).get("action_id") == "resume"]
        assert len(resumable) == shown
        assert "Company44" in blocks_text(resumable[0])  # the most recently started first
        assert f"…and {more} more in progress" in blocks_text(blocks)
        results = blocks_text(blocks).split("list_header:recent")[-1]
        assert "Done Co" in results and "Company" not in results  # open ones are no results
    assert listing["text"].startswith("45 in progress")


def test_two_replicas_claiming_at_once_one_wins(slack: SlackHarness) -> None:
    qualified_notice(slack)
    lead_id = lead(slack).id
    actions = HandoffActions(slack.runtime.sessions)
    results: dict[str, bool] = {}
    barrier = threading.Barrier(2)

    def claim(user: str) -> None:
        barrier.wait()
        outcome = actions.claim(
            lead_id, user, team_id="T0QUALI01", notice=Notice(SALES_CHANNEL, "1.1"),
            dedupe_key=f"test:{user}",
        )
        results[user] = outcome.changed

    threads = [threading.Thread(target=claim, args=(u,)) for u in (ALICE, BOB)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results.values()) == [False, True]
    winner = next(u for u, changed in results.items() if changed)
    assert lead(slack).owner == winner
    try:
        actions.claim(lead_id, winner, team_id="T0QUALI01", notice=None,
                      dedupe_key=f"test:{winner}")
    except AlreadyProcessed:
        pass
    else:
        raise AssertionError("a repeated delivery must not be handled twice")


def test_a_lead_assigned_by_a_routing_rule_is_claimed_only_by_its_rep(
    slack_with_config: ConfiguredSlack,
) -> None:
    for slack in slack_with_config(ASSIGN_TO_BOB):
        notice = qualified_notice(slack)
        assert lead(slack).owner == BOB
        slack.click(notice, "claim", channel=SALES_CHANNEL, user=ALICE)
        slack.deliver()
        assert lead(slack).owner == BOB
        assert "its owner is <@U0BOB0001>" in slack.fake.ephemeral_messages()[0]["text"]
        slack.click(notice, "claim", channel=SALES_CHANNEL, user=BOB)  # accepting it
        slack.deliver()
        assert f"Claimed by <@{BOB}>" in blocks_text(slack.channel_messages(SALES_CHANNEL)[0])


def give_reason(slack: SlackHarness, notice: dict[str, Any], action: str, user: str,
                reason: str) -> dict[str, Any]:
    """Click Nurture or Disqualify on `notice` and submit the form with `reason`; the
    response to the submission."""
    opened = len(slack.fake.calls("views.open"))
    slack.click(notice, action, channel=SALES_CHANNEL, user=user)
    view = slack.fake.calls("views.open")[opened].response["view"]
    response = slack.send(slack.requests.view_submission(
        view, values={"reason": {"reason": reason}}, user_id=user))
    assert response.status_code == 200
    slack.deliver()
    return response.json() if response.text else {}


def test_a_stale_claim_after_a_decision_is_refused_and_leaves_the_notice(
    slack: SlackHarness,
) -> None:
    notice = qualified_notice(slack)  # as first posted, with its buttons (a stale view)
    give_reason(slack, notice, "disqualify", BOB, "Student project <!channel>")
    decided = blocks_text(slack.channel_messages(SALES_CHANNEL)[0])
    slack.click(notice, "claim", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    found = lead(slack)
    assert found.owner is None and found.status == "disqualified"
    assert blocks_text(slack.channel_messages(SALES_CHANNEL)[0]) == decided
    assert "Claimed by" not in decided
    [refusal] = slack.fake.ephemeral_messages()
    assert refusal["user"] == ALICE
    assert refusal["text"] == ("Sorry, this lead can't be claimed: it was disqualified "
                               "(reason: Student project &lt;!channel&gt;).")


def test_a_second_decision_is_refused_and_the_first_one_stands(slack: SlackHarness) -> None:
    notice = qualified_notice(slack)  # two reps look at it; both act on what they see
    give_reason(slack, notice, "disqualify", BOB, "Student project <R&D>")
    refused = give_reason(slack, notice, "nurture", ALICE, "Budget next year")
    assert refused["response_action"] == "errors"
    # a form's errors are plain text: shown as typed, not as "&lt;R&amp;D&gt;"
    assert refused["errors"] == {"reason": "Not saved: this lead was already disqualified "
                                           "(reason: Student project <R&D>)."}
    found = lead(slack)
    assert (found.status, found.status_reason) == ("disqualified", "Student project <R&D>")
    [update] = slack.fake.calls("chat.update")  # the notice was updated once, by Bob
    assert f"Disqualified by <@{BOB}>: Student project &lt;R&amp;D&gt;" in blocks_text(update.args)


def test_a_nurture_verdict_can_still_be_decided(slack_with_config: ConfiguredSlack) -> None:
    for slack in slack_with_config('[handoff]\nverdicts = ["qualified", "nurture"]\n'):
        slack.command("bant Acme")
        for answer in [*ANSWERS[:4], "no timeline"]:  # nurture: no reason yet, not decided
            slack.say(answer.replace("<", "&lt;").replace(">", "&gt;"))
        slack.deliver()
        [notice] = slack.channel_messages(SALES_CHANNEL)
        assert lead(slack).status == "nurture"
        assert give_reason(slack, notice, "nurture", ALICE, "Call back in Q3") == {}
        assert lead(slack).status_reason == "Call back in Q3"


# -- stepping back: Release a claim, Re-open a decision -------------------------------------


def status_block(message: dict[str, Any]) -> dict[str, Any]:
    [block] = [b for b in message["blocks"] if b.get("block_id") == "handoff_status"]
    return block


def buttons(message: dict[str, Any]) -> list[str]:
    return [element["action_id"] for block in message["blocks"]
            if block.get("block_id") == "handoff_actions" for element in block["elements"]]


def summary_fields(message: dict[str, Any]) -> list[str]:
    [block] = [b for b in message["blocks"] if b.get("block_id") == "handoff_summary"]
    return [field["text"] for field in block["fields"]]


UNCLAIMED = ["claim", "nurture", "disqualify", "view_answers"]
CLAIMED = ["won", "lost", "nurture", "disqualify", "release", "view_answers"]


def test_the_owner_releases_a_claim_and_the_notice_is_unclaimed_again(
    slack: SlackHarness,
) -> None:
    notice = qualified_notice(slack)
    slack.click(notice, "claim", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    claimed = slack.channel_messages(SALES_CHANNEL)[0]
    assert buttons(claimed) == CLAIMED

    slack.click(claimed, "release", channel=SALES_CHANNEL, user=BOB)  # not his to give back
    slack.deliver()
    assert lead(slack).owner == ALICE
    [refusal] = slack.fake.ephemeral_messages()
    assert refusal["user"] == BOB and refusal["channel"] == SALES_CHANNEL
    assert refusal["text"] == (f"Sorry, only the lead's owner can release it: its owner is "
                               f"<@{ALICE}>.")
    assert len(slack.fake.calls("chat.update")) == 1

    slack.click(claimed, "release", channel=SALES_CHANNEL, user=ALICE)
    slack.click(claimed, "release", channel=SALES_CHANNEL, user=ALICE)  # a double click
    slack.deliver()
    found = lead(slack)
    assert found.owner is None and found.status == "qualified"
    updates = slack.fake.calls("chat.update")
    assert len(updates) == 2  # the double click changed nothing more, and said nothing
    assert len(slack.fake.ephemeral_messages()) == 1
    assert updates[-1].args["ts"] == notice["ts"]
    released = slack.channel_messages(SALES_CHANNEL)[0]
    check_limits({"text": released["text"], "blocks": released["blocks"]})
    assert buttons(released) == UNCLAIMED
    note = status_block(released)
    assert note["type"] == "context"
    assert re.fullmatch(rf"Released by <@{ALICE}> at <!date\^\d+\^\{{time\}}, "
                        r"\{date_short_pretty\}\|\d\d:\d\d UTC, \d{4}-\d\d-\d\d>",
                        note["elements"][0]["text"])
    assert not any(field.startswith("*Owner*") for field in summary_fields(released))
    assert "Claimed by" not in blocks_text(released)

    slack.click(released, "claim", channel=SALES_CHANNEL, user=ALICE)  # she takes it again
    slack.deliver()
    assert lead(slack).owner == ALICE
    again = slack.channel_messages(SALES_CHANNEL)[0]
    assert f"Claimed by <@{ALICE}>" in blocks_text(again) and buttons(again) == CLAIMED
    assert len(slack.fake.calls("chat.update")) == 3


def test_a_stale_release_after_a_decision_is_refused_and_leaves_the_notice(
    slack: SlackHarness,
) -> None:
    notice = qualified_notice(slack)
    slack.click(notice, "claim", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    claimed = slack.channel_messages(SALES_CHANNEL)[0]  # as Alice sees it, with Release
    give_reason(slack, claimed, "disqualify", ALICE, "Student project <!channel>")
    decided = slack.channel_messages(SALES_CHANNEL)[0]
    slack.click(claimed, "release", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    found = lead(slack)
    assert (found.owner, found.status) == (ALICE, "disqualified")
    assert slack.channel_messages(SALES_CHANNEL)[0] == decided
    [refusal] = slack.fake.ephemeral_messages()
    assert refusal["text"] == ("Sorry, this lead can't be released: it was disqualified "
                               "(reason: Student project &lt;!channel&gt;). Re-open it first.")


def test_releasing_an_assigned_lead_takes_no_new_turn_and_sends_no_dm(
    slack_with_config: ConfiguredSlack,
) -> None:
    from storage.models import OutboxMessage, RoundRobin

    for slack in slack_with_config(f'[[handoff.rules]]\nname = "sales"\n'
                                   f'channel = "{SALES_CHANNEL}"\nassign = ["{BOB}", "{ALICE}"]\n'):
        notice = qualified_notice(slack)
        assert lead(slack).owner == BOB
        assert "You have a new lead" in slack.dm_messages(BOB)[0]["text"]
        slack.click(notice, "claim", channel=SALES_CHANNEL, user=BOB)  # accepting it
        slack.deliver()
        slack.click(slack.channel_messages(SALES_CHANNEL)[0], "release", channel=SALES_CHANNEL,
                    user=BOB)
        slack.deliver()
        assert lead(slack).owner is None
        slack.runtime.service.score(lead(slack).id)  # a re-score assigns nobody either
        slack.deliver()
        assert lead(slack).owner is None
        released = slack.channel_messages(SALES_CHANNEL)[0]
        assert buttons(released) == UNCLAIMED
        assert not any(field.startswith("*Owner*") for field in summary_fields(released))
        with slack.runtime.sessions() as session:
            dms = session.scalars(select(OutboxMessage).where(
                OutboxMessage.kind == "dm").order_by(OutboxMessage.id)).all()
            assert [dm.payload["user"] for dm in dms] == [BOB]  # the assignment, once
            turn = session.get(RoundRobin, "handoff:sales")
            assert turn is not None and turn.position == 1  # Alice is still next
        assert len(slack.dm_messages(ALICE)) == 0


def test_reopen_a_decision_keeps_the_owner_and_brings_the_buttons_back(
    slack: SlackHarness,
) -> None:
    notice = qualified_notice(slack)
    slack.click(notice, "claim", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    give_reason(slack, slack.channel_messages(SALES_CHANNEL)[0], "disqualify", ALICE,
                "Student project <!channel>")
    decided = slack.channel_messages(SALES_CHANNEL)[0]
    assert buttons(decided) == ["view_answers", "reopen"]

    slack.click(decided, "reopen", channel=SALES_CHANNEL, user=BOB)
    slack.click(decided, "reopen", channel=SALES_CHANNEL, user=BOB)  # a double click
    slack.deliver()
    found = lead(slack)
    assert (found.status, found.status_reason, found.owner) == ("qualified", None, ALICE)
    assert len(slack.fake.calls("chat.update")) == 3  # claimed, disqualified, re-opened
    assert slack.fake.ephemeral_messages() == []
    reopened = slack.channel_messages(SALES_CHANNEL)[0]
    check_limits({"text": reopened["text"], "blocks": reopened["blocks"]})
    assert buttons(reopened) == CLAIMED  # Alice still has it
    assert f"*Owner*\n<@{ALICE}>" in summary_fields(reopened)
    text = status_block(reopened)["elements"][0]["text"]
    assert text.startswith(f"Re-opened by <@{BOB}> at <!date^")
    assert text.endswith("(it was disqualified: Student project &lt;!channel&gt;)")
    assert "<!channel>" not in blocks_text(reopened)

    slack.click(reopened, "release", channel=SALES_CHANNEL, user=ALICE)  # the usual way on
    slack.deliver()
    assert lead(slack).owner is None
    assert buttons(slack.channel_messages(SALES_CHANNEL)[0]) == UNCLAIMED


def test_a_reopened_lead_without_an_owner_is_unclaimed_and_can_be_decided_again(
    slack: SlackHarness,
) -> None:
    notice = qualified_notice(slack)
    give_reason(slack, notice, "nurture", BOB, "Budget next year")
    decided = slack.channel_messages(SALES_CHANNEL)[0]
    slack.click(decided, "reopen", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    found = lead(slack)
    assert (found.status, found.status_reason, found.owner) == ("qualified", None, None)
    reopened = slack.channel_messages(SALES_CHANNEL)[0]
    assert buttons(reopened) == UNCLAIMED
    assert "(it was moved to nurture: Budget next year)" in blocks_text(reopened)

    slack.click(reopened, "claim", channel=SALES_CHANNEL, user=BOB)  # open for claims again
    slack.deliver()
    assert lead(slack).owner == BOB
    give_reason(slack, slack.channel_messages(SALES_CHANNEL)[0], "disqualify", BOB,
                "Went with a competitor")
    found = lead(slack)
    assert (found.status, found.status_reason) == ("disqualified", "Went with a competitor")
    assert buttons(slack.channel_messages(SALES_CHANNEL)[0]) == ["view_answers", "reopen"]


def test_two_replicas_reopening_at_once_reopen_once(slack: SlackHarness) -> None:
    notice = qualified_notice(slack)
    give_reason(slack, notice, "disqualify", BOB, "Student project")
    lead_id = lead(slack).id
    actions = HandoffActions(slack.runtime.sessions)
    results: dict[str, bool] = {}
    barrier = threading.Barrier(2)

    def reopen(user: str) -> None:
        barrier.wait()
        outcome = actions.reopen(lead_id, user, team_id="T0QUALI01",
                                 notice=Notice(SALES_CHANNEL, notice["ts"]),
                                 dedupe_key=f"test:{user}")
        results[user] = outcome.changed

    threads = [threading.Thread(target=reopen, args=(u,)) for u in (ALICE, BOB)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results.values()) == [False, True]
    assert lead(slack).status == "qualified"
    with slack.runtime.sessions() as session:
        from storage.models import OutboxMessage

        updates = session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "notice_update").order_by(OutboxMessage.id)).all()
        assert [u.payload["status"] for u in updates] == ["disqualified", "reopened"]


# -- a notice repaints from what it was posted with -----------------------------------------


SECOND_VISIT = [
    "allocated",
    "about $120k a year",
    "I'm the CFO and I sign the contract",
    "We need one pipeline view for 40 reps",
    "this quarter",
]


def visitor_qualifies(slack: SlackHarness, n: int, answers: list[str]) -> None:
    """A website visitor with the same work email each time: the same lead."""
    service = slack.runtime.service
    result = service.start(framework="bant", company="Acme", channel="widget",
                           participant=f"visitor-{n}", source="widget", team_id="T0QUALI01",
                           contact={"email": "dana@acme.example"})
    for answer in answers:
        result = service.answer(result.conversation_id, answer)
    assert result.done
    slack.deliver()


def test_an_older_notice_keeps_showing_its_own_qualification(slack: SlackHarness) -> None:
    visitor_qualifies(slack, 1, ANSWERS)
    visitor_qualifies(slack, 2, SECOND_VISIT)  # qualified again: a second notice
    first, second = slack.channel_messages(SALES_CHANNEL)
    assert "$80k" in blocks_text(first) and "$120k" in blocks_text(second)

    slack.click(first, "claim", channel=SALES_CHANNEL, user=ALICE)  # on the older notice
    slack.deliver()
    assert lead(slack).owner == ALICE  # the buttons act on the lead
    [update] = slack.fake.calls("chat.update")
    assert update.args["ts"] == first["ts"]
    repainted = slack.channel_messages(SALES_CHANNEL)[0]
    assert f"Claimed by <@{ALICE}>" in blocks_text(repainted)
    assert "about $80k a year" in blocks_text(repainted)  # its own answers, not the new ones
    assert "$120k" not in blocks_text(repainted) and "40 reps" not in blocks_text(repainted)

    give_reason(slack, repainted, "nurture", ALICE, "Call back in Q3")  # the form too
    decided = slack.channel_messages(SALES_CHANNEL)[0]
    assert "Moved to nurture" in blocks_text(decided) and "$120k" not in blocks_text(decided)
    slack.click(decided, "reopen", channel=SALES_CHANNEL, user=BOB)
    slack.deliver()
    reopened = slack.channel_messages(SALES_CHANNEL)[0]
    assert "Re-opened by" in blocks_text(reopened) and "$120k" not in blocks_text(reopened)
    assert slack.channel_messages(SALES_CHANNEL)[1] == second  # the newer one is untouched


def test_a_notice_posted_before_its_buttons_named_it_repaints_from_its_own_data(
    slack: SlackHarness,
) -> None:
    visitor_qualifies(slack, 1, ANSWERS)
    visitor_qualifies(slack, 2, SECOND_VISIT)
    first = slack.channel_messages(SALES_CHANNEL)[0]
    lead_id = lead(slack).id
    old = copy.deepcopy(first)  # as posted by an earlier version: the lead id alone
    for block in old["blocks"]:
        for element in block.get("elements", []):
            if element.get("type") == "button":
                element["value"] = str(lead_id)
    slack.click(old, "claim", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    repainted = slack.channel_messages(SALES_CHANNEL)[0]
    assert "about $80k a year" in blocks_text(repainted)
    assert "$120k" not in blocks_text(repainted)
    values = {e["value"] for b in repainted["blocks"] for e in b.get("elements", [])
              if e.get("type") == "button"}
    assert values == {value for b in first["blocks"] for e in b.get("elements", [])
                      if e.get("type") == "button" for value in [e["value"]]}
    assert values != {str(lead_id)}  # from now on its buttons name it


# -- the outcome of a claimed lead: Won / Lost ----------------------------------------------


SETTLED = ["view_answers", "reopen"]
SLACK_DATE = r"<!date\^\d+\^\{time\}, \{date_short_pretty\}\|\d\d:\d\d UTC, \d{4}-\d\d-\d\d>"


def claimed_by(slack: SlackHarness, user: str) -> dict[str, Any]:
    """A qualified lead's notice, claimed by `user` (as everyone sees it now)."""
    notice = qualified_notice(slack)
    slack.click(notice, "claim", channel=SALES_CHANNEL, user=user)
    slack.deliver()
    return slack.channel_messages(SALES_CHANNEL)[0]


def open_lost_form(slack: SlackHarness, notice: dict[str, Any], user: str) -> dict[str, Any]:
    """Click Lost on `notice`: the form that opened."""
    opened = len(slack.fake.calls("views.open"))
    slack.click(notice, "lost", channel=SALES_CHANNEL, user=user)
    [call] = slack.fake.calls("views.open")[opened:]
    view: dict[str, Any] = call.response["view"]
    return view


def submit(slack: SlackHarness, view: dict[str, Any], reason: str, user: str) -> dict[str, Any]:
    response = slack.send(slack.requests.view_submission(
        view, values={"reason": {"reason": reason}}, user_id=user))
    assert response.status_code == 200
    slack.deliver()
    return response.json() if response.text else {}


def test_only_the_owner_marks_a_claimed_lead_won_once(slack: SlackHarness) -> None:
    claimed = claimed_by(slack, ALICE)
    assert buttons(claimed) == CLAIMED
    labels = [e["text"]["text"] for b in claimed["blocks"] if b.get("block_id") ==
              "handoff_actions" for e in b["elements"]]
    assert labels == ["Won", "Lost", "Nurture", "Disqualify", "Release", "View answers"]

    slack.click(claimed, "won", channel=SALES_CHANNEL, user=BOB)  # not his lead
    slack.click(claimed, "lost", channel=SALES_CHANNEL, user=BOB)
    slack.deliver()
    assert lead(slack).status == "qualified"
    assert slack.fake.calls("views.open") == []  # no form for Bob's Lost either
    assert [(m["user"], m["text"]) for m in slack.fake.ephemeral_messages()] == [
        (BOB, f"Sorry, only the lead's owner can mark it won: its owner is <@{ALICE}>."),
        (BOB, f"Sorry, only the lead's owner can mark it lost: its owner is <@{ALICE}>."),
    ]

    slack.click(claimed, "won", channel=SALES_CHANNEL, user=ALICE)
    slack.click(claimed, "won", channel=SALES_CHANNEL, user=ALICE)  # a double click
    slack.deliver()
    found = lead(slack)
    assert (found.status, found.status_reason, found.owner) == ("won", None, ALICE)
    assert len(slack.fake.calls("chat.update")) == 2  # claimed, won: once
    assert len(slack.fake.ephemeral_messages()) == 2  # the double click said nothing
    won = slack.channel_messages(SALES_CHANNEL)[0]
    check_limits({"text": won["text"], "blocks": won["blocks"]})
    status = status_block(won)
    assert status["type"] == "section"
    assert re.fullmatch(rf"Marked won by <@{ALICE}> at {SLACK_DATE}", status["text"]["text"])
    assert buttons(won) == SETTLED
    assert f"*Owner*\n<@{ALICE}>" in summary_fields(won)
    assert f"Marked won by <@{ALICE}>" in won["text"]

    slack.runtime.service.score(found.id)  # a re-score keeps the outcome
    assert lead(slack).status == "won"


def test_stale_clicks_on_a_won_lead_are_refused_and_change_nothing(
    slack: SlackHarness,
) -> None:
    notice = qualified_notice(slack)  # as first posted (a stale view)
    slack.click(notice, "claim", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    claimed = slack.channel_messages(SALES_CHANNEL)[0]  # as Alice saw it, before Won
    slack.click(claimed, "won", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    won = slack.channel_messages(SALES_CHANNEL)[0]

    slack.click(notice, "claim", channel=SALES_CHANNEL, user=BOB)
    slack.click(claimed, "release", channel=SALES_CHANNEL, user=ALICE)
    slack.click(claimed, "lost", channel=SALES_CHANNEL, user=ALICE)  # changed her mind
    slack.deliver()
    told = slack.fake.ephemeral_messages()  # each rep's in order (lanes are per rep)
    assert [m["text"] for m in told if m["user"] == BOB] == [
        "Sorry, this lead can't be claimed: it was marked won."]
    assert [m["text"] for m in told if m["user"] == ALICE] == [
        "Sorry, this lead can't be released: it was marked won. Re-open it first.",
        "Sorry, this lead was already marked won. Re-open it first.",
    ]
    assert slack.fake.calls("views.open") == []
    refused = give_reason(slack, claimed, "disqualify", ALICE, "Student project")
    assert refused["errors"] == {"reason": "Not saved: this lead was already marked won."}
    found = lead(slack)
    assert (found.status, found.status_reason, found.owner) == ("won", None, ALICE)
    assert slack.channel_messages(SALES_CHANNEL)[0] == won
    assert len(slack.fake.calls("chat.update")) == 2


def test_a_decided_lead_gets_no_outcome_until_it_is_reopened(slack: SlackHarness) -> None:
    claimed = claimed_by(slack, ALICE)
    give_reason(slack, claimed, "disqualify", BOB, "Student project <!channel>")
    slack.click(claimed, "won", channel=SALES_CHANNEL, user=ALICE)  # an older view
    slack.click(claimed, "lost", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    assert len(slack.fake.calls("views.open")) == 1  # the Disqualify form only
    why = "it was disqualified (reason: Student project &lt;!channel&gt;). Re-open it first."
    assert [m["text"] for m in slack.fake.ephemeral_messages()] == [
        f"Sorry, this lead can't be marked won: {why}",
        f"Sorry, this lead can't be marked lost: {why}",
    ]
    assert lead(slack).status == "disqualified"
    slack.click(slack.channel_messages(SALES_CHANNEL)[0], "reopen", channel=SALES_CHANNEL,
                user=ALICE)
    slack.click(claimed, "won", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    assert (lead(slack).status, lead(slack).status_reason) == ("won", None)


def test_lost_asks_the_owner_why_and_reopen_puts_it_back_to_claimed(
    slack: SlackHarness,
) -> None:
    claimed = claimed_by(slack, ALICE)
    form = open_lost_form(slack, claimed, ALICE)
    again = open_lost_form(slack, claimed, ALICE)  # a second form (a double click)
    assert form["callback_id"] == "reason_modal"
    assert form["title"]["text"] == "Mark lost"
    assert "Why did we lose *Acme*?" in blocks_text(form["blocks"])
    [reason_input] = [b for b in form["blocks"] if b["type"] == "input"]
    assert not reason_input.get("optional")  # required, as for Disqualify

    empty = submit(slack, form, "   ", ALICE)
    assert empty["response_action"] == "errors" and "reason" in empty["errors"]
    assert lead(slack).status == "qualified"
    assert submit(slack, form, "Went with a competitor <!channel>", ALICE) == {}
    found = lead(slack)
    assert (found.status, found.owner) == ("lost", ALICE)
    assert found.status_reason == "Went with a competitor <!channel>"
    lost = slack.channel_messages(SALES_CHANNEL)[0]
    check_limits({"text": lost["text"], "blocks": lost["blocks"]})
    assert re.fullmatch(rf"Marked lost by <@{ALICE}> at {SLACK_DATE}: "
                        r"Went with a competitor &lt;!channel&gt;",
                        status_block(lost)["text"]["text"])
    assert "<!channel>" not in blocks_text(lost)
    assert buttons(lost) == SETTLED

    refused = submit(slack, again, "Price", ALICE)  # the second form: the first one stands
    # a form's error is plain text, seen by the one who submitted it: shown as typed
    assert refused["errors"] == {"reason": "Not saved: this lead was already marked lost "
                                           "(reason: Went with a competitor <!channel>)."}
    assert lead(slack).status_reason == "Went with a competitor <!channel>"
    assert len(slack.fake.calls("chat.update")) == 2  # claimed, lost

    slack.click(lost, "reopen", channel=SALES_CHANNEL, user=BOB)  # any rep, as for decisions
    slack.click(lost, "reopen", channel=SALES_CHANNEL, user=BOB)  # a double click
    slack.deliver()
    found = lead(slack)
    assert (found.status, found.status_reason, found.owner) == ("qualified", None, ALICE)
    assert len(slack.fake.calls("chat.update")) == 3
    reopened = slack.channel_messages(SALES_CHANNEL)[0]
    assert buttons(reopened) == CLAIMED  # back to claimed: Alice still has it
    assert f"*Owner*\n<@{ALICE}>" in summary_fields(reopened)
    text = status_block(reopened)["elements"][0]["text"]
    assert text.startswith(f"Re-opened by <@{BOB}> at <!date^")
    assert text.endswith("(it was marked lost: Went with a competitor &lt;!channel&gt;)")

    slack.click(reopened, "won", channel=SALES_CHANNEL, user=ALICE)  # it came back after all
    slack.deliver()
    assert (lead(slack).status, lead(slack).status_reason) == ("won", None)
    assert "Marked won by" in blocks_text(slack.channel_messages(SALES_CHANNEL)[0])


def test_a_lost_form_is_not_saved_once_the_owner_gave_the_lead_back(
    slack: SlackHarness,
) -> None:
    claimed = claimed_by(slack, ALICE)
    form = open_lost_form(slack, claimed, ALICE)
    slack.click(claimed, "release", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    refused = submit(slack, form, "Price", ALICE)
    assert refused["errors"] == {
        "reason": "Not saved: nobody owns this lead now (it was released). Claim it first."}
    slack.click(claimed, "won", channel=SALES_CHANNEL, user=ALICE)  # from the same old view
    slack.deliver()
    assert [m["text"] for m in slack.fake.ephemeral_messages()] == [
        "Sorry, only the lead's owner can mark it won, and nobody has claimed it."]
    found = lead(slack)
    assert (found.status, found.status_reason, found.owner) == ("qualified", None, None)
    assert buttons(slack.channel_messages(SALES_CHANNEL)[0]) == UNCLAIMED


def test_won_and_a_decision_at_once_only_one_stands(slack: SlackHarness) -> None:
    claimed_by(slack, ALICE)
    lead_id = lead(slack).id
    actions = HandoffActions(slack.runtime.sessions)
    notice = Notice(SALES_CHANNEL, "1.1")
    barrier = threading.Barrier(3)
    results: dict[str, bool] = {}

    def won(key: str) -> None:
        barrier.wait()
        results[key] = actions.won(lead_id, ALICE, team_id="T0QUALI01", notice=notice,
                                   dedupe_key=f"test:{key}").changed

    def disqualify() -> None:
        barrier.wait()
        try:
            actions.decide(lead_id, "disqualified", "Student project", BOB,
                           team_id="T0QUALI01", notice=notice, dedupe_key="test:decide")
            results["decide"] = True
        except Conflict:
            results["decide"] = False

    threads = [threading.Thread(target=won, args=(k,)) for k in ("won1", "won2")]
    threads.append(threading.Thread(target=disqualify))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert list(results.values()).count(True) == 1
    found = lead(slack)
    with slack.runtime.sessions() as session:
        from storage.models import OutboxMessage

        updates = session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "notice_update").order_by(OutboxMessage.id)).all()
        statuses = [u.payload["status"] for u in updates]
    if results["decide"]:
        assert (found.status, found.status_reason) == ("disqualified", "Student project")
        assert statuses == ["claimed", "disqualified"]
    else:
        assert (found.status, found.status_reason) == ("won", None)
        assert statuses == ["claimed", "won"]


def test_a_lead_qualified_again_keeps_its_outcome_and_its_new_notice_says_so(
    slack: SlackHarness,
) -> None:
    visitor_qualifies(slack, 1, ANSWERS)
    [first] = slack.channel_messages(SALES_CHANNEL)
    slack.click(first, "claim", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    form = open_lost_form(slack, slack.channel_messages(SALES_CHANNEL)[0], ALICE)
    submit(slack, form, "Chose a competitor <!here>", ALICE)
    assert lead(slack).status == "lost"

    visitor_qualifies(slack, 2, SECOND_VISIT)  # the visitor comes back and qualifies again
    found = lead(slack)
    assert (found.status, found.status_reason) == ("lost", "Chose a competitor <!here>")
    assert (found.verdict, found.owner) == ("qualified", ALICE)
    slack.runtime.service.score(found.id)  # and a re-score
    assert (lead(slack).status, lead(slack).status_reason) == (
        "lost", "Chose a competitor <!here>")
    assert "Your lead qualified again" in slack.dm_messages(ALICE)[-1]["text"]

    old, new = slack.channel_messages(SALES_CHANNEL)
    assert "$120k" in blocks_text(new)
    assert status_block(new)["text"]["text"] == "Marked lost: Chose a competitor &lt;!here&gt;"
    assert buttons(new) == SETTLED  # not Claim: re-open it to work it again
    check_limits({"text": new["text"], "blocks": new["blocks"]})
    assert "Marked lost by" in blocks_text(old)  # the older notice as it was

    slack.click(new, "reopen", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    found = lead(slack)
    assert (found.status, found.status_reason, found.owner) == ("qualified", None, ALICE)
    reopened = slack.channel_messages(SALES_CHANNEL)[1]
    assert buttons(reopened) == CLAIMED and "$120k" in blocks_text(reopened)
    assert "(it was marked lost: Chose a competitor &lt;!here&gt;)" in blocks_text(reopened)


# -- View answers shows the qualification the notice was posted for -------------------------


def answers_view(slack: SlackHarness, message: dict[str, Any], **where: Any) -> str:
    """Click View answers on `message`: the modal's blocks, as text."""
    opened = len(slack.fake.calls("views.open"))
    slack.click(message, "view_answers", **where)
    [call] = slack.fake.calls("views.open")[opened:]
    assert call.ok, call.response
    view = call.response["view"]
    check_limits({k: view[k] for k in ("type", "title", "blocks", "close", "callback_id")})
    return blocks_text(view["blocks"])


def test_view_answers_on_an_older_notice_shows_what_it_was_posted_with(
    slack: SlackHarness,
) -> None:
    visitor_qualifies(slack, 1, ANSWERS)
    visitor_qualifies(slack, 2, SECOND_VISIT)
    first, second = slack.channel_messages(SALES_CHANNEL)
    lead_id = lead(slack).id

    older = answers_view(slack, first, channel=SALES_CHANNEL, user=BOB)
    assert "about $80k a year" in older and "manual reporting" in older
    assert "$120k" not in older and "40 reps" not in older
    assert "qualified again since" in older and f"/qualify show {lead_id}" in older
    with slack.runtime.sessions() as session:
        from storage.models import Score

        scores = session.scalars(select(Score).order_by(Score.id)).all()
        first_total, latest_total = scores[0].total, scores[-1].total
    assert f"{first_total:g}/100" in older

    newer = answers_view(slack, second, channel=SALES_CHANNEL, user=BOB)
    assert "about $120k a year" in newer and "40 reps" in newer
    assert "about $80k a year" not in newer and "qualified again since" not in newer
    assert f"{latest_total:g}/100" in newer

    # a notice posted before its buttons named it: found by where it is
    old = copy.deepcopy(first)
    for block in old["blocks"]:
        for element in block.get("elements", []):
            if element.get("type") == "button":
                element["value"] = str(lead_id)
    assert "about $80k a year" in answers_view(slack, old, channel=SALES_CHANNEL, user=BOB)

    # a button naming a notice that is not the lead's: the lead's current answers
    bogus = copy.deepcopy(first)
    for block in bogus["blocks"]:
        for element in block.get("elements", []):
            if element.get("type") == "button":
                element["value"] = f"{lead_id}:999999"
    bogus["ts"] = "1.000001"
    current = answers_view(slack, bogus, channel=SALES_CHANNEL, user=BOB)
    assert "about $120k a year" in current and "qualified again since" not in current

    # from a list (the Home tab names no notice): the current ones
    slack.click(first, "claim", channel=SALES_CHANNEL, user=ALICE)
    slack.send(slack.requests.app_home_opened(user_id=ALICE))
    slack.deliver()
    home = slack.fake.home_view(ALICE)
    assert home is not None
    opened = len(slack.fake.calls("views.open"))
    request = slack.requests.block_actions([actions_from(home["blocks"], "view_answers")],
                                           view=home, user_id=ALICE)
    assert slack.send(request).status_code == 200
    [call] = slack.fake.calls("views.open")[opened:]
    listed = blocks_text(call.response["view"]["blocks"])
    assert "about $120k a year" in listed and "qualified again since" not in listed
