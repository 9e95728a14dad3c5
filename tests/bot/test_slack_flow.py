"""The rep's conversation in Slack, end to end: /qualify, answers typed in the DM and given
by button, back/skip/cancel, several open qualifications, idempotency, escaping."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bot.slack.render import check_limits
from storage.models import Answer, Conversation, Lead, OutboxMessage, ProcessedEvent
from tests.bot.dispatchkit import mrkdwn_texts
from tests.bot.slackapp import SALES_CHANNEL, SlackHarness, blocks_text
from tests.slackreq import DEFAULT_USER, actions_from

BANT_QUALIFIED = [
    "allocated",
    "about $80k a year",
    "I'm the CFO and I sign the contract",
    "Our reps lose 10 hours a week to manual reporting",
    "this quarter",
]


def count(slack: SlackHarness, model: type) -> int:
    with slack.runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def conversation_state(slack: SlackHarness) -> str:
    with slack.runtime.sessions() as session:
        states = session.scalars(select(Conversation.state).order_by(Conversation.id)).all()
    assert states
    return states[-1]


def test_qualify_bant_acme_to_summary_and_handoff_notice(slack: SlackHarness) -> None:
    response = slack.command("bant Acme")
    assert "Starting BANT for *Acme* in your DM" in response.text
    slack.deliver()
    assert slack.current_question() == "budget"
    first = slack.last_dm()
    assert "Acme" in first["text"]  # which lead the question is about
    for answer in BANT_QUALIFIED:
        slack.say(answer)
        slack.deliver()
    last = slack.last_dm()
    assert "Qualified" in blocks_text(last) and "/100" in blocks_text(last)
    assert slack.current_question() is None
    [notice] = slack.channel_messages(SALES_CHANNEL)
    text = blocks_text(notice)
    assert "Acme" in text and "Source: Slack (rep)" in text
    assert "I'm the CFO and I sign the contract" in text  # answers as given
    check_limits({"text": notice["text"], "blocks": notice["blocks"]})
    # every DM went to the rep's DM (conversations.open + chat.postMessage), nothing else
    posts = slack.fake.calls("chat.postMessage")
    assert {p.response["channel"] for p in posts if p.ok} == {"D0REP0001", SALES_CHANNEL}
    for post in posts:
        assert post.args.get("link_names") in (None, False, "false", "0")


def test_a_budget_typed_with_its_amount_stores_both_and_asks_the_next_question(
    slack: SlackHarness,
) -> None:
    slack.command("bant Acme")
    slack.deliver()
    slack.say("approved, about $80k a year")
    slack.deliver()
    reply = blocks_text(slack.last_dm())
    assert "Budget: Yes – budget is allocated" in reply
    assert "Budget (budget amount): USD 80,000 per year" in reply
    assert slack.current_question() == "authority"  # not asked for the amount again
    with slack.runtime.sessions() as session:
        stored = session.execute(
            select(Answer.question_id, Answer.raw_text).order_by(Answer.id)
        ).all()
    assert [tuple(row) for row in stored] == [
        ("budget", "approved, about $80k a year"),
        ("budget_amount", "approved, about $80k a year"),
    ]
    for answer in BANT_QUALIFIED[2:]:
        slack.say(answer)
        slack.deliver()
    # the notice quotes what was said once, and reads the amount from it
    [notice] = slack.channel_messages(SALES_CHANNEL)
    [budget] = [b for b in notice["blocks"] if b.get("block_id") == "handoff_criterion:budget"]
    assert budget["text"]["text"].count("approved, about $80k a year") == 2  # reason, quote
    assert "amount — USD 80,000 per year, full marks" in budget["text"]["text"]


def test_choice_by_button_and_a_double_click_has_effect_once(slack: SlackHarness) -> None:
    slack.command("bant Acme")
    slack.deliver()
    question = slack.last_dm()
    slack.click(question, "answer_choice:allocated")
    slack.click(question, "answer_choice:none")  # the same question, clicked again
    slack.deliver()
    with slack.runtime.sessions() as session:
        answers = session.scalars(select(Answer).where(Answer.question_id == "budget")).all()
    assert [a.raw_text for a in answers] == ["Yes – budget is allocated"]
    assert conversation_state(slack) == "budget_amount"
    assert slack.current_question() == "budget"  # budget_amount is a follow-up on budget
    # the second click was refused politely, to the clicker only
    [ephemeral] = slack.fake.ephemeral_messages()
    assert ephemeral["user"] == DEFAULT_USER and "already" in ephemeral["text"]


def test_the_same_click_delivered_twice_has_effect_once(slack: SlackHarness) -> None:
    slack.command("bant Acme")
    slack.deliver()
    question = slack.last_dm()
    action = actions_from(question["blocks"], "answer_choice:allocated")
    request = slack.requests.block_actions(
        [action], channel_id="D0REP0001", message=question
    )
    assert slack.send(request).status_code == 200
    assert slack.send(request.resigned()).status_code == 200  # a second replica, say
    slack.deliver()
    assert count(slack, Answer) == 1
    assert slack.fake.ephemeral_messages() == []  # a duplicate is silent


def test_a_retried_event_has_effect_once(slack: SlackHarness) -> None:
    slack.command("bant Acme")
    slack.deliver()
    request = slack.requests.message_im("allocated")
    assert slack.send(request).status_code == 200
    for attempt in (1, 2, 3):
        assert slack.send(request.retried(attempt, "http_timeout")).status_code == 200
    slack.deliver()
    assert count(slack, Answer) == 1
    assert conversation_state(slack) == "budget_amount"
    assert count(slack, ProcessedEvent) >= 1
    replies = [m for m in slack.dm_messages() if "budget_amount" in blocks_text(m)]
    assert len(replies) == 1


def test_back_and_skip_typed_and_by_button(slack: SlackHarness) -> None:
    slack.command("bant Acme")
    slack.deliver()
    slack.say("allocated")
    slack.deliver()
    assert conversation_state(slack) == "budget_amount"
    slack.say("skip")  # typed
    slack.deliver()
    assert conversation_state(slack) == "authority"
    slack.say("back")  # typed
    slack.deliver()
    assert conversation_state(slack) == "budget_amount"
    question = slack.last_dm()
    slack.click(question, "skip")  # button
    slack.deliver()
    assert conversation_state(slack) == "authority"
    slack.click(slack.last_dm(), "back")  # button
    slack.deliver()
    assert conversation_state(slack) == "budget_amount"
    # a Back button under an old question does nothing
    slack.click(question, "skip")
    slack.click(question, "skip")
    slack.deliver()
    assert conversation_state(slack) == "authority"


def test_cancel_by_word_and_resume_from_the_list(slack: SlackHarness) -> None:
    slack.command("bant Acme")
    slack.deliver()
    slack.say("cancel")
    slack.deliver()
    assert conversation_state(slack) == "cancelled"
    assert "resume" in slack.last_dm()["text"].lower()
    listing = slack.ephemeral_response(slack.command("list"))
    assert "Acme" in blocks_text(listing) and "paused" in blocks_text(listing)
    message = {"ts": "1.000001", "blocks": listing["blocks"]}
    slack.click(message, "resume", channel="C0SALES01")
    slack.deliver()
    assert conversation_state(slack) == "budget"
    assert slack.current_question() == "budget"


def test_with_nothing_open_a_dm_names_the_paused_one_and_resume_continues_it(
    slack: SlackHarness,
) -> None:
    slack.command("bant Acme &amp; Sons")
    slack.deliver()
    slack.say("allocated")
    slack.say("cancel")
    slack.deliver()
    slack.say("about $80k a year")  # an answer, but nothing is open
    slack.deliver()
    hint = slack.last_dm()["text"]
    assert "no qualification in progress" in hint
    assert "Acme &amp; Sons is paused" in hint and "`resume`" in hint
    assert conversation_state(slack) == "cancelled"  # the answer was not taken
    slack.say("Resume")
    slack.deliver()
    assert conversation_state(slack) == "budget_amount"  # where it was cancelled
    assert slack.current_question() == "budget"  # (the amount's criterion) asked again
    assert "Acme &amp; Sons" in slack.last_dm()["text"]


def paused_and_listed(slack: SlackHarness) -> dict[str, Any]:
    """A BANT qualification of Acme, cancelled: `/qualify list`'s reply, with its Resume."""
    slack.command("bant Acme")
    slack.deliver()
    slack.say("cancel")
    slack.deliver()
    return slack.ephemeral_response(slack.command("list"))


