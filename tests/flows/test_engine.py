"""The flow engine: one shared machine, per-conversation state, every event."""

from __future__ import annotations

import gc
from datetime import date

import pytest

from flows.contact import contact_questions
from flows.definitions import Framework, Phrasing, Question, load_frameworks
from flows.engine import CANCELLED, DONE, START, BotMessage, Flow, FlowError, FlowState

TODAY = date(2026, 11, 22)

MINI = {
    "id": "mini",
    "name": "Mini",
    "version": 1,
    "criteria": [
        {
            "id": "budget", "label": "Budget", "weight": 50, "type": "choice",
            "ask": {"rep": "Budget at {company}?", "prospect": "Do you have a budget?"},
            "hint": "Allocated, planned or none.",
            "choices": [
                {"value": "allocated", "label": "Allocated", "synonyms": ["yes"], "score": 1},
                {"value": "none", "label": "No budget", "synonyms": ["no"], "score": 0},
            ],
            "follow_ups": [{
                "id": "budget_amount", "type": "money",
                "ask": {"rep": "How much?", "prospect": "How much?"},
                "hint": "A figure like 50k.", "ask_if": {"question": "budget", "not_in": ["none"]},
                "scoring": {"full_at": 10000},
            }],
        },
        {
            "id": "need", "label": "Need", "weight": 30, "type": "text", "skippable": False,
            "ask": {"rep": "What does {company} need?", "prospect": "What do you need?"},
            "hint": "Describe the problem in a sentence.",
            "validation": {"min_words": 2},
        },
        {
            "id": "timeline", "label": "Timeline", "weight": 20, "type": "timeframe",
            "ask": {"rep": "When?", "prospect": "When?"}, "hint": "E.g. this quarter.",
        },
    ],
}


@pytest.fixture(scope="module")
def flow() -> Flow:
    return Flow(Framework.model_validate(MINI))


def begin(flow: Flow) -> FlowState:
    model = FlowState()
    flow.begin(model, company="Acme", audience="rep")
    return model


def say(flow: Flow, model: FlowState, text: str) -> list[str]:
    turn = flow.answer(model, text, today=TODAY, company="Acme", audience="rep")
    return [m.kind for m in turn.messages]


def test_machine_is_shared_and_holds_no_models(flow: Flow) -> None:
    models = [begin(flow) for _ in range(100)]
    assert all(m.state == "budget" for m in models)
    assert flow.machine.models == []


def test_first_question_uses_rep_phrasing_and_company(flow: Flow) -> None:
    model = FlowState()
    turn = flow.begin(model, company="Acme", audience="rep")
    (message,) = turn.messages
    assert message.text == "Budget at Acme?"
    assert message.question is not None and message.question.criterion == "budget"
    assert message.position == (1, 4)


def test_prospect_phrasing(flow: Flow) -> None:
    turn = flow.begin(FlowState(), company="Acme", audience="prospect")
    assert turn.messages[0].text == "Do you have a budget?"


def test_full_run_records_answers_and_reads_back(flow: Flow) -> None:
    model = begin(flow)
    turn = flow.answer(model, "yes", today=TODAY, company="Acme", audience="rep")
    assert turn.messages[0].kind == "readback"
    assert turn.messages[0].text == "Budget: Allocated"
    assert model.state == "budget_amount"
    say(flow, model, "$50k per year")
    assert model.answers["budget_amount"]["parsed"]["amount"] == 50000
    say(flow, model, "Our onboarding takes weeks")
    kinds = say(flow, model, "this quarter")
    assert kinds == ["readback", "done"]
    assert model.state == DONE
    assert model.history == ["budget", "budget_amount", "need", "timeline"]


def test_a_total_over_several_years_is_read_back_per_year_and_as_said(flow: Flow) -> None:
    model = begin(flow)
    say(flow, model, "yes")
    turn = flow.answer(model, "$100k over 3 years", today=TODAY, company="Acme",
                       audience="prospect")
    assert turn.messages[0].text == (
        "Budget: USD 33,333 per year (USD 100,000 over 3 years)"
    )


