"""The shape of a recorded answer, shared by parsing, the flow engine and scoring."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

AnswerStatus = Literal["answered", "unknown", "skipped"]


class AnswerRecord(TypedDict):
    """One question's current answer in a conversation.

    `parsed` is what the parser understood (the JSON shapes of `qualibot parse`), `readback`
    the same in words ("USD 50,000 per year"), `at` the ISO date the answer was given
    (timeframes are relative to it).
    """

    raw: str
    parsed: dict[str, Any]
    status: AnswerStatus
    readback: str
    at: str


def is_unknown(parsed: dict[str, Any]) -> bool:
    return bool(parsed.get("unknown"))