def test_a_double_clicked_resume_asks_the_question_once(slack: SlackHarness) -> None:
    listing = paused_and_listed(slack)
    message = {"ts": "1.000001", "blocks": listing["blocks"]}
    posted_before = len(slack.dm_messages())
    slack.click(message, "resume", channel="C0SALES01")
    slack.click(message, "resume", channel="C0SALES01")  # the same button, a moment later
    slack.deliver()
    [asked] = slack.dm_messages()[posted_before:]
    assert "Acme" in asked["text"] and slack.current_question() == "budget"
    [refusal] = slack.fake.calls("chat.postEphemeral")
    assert refusal.args["channel"] == "C0SALES01" and "Already resumed" in refusal.args["text"]
    # a fresh list's button works: the question is asked again
    listing = slack.ephemeral_response(slack.command("list"))
    slack.click({"ts": "1.000002", "blocks": listing["blocks"]}, "resume", channel="C0SALES01")
    slack.deliver()
    assert len(slack.dm_messages()) == posted_before + 2


def test_a_resume_button_resumes_only_the_reps_own_qualification(slack: SlackHarness) -> None:
    listing = paused_and_listed(slack)
    posted_before = len(slack.dm_messages())
    # someone else clicking it (a button naming another's conversation): nothing is asked,
    # the conversation stays paused
    slack.click({"ts": "1.000001", "blocks": listing["blocks"]}, "resume",
                channel="C0SALES01", user="U0OTHER01")
    slack.deliver()
    assert len(slack.dm_messages()) == posted_before
    assert conversation_state(slack) == "cancelled"
    [refusal] = slack.fake.calls("chat.postEphemeral")
    assert refusal.args["user"] == "U0OTHER01" and "no conversation" in refusal.args["text"]


