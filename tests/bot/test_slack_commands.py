"""`/qualify` and its sub-commands, and the /qualify modal, end to end."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.slack.command import parse_qualify
from bot.slack.render import check_limits
from bot.slack.texts import from_slack
from storage.models import Answer, Conversation, Lead
from tests.bot.slackapp import SlackHarness, blocks_text
from tests.slackreq import DEFAULT_USER

FRAMEWORKS = ("bant", "champ", "meddic", "gpctba")


@pytest.mark.parametrize(
    ("text", "verb", "framework", "company"),
    [
        ("bant Acme", "start", "bant", "Acme"),
        ("BANT  Acme Corp ", "start", "bant", "Acme Corp"),
        ("Meddic Globex", "start", "meddic", "Globex"),
        ("", "form", None, None),
        ("champ", "form", "champ", None),
        ("help", "help", None, None),
        ("HELP me", "help", None, None),
        ("list", "list", None, None),
        ("cancel", "cancel", None, None),
        ("xyz Acme", "start", "xyz", "Acme"),
        ("Acme", "unknown", None, None),
        ("list everything", "unknown", None, None),
        ("show", "unknown", None, None),
    ],
)
def test_parse_qualify(text: str, verb: str, framework: str | None, company: str | None) -> None:
    command = parse_qualify(text, FRAMEWORKS)
    assert (command.verb, command.framework, command.company) == (verb, framework, company)


def test_parse_show_and_from_slack() -> None:
    assert parse_qualify("show #12", FRAMEWORKS).lead == "12"
    assert parse_qualify("show Acme Corp", FRAMEWORKS).lead == "Acme Corp"
    assert from_slack("A &amp; B &lt;!channel&gt;") == "A & B <!channel>"
    assert from_slack("see <https://acme.com|acme.com> or <https://x.io>") == (
        "see acme.com or https://x.io"
    )
    assert from_slack("<@U123> and <!here>") == "@U123 and here"


def test_help(slack: SlackHarness) -> None:
    payload = slack.ephemeral_response(slack.command("help"))
    text = blocks_text(payload)
    for word in ("/qualify", "bant", "champ", "meddic", "gpctba", "list", "show", "cancel"):
        assert word in text
    check_limits(payload)


@pytest.mark.parametrize("text", ["Acme", "list all of them", "show", "frobnicate"])
def test_anything_else_gets_a_short_help(slack: SlackHarness, text: str) -> None:
    payload = slack.ephemeral_response(slack.command(text))
    assert "/qualify" in payload["text"]
    assert _count(slack, Lead) == 0


def test_unknown_framework_lists_the_known_ones(slack: SlackHarness) -> None:
    response = slack.command("spiced Acme")
    payload = response.json()
    assert payload["response_type"] == "ephemeral"
    assert "Unknown framework" in payload["text"]
    for name in FRAMEWORKS:
        assert name in payload["text"]
    assert _count(slack, Lead) == 0
    slack.deliver()
    assert slack.fake.calls("chat.postMessage") == []


def test_framework_names_are_case_insensitive(slack: SlackHarness) -> None:
    assert "Starting MEDDIC" in slack.command("MeDdIc Initech").text
    slack.deliver()
    assert slack.current_question() == "metrics"


def test_list_show_and_cancel(slack: SlackHarness) -> None:
    empty = slack.ephemeral_response(slack.command("list"))
    assert "Nothing in progress" in blocks_text(empty)
    slack.command("bant Acme")
    slack.command("champ Globex")
    slack.deliver()
    listing = slack.ephemeral_response(slack.command("list"))
    check_limits(listing)
    resume_buttons = [
        b["accessory"] for b in listing["blocks"] if (b.get("accessory") or {}).get("action_id")
    ]
    assert len(resume_buttons) == 2  # each open one has a Resume button
    assert "Acme" in blocks_text(listing) and "Globex" in blocks_text(listing)

    cancelled = slack.command("cancel")  # the most recent open one: Globex
    assert "Globex" in cancelled.text and "Cancelled" in cancelled.text
    with slack.runtime.sessions() as session:
        states = dict(session.execute(
            select(Lead.company, Conversation.state).join(Conversation)
        ).all())
    assert states == {"Acme": "budget", "Globex": "cancelled"}

    with slack.runtime.sessions() as session:
        acme_id = session.scalar(select(Lead.id).where(Lead.company == "Acme"))
    slack.say("allocated")
    shown = slack.ephemeral_response(slack.command(f"show {acme_id}"))
    check_limits(shown)
    assert "Acme" in blocks_text(shown) and "> allocated" in blocks_text(shown)
    by_name = slack.ephemeral_response(slack.command("show acme"))
    assert by_name["blocks"] == shown["blocks"]
    missing = slack.command("show 99999").json()
    assert "no lead 99999" in missing["text"]


def test_show_with_a_number_no_lead_can_have(slack: SlackHarness) -> None:
    # past the 64-bit id column, and digits that are not 0-9: a clear "no such lead",
    # not "something went wrong" (the database raised an overflow, int() a ValueError)
    for huge in ("99999999999999999999999", "4294967296"):  # 2**32: past PostgreSQL's INTEGER
        assert f"no lead {huge}" in slack.command(f"show {huge}").json()["text"]
    assert "no lead called “²”" in slack.command("show ²").json()["text"]


def test_cancel_with_nothing_in_progress(slack: SlackHarness) -> None:
    payload = slack.command("cancel").json()
    assert "no qualification in progress" in payload["text"]


def test_show_lists_answers_and_breakdown_of_a_scored_lead(slack: SlackHarness) -> None:
    slack.command("bant Acme")
    for answer in ["allocated", "about $80k a year", "I'm the CFO and I sign the contract",
                   "Our reps lose 10 hours a week to manual reporting", "this quarter"]:
        slack.say(answer)
    shown = blocks_text(slack.ephemeral_response(slack.command("show Acme")))
    assert "Why this score" in shown and "qualified" in shown
    assert "about $80k a year" in shown


# -- the modal ----------------------------------------------------------------------------------


def _open_modal(slack: SlackHarness, text: str = "") -> dict[str, Any]:
    response = slack.command(text)
    assert response.text == ""
    [call] = slack.fake.calls("views.open")
    assert call.ok, call.response
    view: dict[str, Any] = call.response["view"]
    return view


def _submit(slack: SlackHarness, view: dict[str, Any], values: dict[str, dict[str, Any]]) -> Any:
    request = slack.requests.view_submission(view, values=values)
    response = slack.send(request)
    assert response.status_code == 200
    return response


def test_qualify_alone_opens_the_modal_and_starts_from_it(slack: SlackHarness) -> None:
    view = _open_modal(slack)
    assert view["callback_id"] == "qualify_modal"
    block_ids = [b.get("block_id") for b in view["blocks"]]
    assert "question:budget" in block_ids and "question:need" in block_ids
    response = _submit(slack, view, {
        "qualify_framework": {"pick_framework": {"type": "static_select",
                                                 "selected_option": {"value": "bant"}}},
        "qualify_company": {"company": "Acme"},
    })
    assert response.text == ""  # the modal closes
    slack.deliver()
    assert slack.current_question() == "budget"
    assert _count(slack, Lead) == 1


BANT_FORM = {
    "qualify_framework": {"pick_framework": {"type": "static_select",
                                             "selected_option": {"value": "bant"}}},
    "qualify_company": {"company": "Acme"},
    "question:budget": {"budget": {"type": "static_select",
                                   "selected_option": {"value": "allocated"}}},
    "question:budget:budget_amount": {"budget_amount": "about $80k a year"},
    "question:authority": {"authority": "I'm the CFO and I sign the contract"},
    "question:need": {"need": "Our reps lose 10 hours a week to manual reporting"},
    "question:timeline": {"timeline": "this quarter"},
}


def test_modal_with_every_answer_at_once(slack: SlackHarness) -> None:
    view = _open_modal(slack, "bant")
    assert "question:budget:budget_amount" in [b.get("block_id") for b in view["blocks"]]
    _submit(slack, view, BANT_FORM)
    slack.deliver()
    [reply] = slack.dm_messages()
    assert "Noted 5 answers" in reply["text"]
    assert "Qualified" in blocks_text(reply)
    assert _count(slack, Answer) == 5
    assert len(slack.channel_messages()) == 1  # handed off


def test_modal_with_some_answers_continues_in_the_dm(slack: SlackHarness) -> None:
    view = _open_modal(slack, "bant")
    form = {k: v for k, v in BANT_FORM.items() if k not in (
        "question:budget:budget_amount", "question:need", "question:timeline")}
    _submit(slack, view, form)
    slack.deliver()
    # budget amount (left empty before the last answer) was skipped; need is asked next
    assert "Noted 2 answers from the form (1 left empty: skipped)" in slack.last_dm()["text"]
    assert slack.current_question() == "need"
    with slack.runtime.sessions() as session:
        statuses = dict(session.execute(select(Answer.question_id, Answer.status)).all())
    assert statuses == {"budget": "answered", "budget_amount": "skipped",
                        "authority": "answered"}


def test_modal_field_errors(slack: SlackHarness) -> None:
    view = _open_modal(slack, "bant")
    response = _submit(slack, view, {
        "qualify_framework": {"pick_framework": {"type": "static_select",
                                                 "selected_option": {"value": "bant"}}},
        "qualify_company": {"company": "Acme"},
        "question:timeline": {"timeline": "purple"},
        "question:need": {"need": "skip"},
    })
    payload = response.json()
    assert payload["response_action"] == "errors"
    assert set(payload["errors"]) == {"question:timeline", "question:need"}
    assert "read" in payload["errors"]["question:timeline"]
    assert _count(slack, Lead) == 0  # nothing was started
    slack.deliver()
    assert slack.fake.calls("chat.postMessage") == []


def test_modal_follow_up_answers_that_would_not_be_used_are_field_errors(
    slack: SlackHarness,
) -> None:
    view = _open_modal(slack, "bant")
    no_budget_question = {k: v for k, v in BANT_FORM.items() if k != "question:budget"}
    none = {**BANT_FORM, "question:budget": {"budget": {
        "type": "static_select", "selected_option": {"value": "none"}}}}
    for form, problem in ((no_budget_question, "asked only after Budget"),
                          (none, "Not asked with that answer to Budget")):
        errors = _submit(slack, view, form).json()["errors"]
        assert list(errors) == ["question:budget:budget_amount"]
        assert problem in errors["question:budget:budget_amount"]
    assert _count(slack, Lead) == 0  # nothing started: the rep fixes the form
    without_amount = {k: v for k, v in none.items() if k != "question:budget:budget_amount"}
    assert _submit(slack, view, without_amount).text == ""  # the form closes
    slack.deliver()
    assert _count(slack, Answer) == 4


def test_modal_company_errors_show_on_the_company_field(slack: SlackHarness) -> None:
    view = _open_modal(slack, "bant")
    for company, problem in (("   ", "name the company"), ("x" * 201, "too long")):
        payload = _submit(slack, view, {**BANT_FORM, "qualify_company": {"company": company}})
        errors = payload.json()["errors"]
        assert list(errors) == ["qualify_company"] and problem in errors["qualify_company"]
    assert _count(slack, Lead) == 0


def test_a_long_field_error_is_cut_visibly_at_slacks_limit(slack: SlackHarness) -> None:
    view = _open_modal(slack, "bant")
    payload = _submit(slack, view, {
        **BANT_FORM, "question:budget:budget_amount": {"budget_amount": "purple"},
    }).json()
    error = payload["errors"]["question:budget:budget_amount"]
    assert error.startswith("Sorry, I can't read that.")
    assert len(error) <= 150 and error.endswith("…")  # Slack refuses longer ones


def test_picking_another_framework_swaps_the_questions(slack: SlackHarness) -> None:
    view = _open_modal(slack)
    request = slack.requests.block_actions(
        [{
            "type": "static_select", "action_id": "pick_framework",
            "block_id": "qualify_framework", "selected_option": {"value": "meddic"},
            "action_ts": "1.1",
        }],
        view={**view, "state": {"values": {"qualify_company": {
            "company": {"type": "plain_text_input", "value": "Initech"}}}}},
    )
    assert slack.send(request).status_code == 200
    slack.deliver()
    [update] = slack.fake.calls("views.update")
    assert update.ok, update.response
    blocks = json.dumps(update.response["view"]["blocks"])
    assert "question:metrics" in blocks and "question:budget" not in blocks
    assert "Initech" in blocks


def test_a_modal_submitted_twice_starts_once(slack: SlackHarness) -> None:
    view = _open_modal(slack, "bant")
    values = {
        "qualify_framework": {"pick_framework": {"type": "static_select",
                                                 "selected_option": {"value": "bant"}}},
        "qualify_company": {"company": "Acme"},
    }
    request = slack.requests.view_submission(view, values=values)
    assert slack.send(request).status_code == 200
    assert slack.send(request.resigned()).status_code == 200
    assert _count(slack, Lead) == 1


def _count(slack: SlackHarness, model: type) -> int:
    with slack.runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_commands_of_another_rep_do_not_mix(slack: SlackHarness) -> None:
    slack.command("bant Acme")
    slack.command("bant Globex", user_id="U0REP0002")
    listing = blocks_text(slack.ephemeral_response(slack.command("list")))
    assert "Acme" in listing and "Globex" not in listing
    assert DEFAULT_USER
