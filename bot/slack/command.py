"""`/qualify` text -> what the rep asked for (no Slack, no database: just reading the words)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

Verb = Literal["start", "form", "help", "list", "show", "cancel", "unknown"]
SUBCOMMANDS: frozenset[str] = frozenset({"help", "list", "show", "cancel"})


@dataclass(frozen=True)
class QualifyCommand:
    verb: Verb
    framework: str | None = None
    company: str | None = None
    lead: str | None = None
    problem: str | None = None


def parse_qualify(text: str, frameworks: Collection[str]) -> QualifyCommand:
    """Read `/qualify` text (already unescaped). Framework names and sub-commands are
    case-insensitive. A first word that is neither, followed by a company, is taken as a
    framework (so the rep hears that it is unknown and which ones exist)."""
    words = text.split(None, 1)
    if not words:
        return QualifyCommand("form")
    first = words[0].lower()
    rest = words[1].strip() if len(words) > 1 else ""
    if first in SUBCOMMANDS:
        if first == "show":
            if not rest:
                return QualifyCommand(
                    "unknown", problem="Which lead? For example `/qualify show 12`."
                )
            return QualifyCommand("show", lead=rest.lstrip("#"))
        if rest and first != "help":
            return QualifyCommand(
                "unknown", problem=f"`/qualify {first}` takes nothing after it."
            )
        return QualifyCommand(first)  # type: ignore[arg-type]
    if first in {f.lower() for f in frameworks}:
        if not rest:
            return QualifyCommand("form", framework=first)
        return QualifyCommand("start", framework=first, company=rest)
    if rest:
        return QualifyCommand("start", framework=words[0], company=rest)
    return QualifyCommand("unknown", problem=f"I don't know “{words[0]}”.")
