"""The built-in framework definition files, the loader's errors, team files and overrides,
and the contact questions."""

from __future__ import annotations

import re
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.answers import AnswerRecord
from flows.contact import CONSENT_TEXT, contact_questions
from flows.definitions import (
    BUILTIN_DIR,
    DefinitionError,
    Framework,
    FrameworkOverrides,
    Question,
    Thresholds,
    load_framework,
    load_frameworks,
)
from flows.scoring import score

CONTRACT = {
    "bant": ["budget", "authority", "need", "timeline"],
    "champ": ["challenges", "authority", "money", "prioritization"],
    "meddic": ["metrics", "economic_buyer", "decision_criteria", "decision_process",
               "identify_pain", "champion"],
    "gpctba": ["goals", "plans", "challenges", "timeline", "budget", "authority",
               "consequences", "implications"],
}
PLACEHOLDER = re.compile(r"\{[^}]*\}")


@pytest.fixture(scope="module")
def frameworks() -> dict[str, Framework]:
    return load_frameworks()


def all_questions(frameworks: dict[str, Framework]) -> list[tuple[str, Question]]:
    return [(fid, q) for fid, fw in frameworks.items() for q in fw.questions()]


# --- the built-in files ----------------------------------------------------------------------


def test_all_four_builtin_files_load(frameworks: dict[str, Framework]) -> None:
    assert set(frameworks) == set(CONTRACT)
    for fid in CONTRACT:
        assert (BUILTIN_DIR / f"{fid}.yaml").is_file()
        assert load_framework(BUILTIN_DIR / f"{fid}.yaml").id == fid


@pytest.mark.parametrize("framework_id", sorted(CONTRACT))
def test_criterion_ids_follow_the_contract(
    frameworks: dict[str, Framework], framework_id: str
) -> None:
    assert [c.id for c in frameworks[framework_id].criteria] == CONTRACT[framework_id]


def test_every_question_has_both_phrasings_and_a_hint(frameworks: dict[str, Framework]) -> None:
    for fid, q in all_questions(frameworks):
        where = f"{fid}.{q.id}"
        assert q.ask.rep.strip() and q.ask.prospect.strip(), where
        assert len(q.hint.split()) >= 5, f"{where}: hint too thin"
        assert "e.g." in q.hint or "for example" in q.hint.lower(), f"{where}: hint has no example"
        # Only {company} may be substituted; prospects are asked about themselves.
        assert set(PLACEHOLDER.findall(q.ask.rep)) <= {"{company}"}, where
        assert PLACEHOLDER.findall(q.ask.prospect) == [], where
        assert q.ask.rep != q.ask.prospect, where


def test_choices_fit_quick_replies_and_synonyms_are_unambiguous(
    frameworks: dict[str, Framework],
) -> None:
    for fid, q in all_questions(frameworks):
        if q.type != "choice":
            assert not q.choices, f"{fid}.{q.id}"
            continue
        assert 2 <= len(q.choices) <= 10, f"{fid}.{q.id}"
        owners: dict[str, str] = {}
        for choice in q.choices:
            assert len(choice.label) <= 75, f"{fid}.{q.id}.{choice.value}"
            assert choice.synonyms, f"{fid}.{q.id}.{choice.value}: no synonyms"
            for word in (choice.value, *choice.synonyms):
                assert isinstance(word, str) and word == word.lower().strip()
                other = owners.setdefault(word, choice.value)
                assert other == choice.value, (
                    f"{fid}.{q.id}: {word!r} is a synonym of both {other} and {choice.value}")
            if q.main:
                assert choice.score is not None, f"{fid}.{q.id}.{choice.value} has no score"


def test_accepted_text_answers_can_score(frameworks: dict[str, Framework]) -> None:
    # The flow re-asks answers shorter than validation.min_words; one it accepts must not
    # then get no marks for being too short.
    for fid, q in all_questions(frameworks):
        if q.type == "text" and q.scoring is not None:
            assert q.validation.min_words >= q.scoring.min_words, f"{fid}.{q.id}"


def test_weights_and_thresholds_are_sensible(frameworks: dict[str, Framework]) -> None:
    for fw in frameworks.values():
        assert sum(c.weight for c in fw.criteria) == 100
        assert 50 <= fw.thresholds.qualified <= 90
        assert fw.thresholds.nurture < fw.thresholds.qualified


def test_bant_budget_follow_up_and_gate(frameworks: dict[str, Framework]) -> None:
    bant = frameworks["bant"]
    budget = bant.criterion("budget")
    assert budget.type == "choice"
    assert {c.value for c in budget.choices} == {"allocated", "planned", "none"}
    (amount,) = budget.follow_ups
    assert amount.id == "budget_amount" and amount.type == "money"
    assert amount.ask_if is not None
    assert amount.ask_if.question == "budget" and amount.ask_if.not_in == ("none",)
    (gate,) = bant.gates
    assert set(gate.criteria) == set(CONTRACT["bant"])
    assert (gate.require, gate.on_fail) == ("all", "cap_nurture")


