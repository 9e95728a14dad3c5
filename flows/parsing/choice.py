"""Choice answers: `{"value": "<choice value>"}` or `{"unknown": True}`.

Matching is case-, accent- and punctuation-insensitive, in this order:
1. the whole answer is a choice's value (underscores read as spaces), label or synonym;
2. the answer is a number ("2", "#2", "option 2", "2nd", "the second one"): that choice, 1-based
   (a number past the last choice is read as a quantity, step 3: "50" people; so is a bare
   number when the choices have ranges: "5" to "how many people?" is five people, while
   "option 5" or "the fifth" is still the fifth choice);
3. a quantity in the answer falls in exactly one choice's `between` range ("about 120
   people", "1,500 staff", "2k employees", "fifty", "a couple dozen"; "200+" is over 200);
4. exactly one choice has a value, label or synonym contained in the answer as whole words
   (a name inside a longer matched name does not count: "CRM integration" is not also "CRM";
   nor does a negated one: "not approved", "isn't urgent", "not yet allocated"); when two
   choices are named around a "but", the part after the last "but" decides ("no budget yet
   but planning"); when one of two choices is named by a later time ("next year", "next
   quarter") and scores lower than the other, it decides: a budget or a priority for later is
   not one for now ("we have budget for next year" is planned, not allocated; "no budget for
   next year" is not raised to planned), and a later calendar year named as when something
   applies counts as "next year" ("approved for 2027", said in 2026, is planned); otherwise an
   answer opening with one choice's name alone, then a comma or dash, is that choice
   ("partly, IT review first then not sure");
5. the answer is a plain yes or no ("yep", "nope", "not really", "I think so", 👍) and exactly
   one choice has "yes" (or "no") as its value, label or synonym. Such a "yes" or "no" name
   is not looked for inside an answer (step 4): "no problem" is a yes, "yes, being planned"
   names only the planned choice.
6. no choice is named at all, and exactly one choice has a `cue` in the answer (as in step 4):
   "security review, then CFO sign-off by June" describes a defined decision process.
"Not sure", "depends" and the like are `{"unknown": True, "unsure": True}`; anything else,
including an answer naming two choices, is `{"unknown": True}`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from datetime import date

from flows.definitions import Choice

from ._common import UNSURE, Parsed, clean, never_raise, unknown, unsure
from .yesno import parse_yesno

_NON_WORD = re.compile(r"[^\w]+|_+")
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
             "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "last": -1,
             "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
             "eight": 8, "nine": 9, "ten": 10}
_NUMBER = re.compile(
    r"(?:(?:option|choice|number|no|nr|num|answer|the)\s+)?(?:#\s*)?"
    r"(?P<n>[0-9]{1,2}|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last"
    r"|one|two|three|four|five|six|seven|eight|nine|ten)"
    r"(?:\s*(?:st|nd|rd|th))?(?:\s+(?:one|option|choice))?(?:\s+please)?"
)


_QUANTITY = re.compile(
    r"(?<![\w.])(?P<n>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(?P<k>k|thousand)?(?:-?ish)?\b(?P<plus>\+)?",
    re.IGNORECASE,
)
# Head counts in words: "fifty", "twenty-five", "a hundred", "a couple dozen".
_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen")
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_COUNTS = {w: i for i, w in enumerate(_UNITS)} | {w: 10 * i for i, w in enumerate(_TENS, 2)}
_COUNTS |= {"couple": 2, "few": 3, "several": 3}
_SCALES = {"dozen": 12, "hundred": 100, "thousand": 1000}
_ONLY_BEFORE_SCALE = frozenset({"a", "an", "one"})  # "one of the largest" is not a count


def normalize(text: str) -> str:
    """Lower case, no accents, words separated by single spaces."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(_NON_WORD.sub(" ", text).split())


@functools.lru_cache(maxsize=256)
def _cues(choices: tuple[Choice, ...]) -> tuple[tuple[str, int], ...]:
    """(normalised cue, choice index) for every choice's `cues`."""
    return tuple((n, i) for i, c in enumerate(choices) for n in map(normalize, c.cues) if n)


@functools.lru_cache(maxsize=256)
def _names(choices: tuple[Choice, ...]) -> tuple[tuple[str, int], ...]:
    """(normalised name, choice index) for every value, label and synonym."""
    out: list[tuple[str, int]] = []
    for i, c in enumerate(choices):
        for name in (c.value.replace("_", " "), c.label, *c.synonyms):
            n = normalize(name)
            if n:
                out.append((n, i))
    return tuple(out)


