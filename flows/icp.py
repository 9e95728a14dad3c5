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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flows.answers import AnswerRecord
from flows.definitions import Choice, Phrasing, Question

IcpField = Literal["size", "industry", "region"]
SizeBand = Literal["1-10", "11-50", "51-200", "201-1000", "1000+"]
Region = Literal["north_america", "europe", "uk", "apac", "latam", "mea"]

SIZE_BANDS: tuple[SizeBand, ...] = ("1-10", "11-50", "51-200", "201-1000", "1000+")
REGIONS: tuple[Region, ...] = ("north_america", "europe", "uk", "apac", "latam", "mea")

# Choice values must be identifiers, so each size band has one.
_SIZE_CHOICES: dict[SizeBand, Choice] = {
    "1-10": Choice(
        value="size_1_10",
        between=(1, 10),
        label="1–10 employees",
        synonyms=(
            "1-10",
            "1 to 10",
            "under 10",
            "less than 10",
            "fewer than 10",
            "just me",
            "solo",
            "a handful",
            "tiny",
            "micro",
            "very small",
            "a few of us",
        ),
    ),
    "11-50": Choice(
        value="size_11_50",
        between=(11, 50),
        label="11–50 employees",
        synonyms=(
            "11-50",
            "11 to 50",
            "10-50",
            "under 50",
            "a few dozen",
            "a couple of dozen",
            "small",
            "small business",
            "startup",
            "start-up",
        ),
    ),
    "51-200": Choice(
        value="size_51_200",
        between=(51, 200),
        label="51–200 employees",
        synonyms=(
            "51-200",
            "51 to 200",
            "50-200",
            "about 100",
            "around 100",
            "over 50",
            "under 200",
            "a hundred or so",
            "scale-up",
            "scaleup",
        ),
    ),
    "201-1000": Choice(
        value="size_201_1000",
        between=(201, 1000),
        label="201–1,000 employees",
        synonyms=(
            "201-1000",
            "201 to 1000",
            "200-1000",
            "a few hundred",
            "several hundred",
            "hundreds",
            "under 1000",
            "mid-size",
            "midsize",
            "mid-market",
            "mid market",
        ),
    ),
    "1000+": Choice(
        value="size_1000_plus",
        between=(1001, 10**9),
        label="More than 1,000 employees",
        synonyms=(
            "1000+",
            "over 1000",
            "more than 1000",
            "1000 plus",
            "thousands",
            "a few thousand",
            "10,000+",
            "enterprise",
            "large",
            "large enterprise",
            "corporate",
            "multinational",
            "fortune 500",
            "fortune 1000",
            "global 2000",
        ),
    ),
}

_REGION_CHOICES: dict[Region, Choice] = {
    "north_america": Choice(
        value="north_america",
        label="North America",
        synonyms=(
            "us",
            "usa",
            "u.s.",
            "united states",
            "america",
            "canada",
            "us and canada",
            "new york",
            "california",
            "texas",
            "toronto",
        ),
    ),
    "europe": Choice(
        value="europe",
        label="Europe (outside the UK)",
        synonyms=(
            "eu",
            "europe",
            "continental europe",
            "germany",
            "france",
            "netherlands",
            "spain",
            "italy",
            "ireland",
            "nordics",
            "sweden",
            "denmark",
            "norway",
            "finland",
            "poland",
            "switzerland",
            "austria",
            "belgium",
            "portugal",
            "dach",
            "benelux",
        ),
    ),
    "uk": Choice(
        value="uk",
        label="United Kingdom",
        synonyms=(
            "uk",
            "u.k.",
            "united kingdom",
            "britain",
            "great britain",
            "gb",
            "england",
            "scotland",
            "wales",
            "northern ireland",
            "london",
        ),
    ),
    "apac": Choice(
        value="apac",
        label="Asia-Pacific",
        synonyms=(
            "apac",
            "asia",
            "asia pacific",
            "australia",
            "new zealand",
            "anz",
            "japan",
            "singapore",
            "india",
            "china",
            "hong kong",
            "south korea",
            "korea",
            "indonesia",
            "philippines",
            "vietnam",
            "malaysia",
            "thailand",
            "sydney",
        ),
    ),
    "latam": Choice(
        value="latam",
        label="Latin America",
        synonyms=(
            "latam",
            "latin america",
            "south america",
            "central america",
            "brazil",
            "mexico",
            "argentina",
            "colombia",
            "chile",
            "peru",
            "caribbean",
        ),
    ),
    "mea": Choice(
        value="mea",
        label="Middle East & Africa",
        synonyms=(
            "mea",
            "middle east",
            "africa",
            "uae",
            "dubai",
            "saudi arabia",
            "qatar",
            "israel",
            "turkey",
            "egypt",
            "south africa",
            "nigeria",
            "kenya",
            "morocco",
            "gcc",
        ),
    ),
}

