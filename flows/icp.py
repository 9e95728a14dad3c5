"""The ideal-customer-profile (ICP) pre-filter: organization size, industry and region.

Configured in `qualibot.toml` under `[icp]`::

    [icp]
    enabled = true
    sizes = ["51-200", "201-1000", "1000+"]
    industries = ["software", "financial_services"]
    regions = ["north_america", "uk", "europe"]
    weights = { size = 40, industry = 35, region = 25 }

When enabled, the questions `icp_size`, `icp_industry` and `icp_region` (one per configured
field; a field with nothing accepted is neither asked nor scored) are asked before the
framework's questions, and `fit_score` rates the answers 0..100 apart from the framework's
score: an accepted answer earns the field's weight, any other answer nothing, and a skipped or
unreadable answer `unknown_score` of it.

The questions' phrasing and their choices (labels, synonyms, the size bands' head-count
ranges, the industry catalogue) are data, in `flows/icp.yaml`, loaded and validated once at
import; a bad file raises `DefinitionError` naming the file, the field and the problem.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flows.answers import AnswerRecord
from flows.definitions import Choice, Phrasing, Question, load_yaml_model

IcpField = Literal["size", "industry", "region"]
SizeBand = Literal["1-10", "11-50", "51-200", "201-1000", "1000+"]
Region = Literal["north_america", "europe", "uk", "apac", "latam", "mea"]

SIZE_BANDS: tuple[SizeBand, ...] = ("1-10", "11-50", "51-200", "201-1000", "1000+")
REGIONS: tuple[Region, ...] = ("north_america", "europe", "uk", "apac", "latam", "mea")

QUESTION_IDS: dict[IcpField, str] = {
    "size": "icp_size",
    "industry": "icp_industry",
    "region": "icp_region",
}

#: The questions' phrasing and choices (size bands, the industry catalogue, regions).
DATA_FILE = Path(__file__).with_name("icp.yaml")


def _distinct_choices(choices: Iterable[Choice]) -> None:
    """No two choices of a question share a value or a synonym."""
    owner: dict[str, str] = {}
    values: set[str] = set()
    for c in choices:
        if c.value in values:
            raise ValueError(f"duplicate choice value {c.value!r}")
        values.add(c.value)
        for synonym in c.synonyms:
            if owner.setdefault(synonym, c.value) != c.value:
                raise ValueError(
                    f"synonym {synonym!r} names two choices, {owner[synonym]!r} and {c.value!r}"
                )


class _IcpQuestion(BaseModel):
    """A field's question in `flows/icp.yaml`: its label in the fit score's reasons, its
    phrasing and the hint to re-ask with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str = Field(min_length=1, max_length=40)
    ask: Phrasing
    hint: str = Field(min_length=1, max_length=500)


class _ChoiceQuestion(_IcpQuestion):
    """The industry or the region question, with its choices in the order offered."""

    choices: tuple[Choice, ...] = Field(min_length=1)

    @field_validator("choices")
    @classmethod
    def _distinct(cls, value: tuple[Choice, ...]) -> tuple[Choice, ...]:
        _distinct_choices(value)
        return value


class _SizeQuestion(_IcpQuestion):
    """The size question, with a choice per size band (keyed by band, in band order)."""

    bands: dict[SizeBand, Choice]

    @field_validator("bands")
    @classmethod
    def _every_band(cls, value: dict[SizeBand, Choice]) -> dict[SizeBand, Choice]:
        if tuple(value) != SIZE_BANDS:
            raise ValueError(
                f"give exactly the bands {list(SIZE_BANDS)}, in that order, not {list(value)}"
            )
        for band, choice in value.items():
            # bot/handoff/config.py (size_choice_value) derives the value from the band so.
            expected = "size_" + band.replace("-", "_").replace("+", "_plus")
            if choice.value != expected:
                raise ValueError(f"band {band!r} must have the value {expected!r}")
        _distinct_choices(value.values())
        return value


class IcpData(BaseModel):
    """`flows/icp.yaml`: the ICP questions and their choices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: _SizeQuestion
    industry: _ChoiceQuestion
    region: _ChoiceQuestion

    @field_validator("region")
    @classmethod
    def _every_region(cls, value: _ChoiceQuestion) -> _ChoiceQuestion:
        values = [c.value for c in value.choices]
        if tuple(values) != REGIONS:
            raise ValueError(
                f"give exactly the choices {list(REGIONS)}, in that order, not {values}"
            )
        return value

    def questions(self) -> dict[IcpField, Question]:
        """Each field's question with all its choices (`[icp]` decides which are accepted,
        not which are offered)."""
        parts: dict[IcpField, tuple[_IcpQuestion, tuple[Choice, ...]]] = {
            "size": (self.size, tuple(self.size.bands.values())),
            "industry": (self.industry, self.industry.choices),
            "region": (self.region, self.region.choices),
        }
        return {
            field: Question(
                id=QUESTION_IDS[field],
                criterion=QUESTION_IDS[field],
                type="choice",
                ask=question.ask,
                hint=question.hint,
                choices=choices,
                skippable=True,
            )
            for field, (question, choices) in parts.items()
        }


def load_icp_data(path: Path = DATA_FILE) -> IcpData:
    """Read and validate the ICP data file; a bad file raises `DefinitionError` naming the
    file, the field and the problem."""
    return load_yaml_model(path, IcpData, "ICP data")


# Loaded once, at import.
_DATA = load_icp_data()
_QUESTIONS = _DATA.questions()
_SIZE_CHOICES: dict[SizeBand, Choice] = dict(_DATA.size.bands)
_LABELS: dict[IcpField, str] = {
    "size": _DATA.size.label,
    "industry": _DATA.industry.label,
    "region": _DATA.region.label,
}

# The industry catalogue. `[icp] industries` names values from it.
INDUSTRIES: tuple[str, ...] = tuple(c.value for c in _DATA.industry.choices)


class IcpWeights(BaseModel):
    """The relative weight of each field in the fit score (shares of 100)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: float = Field(default=40, ge=0)
    industry: float = Field(default=35, ge=0)
    region: float = Field(default=25, ge=0)


