"""The widget's settings: the `[widget]` section of `qualibot.toml` (every key optional).

    [widget]
    default_framework = "bant"
    idle_timeout_minutes = 30        # a conversation idle this long expires (abandoned)
    sweep_interval_seconds = 60      # how often the sweeper looks for idle conversations
    max_message_chars = 2000         # longer messages: 413
    messages_per_minute = 20         # per session
    sessions_per_hour = 20           # per client IP
    events_per_minute = 60           # per session
    resumes_per_hour = 30            # resume-code attempts per client IP
    engagement_repeat_cap = 5        # how many of each event count towards the score

    [widget.engagement_weights]      # points per event; unknown events are kept, worth 0
    page_view = 2
    pricing_viewed = 10
    demo_watched = 15

    [widget.closing]                 # what a visitor reads when done, per verdict
    qualified = "..."

    [[widget.resources]]             # listed in the nurture closing message
    label = "Buyer's guide"
    url = "https://example.com/guide"

Rate limits live in each process's memory: with several replicas, each enforces them alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.config import ConfigError

DEFAULT_WEIGHTS: dict[str, float] = {
    "page_view": 2.0,
    "pricing_viewed": 10.0,
    "demo_watched": 15.0,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClosingTexts(_Strict):
    """The last message a visitor reads, by verdict. Never the score or the rep's summary."""

    qualified: str = Field(
        default=(
            "Thank you, that's everything we need! Someone from our sales team will reach "
            "out to you by email shortly."
        ),
        min_length=1,
        max_length=1000,
    )
    nurture: str = Field(
        default=(
            "Thank you, that's everything! It sounds like it may be a little early for a "
            "call with sales, so we'll send you helpful resources by email. In the meantime, "
            "our guides, customer stories and product demo are a good place to start."
        ),
        min_length=1,
        max_length=1000,
    )
    disqualified: str = Field(
        default=(
            "Thank you for taking the time to answer our questions! It looks like we may not "
            "be the right fit for you right now, but you're welcome to get in touch again "
            "any time."
        ),
        min_length=1,
        max_length=1000,
    )
    stopped: str = Field(
        default="All right, we've stopped here. Thanks for chatting with us!",
        min_length=1,
        max_length=1000,
    )
    no_consent: str = Field(
        default=(
            "No problem. Without your consent we won't contact you, so we've stopped here. "
            "If you change your mind, you can start over at any time."
        ),
        min_length=1,
        max_length=1000,
    )


class Resource(_Strict):
    label: str = Field(min_length=1, max_length=100)
    url: str = Field(min_length=1, max_length=500)


class WidgetConfig(_Strict):
    default_framework: str = "bant"
    idle_timeout_minutes: float = Field(default=30.0, gt=0)
    sweep_interval_seconds: float = Field(default=60.0, gt=0)
    max_message_chars: int = Field(default=2000, ge=1, le=10000)
    max_body_bytes: int = Field(default=16 * 1024, ge=1024)
    max_props_bytes: int = Field(default=2048, ge=2)
    messages_per_minute: int = Field(default=20, ge=0)
    sessions_per_hour: int = Field(default=20, ge=0)
    events_per_minute: int = Field(default=60, ge=0)
    resumes_per_hour: int = Field(default=30, ge=0)
    engagement_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    engagement_repeat_cap: int = Field(default=5, ge=1)
    closing: ClosingTexts = Field(default_factory=ClosingTexts)
    resources: list[Resource] = Field(default_factory=list)
    db_threads: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Threads that run the widget's database work: default 1 on SQLite "
        "(one writer at a time, in arrival order) and 8 on PostgreSQL.",
    )

    @classmethod
    def from_file(
        cls, section: Mapping[str, Any] | None, source: object = "qualibot.toml"
    ) -> WidgetConfig:
        """From the `[widget]` section of the file `source`; a bad value raises `ConfigError`
        naming the file and the key."""
        try:
            return cls.model_validate(dict(section or {}))
        except ValidationError as exc:
            problems = "; ".join(
                f"widget.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"{source}: invalid [widget] settings: {problems}") from exc

    @property
    def idle_timeout_seconds(self) -> float:
        return self.idle_timeout_minutes * 60.0