def test_a_price_per_seat_without_a_count_is_read_back_as_a_price(flow: Flow) -> None:
    # it was read back as "GBP 500 per month", a budget; the read-back says what is missing
    model = begin(flow)
    say(flow, model, "yes")
    turn = flow.answer(model, "£500 a month per seat", today=TODAY, company="Acme",
                       audience="prospect")
    assert turn.messages[0].text == (
        "Budget: GBP 500 per seat per month (number of seats not stated)")
    assert model.state == "need"


def test_follow_up_is_skipped_when_moot(flow: Flow) -> None:
    model = begin(flow)
    say(flow, model, "no budget")
    assert model.state == "need"
    assert "budget_amount" not in model.answers


def test_invalid_answer_is_reasked_twice_then_recorded_unknown(flow: Flow) -> None:
    model = begin(flow)
    say(flow, model, "yes")
    assert say(flow, model, "lots of bananas") == ["hint", "question"]
    assert say(flow, model, "still bananas") == ["hint", "question"]
    assert model.state == "budget_amount"
    turn = flow.answer(model, "bananas!", today=TODAY, company="Acme", audience="rep")
    assert turn.recorded is not None
    assert turn.recorded[1]["status"] == "unknown"
    assert model.state == "need"
    assert model.answers["budget_amount"]["raw"] == "bananas!"


def test_hint_is_part_of_the_reask(flow: Flow) -> None:
    model = begin(flow)
    say(flow, model, "yes")
    turn = flow.answer(model, "hmm", today=TODAY, company="Acme", audience="rep")
    assert "A figure like 50k." in turn.messages[0].text


def test_a_too_short_answer_is_asked_for_more_not_called_unreadable(flow: Flow) -> None:
    model = begin(flow)
    say(flow, model, "no")  # no budget: on to the need (at least 2 words)
    assert model.state == "need"
    turn = flow.answer(model, "speed", today=TODAY, company="Acme", audience="rep")
    assert turn.messages[0].text == (
        "Could you say a little more? Describe the problem in a sentence."
    )
    flow.answer(model, "bananas", today=TODAY, company="Acme", audience="rep")
    assert model.state == "need"
    # out of re-asks, the short answer is kept as given (it scores what it scores)
    turn = flow.answer(model, "apples", today=TODAY, company="Acme", audience="rep")
    assert model.state == "timeline"
    assert model.answers["need"]["status"] == "answered"
    assert model.answers["need"]["raw"] == "apples"
    assert turn.messages[0].text == "Need: apples"


def test_skip_where_allowed_and_refused_where_not(flow: Flow) -> None:
    model = begin(flow)
    flow.skip(model, today=TODAY, company="Acme", audience="rep")
    assert model.answers["budget"]["status"] == "skipped"
    # a skipped choice does not satisfy the follow-up's condition
    assert model.state == "need"
    with pytest.raises(FlowError, match="can't be skipped"):
        flow.skip(model, today=TODAY, company="Acme", audience="rep")
    assert model.state == "need"


def test_typed_command_words(flow: Flow) -> None:
    model = begin(flow)
    say(flow, model, "yes")
    say(flow, model, "Skip")
    assert model.state == "need"
    say(flow, model, "back")
    assert model.state == "budget_amount"


def test_back_returns_to_the_previous_asked_question(flow: Flow) -> None:
    model = begin(flow)
    say(flow, model, "no")  # budget_amount is moot
    assert model.state == "need"
    flow.back(model, company="Acme", audience="rep")
    assert model.state == "budget"
    # correcting the answer now brings the follow-up in
    say(flow, model, "allocated")
    assert model.state == "budget_amount"


def test_back_on_first_question_is_refused(flow: Flow) -> None:
    model = begin(flow)
    with pytest.raises(FlowError, match="nothing to go back to"):
        flow.back(model, company="Acme", audience="rep")


def test_cancel_and_resume_where_left(flow: Flow) -> None:
    model = begin(flow)
    say(flow, model, "no")
    flow.cancel(model)
    assert model.state == CANCELLED
    with pytest.raises(FlowError):
        say(flow, model, "we need speed")
    turn = flow.resume(model, company="Acme", audience="rep")
    assert model.state == "need"
    assert turn.messages[0].question is not None
    assert model.answers["budget"]["parsed"] == {"value": "none"}


