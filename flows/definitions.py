"""Framework definitions: the schema of `flows/frameworks/*.yaml` and its loader.

A framework is data: criteria, each with a main question and optional follow-ups,
the answer type of every question, its phrasing for reps and for prospects, a hint to
re-ask with, scoring rules, weights, gates and verdict thresholds. Files are validated at
load; a bad file raises `DefinitionError` naming the file, the field and the problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

AnswerType = Literal[
    "money", "timeframe", "authority", "yesno", "choice", "text", "email", "name", "company"
]
AuthorityLevel = Literal["economic_buyer", "decision_maker", "influencer", "end_user", "unknown"]

BUILTIN_DIR = Path(__file__).parent / "frameworks"
ID_PATTERN = r"^[a-z][a-z0-9_]*$"


class DefinitionError(ValueError):
    """A framework definition file is missing, unreadable or invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Phrasing(_Strict):
    """How a question is put to a rep (about a lead) and to a prospect (about themselves).

    `{company}` in the text is replaced by the lead's company name.
    """

    rep: str = Field(min_length=1, max_length=300)
    prospect: str = Field(min_length=1, max_length=300)


class Choice(_Strict):
    """An option. `between: [low, high]` lets a quantity in the answer pick it ("about 120
    people" picks the 51–200 band)."""

    value: str = Field(pattern=ID_PATTERN)
    label: str = Field(min_length=1, max_length=75)
    synonyms: tuple[str, ...] = ()
    #: Words that point to this choice only when no choice is named outright: a described
    #: decision process ("security review, then CFO sign-off by June") is a defined one,
    #: while "partly: security review, then procurement" stays partly.
    cues: tuple[str, ...] = ()
    score: float | None = Field(default=None, ge=0, le=1)
    between: tuple[float, float] | None = None

    @field_validator("between")
    @classmethod
    def _ordered_range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and value[0] > value[1]:
            raise ValueError("between: the low end must not be above the high end")
        return value


class Condition(_Strict):
    """Ask a follow-up only when an earlier answer in the same flow is (not) one of `values`."""

    question: str
    is_in: tuple[str, ...] | None = Field(default=None, alias="in")
    not_in: tuple[str, ...] | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        if (self.is_in is None) == (self.not_in is None):
            raise ValueError("give exactly one of 'in' or 'not_in'")
        return self

    def holds(self, value: str) -> bool:
        """Whether the earlier question's answer `value` lets the follow-up be asked."""
        if self.is_in is not None:
            return value in self.is_in
        return value not in (self.not_in or ())


class Validation(_Strict):
    max_length: int = Field(default=2000, ge=1, le=10000)
    min_words: int = Field(default=1, ge=0)


class Scoring(_Strict):
    """How an answer turns into a score from 0 to 1. Which fields apply depends on the type.

    - choice: each choice's `score`.
    - yesno: `yes`, `no`, `unsure`.
    - money: the amount per year (ranges use their midpoint; a total over several years is
      divided by them, or by its months / 12: "80k over 18 months" is 53,333 a year; a one-off
      plus a recurring amount counts the first year of both: "50k now plus 2k a month" is 74,000)
      divided by `full_at`, capped at 1. A total over several years without the term ("300k
      multi-year") has no yearly share, and a price per seat without the number of seats
      ("£500 a month per seat") no total: they are shown but not scored (as `unknown` in a
      main question; a follow-up leaves the score to the main answer).
    - timeframe: `within_days` buckets on the days until the earliest date; `otherwise` beyond.
    - authority: `levels`, the score per authority level; of the person asked about
      (`level_of: person`, the default), or of whoever the answer says has the final say
      (`level_of: final_say`: "the CFO signs off" scores the CFO; MEDDIC's economic buyer).
    - text: 1 when the answer is substantive (at least `min_words` words, not a non-answer
      like "none" or "not sure"); `number_factor` times that when `wants_number` and the
      answer has no figure in it.
    Every type: `unknown` is the score of an answer that could not be read or was skipped.
    """

    yes: float = Field(default=1.0, ge=0, le=1)
    no: float = Field(default=0.0, ge=0, le=1)
    unsure: float = Field(default=0.3, ge=0, le=1)
    full_at: float | None = Field(default=None, gt=0)
    within_days: tuple[tuple[int, float], ...] = ()
    otherwise: float = Field(default=0.1, ge=0, le=1)
    levels: dict[AuthorityLevel, float] = Field(default_factory=dict)
    level_of: Literal["person", "final_say"] = "person"
    min_words: int = Field(default=3, ge=1)
    wants_number: bool = False
    number_factor: float = Field(default=0.6, ge=0, le=1)
    unknown: float = Field(default=0.0, ge=0, le=1)

    @field_validator("within_days")
    @classmethod
    def _buckets(cls, value: tuple[tuple[int, float], ...]) -> tuple[tuple[int, float], ...]:
        days = [d for d, _ in value]
        if days != sorted(days):
            raise ValueError("buckets must be in increasing order of days")
        if any(not 0 <= s <= 1 for _, s in value):
            raise ValueError("bucket scores must be between 0 and 1")
        return value


