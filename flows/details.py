"""Details given with a choice: the answer to the follow-up question, said ahead.

People rarely answer "Does Acme have budget?" with a bare "yes": they say "approved, about
80k a year". The choice (allocated) is read as usual; this module says whether the same words
also answer the follow-up the flow would ask next (the amount), so that the person is not
asked for what they just said; and an answer that gives only the amount ("50k") is a yes with
that amount. It is strict: a detail is taken only when it is clearly there.

* money: a figure with a currency, a magnitude ("80k", "1.2 million") or a period, of at least
  100 ("we have 2 budgets", "approved on 12 March" or "in the 2027 plan" name no amount);
* timeframe: any date or period the timeframe reader finds ("top priority, live by Q2");
* text: at least two meaningful words besides those that picked the choice, and at least the
  follow-up's minimum ("yes, Maria, our Head of RevOps" names the champion; "yes she is"
  names nobody), or a choice picked by naming oneself ("yes, that's me" is who).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from flows.definitions import Question
from flows.parsing import parse_answer
from flows.parsing._common import Parsed
from flows.parsing.choice import named_in, normalize, yes_choice

_MAGNITUDE = re.compile(
    r"\d\s*(?:k|m|mm|bn|b)\b|\b(?:thousand|million|billion|grand)\b|[$€£¥]", re.IGNORECASE
)
#: A choice name made of these names the speaker ("that's me", "I am").
_SPEAKER = frozenset({"me", "i", "myself"})
#: Words that say nothing by themselves ("yes she is", "yes we do").
_FILLER = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "do", "does", "for", "has", "have", "he", "her",
    "him", "i", "is", "it", "its", "me", "my", "no", "not", "of", "on", "one", "or", "our",
    "she", "so", "that", "the", "their", "them", "there", "they", "this", "to", "us", "was",
    "we", "yeah", "yep", "yes",
})


def detail(follow_up: Question, asked: Question, text: str, today: date) -> Parsed | None:
    """What `text`, the typed answer to the choice question `asked`, says in answer to
    `follow_up`, or None when it does not clearly say it."""
    if follow_up.type == "money":
        if not any(ch.isdigit() for ch in text) and not _MAGNITUDE.search(text):
            return None  # no figure at all ("allocated"): not worth the money reader's time
        parsed = parse_answer("money", text, today=today)
        return parsed if _is_stated_amount(parsed, text) else None
    if follow_up.type == "timeframe":
        parsed = parse_answer("timeframe", text, today=today)
        return None if parsed.get("unknown") else parsed
    if follow_up.type == "text":
        rest, named = _beyond_choice(text, asked)
        if _SPEAKER & named:
            # the choice was picked by naming oneself ("yes, that's me" to "Is there a
            # champion?"): that answers who it is
            return parse_answer("text", text, today=today)
        meaningful = [word for word in rest.split() if word not in _FILLER]
        if len(meaningful) < 2 or len(rest.split()) < follow_up.validation.min_words:
            return None
        parsed = parse_answer("text", text, today=today)
        return parsed if parsed.get("substantive") else None
    return None


def yes_from_details(asked: Question, follow_ups: Sequence[Question], text: str,
                     today: date) -> tuple[str, Question, Parsed] | None:
    """`asked`'s "yes" choice when `text` names no choice but clearly gives the amount or date
    that one of its `follow_ups` (questions asked if `asked` is answered so) asks for: "50k"
    or "we've got 100k for the year" to "Does Acme have budget?" is a budget (allocated), of
    that amount. (The yes value, that follow-up, what the text says to it.) A text follow-up
    does not count: any sentence would."""
    choice = yes_choice(asked.choices)
    if choice is None:
        return None
    for follow_up in follow_ups:
        condition = follow_up.ask_if
        if follow_up.type in ("money", "timeframe") and condition and condition.holds(
                choice.value):
            parsed = detail(follow_up, asked, text, today)
            if parsed is not None:
                return choice.value, follow_up, parsed
    return None


def _is_stated_amount(parsed: Parsed, text: str) -> bool:
    if parsed.get("unknown") or not (parsed.get("currency") or parsed.get("period")
                                     or _MAGNITUDE.search(text)):
        return False
    figures = [parsed.get(key) for key in ("amount", "min", "max")]
    return any(isinstance(f, int | float) and f >= 100 for f in figures)


def _beyond_choice(text: str, asked: Question) -> tuple[str, set[str]]:
    """`text` (normalised) without the longest choice name it contains, and the words of all
    the choice names it contains."""
    said = normalize(text)
    names = {name for found in named_in(said, asked.choices).values() for name in found}
    longest = max(names, key=len, default="")
    if longest:
        said = f" {said} ".replace(f" {longest} ", " ", 1).strip()
    return said, {word for name in names for word in name.split()}