class IcpConfig(BaseModel):
    """`[icp]` in `qualibot.toml`. Each list holds the accepted values; empty means the field
    is not part of the profile (not asked, not scored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    sizes: tuple[SizeBand, ...] = ()
    industries: tuple[str, ...] = ()
    regions: tuple[Region, ...] = ()
    weights: IcpWeights = IcpWeights()
    unknown_score: float = Field(default=0.5, ge=0, le=1)

    @field_validator("industries", mode="before")
    @classmethod
    def _normalize_industries(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(
                str(v).strip().lower().replace("&", "and").replace("-", "_").replace(" ", "_")
                if isinstance(v, str)
                else v
                for v in value
            )
        return value

    @field_validator("industries")
    @classmethod
    def _known_industries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in value if v not in INDUSTRIES]
        if unknown:
            raise ValueError(f"unknown industries {unknown}; known: {list(INDUSTRIES)}")
        return value

    @model_validator(mode="after")
    def _usable(self) -> IcpConfig:
        if self.enabled and not self.fields():
            raise ValueError(
                "the ICP pre-filter is enabled but accepts no sizes, industries "
                "or regions; list at least one"
            )
        if self.enabled and sum(self.weight(f) for f in self.fields()) <= 0:
            raise ValueError("the weights of the configured ICP fields add up to zero")
        return self

    def fields(self) -> tuple[IcpField, ...]:
        """The fields that are part of the profile, in the order asked."""
        out: list[IcpField] = []
        if self.sizes:
            out.append("size")
        if self.industries:
            out.append("industry")
        if self.regions:
            out.append("region")
        return tuple(out)

    def weight(self, field: IcpField) -> float:
        return float(getattr(self.weights, field))

    def accepted_values(self, field: IcpField) -> frozenset[str]:
        """The accepted choice values of a field."""
        if field == "size":
            return frozenset(_SIZE_CHOICES[s].value for s in self.sizes)
        if field == "industry":
            return frozenset(self.industries)
        return frozenset(self.regions)


def _choices(field: IcpField) -> tuple[Choice, ...]:
    return _QUESTIONS[field].choices


def icp_questions(config: IcpConfig) -> list[Question]:
    """The pre-filter questions for the configured fields: `icp_size`, `icp_industry`,
    `icp_region` (choice questions, each its own criterion; the same immutable objects every
    call)."""
    return [_QUESTIONS[field] for field in config.fields()]


@dataclass(frozen=True, slots=True)
class FieldFit:
    field: IcpField
    label: str
    score: float  # 0..1
    points: float
    max_points: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "label": self.label,
            "score": self.score,
            "points": self.points,
            "max_points": self.max_points,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class FitResult:
    """How well a lead fits the ICP: `score` 0..100 and a reason per field."""

    score: float
    fields: tuple[FieldFit, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(f.reason for f in self.fields)

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "fields": [f.to_dict() for f in self.fields]}


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


def _quote(raw: str, limit: int = 60) -> str:
    text = " ".join(raw.split())
    return f'"{text if len(text) <= limit else text[: limit - 1] + "…"}"'


def fit_score(config: IcpConfig, answers: Mapping[str, AnswerRecord]) -> FitResult:
    """Rate the ICP answers (keyed by question id) against the configured profile."""
    fields = config.fields()
    total_weight = sum(config.weight(f) for f in fields)
    results: list[FieldFit] = []
    total = 0.0
    for field in fields:
        max_points = config.weight(field) / total_weight * 100 if total_weight else 0.0
        accepted = config.accepted_values(field)
        labels = {c.value: c.label for c in _choices(field)}
        accepted_text = ", ".join(labels[v] for v in sorted(accepted, key=list(labels).index))
        record = answers.get(QUESTION_IDS[field])
        value = None
        if record is not None and record["status"] == "answered":
            value = record["parsed"].get("value")
        if record is None or value is None:
            score = config.unknown_score
            said = (
                "no answer"
                if record is None
                else "skipped"
                if record["status"] == "skipped"
                else f"{_quote(record['raw'])} — not understood"
            )
            why = f"{said}; an unknown {field} counts {score:.0%}"
        elif value in accepted:
            score = 1.0
            why = f"{_quote(record['raw'])} — {labels.get(value, value)}, accepted"
        else:
            score = 0.0
            why = (
                f"{_quote(record['raw'])} — {labels.get(value, value)}, "
                f"outside the profile ({accepted_text})"
            )
        points = max_points * score
        total += points
        results.append(
            FieldFit(
                field,
                _LABELS[field],
                score,
                round(points, 1),
                round(max_points, 1),
                f"{_LABELS[field]} {_fmt(points)}/{_fmt(max_points)}: {why}",
            )
        )
    return FitResult(score=round(total, 1) if fields else 100.0, fields=tuple(results))


__all__ = [
    "INDUSTRIES",
    "QUESTION_IDS",
    "REGIONS",
    "SIZE_BANDS",
    "FieldFit",
    "FitResult",
    "IcpConfig",
    "IcpWeights",
    "fit_score",
    "icp_questions",
]