def test_meddic_first_gate_is_metrics_or_pain(frameworks: dict[str, Framework]) -> None:
    first = frameworks["meddic"].gates[0]
    assert set(first.criteria) == {"metrics", "identify_pain"}
    assert (first.require, first.on_fail) == ("any", "disqualify")


def test_answer_types_per_criterion(frameworks: dict[str, Framework]) -> None:
    types = {(fid, c.id): c.type for fid, fw in frameworks.items() for c in fw.criteria}
    assert types[("bant", "authority")] == "authority"
    assert types[("bant", "timeline")] == "timeframe"
    assert types[("meddic", "economic_buyer")] == "authority"
    assert types[("champ", "money")] == "choice"
    assert types[("gpctba", "timeline")] == "timeframe"


# --- malformed definitions -------------------------------------------------------------------


def minimal() -> dict[str, Any]:
    return {
        "id": "team", "name": "Team framework", "version": 1,
        "criteria": [
            {
                "id": "fit", "label": "Fit", "weight": 60, "type": "choice",
                "ask": {"rep": "Is {company} a fit?", "prospect": "Are we a fit for you?"},
                "hint": "Yes or no, e.g. \"yes\".",
                "choices": [{"value": "fit", "label": "Yes", "score": 1},
                            {"value": "no_fit", "label": "No", "score": 0}],
                "follow_ups": [{
                    "id": "fit_why", "type": "text",
                    "ask": {"rep": "Why?", "prospect": "Why?"}, "hint": "A sentence.",
                    "ask_if": {"question": "fit", "in": ["fit"]},
                }],
            },
            {
                "id": "urgency", "label": "Urgency", "weight": 40, "type": "timeframe",
                "ask": {"rep": "When?", "prospect": "When?"}, "hint": "E.g. next month.",
                "scoring": {"within_days": [[30, 1.0]], "otherwise": 0.2},
            },
        ],
        "gates": [{"id": "must_fit", "label": "Must fit", "criteria": ["fit"]}],
    }


def write(folder: Path, name: str, data: dict[str, Any] | str) -> Path:
    path = folder / name
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def broken(mutate: Any) -> dict[str, Any]:
    data = minimal()
    mutate(data)
    return data


@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        pytest.param("id: team\ncriteria: [\n  - broken", None, "not valid YAML", id="bad-yaml"),
        pytest.param("- just\n- a list\n", None, "mapping", id="not-a-mapping"),
        pytest.param(broken(lambda d: d["criteria"][0].pop("hint")), "criteria.0.hint",
                     "Field required", id="missing-field"),
        pytest.param(broken(lambda d: d.pop("version")), "version", "Field required",
                     id="missing-top-level-field"),
        pytest.param(broken(lambda d: d["gates"][0].update(criteria=["fit", "budgett"])),
                     "gate 'must_fit'", "unknown criteria: ['budgett']",
                     id="unknown-gate-criterion"),
        pytest.param(broken(lambda d: d["criteria"][0]["follow_ups"][0].update(
                         ask_if={"question": "urgency", "in": ["x"]})),
                     "ask_if", "not asked before", id="ask-if-later-question"),
        pytest.param(broken(lambda d: d["criteria"][0]["follow_ups"][0].update(
                         ask_if={"question": "fit", "in": ["fitt"]})),
                     "ask_if", "not among its choices", id="ask-if-unknown-choice"),
        pytest.param(broken(lambda d: d["criteria"][0]["follow_ups"][0].update(
                         ask_if={"question": "fit"})),
                     "ask_if", "exactly one of 'in' or 'not_in'", id="ask-if-no-test"),
        pytest.param(broken(lambda d: d["criteria"][1].update(weight="heavy")),
                     "criteria.1.weight", "valid number", id="wrong-type-weight"),
        pytest.param(broken(lambda d: d["criteria"][1].update(type="number")),
                     "criteria.1.type", "Input should be", id="unknown-answer-type"),
        pytest.param(broken(lambda d: d["criteria"][0]["choices"][0].update(label="x" * 76)),
                     "criteria.0.choices.0.label", "at most 75", id="label-too-long"),
        pytest.param(broken(lambda d: d["criteria"][0].update(colour="red")),
                     "criteria.0.colour", "Extra inputs", id="unknown-field"),
        pytest.param(broken(lambda d: d["criteria"][1]["scoring"].update(
                         within_days=[[90, 1.0], [30, 0.5]])),
                     "criteria.1.scoring.within_days", "increasing order", id="bad-buckets"),
    ],
)
def test_malformed_definition_names_file_field_and_problem(
    tmp_path: Path, data: dict[str, Any] | str, field: str | None, problem: str
) -> None:
    path = write(tmp_path, "team.yaml", data)
    with pytest.raises(DefinitionError) as caught:
        load_framework(path)
    message = str(caught.value)
    assert str(path) in message
    if field is not None:
        assert field in message
    assert problem in message