_YES_NO = frozenset({"yes", "no"})
_LATER = re.compile(r"(?:next|later)\b")
# A year named as when something applies: "approved for 2027", "in the 2027 budget",
# "from Q1 2027", "starting March 2027".
_YEAR_APPLIES = re.compile(
    r"\b(?:for|in|from|starting|beginning|after|of)(?: the)?"
    r"(?: (?:q[1-4]|h[12]|jan\w*|feb\w*|mar\w*|apr\w*|may|jun\w*|jul\w*|aug\w*|sep\w*|oct\w*"
    r"|nov\w*|dec\w*))? (?P<after>20\d\d)\b"
    r"|\b(?P<before>20\d\d) (?=budget|plan|planning|cycle|fiscal year\b)"
)
_NEGATORS = frozenset({"not", "no", "never", "without", "nor"})
# Words that may stand between a negation and the name it negates ("not yet allocated").
_FILLERS = frozenset({"yet", "really", "fully", "quite", "very", "that", "a", "the", "in",
                      "been", "be", "so", "currently", "actually", "well", "entirely",
                      "completely", "totally", "exactly", "clearly", "properly"})


def _negated(before: list[str]) -> bool:
    """True when the words `before` a name end in a negation: "not", "isn't" (normalised to
    "isn t"), with up to two filler words between."""
    for _ in range(3):
        if not before:
            return False
        word = before[-1]
        if word in _NEGATORS or (word == "t" and len(before) > 1 and before[-2].endswith("n")):
            return True
        if word not in _FILLERS:
            return False
        before = before[:-1]
    return False


def _named(answer: str, names: tuple[tuple[str, int], ...]) -> dict[int, set[str]]:
    """The choices named in the answer, each with the names it is named by."""
    padded = f" {answer} "
    hits: list[tuple[int, int, int, str]] = []  # start, end, choice, name
    for name, i in names:
        if name in _YES_NO:
            continue  # left to the yes/no reading: "no problem" is a yes, "yes, planned" planned
        start = padded.find(f" {name} ")
        while start != -1:
            if not _negated(padded[:start].split()):
                hits.append((start, start + len(name) + 1, i, name))
            start = padded.find(f" {name} ", start + 1)
    named: dict[int, set[str]] = {}
    for s, e, i, name in hits:
        if not any(s2 <= s and e <= e2 and (e2 - s2) > (e - s) for s2, e2, _, _ in hits):
            named.setdefault(i, set()).add(name)
    return named


def _contained(answer: str, names: tuple[tuple[str, int], ...]) -> int | None:
    named = _named(answer, names)
    return next(iter(named)) if len(named) == 1 else None


def _by_later(answer: str, names: tuple[tuple[str, int], ...], options: tuple[Choice, ...]
              ) -> int | None:
    """Of two choices named, the one named by a later time ("next year", "next quarter",
    "later this year") when it scores lower than the other: a budget or a priority for later
    is not one for now ("we have budget for next year" is planned, not allocated). A later time
    never raises an answer ("no budget for next year" is not planned)."""
    named = _named(answer, names)
    later = [i for i, found in named.items() if any(_LATER.match(n) for n in found)]
    if len(named) != 2 or len(later) != 1:
        return None
    (other,) = set(named) - set(later)
    low, high = options[later[0]].score, options[other].score
    return later[0] if low is not None and high is not None and high > low else None


def _later_years_said(answer: str, today: date | None) -> str:
    """A normalised `answer` with a calendar year after this one, named as when something
    applies, said as "next year" ("approved for 2027" in 2026: "approved for next year"), so
    that it lowers the choice beside it as "next year" does. This year and earlier ones are
    left as they are, and so are fiscal years ("FY27" is this year or next by the company's
    calendar) and "until 2027" (that budget is there now)."""
    if today is None or "20" not in answer:  # no year in it: most answers, no pattern run
        return answer

    def said(m: re.Match[str]) -> str:
        year = m.group("after") or m.group("before")
        return m.group(0).replace(year, "next year") if int(year) > today.year else m.group(0)

    return _YEAR_APPLIES.sub(said, answer)


def _word_quantity(answer: str) -> float | None:
    """The first number written in words in a normalised answer ("about fifty people": 50)."""
    value: float | None = None
    for word in answer.split():
        if word in _SCALES:
            value = (value or 1) * _SCALES[word]
        elif word in _ONLY_BEFORE_SCALE and value is None:
            value = 0.0  # a pending "a" / "one": counts only before "hundred", "dozen"
        elif word in _COUNTS and (value is None or (value % 10 == 0 < _COUNTS[word] < 10
                                                    and value < 100)):
            value = (value or 0) + _COUNTS[word]
        elif value is not None:
            break
    return value or None


