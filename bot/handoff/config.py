"""`[handoff]` in `qualibot.toml`: which verdicts produce a notice, and where it goes.

    [handoff]
    verdicts = ["qualified", "nurture"]

    [[handoff.rules]]
    framework = "meddic"
    min_score = 80
    region = ["north_america"]
    channel = "C0ENTERPRISE"
    assign = ["U0ALICE", "U0BOB", "U0CAROL"]

Every filter of a rule is optional and a rule matches when all of its filters do; the first
matching rule wins. See `docs/HANDOFF.md` for each field.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flows.icp import REGIONS, SIZE_BANDS, IcpConfig, Region
from flows.scoring import Verdict

Source = Literal["rep", "widget"]

CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")

#: Segment names a rule may use besides the ICP size bands themselves.
SEGMENT_ALIASES: dict[str, tuple[str, ...]] = {
    "smb": ("1-10", "11-50"),
    "mid_market": ("51-200", "201-1000"),
    "enterprise": ("1000+",),
}


def size_choice_value(band: str) -> str:
    """The ICP size question's choice value for a band: "51-200" -> "size_51_200"."""
    return "size_" + band.replace("-", "_").replace("+", "_plus")


_BAND_BY_VALUE = {size_choice_value(band): band for band in SIZE_BANDS}


def segment_bands(name: str) -> tuple[str, ...]:
    """The size bands a segment name stands for: a band ("51-200"), the size question's
    choice value ("size_51_200") or an alias ("smb", "mid_market", "enterprise")."""
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    if name.strip() in SIZE_BANDS:
        return (name.strip(),)
    if key in _BAND_BY_VALUE:
        return (_BAND_BY_VALUE[key],)
    if key.replace("_", "") in ("midmarket",):
        key = "mid_market"
    if key in SEGMENT_ALIASES:
        return SEGMENT_ALIASES[key]
    raise ValueError(
        f"unknown segment {name!r}; use a size band ({', '.join(SIZE_BANDS)}) or "
        f"{', '.join(SEGMENT_ALIASES)}"
    )


def band_of_choice(value: str | None) -> str | None:
    """The size band of an `icp_size` answer's choice value, if it is one."""
    return _BAND_BY_VALUE.get(value or "")


def channel_id(value: str) -> str:
    """A channel ID as configured (a rule's `channel`, `QUALIBOT_HANDOFF_CHANNEL`), stripped;
    `ValueError` for anything else, such as a #name."""
    value = value.strip()
    if not CHANNEL_ID.match(value):
        raise ValueError(
            f"{value!r} is not a Slack channel ID (like C0123ABCD); use the ID, not the "
            "#name (channel details > About, at the bottom)"
        )
    return value


def _as_tuple(value: Any) -> Any:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return value


class HandoffRule(BaseModel):
    """One `[[handoff.rules]]` entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, max_length=60)
    framework: tuple[str, ...] = ()
    verdict: tuple[Verdict, ...] = ()
    min_score: float | None = Field(default=None, ge=0, le=100)
    max_score: float | None = Field(default=None, ge=0, le=100)
    source: tuple[Source, ...] = ()
    region: tuple[Region, ...] = ()
    segment: tuple[str, ...] = ()
    channel: str
    assign: tuple[str, ...] = ()

    @field_validator("framework", "verdict", "source", "region", "segment", "assign",
                     mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _as_tuple(value)

    @field_validator("framework")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.strip().lower() for v in value)

    @field_validator("segment")
    @classmethod
    def _known_segments(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            segment_bands(name)  # raises ValueError naming what is allowed
        return value

    @field_validator("channel")
    @classmethod
    def _channel_id(cls, value: str) -> str:
        return channel_id(value)

    @field_validator("assign")
    @classmethod
    def _user_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        value = tuple(v.strip() for v in value)
        if not value:
            raise ValueError(
                "no reps to take turns; list their user IDs, or leave assign out"
            )
        bad = [v for v in value if not USER_ID.match(v)]
        if bad:
            raise ValueError(f"not Slack user IDs (like U0123ABCD): {bad}")
        if len(set(value)) != len(value):
            raise ValueError("a rep is listed twice")
        return value

    @model_validator(mode="after")
    def _band(self) -> HandoffRule:
        if (
            self.min_score is not None
            and self.max_score is not None
            and self.min_score > self.max_score
        ):
            raise ValueError(f"min_score {self.min_score} is above max_score {self.max_score}")
        return self

    def bands(self) -> frozenset[str]:
        """The size bands of the rule's `segment` filter."""
        return frozenset(band for name in self.segment for band in segment_bands(name))


class HandoffConfig(BaseModel):
    """`[handoff]`: `verdicts` that produce a notice, and the routing `rules`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verdicts: tuple[Verdict, ...] = ("qualified",)
    rules: tuple[HandoffRule, ...] = ()

    @field_validator("verdicts", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _as_tuple(value)

    @model_validator(mode="after")
    def _distinct_names(self) -> HandoffConfig:
        # A name keys the rule's round-robin counter: two rules sharing it would skip reps.
        first: dict[str, int] = {}
        for index, rule in enumerate(self.rules):
            if rule.name is None:
                continue
            if rule.name in first:
                raise ValueError(
                    f"rules #{first[rule.name] + 1} and #{index + 1} are both named "
                    f"{rule.name!r}; a name keys the rule's round-robin turn, so each must "
                    "be different"
                )
            first[rule.name] = index
        return self


def rule_label(index: int, rule: HandoffRule) -> str:
    """How an admin finds a rule in `qualibot.toml`: `[[handoff.rules]] #2 ("inbound")`,
    counted from 1 in file order."""
    return f"[[handoff.rules]] #{index + 1}" + (f" ({rule.name!r})" if rule.name else "")


def never_matching(
    config: HandoffConfig, *, frameworks: Collection[str], icp: IcpConfig
) -> list[str]:
    """What makes a rule unable to ever match, one line per problem naming the rule: a
    framework that does not exist (a typo), verdicts that never get a notice, region or
    segment filters without the ICP question they read."""
    problems = []
    for index, rule in enumerate(config.rules):
        label = rule_label(index, rule)
        unknown = [f for f in rule.framework if f not in frameworks]
        if unknown:
            problems.append(
                f"{label}: unknown framework {', '.join(unknown)}; known: "
                f"{', '.join(sorted(frameworks))}"
            )
        if rule.verdict and not set(rule.verdict) & set(config.verdicts):
            problems.append(
                f"{label}: verdict {', '.join(rule.verdict)} never gets a notice; add it to "
                f"[handoff] verdicts (now {', '.join(config.verdicts)})"
            )
        for field, key, asked in (("region", "regions", icp.regions),
                                  ("segment", "sizes", icp.sizes)):
            if getattr(rule, field) and not (icp.enabled and asked):
                problems.append(
                    f"{label}: filters on {field}, but the ICP question it reads is not "
                    f"asked; set [icp] enabled = true and {key}"
                )
    return problems


__all__ = [
    "REGIONS",
    "SEGMENT_ALIASES",
    "HandoffConfig",
    "HandoffRule",
    "band_of_choice",
    "channel_id",
    "never_matching",
    "rule_label",
    "segment_bands",
    "size_choice_value",
]