def test_a_resume_button_drawn_before_versions_still_works(slack: SlackHarness) -> None:
    slack.command("bant Acme")
    slack.deliver()
    listing = slack.ephemeral_response(slack.command("list"))
    [row] = [b for b in listing["blocks"] if (b.get("accessory") or {}).get("action_id")]
    row["accessory"]["value"] = row["accessory"]["value"].partition(":")[0]  # the id only
    posted_before = len(slack.dm_messages())
    slack.click({"ts": "1.000001", "blocks": [row]}, "resume", channel="C0SALES01")
    slack.deliver()
    assert len(slack.dm_messages()) == posted_before + 1


def test_several_open_qualifications_answers_go_to_the_latest_one(slack: SlackHarness) -> None:
    slack.command("bant Acme")
    slack.deliver()
    slack.command("meddic Globex")
    slack.deliver()
    assert "Globex" in slack.last_dm()["text"]
    slack.say("We want to cut reporting time by 50% this year")  # MEDDIC metrics
    slack.deliver()
    with slack.runtime.sessions() as session:
        rows = session.execute(
            select(Lead.company, Conversation.state)
            .join(Conversation, Conversation.lead_id == Lead.id)
            .order_by(Lead.id)
        ).all()
    assert rows[0] == ("Acme", "budget")
    assert rows[1][0] == "Globex" and rows[1][1] != "metrics"
    # Resume Acme from the list: it becomes the latest, and the next answer is Acme's
    listing = slack.ephemeral_response(slack.command("list"))
    acme_row = next(b for b in listing["blocks"] if "Acme" in blocks_text(b) and b.get("accessory"))
    slack.click({"ts": "1.000002", "blocks": [acme_row]}, "resume", channel="C0SALES01")
    slack.deliver()
    assert "Acme" in slack.last_dm()["text"]
    slack.say("allocated")
    slack.deliver()
    with slack.runtime.sessions() as session:
        acme_state = session.scalar(
            select(Conversation.state).join(Lead).where(Lead.company == "Acme")
        )
    assert acme_state == "budget_amount"


def test_replies_without_a_question_name_the_lead_they_are_about(slack: SlackHarness) -> None:
    slack.command("bant Acme")
    slack.command("bant Globex")  # the latest: typed answers go to Globex
    for answer in BANT_QUALIFIED:
        slack.say(answer)
    slack.deliver()
    summary = slack.last_dm()
    assert summary["text"].startswith("Globex: ") and "Qualified" in summary["text"]
    assert summary["blocks"][0]["type"] == "context" and "*Globex*" in blocks_text(
        summary["blocks"][0])
    slack.say("cancel")  # now Acme is the latest open one
    slack.deliver()
    cancelled = slack.last_dm()
    assert cancelled["text"].startswith("Acme: Cancelled")
    assert "*Acme*" in blocks_text(cancelled["blocks"][0])


def test_channel_mentions_typed_by_anyone_never_notify(slack: SlackHarness) -> None:
    hostile = "<!channel> Evil & Co <@U0BOSS> <https://evil.example|click>"
    slack.command("bant " + hostile.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    slack.deliver()
    for answer in ["allocated", "<!channel> about $80k", *BANT_QUALIFIED[2:]]:
        slack.say(answer.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
        slack.deliver()
    posted = [*slack.dm_messages(), *slack.channel_messages()]
    assert posted
    for message in posted:
        check_limits({"text": message["text"], "blocks": message.get("blocks") or []})
        for text in mrkdwn_texts(message):
            assert "<!channel>" not in text and "<@U0BOSS>" not in text
            assert "<https://evil" not in text
    with slack.runtime.sessions() as session:
        company = session.scalar(select(Lead.company))
    assert company == hostile  # stored as typed


def test_messages_from_bots_edits_and_channels_are_ignored(slack: SlackHarness) -> None:
    slack.command("bant Acme")
    slack.deliver()
    before = count(slack, OutboxMessage)
    assert slack.say("allocated", bot_id="B0QUALIBOT").status_code == 200
    assert slack.say("allocated", subtype="message_changed").status_code == 200
    assert count(slack, OutboxMessage) == before
    assert conversation_state(slack) == "budget"


def test_an_answer_with_nothing_in_progress_gets_a_hint(slack: SlackHarness) -> None:
    slack.say("hello?")
    slack.deliver()
    text = slack.last_dm()["text"]
    assert "no qualification in progress" in text and "/qualify bant" in text
