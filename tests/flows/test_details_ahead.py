"""A choice typed with its details answers the follow-up too; and the bot understands the
examples its own hints give."""

from __future__ import annotations

from datetime import date

import pytest

from flows.definitions import load_frameworks
from flows.engine import Flow, FlowState
from flows.parsing import parse_answer

TODAY = date(2026, 12, 7)
FRAMEWORKS = load_frameworks()


def flow_at(framework: str, question: str, *answers: str) -> tuple[Flow, FlowState]:
    """The built-in `framework`'s flow, answered with `answers` from the start, which must
    leave it at `question`."""
    flow = Flow(FRAMEWORKS[framework])
    model = FlowState()
    flow.begin(model, company="Acme", audience="rep")
    for text in answers:
        flow.answer(model, text, today=TODAY, company="Acme", audience="rep")
    assert model.state == question
    return flow, model


def say(flow: Flow, model: FlowState, text: str) -> list[str]:
    turn = flow.answer(model, text, today=TODAY, company="Acme", audience="rep")
    return [m.text for m in turn.messages]


def test_a_budget_typed_with_its_amount_is_not_asked_for_the_amount() -> None:
    flow, model = flow_at("bant", "budget")
    turn = flow.answer(model, "approved, about 80k a year", today=TODAY, company="Acme",
                       audience="rep")
    assert [m.text for m in turn.messages] == [
        "Budget: Yes – budget is allocated",
        "Budget (budget amount): 80,000 per year (currency not stated)",
        "What is your contact's role at Acme, and do they sign off on this purchase?",
    ]
    assert [question for question, _ in turn.answers] == ["budget", "budget_amount"]
    assert model.answers["budget_amount"]["parsed"]["amount"] == 80000
    assert model.answers["budget_amount"]["raw"] == "approved, about 80k a year"
    assert model.state == "authority"
    # back goes to the amount, to correct it
    assert say(flow, model, "back") == [
        "Roughly how much budget does Acme have, and is that per month, per year or one-off?"
    ]


@pytest.mark.parametrize(
    "typed",
    [
        "approved",
        "yes, approved for 2027",  # a year is not an amount
        "yes, signed off by 2 directors",  # nor is a count
        "budget approved on 12 March",  # nor a day
        "yes 24/7",
        "it's in the Q1 plan",
    ],
)
def test_a_budget_without_a_clear_amount_is_asked_for_it(typed: str) -> None:
    flow, model = flow_at("bant", "budget")
    said = say(flow, model, typed)
    assert len(said) == 2 and said[0].startswith("Budget: ")
    assert model.state == "budget_amount"
    assert "budget_amount" not in model.answers


def test_a_budget_approved_for_a_later_year_is_being_planned() -> None:
    # the flow reads the year against the turn's day (TODAY is in 2026)
    flow, model = flow_at("bant", "budget")
    said = say(flow, model, "approved for 2027")
    assert said[0] == "Budget: Being planned – in the next budget cycle or awaiting sign-off"
    assert model.answers["budget"]["parsed"] == {"value": "planned"}


def test_a_priority_typed_with_its_date_is_not_asked_when() -> None:
    flow, model = flow_at(
        "champ", "prioritization", "our reps lose 10 hours a week to manual reporting",
        "the VP Sales, Maria", "it's in this year's budget", "around 60k a year",
    )
    said = say(flow, model, "top priority, we want it live by the end of Q1")
    assert said[0] == "Prioritization: Top priority – being worked on now"
    assert said[1].startswith("Prioritization (prioritization timeline): ")
    assert model.answers["prioritization_timeline"]["parsed"]["latest"] == "2027-03-31"
    assert model.state != "prioritization_timeline"


def test_a_described_decision_process_is_defined_and_answers_the_steps() -> None:
    flow, model = flow_at(
        "meddic", "decision_process", "we would save 300k a year", "the CFO",
        "SOC2 and a Salesforce integration",
    )
    said = say(flow, model, "security review, then CFO sign-off by June")
    assert said[:2] == [
        "Decision process: Defined – steps, approvers and dates are known",
        "Decision process (decision process steps): security review, then CFO sign-off by June",
    ]
    assert model.state == "identify_pain"


def test_a_level_named_outright_wins_over_the_steps_described() -> None:
    flow, model = flow_at(
        "meddic", "decision_process", "we would save 300k a year", "the CFO",
        "SOC2 and a Salesforce integration",
    )
    said = say(flow, model, "partly: security review, then procurement, about 6 weeks")
    assert said[0] == "Decision process: Partly known – some steps or approvers are clear"
    assert model.answers["decision_process_steps"]["status"] == "answered"
    assert model.state == "identify_pain"


