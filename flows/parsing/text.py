"""Free text: `{"text": cleaned, "words": n, "substantive": bool, "has_number": bool}`.

`text` is the answer without control characters, whitespace collapsed, at most 2,000
characters. `substantive` is False for non-answers ("none", "n/a", "no idea", "idk", "-", ...),
for answers that open with one ("no pain, things are fine", "nothing specific really",
"not sure, we just need it"), for clauses saying there is none ("not much pain tbh", "we don't
have targets", "haven't thought about it", "just curious") and for answers without a letter or
digit. `has_number` is
True when the answer holds a digit or a number word (two..twenty, thirty..ninety, hundred,
thousand, million, billion, dozen; not "one", which is too often a pronoun) or a multiple
("double our bookings", "cut onboarding time in half", "halve churn", "tenfold"). An empty answer
is `{"unknown": True}`.
"""

from __future__ import annotations

import re

from ._common import Parsed, clean, never_raise, unknown

_WORD = re.compile(r"\w+(?:['’./-]\w+)*")
_HAS_NUMBER = re.compile(
    r"[0-9]|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
    r"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|"
    r"seventy|eighty|ninety|hundred|hundreds|thousand|thousands|million|millions|billion|"
    r"billions|dozen|dozens|double|doubled|doubling|triple|tripled|tripling|quadruple|"
    r"halve|halved|halving|in\s+half|by\s+half|twice|a\s+third|"
    r"(?:two|three|four|five|ten|hundred)fold)\b",
    re.IGNORECASE,
)
_NON_ANSWER = re.compile(
    r"(?:none|no|nope|nah|n/?a|na|not applicable|no idea|not sure|unsure|nothing|"
    r"nothing really|nothing yet|nothing specific|not really|idk|i don'?t know|dunno|"
    r"don'?t know|do not know|no clue|nil|null|tbd|tbc|unknown|skip|pass|no comment|"
    r"nothing to add|no answer|can'?t say|not yet|none yet|none really|ok|okay|"
    r"whatever|-+|\.+|\?+|x+|\*+)",
    re.IGNORECASE,
)
_CLAUSE_END = r"(?=\s*(?:[.,;:!?)]|$))"
# An answer that opens with a non-answer ("no pain, things are fine", "nothing specific
# really", "not sure, we just need it") says nothing, whatever follows. A bare "No, ..." does
# not count: "No, onboarding takes six weeks" is a real answer.
_LEADING_NON_ANSWER = re.compile(
    r"^(?:nothing(?:\s+(?:specific|in particular|really|much|concrete|yet))?|"
    r"none(?:\s+(?:at all|really|yet|that i know of))?|"
    r"no\s+(?:real\s+|specific\s+|particular\s+|clear\s+|big\s+)?(?:pain|pains|metrics?|numbers?|"
    r"idea|clue|problems?|issues?|challenges?|goals?|plans?|targets?|kpis?|criteria|"
    r"champion|budget|timeline)|"
    r"(?:we|i)\s+(?:have\s+|'ve\s+)?(?:got\s+)?no\s+(?:idea|clue)|"
    r"not\s+(?:really|sure|yet|at the moment|that i know of)|"
    r"n/?a|idk|i\s+don'?t\s+know|don'?t\s+know|dunno|unsure|tbd|"
    # "not much (pain) tbh", "we don't have targets", "haven't thought about it", "just curious":
    # whole clauses only ("not much visibility into pipeline" is a real problem)
    r"not\s+(?:much|many|a\s+lot)(?:\s+(?:real|pain|pains|problems?|issues?|challenges?|really|"
    r"honestly|tbh|to\s+be\s+honest))*" + _CLAUSE_END + "|"
    r"(?:(?:we|i)\s+)?(?:don'?t|do\s+not|haven'?t|have\s+not|didn'?t|did\s+not)\s+(?:really\s+|yet\s+)?"
    r"(?:have|got|define|defined|set|measure|track|thought\s+about|decided)(?:\s+(?:any|a|many|"
    r"much|that|it|this|those|them|yet|specific|clear|real|concrete|formal|anything))*"
    r"(?:\s+(?:metrics?|targets?|goals?|kpis?|numbers?|pains?|problems?|issues?|challenges?|"
    r"plans?|criteria|idea|clue))?(?:\s+yet)?" + _CLAUSE_END + "|"
    r"just\s+(?:curious|browsing|looking(?:\s+around)?|exploring|researching)" + _CLAUSE_END
    + r")\b",
    re.IGNORECASE,
)
_ALL_FINE = re.compile(
    r"\b(?:things|everything|all)\s+(?:is|are)\s+(?:going\s+)?(?:fine|ok|okay|good|great)\b",
    re.IGNORECASE,
)
_TRIM = re.compile(r"^[\s.!,;:]+|[\s.!,;:]+$")


@never_raise
def parse_text(text: str) -> Parsed:
    """Read a free-text answer. See the module docstring."""
    t = clean(text)
    if not t:
        return unknown()
    words = len(_WORD.findall(t))
    core = _TRIM.sub("", t.replace("’", "'"))
    substantive = (
        words > 0
        and not _NON_ANSWER.fullmatch(core or t)
        and not _LEADING_NON_ANSWER.match(core)
        and not _ALL_FINE.search(core)
    )
    return {
        "text": t,
        "words": words,
        "substantive": bool(substantive),
        "has_number": _HAS_NUMBER.search(t) is not None,
    }