def test_malformed_file_in_an_extra_folder_fails_the_whole_load(tmp_path: Path) -> None:
    write(tmp_path, "team.yaml", broken(lambda d: d["criteria"][0].pop("ask")))
    with pytest.raises(DefinitionError, match=r"team\.yaml.*\n.*criteria\.0\.ask"):
        load_frameworks(extra_dirs=[tmp_path])


def test_missing_extra_folder(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="does not exist"):
        load_frameworks(extra_dirs=[tmp_path / "nope"])


# --- team files and overrides ----------------------------------------------------------------


def test_team_framework_in_an_extra_folder_loads(tmp_path: Path) -> None:
    write(tmp_path, "team.yaml", minimal())
    loaded = load_frameworks(extra_dirs=[tmp_path])
    assert set(loaded) == {*CONTRACT, "team"}
    assert [q.id for q in loaded["team"].questions()] == ["fit", "fit_why", "urgency"]


def test_team_file_replaces_a_builtin_of_the_same_id(tmp_path: Path) -> None:
    own = minimal() | {"id": "bant", "name": "Our BANT", "version": 7}
    write(tmp_path, "our_bant.yaml", own)
    loaded = load_frameworks(extra_dirs=[tmp_path])
    assert loaded["bant"].name == "Our BANT" and loaded["bant"].version == 7


def rec(raw: str, parsed: dict[str, Any], status: str = "answered") -> AnswerRecord:
    return AnswerRecord(raw=raw, parsed=parsed, status=status,  # type: ignore[typeddict-item]
                        readback=raw, at="2026-03-02")


def test_weight_and_threshold_overrides_change_the_result() -> None:
    answers = {
        "budget": rec("being planned for next year", {"value": "planned"}),
        "authority": rec("Head of IT, recommends", {"role": "Head of IT", "level": "influencer"}),
        "need": rec("Our reps lose a day a week to manual reporting",
                    {"text": "x", "words": 10, "substantive": True, "has_number": False}),
        "timeline": rec("this month", {"earliest": "2026-03-02", "latest": "2026-03-31"}),
    }
    as_of = date(2026, 3, 2)
    plain = load_frameworks()["bant"]
    before = score(plain, answers, as_of=as_of)
    heavier_need = load_frameworks(
        overrides={"bant": FrameworkOverrides(weights={"need": 70})})["bant"]
    after = score(heavier_need, answers, as_of=as_of)
    assert after.total > before.total
    assert after.criteria[2].max_points == pytest.approx(70 / 140 * 100, abs=0.01)

    lenient = plain.with_overrides(
        FrameworkOverrides(thresholds=Thresholds(qualified=95, nurture=20)))
    strict = plain.with_overrides(
        FrameworkOverrides(thresholds=Thresholds(qualified=99, nurture=90)))
    assert score(lenient, answers, as_of=as_of).verdict == "nurture"
    assert score(strict, answers, as_of=as_of).verdict == "disqualified"
    assert score(lenient, answers, as_of=as_of).total == before.total


def test_override_naming_an_unknown_criterion() -> None:
    with pytest.raises(DefinitionError, match=r"frameworks\.bant\.weights.*money"):
        load_frameworks(overrides={"bant": FrameworkOverrides(weights={"money": 10})})


# --- contact questions -----------------------------------------------------------------------


def test_contact_questions() -> None:
    questions = contact_questions()
    assert [(q.id, q.type) for q in questions] == [
        ("name", "name"), ("email", "email"), ("company", "company"), ("consent", "yesno")]
    for q in questions:
        assert q.criterion == q.id
        assert q.ask.rep and q.ask.prospect and q.hint
        assert PLACEHOLDER.findall(q.ask.prospect) == []
        assert not q.skippable
    consent = questions[-1]
    assert CONSENT_TEXT in consent.ask.prospect
    assert "withdraw" in CONSENT_TEXT and "email" in CONSENT_TEXT
    assert contact_questions() == questions  # the same definitions every call


def test_contact_ids_do_not_clash_with_framework_questions(
    frameworks: dict[str, Framework],
) -> None:
    contact_ids = {q.id for q in contact_questions()}
    for fw in frameworks.values():
        assert contact_ids.isdisjoint(q.id for q in fw.questions())


def test_definition_text_is_tidy() -> None:
    # Hints and phrasing are folded YAML; no stray whitespace reaches the chat.
    for path in sorted(BUILTIN_DIR.glob("*.yaml")):
        for fid, q in all_questions({path.stem: load_framework(path)}):
            for text in (q.hint, q.ask.rep, q.ask.prospect):
                assert text == textwrap.dedent(text).strip() and "  " not in text, (fid, q.id)