def test_restart_clears_answers(flow: Flow) -> None:
    model = begin(flow)
    say(flow, model, "no")
    flow.restart(model, company="Acme", audience="rep")
    assert model.state == "budget"
    assert model.answers == {}
    assert model.history == []


def test_choose_by_button(flow: Flow) -> None:
    model = begin(flow)
    flow.choose(model, "allocated", today=TODAY, company="Acme", audience="rep")
    assert model.state == "budget_amount"
    with pytest.raises(FlowError):
        flow.choose(model, "allocated", today=TODAY, company="Acme", audience="rep")


def test_oversized_answer_gets_a_clear_message(flow: Flow) -> None:
    model = begin(flow)
    say(flow, model, "no")
    turn = flow.answer(model, "x " * 60_000, today=TODAY, company="Acme", audience="rep")
    assert "characters long" in turn.messages[0].text
    assert model.state == "need"
    assert model.attempts == 0


def test_control_characters_and_emoji_are_fine(flow: Flow) -> None:
    model = begin(flow)
    say(flow, model, "no")
    say(flow, model, "We need 🚀 faster\x07 onboarding")
    assert model.state == "timeline"


def test_state_round_trips_through_json(flow: Flow) -> None:
    model = begin(flow)
    say(flow, model, "yes")
    restored = FlowState.from_data(model.state, model.to_data())
    say(flow, restored, "20k")
    assert restored.state == "need"


def test_contact_questions_come_first_and_prefilled_are_skipped() -> None:
    contact = [
        Question(id="name", criterion="name", type="text",
                 ask=Phrasing(rep="Name?", prospect="What's your name?"), hint="Your name."),
        Question(id="email", criterion="email", type="email",
                 ask=Phrasing(rep="Email?", prospect="Your work email?"), hint="name@company"),
    ]
    flow = Flow(Framework.model_validate(MINI), contact_questions=contact)
    model = FlowState(ask_contact=True, prefilled=["name"])
    flow.begin(model, company="Acme", audience="prospect")
    assert model.state == "email"
    say(flow, model, "not an email")
    assert model.state == "email"
    say(flow, model, "jane@acme.com")
    assert model.state == "budget"
    # a rep's conversation never asks contact questions
    rep_model = FlowState()
    flow.begin(rep_model, company="Acme", audience="rep")
    assert rep_model.state == "budget"


@pytest.mark.parametrize("typed", ["idk", "no", "none", "n/a", "prefer not to say", "asdf",
                                   "hi", "dana@acme.example"])
def test_a_non_name_is_reasked_with_the_hint(typed: str) -> None:
    # these were stored as the visitor's name (and on the lead)
    flow = Flow(load_frameworks()["bant"], contact_questions=contact_questions())
    model = FlowState(ask_contact=True)
    flow.begin(model, company="", audience="prospect")
    turn = flow.answer(model, typed, today=TODAY, company="", audience="prospect")
    assert model.state == "name" and "name" not in model.answers
    assert turn.messages[0].kind == "hint"
    assert flow.by_id["name"].hint in turn.messages[0].text


@pytest.mark.parametrize(("typed", "name"), [
    ("Dana Lee", "Dana Lee"), ("Dana", "Dana"), ("Zoë Šimić", "Zoë Šimić"),
    ("Jean-Luc Picard", "Jean-Luc Picard"), ("Siobhán O'Brien", "Siobhán O'Brien"),
    ("李雷", "李雷"), ("Олег Петров", "Олег Петров"), ("I'm Dana Lee.", "Dana Lee"),
])
def test_a_name_is_read_and_read_back(typed: str, name: str) -> None:
    flow = Flow(load_frameworks()["bant"], contact_questions=contact_questions())
    model = FlowState(ask_contact=True)
    flow.begin(model, company="", audience="prospect")
    turn = flow.answer(model, typed, today=TODAY, company="", audience="prospect")
    assert model.state == "email"
    assert turn.messages[0].text == f"Name: {name}"
    assert model.answers["name"]["raw"] == typed


