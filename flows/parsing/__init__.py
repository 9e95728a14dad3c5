"""Answer parsers: free text typed by a rep or a prospect -> typed values, and a read-back.

Pure Python, no I/O. Every parser returns a JSON-able dict and never raises: anything it
cannot read (or any internal failure) is `{"unknown": True}`. Only the first 2,000 characters
of an answer are looked at; control characters are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from flows.definitions import Choice

from ._common import Parsed, never_raise, unknown
from .authority import parse_authority
from .choice import parse_choice
from .company import parse_company
from .email_address import parse_email
from .money import parse_money
from .name import parse_name
from .readback import NOT_UNDERSTOOD, readback
from .text import parse_text
from .timeframe import parse_timeframe
from .yesno import parse_yesno

__all__ = [
    "NOT_UNDERSTOOD",
    "parse_answer",
    "parse_authority",
    "parse_choice",
    "parse_company",
    "parse_email",
    "parse_money",
    "parse_name",
    "parse_text",
    "parse_timeframe",
    "parse_yesno",
    "readback",
]


@never_raise
def parse_answer(
    answer_type: str, text: str, *, today: date, choices: Sequence[Choice] = ()
) -> Parsed:
    """Parse `text` as an answer of `answer_type` (a `flows.definitions.AnswerType`)."""
    if answer_type == "money":
        return parse_money(text)
    if answer_type == "timeframe":
        return parse_timeframe(text, today)
    if answer_type == "authority":
        return parse_authority(text)
    if answer_type == "yesno":
        return parse_yesno(text)
    if answer_type == "choice":
        return parse_choice(text, choices, today=today)
    if answer_type == "text":
        return parse_text(text)
    if answer_type == "email":
        return parse_email(text)
    if answer_type == "name":
        return parse_name(text)
    if answer_type == "company":
        return parse_company(text)
    return unknown()