# The industry catalogue. `[icp] industries` names values from it.
_INDUSTRY_CHOICES: tuple[Choice, ...] = (
    Choice(
        value="software",
        label="Software & SaaS",
        synonyms=(
            "software",
            "saas",
            "tech",
            "technology",
            "internet",
            "app",
            "platform",
            "cloud",
            "dev tools",
            "cybersecurity",
            "security software",
        ),
    ),
    Choice(
        value="financial_services",
        label="Financial services & insurance",
        synonyms=(
            "finance",
            "financial services",
            "fintech",
            "bank",
            "banking",
            "insurance",
            "insurtech",
            "payments",
            "asset management",
            "wealth management",
            "investment",
            "lending",
            "accounting",
        ),
    ),
    Choice(
        value="healthcare",
        label="Healthcare & life sciences",
        synonyms=(
            "health",
            "healthcare",
            "health care",
            "medical",
            "hospital",
            "clinic",
            "pharma",
            "pharmaceutical",
            "biotech",
            "life sciences",
            "medtech",
            "medical devices",
        ),
    ),
    Choice(
        value="manufacturing",
        label="Manufacturing & industrial",
        synonyms=(
            "manufacturing",
            "manufacturer",
            "industrial",
            "factory",
            "automotive",
            "aerospace",
            "chemicals",
            "engineering",
            "electronics",
            "machinery",
        ),
    ),
    Choice(
        value="retail",
        label="Retail, e-commerce & consumer goods",
        synonyms=(
            "retail",
            "e-commerce",
            "ecommerce",
            "online shop",
            "consumer goods",
            "cpg",
            "fmcg",
            "fashion",
            "d2c",
            "dtc",
            "wholesale",
            "grocery",
        ),
    ),
    Choice(
        value="professional_services",
        label="Professional services & consulting",
        synonyms=(
            "consulting",
            "consultancy",
            "agency",
            "marketing agency",
            "legal",
            "law firm",
            "professional services",
            "staffing",
            "recruitment",
            "advisory",
            "architecture",
        ),
    ),
    Choice(
        value="education",
        label="Education",
        synonyms=(
            "education",
            "edtech",
            "school",
            "university",
            "college",
            "training",
            "e-learning",
            "higher education",
        ),
    ),
    Choice(
        value="public_sector",
        label="Government & public sector",
        synonyms=(
            "government",
            "public sector",
            "local government",
            "council",
            "federal",
            "municipal",
            "defense",
            "defence",
            "military",
            "public administration",
        ),
    ),
    Choice(
        value="media",
        label="Media, entertainment & publishing",
        synonyms=(
            "media",
            "entertainment",
            "publishing",
            "news",
            "gaming",
            "games",
            "advertising",
            "broadcasting",
            "music",
            "film",
            "sports",
        ),
    ),
    Choice(
        value="telecom",
        label="Telecommunications",
        synonyms=(
            "telecom",
            "telecoms",
            "telecommunications",
            "telco",
            "isp",
            "mobile operator",
            "carrier",
            "networking",
        ),
    ),
    Choice(
        value="energy",
        label="Energy & utilities",
        synonyms=(
            "energy",
            "utilities",
            "utility",
            "oil and gas",
            "oil & gas",
            "renewables",
            "solar",
            "power",
            "mining",
            "water",
        ),
    ),
    Choice(
        value="logistics",
        label="Transport & logistics",
        synonyms=(
            "logistics",
            "transport",
            "transportation",
            "shipping",
            "freight",
            "supply chain",
            "delivery",
            "trucking",
            "airline",
            "travel",
        ),
    ),
    Choice(
        value="real_estate",
        label="Real estate & construction",
        synonyms=(
            "real estate",
            "property",
            "proptech",
            "construction",
            "facilities",
            "property management",
            "building",
        ),
    ),
    Choice(
        value="hospitality",
        label="Hospitality & food",
        synonyms=(
            "hospitality",
            "hotel",
            "hotels",
            "restaurant",
            "restaurants",
            "food",
            "food and drink",
            "catering",
            "leisure",
            "tourism",
        ),
    ),
    Choice(
        value="nonprofit",
        label="Non-profit & charity",
        synonyms=(
            "nonprofit",
            "non-profit",
            "not for profit",
            "charity",
            "ngo",
            "foundation",
            "association",
        ),
    ),
    Choice(value="other", label="Other", synonyms=("other", "something else", "none of these")),
)

INDUSTRIES: tuple[str, ...] = tuple(c.value for c in _INDUSTRY_CHOICES)

QUESTION_IDS: dict[IcpField, str] = {
    "size": "icp_size",
    "industry": "icp_industry",
    "region": "icp_region",
}
_LABELS: dict[IcpField, str] = {"size": "Size", "industry": "Industry", "region": "Region"}


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
    if field == "size":
        return tuple(_SIZE_CHOICES[s] for s in SIZE_BANDS)
    if field == "industry":
        return _INDUSTRY_CHOICES
    return tuple(_REGION_CHOICES[r] for r in REGIONS)


_PHRASING: dict[IcpField, tuple[Phrasing, str]] = {
    "size": (
        Phrasing(
            rep="Roughly how many employees does {company} have?",
            prospect="Roughly how many people work at your company?",
        ),
        'Pick the closest band; a rough number is fine, for example "about 120 people" is '
        '51–200 and "a few thousand" is more than 1,000.',
    ),
    "industry": (
        Phrasing(
            rep="Which industry is {company} in?",
            prospect="Which industry best describes your company?",
        ),
        'Pick the closest, for example "Software & SaaS" for a software company or "Other" '
        "if none fits.",
    ),
    "region": (
        Phrasing(
            rep="Where is {company} mainly based?", prospect="Where is your company mainly based?"
        ),
        'The region of your headquarters, for example "North America" for a US company or '
        '"Europe (outside the UK)" for one in Germany.',
    ),
}


def icp_questions(config: IcpConfig) -> list[Question]:
    """The pre-filter questions for the configured fields: `icp_size`, `icp_industry`,
    `icp_region` (choice questions, each its own criterion)."""
    out: list[Question] = []
    for field in config.fields():
        phrasing, hint = _PHRASING[field]
        qid = QUESTION_IDS[field]
        out.append(
            Question(
                id=qid,
                criterion=qid,
                type="choice",
                ask=phrasing,
                hint=hint,
                choices=_choices(field),
                skippable=True,
            )
        )
    return out


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
