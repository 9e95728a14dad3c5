"""Block Kit rendering: the templates, the filters, and Slack's limits."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.slack import ids
from bot.slack.render import (
    LIMITS,
    BlockKitError,
    SlackText,
    blank_as,
    check_limits,
    mrkdwn,
    number,
    plain,
    render_blocks,
    render_json,
    truncate_to,
)

HOSTILE = "<!channel> <@U123> <http://evil|click> &amp;"
HOSTILE_ESCAPED = "&lt;!channel&gt; &lt;@U123&gt; &lt;http://evil|click&gt; &amp;amp;"


def question_context(**overrides: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "lead": {"id": 7, "company": "Acme GmbH"},
        "question": {
            "id": "budget",
            "criterion": "budget",
            "text": "Is there a budget for this at *Acme GmbH*?",
            "type": "choice",
            "options": [
                {"label": "Yes, approved", "value": "approved"},
                {"label": "Being planned", "value": "planned"},
                {"label": "No budget", "value": "none"},
            ],
        },
        "conversation_id": 42,
        "position": {"index": 2, "total": 4},
    }
    for key, value in overrides.items():
        context[key] = value
    return context


def handoff_context(**overrides: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "lead": {
            "id": 7,
            "company": "Acme GmbH",
            "contact_name": "Dana Buyer",
            "contact_email": "dana@acme.example",
            "source": "rep",
        },
        "framework_name": "BANT",
        "score": {
            "total": 82.0,
            "verdict": "qualified",
            "criteria": [
                {"criterion": "budget", "label": "Budget", "points": 25, "max_points": 25,
                 "reason": "Budget approved", "answers": ["50k EUR a year, approved"]},
                {"criterion": "authority", "label": "Authority", "points": 20.5,
                 "max_points": 25, "reason": "Talking to the CFO",
                 "answers": [{"question": "Who signs?", "text": "The CFO"}]},
                {"criterion": "need", "label": "Need", "points": 25, "max_points": 25,
                 "reason": "Manual qualification is slow", "answers": ["We lose leads"]},
                {"criterion": "timeline", "label": "Timeline", "points": 11.5,
                 "max_points": 25, "reason": "Next quarter", "answers": []},
            ],
        },
        "engagement_score": 40,
    }
    context.update(overrides)
    return context


def text_objects(payload: Any, kind: str | None = None) -> Iterator[dict[str, Any]]:
    """Every text object (`plain_text` / `mrkdwn`) in a payload, or those of one kind."""
    if isinstance(payload, dict):
        is_text = payload.get("type") in ("plain_text", "mrkdwn") and "text" in payload
        if is_text and (kind is None or payload["type"] == kind):
            yield payload
        for value in payload.values():
            yield from text_objects(value, kind)
    elif isinstance(payload, list):
        for value in payload:
            yield from text_objects(value, kind)


def mrkdwn_strings(payload: dict[str, Any]) -> list[str]:
    """What Slack parses as markup: the mrkdwn text objects and the fallback `text`."""
    return [payload["text"], *(t["text"] for t in text_objects(payload, "mrkdwn"))]


def by_block_id(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in payload["blocks"] if "block_id" in b}


# -- ids ------------------------------------------------------------------------------------


def test_ids() -> None:
    assert ids.ActionId.ANSWER_CHOICE == "answer_choice"
    assert ids.question_block_id("budget") == "question:budget"
    assert ids.choice_action_id("approved") == "answer_choice:approved"
    assert ids.choice_value_of("answer_choice:approved") == "approved"
    assert ids.choice_value_of("skip") is None
    assert ids.ANSWER_CHOICE_PATTERN.match("answer_choice:approved")
    block_id = ids.step_block_id(ids.BlockId.QUESTION_NAV, 42, "budget", 2)
    assert ids.parse_step_block_id(block_id) == ids.Step(ids.BlockId.QUESTION_NAV, "42",
                                                         "budget", 2)
    assert ids.parse_step_block_id("question:budget") is None
    assert ids.parse_step_block_id("nope|1|q|x") is None


# -- question -------------------------------------------------------------------------------


def test_question_renders_and_fits() -> None:
    payload = render_blocks("question.json.j2", **question_context())
    check_limits(payload)
    blocks = by_block_id(payload)

    section = blocks["question:budget"]
    assert section["type"] == "section"
    assert section["text"] == {"type": "mrkdwn",
                               "text": "Is there a budget for this at *Acme GmbH*?"}
    assert "Acme GmbH" in blocks["question_context"]["elements"][0]["text"]
    assert "2 of 4" in blocks["question_context"]["elements"][0]["text"]

    choices = blocks["answer_choices|42|budget|2"]["elements"]
    assert [(b["action_id"], b["value"], b["text"]["text"]) for b in choices] == [
        ("answer_choice:approved", "approved", "Yes, approved"),
        ("answer_choice:planned", "planned", "Being planned"),
        ("answer_choice:none", "none", "No budget"),
    ]
    nav = blocks["question_nav|42|budget|2"]["elements"]
    assert [b["action_id"] for b in nav] == ["back", "skip", "cancel"]
    assert {b["value"] for b in nav} == {"42"}

    assert "Acme GmbH" in payload["text"] and "Is there a budget" in payload["text"]


def test_question_first_unskippable_free_text_without_lead() -> None:
    context = question_context(position={"index": 1, "total": 4})
    context["question"] = {"id": "need", "criterion": "need", "type": "text",
                           "text": "What problem are they trying to solve?",
                           "skippable": False}
    del context["lead"]
    payload = render_blocks("question.json.j2", **context)
    check_limits(payload)
    assert [b["block_id"] for b in payload["blocks"]] == ["question:need", "question_nav|42|need|1"]
    [cancel] = payload["blocks"][-1]["elements"]  # no Back on the first, no Skip
    assert cancel["action_id"] == "cancel"


def test_question_escapes_user_text() -> None:
    context = question_context(lead={"id": 7, "company": HOSTILE})
    context["question"]["text"] = f"What is the budget at {HOSTILE}?"
    payload = render_blocks("question.json.j2", **context)
    check_limits(payload)
    strings = mrkdwn_strings(payload)
    assert all(HOSTILE_ESCAPED in s for s in strings), strings
    assert not any("<" in s for s in strings)


# -- handoff --------------------------------------------------------------------------------


def test_handoff_renders_and_fits() -> None:
    payload = render_blocks("handoff.json.j2", **handoff_context())
    check_limits(payload)
    blocks = by_block_id(payload)

    assert blocks["handoff_header"]["text"] == {"type": "plain_text", "text": "Acme GmbH",
                                               "emoji": False}
    fields = [f["text"] for f in blocks["handoff_summary"]["fields"]]
    assert fields == [
        "*Contact*\nDana Buyer · dana@acme.example",
        "*Framework*\nBANT",
        "*Score*\n82",
        "*Engagement*\n40",
        "*Verdict*\nQualified",
    ]
    budget = blocks["handoff_criterion:budget"]["text"]["text"]
    assert budget == "*Budget* — 25 / 25\n_Budget approved_\n> 50k EUR a year, approved"
    authority = blocks["handoff_criterion:authority"]["text"]["text"]
    assert "20.5 / 25" in authority and "*Who signs?*\n> The CFO" in authority
    assert "(no answer)" in blocks["handoff_criterion:timeline"]["text"]["text"]
    source = blocks["handoff_source"]["elements"][0]["text"]
    assert source.startswith("Source: Slack (rep)")

    buttons = blocks["handoff_actions"]["elements"]
    assert [b["action_id"] for b in buttons] == ["claim", "nurture", "disqualify", "view_answers"]
    assert {b["value"] for b in buttons} == {"7"}

    assert payload["text"] == (
        "Qualified lead: Acme GmbH — BANT score 82. Source: Slack (rep)"
    )


def test_handoff_source_in_words_and_optional_fields() -> None:
    context = handoff_context(engagement_score=None)
    context["lead"] = {"id": 8, "company": "Widget Co", "source": "widget",
                       "contact_name": None, "contact_email": "  "}
    payload = render_blocks("handoff.json.j2", **context)
    check_limits(payload)
    blocks = by_block_id(payload)
    assert "Source: website widget" in blocks["handoff_source"]["elements"][0]["text"]
    assert "Source: website widget" in payload["text"]
    fields = [f["text"] for f in blocks["handoff_summary"]["fields"]]
    assert fields[0] == "*Contact*\n—"
    assert not any(f.startswith("*Engagement*") for f in fields)

    del context["engagement_score"]  # may be left out entirely
    check_limits(render_blocks("handoff.json.j2", **context))


def test_handoff_escapes_user_text_exactly_once() -> None:
    context = handoff_context()
    context["lead"].update(company=HOSTILE, contact_name=HOSTILE, contact_email=HOSTILE)
    context["score"]["criteria"][0]["answers"] = [HOSTILE, {"question": HOSTILE, "text": HOSTILE}]
    context["score"]["criteria"][0]["reason"] = HOSTILE
    payload = render_blocks("handoff.json.j2", **context)
    check_limits(payload)

    budget = by_block_id(payload)["handoff_criterion:budget"]["text"]["text"]
    assert budget.count(HOSTILE_ESCAPED) == 4  # reason, answer, question, answer
    contact = by_block_id(payload)["handoff_summary"]["fields"][0]["text"]
    assert contact == f"*Contact*\n{HOSTILE_ESCAPED} · {HOSTILE_ESCAPED}"
    assert HOSTILE_ESCAPED in payload["text"]
    for text in mrkdwn_strings(payload):
        assert "<" not in text and ">" not in text.replace("\n> ", "\n").lstrip("> ")
        assert "&amp;amp;amp;" not in text  # not escaped twice

    # plain_text is shown verbatim by Slack (no mentions, no links), so it is not escaped
    assert by_block_id(payload)["handoff_header"]["text"]["text"] == HOSTILE


def test_long_answers_are_truncated_visibly() -> None:
    answer = "a" * 10_000
    context = handoff_context()
    context["lead"]["company"] = "C" * 10_000
    context["lead"]["contact_name"] = "N" * 10_000
    context["score"]["criteria"][0]["answers"] = [answer, answer, answer, answer]
    context["score"]["criteria"][0]["reason"] = "r" * 10_000
    payload = render_blocks("handoff.json.j2", **context)
    check_limits(payload)

    budget = by_block_id(payload)["handoff_criterion:budget"]["text"]["text"]
    assert len(budget) <= LIMITS["section_text"]
    assert "a" * 900 + "…" in budget
    assert budget.endswith("…")
    header = by_block_id(payload)["handoff_header"]["text"]["text"]
    assert len(header) == LIMITS["header_text"] and header.endswith("…")
    assert len(payload["text"]) <= LIMITS["fallback_text"]

    question = question_context(lead={"id": 1, "company": "&" * 10_000})
    question["question"]["text"] = "<" * 10_000
    payload = render_blocks("question.json.j2", **question)
    check_limits(payload)
    text = by_block_id(payload)["question:budget"]["text"]["text"]
    assert text.endswith("&lt;…") and len(text) <= LIMITS["section_text"]


# -- filters --------------------------------------------------------------------------------


def test_mrkdwn_escapes_once() -> None:
    assert mrkdwn(HOSTILE) == HOSTILE_ESCAPED
    assert mrkdwn(mrkdwn(HOSTILE)) == HOSTILE_ESCAPED  # already escaped text is left alone
    assert isinstance(mrkdwn("x"), SlackText)
    assert mrkdwn(None) == ""
    assert mrkdwn(3) == "3"
    assert mrkdwn("a\x00b\x1bc\nd\te") == "abc\nd\te"  # control characters go
    assert mrkdwn("*bold* _it_") == "*bold* _it_"  # formatting is not markup injection


def test_truncate_to_never_cuts_an_entity() -> None:
    assert truncate_to("abc", 3) == "abc"
    assert truncate_to("abcdef", 4) == "abc…"
    escaped = mrkdwn("a<b")  # "a&lt;b"
    for limit in range(1, len(escaped)):
        cut = truncate_to(escaped, limit)
        assert len(cut) <= limit and cut.endswith("…")
        assert re.sub(r"&(amp|lt|gt);", "", cut).count("&") == 0
        assert isinstance(cut, SlackText)
    assert truncate_to("word   " + "x" * 10, 8) == "word…"  # no blanks before the ellipsis
    with pytest.raises(ValueError):
        truncate_to("abc", 0)


def test_plain_number_blank_as() -> None:
    assert plain(HOSTILE, 100) == HOSTILE
    assert plain("x" * 80, 75) == "x" * 74 + "…"
    assert number(3.0) == "3" and number(2.456) == "2.5" and number(7) == "7"
    assert number(None) == "" and number("n/a") == "n/a"
    assert blank_as(None) == "—" and blank_as(" \n") == "—" and blank_as("\x00") == "—"
    assert blank_as("x") == "x" and blank_as(0) == 0


def test_missing_context_is_an_error() -> None:
    context = question_context()
    del context["position"]
    with pytest.raises(Exception, match="position"):
        render_blocks("question.json.j2", **context)


# -- check_limits ---------------------------------------------------------------------------


def section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


def actions(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "block_id": "acts", "elements": list(buttons)}


def button(text: str = "Go", action_id: str = "go", value: str = "1") -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text},
            "action_id": action_id, "value": value}


def modal(**overrides: Any) -> dict[str, Any]:
    view = {"type": "modal", "callback_id": "qualify_modal",
            "title": {"type": "plain_text", "text": "Qualify a lead"},
            "blocks": [section("hi")]}
    view.update(overrides)
    return view


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"text": "x", "blocks": [section("x")] * 51}, r"message: number of blocks is 51.*50"),
        ({"text": "x", "blocks": [section("x" * 3001, "q")]},
         r"blocks\[0\] section 'q': text is 3001 long.*3000"),
        ({"text": "x", "blocks": [{"type": "header",
                                   "text": {"type": "plain_text", "text": "h" * 151}}]},
         r"blocks\[0\] header: text is 151 long.*150"),
        ({"text": "x", "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]},
         r"must be plain_text"),
        ({"text": "x", "blocks": [actions(button(text="b" * 76))]},
         r"blocks\[0\] actions 'acts': elements\[0\] button 'go': text is 76 long.*75"),
        ({"text": "x", "blocks": [actions(button(action_id="a" * 256))]}, r"action_id.*255"),
        ({"text": "x", "blocks": [actions(button(), button())]}, r"action_id is used twice"),
        ({"text": "x", "blocks": [section("x", "b" * 256)]}, r"block_id is 256 long.*255"),
        ({"text": "x", "blocks": [section("x", "same"), section("y", "same")]},
         r"block_id is used twice"),
        ({"text": "x" * 3001}, r"fallback `text` is 3001 long.*3000"),
        ({"text": "x", "blocks": [section("")]}, r"text must be a non-empty string"),
        ({"text": "x", "blocks": [{"type": "sektion", "text": {"type": "mrkdwn", "text": "x"}}]},
         r"does not know the block type 'sektion'"),
        ({"text": "x", "blocks": [actions({**button(), "acton_id": "typo"})]},
         r"dropped elements.0.acton_id"),
        ({"text": "x", "blocks": [{"type": "section", "fields": [
            {"type": "mrkdwn", "text": "f"}] * 11}]}, r"number of fields is 11.*10"),
        ({"text": "x", "blocks": [{"type": "section", "fields": [
            {"type": "mrkdwn", "text": "f" * 2001}]}]}, r"fields\[0\] is 2001 long.*2000"),
        ({"text": "x", "blocks": [{"type": "context", "elements": [
            {"type": "mrkdwn", "text": "c"}] * 11}]}, r"number of elements is 11.*10"),
        ({"text": "x", "blocks": [actions(*[button(action_id=f"b{i}") for i in range(26)])]},
         r"number of elements is 26.*25"),
        ({"text": "x", "blocks": [actions({**button(), "value": "v" * 2001})]},
         r"value is 2001 long.*2000"),
        ({"text": "x", "blocks": [actions({**button(), "style": "loud"})]},
         r"style attribute must be one of"),  # found by slack_sdk's own validators
        ({"text": " "}, r"needs a non-empty `text` or `blocks`"),
        (modal(title={"type": "plain_text", "text": "t" * 25}),
         r"modal view: title is 25 long.*24"),
        (modal(blocks=[section("x")] * 101), r"modal view: number of blocks is 101.*100"),
        (modal(submit={"type": "plain_text", "text": "s" * 25}), r"submit is 25 long.*24"),
        (modal(private_metadata="m" * 3001), r"private_metadata is 3001 long.*3000"),
        (modal(callback_id="c" * 256), r"callback_id is 256 long.*255"),
        ({"type": "home", "blocks": [section("x")] * 101}, r"home view: number of blocks"),
    ],
)
def test_check_limits_names_the_block_and_the_limit(payload: Any, expected: str) -> None:
    with pytest.raises(BlockKitError, match=expected):
        check_limits(payload)


def test_check_limits_accepts_the_maximums() -> None:
    check_limits({"text": "x" * 3000, "blocks": [section("x" * 3000, f"b{i}") for i in range(50)]})
    check_limits(modal(blocks=[section("x")] * 100, title={"type": "plain_text", "text": "t" * 24}))
    check_limits({"type": "home", "blocks": [section("x")] * 100})
    check_limits([section("x"), actions(*[button(action_id=f"b{i}") for i in range(25)])])
    check_limits({"blocks": [{"type": "divider"}], "text": "x"})


def test_check_limits_does_not_change_the_payload() -> None:
    payload = render_blocks("handoff.json.j2", **handoff_context())
    before = copy.deepcopy(payload)
    check_limits(payload)
    assert payload == before


# -- property: arbitrary user text ----------------------------------------------------------

user_text = st.text()
choice_values = st.lists(
    st.from_regex(r"[a-z][a-z0-9_]{0,30}", fullmatch=True), max_size=6, unique=True
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    company=user_text,
    contact_name=st.none() | user_text,
    contact_email=st.none() | user_text,
    question_text=user_text,
    labels=st.lists(user_text, min_size=6, max_size=6),
    values=choice_values,
    answers=st.lists(user_text, max_size=4),
    reason=user_text,
)
def test_any_user_text_renders_safe_valid_json_within_limits(
    company: str,
    contact_name: str | None,
    contact_email: str | None,
    question_text: str,
    labels: list[str],
    values: list[str],
    answers: list[str],
    reason: str,
) -> None:
    question = question_context(lead={"id": 1, "company": company})
    question["question"]["text"] = question_text
    question["question"]["options"] = [
        {"label": label, "value": value} for label, value in zip(labels, values, strict=False)
    ]
    handoff = handoff_context()
    handoff["lead"].update(company=company, contact_name=contact_name,
                           contact_email=contact_email)
    for criterion in handoff["score"]["criteria"]:
        criterion["answers"] = [*answers, {"question": question_text, "text": company}]
        criterion["reason"] = reason

    for name, context in (("question.json.j2", question), ("handoff.json.j2", handoff)):
        payload = json.loads(render_json(name, **context))  # valid JSON, whatever the text
        check_limits(payload)
        for text in mrkdwn_strings(payload):
            for live in ("<!", "<@", "<#", "<http", "<mailto"):
                assert live not in text
            assert "<" not in text  # no template emits markup, so no "<" at all
            assert re.sub(r"&(amp|lt|gt);", "", text).count("&") == 0  # every & is escaped
