"""Shared helpers: input cleaning, the unknown result and the never-raise guard."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ParamSpec

MAX_CHARS = 2000
"""Only this many characters of an answer are looked at."""

Parsed = dict[str, Any]
P = ParamSpec("P")

# C0/C1 controls, line/paragraph separators and lone surrogates become spaces; invisible
# formatting (soft hyphen, zero-width and bidi marks, BOM) is dropped.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]+")
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]+")
_SPACES = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201b": "'", "\u2032": "'",
                         "\u201c": '"', "\u201d": '"', "\u00a0": " ", "\u202f": " "})


# An explicit answer that gives no value: "not sure", "TBD", "depends", "no idea"; "not 100%
# sure", "not entirely sure", "not quite sure yet" too (they were not understood).
UNSURE = re.compile(
    r"\b(?:not\s+(?:yet\s+)?(?:(?:100\s?%|a\s+hundred\s+percent|100\s+percent|entirely|quite|"
    r"totally|completely|fully|so|too|that|very|really|exactly)\s+)?sure|unsure|not\s+certain|tbd|tbc|to\s+be\s+(?:determined|confirmed|"
    r"decided|defined)|don'?t\s+know|do\s+not\s+know|dunno|idk|no\s+idea|no\s+clue|unknown|"
    r"unclear|not\s+(?:yet\s+)?(?:decided|defined|determined|known|clear)|undecided|"
    r"haven'?t\s+decided|(?:can'?t|cannot|hard\s+to)\s+say|depends|it\s+depends|"
    r"confidential|rather\s+not\s+say|won'?t\s+say|not\s+disclosed|prefer\s+not\s+to\s+say)\b"
    r"|^\?+$"
)


# Where an answer splits into clauses: punctuation, a spaced dash, "and", "but" ("CTO, yes";
# "we do - about 50k"; "not sure but maybe").
CLAUSES = re.compile(r"\s*(?:[,;:.!?()]+|\s[-\u2013\u2014]+\s*|\band\b|\bbut\b)\s*")


def unknown() -> Parsed:
    return {"unknown": True}


def unsure() -> Parsed:
    """Not a value, but an explicit answer ("not sure"): the flow can accept it."""
    return {"unknown": True, "unsure": True}


def clean(text: object) -> str:
    """The first `MAX_CHARS` characters, without control characters, NFKC-normalised, with
    curly quotes made straight and runs of whitespace collapsed to one space."""
    if not isinstance(text, str):
        return ""
    text = _CONTROL.sub(" ", text[:MAX_CHARS])
    if not text.isascii():
        text = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text)).translate(_QUOTES)
        text = text[:MAX_CHARS]  # NFKC can lengthen a text ("ﷺ" is 18 characters)
    return _SPACES.sub(" ", text).strip()


def never_raise(func: Callable[P, Parsed]) -> Callable[P, Parsed]:
    """Any exception inside a parser becomes `{"unknown": true}`."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Parsed:
        try:
            return func(*args, **kwargs)
        except Exception:
            return unknown()

    return wrapper


def number_value(value: Decimal) -> int | float:
    """An int when whole, else a float."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def lower(text: str) -> str:
    """`text` in lower case, keeping its length (so match positions carry over): characters
    whose lower case is longer ("İ") are kept as they are."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