class FollowUp(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    type: AnswerType
    ask: Phrasing
    hint: str = Field(min_length=1, max_length=500)
    choices: tuple[Choice, ...] = ()
    ask_if: Condition | None = None
    skippable: bool = True
    validation: Validation = Validation()
    scoring: Scoring | None = None


class Criterion(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    label: str = Field(min_length=1, max_length=40)
    weight: float = Field(gt=0)
    type: AnswerType
    ask: Phrasing
    hint: str = Field(min_length=1, max_length=500)
    choices: tuple[Choice, ...] = ()
    skippable: bool = True
    validation: Validation = Validation()
    scoring: Scoring = Scoring()
    follow_ups: tuple[FollowUp, ...] = ()


class Gate(_Strict):
    """Criteria that must be met (score >= `min_score`) before a lead can pass.

    `require: all` needs every criterion met, `any` at least one. On failure, `cap_nurture`
    keeps the total but the verdict is at most nurture; `disqualify` counts only the gate's
    own criteria in the total (the rest does not count until the gate passes) and the verdict
    is disqualified.
    """

    id: str = Field(pattern=ID_PATTERN)
    label: str
    criteria: tuple[str, ...] = Field(min_length=1)
    require: Literal["all", "any"] = "all"
    min_score: float = Field(default=0.5, ge=0, le=1)
    on_fail: Literal["cap_nurture", "disqualify"] = "cap_nurture"


class Thresholds(_Strict):
    qualified: float = Field(default=70, ge=0, le=100)
    nurture: float = Field(default=40, ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.nurture > self.qualified:
            raise ValueError("nurture threshold must not be above the qualified threshold")
        return self


class Framework(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str
    version: int = Field(ge=1)
    description: str = ""
    thresholds: Thresholds = Thresholds()
    gates: tuple[Gate, ...] = ()
    criteria: tuple[Criterion, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Framework:
        criterion_ids = [c.id for c in self.criteria]
        _no_duplicates(criterion_ids, "criterion id")
        question_ids = [q.id for q in self.questions()]
        _no_duplicates(question_ids, "question id")
        for gate in self.gates:
            unknown = set(gate.criteria) - set(criterion_ids)
            if unknown:
                raise ValueError(f"gate {gate.id!r} names unknown criteria: {sorted(unknown)}")
        seen: dict[str, Question] = {}
        for question in self.questions():
            if question.type == "choice" and not question.choices:
                raise ValueError(f"question {question.id!r} is a choice without choices")
            condition = question.ask_if
            if condition is not None:
                earlier = seen.get(condition.question)
                if earlier is None:
                    raise ValueError(
                        f"question {question.id!r}: ask_if names {condition.question!r}, "
                        "which is not asked before it"
                    )
                known = {c.value for c in earlier.choices}
                odd = set(condition.is_in or condition.not_in or ()) - known
                if earlier.type == "choice" and odd:
                    raise ValueError(
                        f"question {question.id!r}: ask_if tests {condition.question!r} for "
                        f"{sorted(odd)}, which are not among its choices {sorted(known)}"
                    )
            seen[question.id] = question
        return self

    def questions(self) -> list[Question]:
        """Every question in the order asked: each criterion's main question, then its
        follow-ups."""
        out: list[Question] = []
        for c in self.criteria:
            out.append(
                Question(
                    id=c.id,
                    criterion=c.id,
                    type=c.type,
                    ask=c.ask,
                    hint=c.hint,
                    choices=c.choices,
                    ask_if=None,
                    skippable=c.skippable,
                    validation=c.validation,
                    scoring=c.scoring,
                    main=True,
                )
            )
            for f in c.follow_ups:
                out.append(
                    Question(
                        id=f.id,
                        criterion=c.id,
                        type=f.type,
                        ask=f.ask,
                        hint=f.hint,
                        choices=f.choices,
                        ask_if=f.ask_if,
                        skippable=f.skippable,
                        validation=f.validation,
                        scoring=f.scoring,
                        main=False,
                    )
                )
        return out

    def criterion(self, criterion_id: str) -> Criterion:
        for c in self.criteria:
            if c.id == criterion_id:
                return c
        raise KeyError(criterion_id)

    def with_overrides(self, overrides: FrameworkOverrides) -> Framework:
        """A copy with weights and thresholds replaced, as configured in `qualibot.toml`."""
        unknown = set(overrides.weights) - {c.id for c in self.criteria}
        if unknown:
            raise DefinitionError(
                f"qualibot.toml: [frameworks.{self.id}.weights] names unknown criteria "
                f"{sorted(unknown)}; known: {[c.id for c in self.criteria]}"
            )
        criteria = tuple(
            c.model_copy(update={"weight": overrides.weights[c.id]})
            if c.id in overrides.weights
            else c
            for c in self.criteria
        )
        thresholds = overrides.thresholds or self.thresholds
        return self.model_copy(update={"criteria": criteria, "thresholds": thresholds})


class Question(_Strict):
    """One question of a flow, flattened from a criterion or a follow-up (or contact/ICP)."""

    id: str
    criterion: str
    type: AnswerType
    ask: Phrasing
    hint: str
    choices: tuple[Choice, ...] = ()
    ask_if: Condition | None = None
    skippable: bool = True
    validation: Validation = Validation()
    scoring: Scoring | None = None
    main: bool = True

    def follows(self, question_id: str) -> bool:
        """True for a follow-up of `question_id` (asked depending on its answer)."""
        return self.ask_if is not None and self.ask_if.question == question_id

    @property
    def examples(self) -> list[str]:
        """The answers its hint quotes ('for example "USD 50,000 a year"'): a re-ask suggests
        them, so each must be understood (a test reads every one)."""
        return _QUOTED.findall(" ".join(self.hint.split()))


_QUOTED = re.compile(r'"([^"]+)"')


class FrameworkOverrides(_Strict):
    weights: dict[str, float] = Field(default_factory=dict)
    thresholds: Thresholds | None = None

    @field_validator("weights")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if v <= 0}
        if bad:
            raise ValueError(f"weights must be positive: {bad}")
        return value


def _no_duplicates(ids: list[str], what: str) -> None:
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"duplicate {what}: {dupes}")


ModelT = TypeVar("ModelT", bound=BaseModel)


def load_yaml_model(path: Path, model: type[ModelT], what: str) -> ModelT:
    """Read a YAML file and validate it as `model`. Any problem raises `DefinitionError`
    naming the file, `what` it should be, and for invalid data each field and its problem."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DefinitionError(f"{path}: cannot read the {what}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise DefinitionError(f"{path}: the {what} must be a mapping at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{path}: invalid {what}"]
        for item in exc.errors():
            location = ".".join(str(part) for part in item["loc"]) or "(top level)"
            lines.append(f"  {location}: {item['msg']}")
        raise DefinitionError("\n".join(lines)) from exc


def load_framework(path: Path) -> Framework:
    """Read and validate one definition file."""
    return load_yaml_model(path, Framework, "framework definition")


def load_frameworks(
    extra_dirs: Iterable[Path] = (),
    overrides: dict[str, FrameworkOverrides] | None = None,
) -> dict[str, Framework]:
    """The built-in frameworks plus any `*.yaml` in `extra_dirs` (a team's own, which may
    replace a built-in of the same id), with `qualibot.toml` overrides applied."""
    found: dict[str, Framework] = {}
    for folder in (BUILTIN_DIR, *extra_dirs):
        if not folder.is_dir():
            raise DefinitionError(f"{folder}: frameworks folder does not exist")
        for path in sorted(folder.glob("*.yaml")):
            framework = load_framework(path)
            found[framework.id] = framework
    for framework_id, override in (overrides or {}).items():
        if framework_id not in found:
            raise DefinitionError(
                f"qualibot.toml: [frameworks.{framework_id}] names an unknown framework; "
                f"known: {sorted(found)}"
            )
        found[framework_id] = found[framework_id].with_overrides(override)
    return found