def _quantity(text: str) -> float | None:
    """The first head count or amount in the answer: digits ("1,500", "2k", "50+": more than
    50), else words ("fifty")."""
    m = _QUANTITY.search(text)
    if m is None:
        return _word_quantity(normalize(text))
    amount = float(re.sub(r"[,\s]", "", m.group("n")))
    if m.group("k"):
        amount *= 1000
    return amount + 1 if m.group("plus") else amount


def _by_quantity(text: str, options: tuple[Choice, ...]) -> int | None:
    """The one choice whose `between` range holds the first quantity in the answer."""
    if not any(c.between for c in options):
        return None
    amount = _quantity(text)
    if amount is None:
        return None
    hits = [i for i, c in enumerate(options)
            if c.between is not None and c.between[0] <= amount <= c.between[1]]
    return hits[0] if len(hits) == 1 else None


@never_raise
def parse_choice(text: str, choices: Sequence[Choice], *, today: date | None = None) -> Parsed:
    """Read which of `choices` is meant. See the module docstring for the rules. `today`:
    the date that tells which year is next (None: years are read as any other word)."""
    options = tuple(choices)
    cleaned = clean(text)
    answer = normalize(cleaned)
    if not options:
        return unknown()
    names = _names(options)
    if not answer:  # only emoji or punctuation: 👍, 🤷
        return _by_emoji(cleaned, names, options)
    for name, i in names:
        if name == answer:
            return {"value": options[i].value}
    m = _NUMBER.fullmatch(answer)
    ranges = any(c.between for c in options)
    bare = cleaned.strip().rstrip(".!").lower() == answer  # "5", not "#5" or "option 5"
    if m is not None and not (ranges and bare and m.group("n") == answer):
        token = m.group("n")
        n = int(token) if token.isdigit() else _ORDINALS[token]
        if n == -1:
            n = len(options)
        if 1 <= n <= len(options):
            return {"value": options[n - 1].value}
        # past the last option: a quantity, if the choices have ranges ("50" people)
    ranged = _by_quantity(cleaned, options)
    if ranged is not None:
        return {"value": options[ranged].value}
    answer = _later_years_said(answer, today)
    found = _contained(answer, names)
    if found is None and " but " in answer:
        found = _contained(answer.rsplit(" but ", 1)[1], names)
    if found is None:
        found = _by_later(answer, names, options)
    if found is None:
        found = _by_opening(cleaned, names)
    if found is None:
        found = _by_yes_or_no(cleaned, names)
    if found is None and not _named(answer, names):
        found = _contained(answer, _cues(options))
    if found is not None:
        return {"value": options[found].value}
    return unsure() if UNSURE.search(cleaned.lower()) else unknown()


_OPENING = re.compile(r"\s*(?P<first>[^,;:()\u2013\u2014]+?)\s*(?:[,;:(\u2013\u2014]|\s-\s)\s*\S")


def _by_opening(text: str, names: tuple[tuple[str, int], ...]) -> int | None:
    """The choice an answer opens with, alone before a comma or dash, when it goes on to name
    another: "partly, IT review first then not sure" is partly known (its "not sure" named
    the not-known choice too)."""
    m = _OPENING.match(text)
    if m is None:
        return None
    first = normalize(m.group("first"))
    return next((i for name, i in names if name == first and name not in _YES_NO), None)


def _by_emoji(text: str, names: tuple[tuple[str, int], ...], options: tuple[Choice, ...]
              ) -> Parsed:
    """An answer without words: 👍 or 👎 as a plain yes or no, 🤷 as unsure."""
    if parse_yesno(text).get("value", False) is None:
        return unsure()
    found = _by_yes_or_no(text, names)
    return unknown() if found is None else {"value": options[found].value}


def _by_yes_or_no(text: str, names: tuple[tuple[str, int], ...]) -> int | None:
    """The one choice named "yes" (or "no") when the answer is a plain yes (or no)."""
    value = parse_yesno(text).get("value")
    if not isinstance(value, bool):
        return None
    return _the_one_named(names, "yes" if value else "no")


def _the_one_named(names: tuple[tuple[str, int], ...], word: str) -> int | None:
    """The one choice that has `word` as its value, label or synonym (None: none or several)."""
    hits = {i for name, i in names if name == word}
    return hits.pop() if len(hits) == 1 else None


def named_in(answer: str, choices: Sequence[Choice]) -> dict[int, set[str]]:
    """The choices a normalised `answer` names outright, not negated (as in step 4; a "yes" or
    "no" name is not looked for), each with the names it is named by."""
    return _named(answer, _names(tuple(choices)))


def yes_choice(choices: Sequence[Choice]) -> Choice | None:
    """The one choice that has "yes" as its value, label or synonym, if there is one."""
    found = _the_one_named(_names(tuple(choices)), "yes")
    return None if found is None else choices[found]
