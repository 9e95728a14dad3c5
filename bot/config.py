"""Settings: environment variables (a `.env` file is honoured) and the optional `qualibot.toml`.

Built once at start-up and passed down; nothing reads the environment at import time.
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import ArgumentError

from bot.handoff.config import HandoffConfig
from flows.definitions import FrameworkOverrides
from flows.icp import IcpConfig
from storage.db import normalize_url, redact_url

log = logging.getLogger(__name__)

#: The database URLs Qualibot can use, as said when one cannot be used.
DATABASE_URL_FORMS = "use sqlite:///path.db or postgresql+psycopg://user:password@host/db"


class ConfigError(ValueError):
    """The configuration file or environment is invalid; the message says where and why."""


class FileConfig(BaseModel):
    """What `qualibot.toml` may hold. Every section is optional."""

    model_config = ConfigDict(extra="forbid")

    framework_dirs: list[Path] = Field(default_factory=list)
    frameworks: dict[str, FrameworkOverrides] = Field(default_factory=dict)
    icp: IcpConfig = Field(default_factory=IcpConfig)
    handoff: HandoffConfig = Field(default_factory=HandoffConfig)
    widget: dict[str, Any] = Field(default_factory=dict)


class Settings(BaseSettings):
    """The environment variables of the public contract (see README, "Configuration")."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///qualibot.db", validation_alias="QUALIBOT_DATABASE_URL"
    )
    config_file: Path = Field(default=Path("qualibot.toml"), validation_alias="QUALIBOT_CONFIG")
    handoff_channel: str | None = Field(default=None, validation_alias="QUALIBOT_HANDOFF_CHANNEL")
    slack_bot_token: str | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    slack_client_id: str | None = Field(default=None, validation_alias="SLACK_CLIENT_ID")
    slack_client_secret: str | None = Field(default=None, validation_alias="SLACK_CLIENT_SECRET")
    slack_app_token: str | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str | None = Field(default=None, validation_alias="SLACK_API_URL")
    widget_origins: str | None = Field(default=None, validation_alias="QUALIBOT_WIDGET_ORIGINS")
    #: Seconds a dispatcher owns an outbox row it claimed. A process killed mid-delivery
    #: leaves its rows leased: after the lease, any dispatcher checks Slack (history +
    #: metadata) and posts only what is missing. Keep it well above the longest delivery
    #: (a few Web API calls, 10 s timeout each), or a slow delivery may be checked too early.
    outbox_lease_seconds: float = Field(
        default=120.0, ge=1.0, validation_alias="QUALIBOT_OUTBOX_LEASE_SECONDS"
    )

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, url: str) -> str:
        # Said here, in one line, rather than as a traceback from the engine or the driver.
        try:
            parsed = normalize_url(url)
        except ArgumentError:
            raise ValueError(f"not a database URL; {DATABASE_URL_FORMS}") from None
        if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
            raise ValueError(f"{redact_url(parsed)} is not supported; {DATABASE_URL_FORMS}")
        return url

    @field_validator("widget_origins")
    @classmethod
    def _origins_as_browsers_send_them(cls, origins: str | None) -> str | None:
        # An origin the browser never sends (no scheme) would refuse the site, silently.
        for origin in (o.strip() for o in (origins or "").split(",")):
            parts = urlsplit(origin)
            if origin and origin != "*" and (parts.scheme not in ("http", "https")
                                             or not parts.hostname):
                raise ValueError(
                    f"{origin!r} is not an origin: write it as browsers send it, scheme and "
                    "host (and port), e.g. https://www.example.com"
                )
        return origins

    @property
    def widget_origin_list(self) -> list[str]:
        """Sites allowed to embed the widget (`QUALIBOT_WIDGET_ORIGINS`, comma-separated, e.g.
        `https://www.example.com,https://example.com`; `*` allows any). The server's own
        origin (the demo page) is always allowed on top of these."""
        return [o.strip() for o in (self.widget_origins or "").split(",") if o.strip()]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def load_file_config(self) -> FileConfig:
        """`qualibot.toml`, or the defaults when there is none. Relative framework folders are
        resolved against the file's own folder."""
        path = self.config_file
        if not path.exists():
            if "config_file" in self.model_fields_set:  # named, so meant to be there
                log.warning(
                    "QUALIBOT_CONFIG=%s: no such file; running without it (no routing rules, "
                    "default [widget] settings)", path
                )
            return FileConfig()
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read configuration: {exc}") from exc
        try:
            config = FileConfig.model_validate(raw)
        except ValidationError as exc:
            problems = "\n".join(
                f"  {_where(e['loc'], raw)}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"{path}: invalid configuration\n{problems}") from exc
        config.framework_dirs = [
            d if d.is_absolute() else path.parent / d for d in config.framework_dirs
        ]
        return config


def _where(loc: tuple[int | str, ...], raw: dict[str, Any]) -> str:
    """Where a problem is, as the admin reads the file: `handoff.verdicts.1`, or for a
    routing rule `[[handoff.rules]] #2 ('inbound') channel` (counted from 1, with its name)."""
    if loc[:2] == ("handoff", "rules") and len(loc) > 2 and isinstance(loc[2], int):
        rules = (raw.get("handoff") or {}).get("rules")
        rule = rules[loc[2]] if isinstance(rules, list) and loc[2] < len(rules) else {}
        name = rule.get("name") if isinstance(rule, dict) else None
        label = f"[[handoff.rules]] #{loc[2] + 1}" + (f" ({name!r})" if name else "")
        return " ".join([label, ".".join(str(p) for p in loc[3:])]).rstrip()
    return ".".join(str(p) for p in loc) or "(top level)"


def load_settings() -> Settings:
    """`Settings()` from the environment (and `.env`); a bad value raises `ConfigError` with
    one line per variable, naming it and saying what is wrong."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = _env_problems(exc)
        raise ConfigError(f"invalid setting in the environment (or .env)\n{problems}") from exc


def _env_problems(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        name = ".".join(str(p) for p in error["loc"])
        if error["type"] == "value_error":  # our validators: the message shows the value
            # redacted where it matters (a database URL's password)
            lines.append(f"  {name}: {error['ctx']['error']}")
        else:
            lines.append(f"  {name}={error['input']!r}: {error['msg']}")
    return "\n".join(lines)