def _at_company() -> tuple[Flow, FlowState]:
    flow = Flow(load_frameworks()["bant"], contact_questions=contact_questions())
    model = FlowState(ask_contact=True, prefilled=["name", "email"])
    flow.begin(model, company="", audience="prospect")
    assert model.state == "company"
    return flow, model


@pytest.mark.parametrize("typed", ["n/a", "idk", "none", "no company", "prefer not to say",
                                   "asdf", "dana@acme.example", "student", "I'm retired",
                                   "unemployed"])
def test_a_non_company_is_reasked_with_the_hint(typed: str) -> None:
    # these were stored as the company (and on the lead)
    flow, model = _at_company()
    turn = flow.answer(model, typed, today=TODAY, company="", audience="prospect")
    assert model.state == "company" and "company" not in model.answers
    assert turn.messages[0].kind == "hint"
    assert flow.by_id["company"].hint in turn.messages[0].text


def test_the_company_hint_says_what_to_answer_without_an_employer() -> None:
    flow, _ = _at_company()
    hint = flow.by_id["company"].hint
    assert "self-employed" in hint  # working for yourself
    assert "University" in hint  # a student
    assert "on behalf of" in hint  # the retired, those between jobs: whom they ask for


@pytest.mark.parametrize(("typed", "company"), [
    ("3M", "3M"), ("X", "X"), ("AT&T", "AT&T"), ("Procter & Gamble", "Procter & Gamble"),
    ("O2", "O2"), ("Self-employed", "Self-employed"), ("freelance", "freelance"),
    ("株式会社ソニー", "株式会社ソニー"), ("N/A Logistics Ltd", "N/A Logistics Ltd"),
    ("I work at Acme Logistics.", "Acme Logistics"),
])
def test_a_company_is_read_and_read_back(typed: str, company: str) -> None:
    flow, model = _at_company()
    turn = flow.answer(model, typed, today=TODAY, company="", audience="prospect")
    assert model.state == "consent"
    assert turn.messages[0].text == f"Company: {company}"
    assert model.answers["company"]["raw"] == typed


def test_no_machine_per_conversation(flow: Flow) -> None:
    """Memory does not grow with conversations: nothing is attached to the machine."""
    gc.collect()
    before = len(gc.get_objects())
    for _ in range(2000):
        model = begin(flow)
        say(flow, model, "no")
    gc.collect()
    assert len(gc.get_objects()) - before < 500
    assert flow.machine.models == []


def test_start_state_is_start() -> None:
    assert FlowState().state == START


@pytest.mark.parametrize(
    ("answer", "prospect_sees", "rep_sees"),
    [
        ("Head of Sales, no", "Authority: Head of Sales", "Head of Sales (influencer)"),
        ("our CFO", "Authority: Sign-off by CFO", "Influencer; sign-off by CFO"),
        ("CTO, yes", "Authority: CTO, you make the decision", "CTO (decision maker)"),
        ("I'll be using it day to day", "Authority: Noted", "End user"),
        # the board's approval: not "you make the decision" (was "CFO, you make the decision")
        ("I'm the CFO, but I need board approval", "Authority: CFO, final say: the board",
         "CFO (economic buyer; final say: the board)"),
    ],
)
def test_a_visitor_is_not_read_back_sales_terms(
    answer: str, prospect_sees: str, rep_sees: str
) -> None:
    flow = Flow(load_frameworks()["bant"])
    model = FlowState()
    flow.begin(model, company="Acme", audience="prospect")
    for text in ("no", answer):  # no budget: straight on to authority
        turn = flow.answer(model, text, today=TODAY, company="Acme", audience="prospect")
    assert turn.messages[0].text == prospect_sees
    # the stored read-back (the rep's, in the handoff notice) keeps the level
    assert model.answers["authority"]["readback"] == rep_sees
    # and the history a returning visitor gets says it the same way
    replayed = flow.replay(model, company="Acme", audience="prospect")
    assert prospect_sees in [m.text for m in replayed if isinstance(m, BotMessage)]