@pytest.mark.parametrize(
    ("typed", "asked_who"),
    [
        ("yes, Maria our Head of RevOps is pushing it", False),
        ("yes she is", True),  # names nobody
        ("yes thats me", False),  # the speaker is the champion
        ("that's me, I'm driving it", False),
        ("yes", True),
    ],
)
def test_a_champion_named_with_the_answer_is_not_asked_who(typed: str, asked_who: bool) -> None:
    flow, model = flow_at(
        "meddic", "champion", "we would save 300k a year", "the CFO",
        "SOC2 and a Salesforce integration", "not known yet",
        "reps lose 10 hours a week to manual entry",
    )
    say(flow, model, typed)
    assert model.answers["champion"]["parsed"] == {"value": "strong"}
    assert (model.state == "champion_who") is asked_who


def test_the_form_path_leaves_the_follow_up_to_its_own_field() -> None:
    flow, model = flow_at("bant", "budget")
    turn = flow.answer(model, "approved, about 80k a year", today=TODAY, company="Acme",
                       audience="rep", details=False)
    assert turn.ahead == ()
    assert model.state == "budget_amount"


def _hint_examples() -> list[tuple[str, str, str]]:
    cases = []
    for framework_id, framework in FRAMEWORKS.items():
        for question in Flow(framework).questions:
            for example in question.examples:
                cases.append((framework_id, question.id, example))
    return cases


@pytest.mark.parametrize(("framework", "question_id", "example"), _hint_examples())
def test_the_examples_a_hint_gives_are_understood(
    framework: str, question_id: str, example: str
) -> None:
    """A re-ask tells people what to type; what it suggests must then be read."""
    question = Flow(FRAMEWORKS[framework]).by_id[question_id]
    parsed = parse_answer(question.type, example, today=TODAY, choices=question.choices)
    assert not parsed.get("unknown") or parsed.get("unsure"), parsed


def test_an_approver_named_with_with_is_read_back() -> None:
    """MEDDIC's own hint example: the CFO's sign-off above 100k was lost ("VP of Sales
    (decision maker)")."""
    flow, model = flow_at("meddic", "economic_buyer", "we would save 300k a year")
    said = say(flow, model, "VP Sales, with CFO approval above 100k")
    assert said[0] == ("Economic buyer: VP of Sales (decision maker; sign-off by CFO above "
                       "100k)")
    flow, model = flow_at("bant", "authority", "approved, about 80k a year")
    said = say(flow, model, "the VP Sales, with CFO approval")
    assert said[0] == "Authority: VP of Sales (influencer; sign-off by CFO)"


@pytest.mark.parametrize("framework", ["bant", "gpctba"])
@pytest.mark.parametrize(
    "typed",
    ["waiting on sign off from finance", "we r waiting for sign-off, hoping for 40-60k",
     "need approval from the CFO"],
)
def test_a_budget_waiting_for_sign_off_is_being_planned(framework: str, typed: str) -> None:
    """These were re-asked with the hint."""
    question = Flow(FRAMEWORKS[framework]).by_id["budget"]
    parsed = parse_answer("choice", typed, today=TODAY, choices=question.choices)
    assert parsed == {"value": "planned"}


@pytest.mark.parametrize(
    ("framework", "typed", "amount"),
    [
        ("bant", "50k", 50000),
        ("bant", "we've got 100k for the year", 100000),
        ("gpctba", "there's 40 grand", 40000),
        ("champ", "about $60k", 60000),
    ],
)
def test_an_amount_alone_is_a_budget_of_that_amount(framework: str, typed: str,
                                                     amount: int) -> None:
    """ "Does Acme have budget?" "50k": that is a yes, and the amount (it was re-asked)."""
    question = "money" if framework == "champ" else "budget"
    answers = ("our reps lose 10 hours a week to manual reporting", "the VP Sales, Maria"
               ) if framework == "champ" else ()
    if framework == "gpctba":
        answers = ("grow ARR 30% next year", "hire two more reps and automate quoting",
                   "quotes take days and we lose deals", "by the end of Q2")
    flow, model = flow_at(framework, question, *answers)
    said = say(flow, model, typed)
    assert said[0].endswith(": Yes – budget is allocated")
    assert model.answers[f"{question}_amount"]["parsed"]["amount"] == amount
    assert model.state not in (question, f"{question}_amount")


@pytest.mark.parametrize("typed", ["2027", "10", "we spend 10 hours on it"])
def test_a_number_that_is_no_amount_is_still_asked_again(typed: str) -> None:
    flow, model = flow_at("bant", "budget")
    said = say(flow, model, typed)
    assert said[0].startswith("Sorry, I didn't quite get that.")
    assert model.state == "budget" and "budget" not in model.answers
