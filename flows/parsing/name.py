"""A person's name (the widget's "what's your name?"): `{"name": "Dana Lee"}` or
`{"unknown": True}`.

The name is kept as typed, without a lead-in ("my name is", "I'm", "it's", "this is", "call
me", "name:", a "hi," before them, a "here" after: "Dana here") and without quotes or end
punctuation around it: "Hi, I'm Dana Lee." is "Dana Lee" (an initial keeps its dot: "Dana
L."). One word ("Dana"), accents ("Zoë Šimić"), hyphens ("Jean-Luc"), apostrophes ("O'Brien"),
initials ("J. R. Smith") and any script ("李雷", "Олег Петров") are names.

Not names, so the question is asked again with its hint (they were stored as the name):
- non-answers and refusals: "idk", "no", "none", "n/a", "not sure", "prefer not to say",
  "rather not", "anonymous", "nobody", "test";
- replies that answer something else: "hi", "hello", "yes", "ok", "thanks", "lol", "why?";
- keyboard mashing: a word of four or more letters in a row of the keyboard, or three from its
  end or without a vowel, or such a run repeated ("asdf", "qwerty", "asd", "sdf", "asdasd";
  "Yui", "Tre" are names), five or more letters without a vowel ("sdfgk"; "Smrž" is a name), a
  letter or two repeated ("aaa", "hahaha"; "Coco", "Lulu" are names);
- an email address, a link or a phone number (five digits or more): typed in the wrong place;
- a question ("what for?"), a single Latin letter, or no letter at all ("-", "?", "123").
"""

from __future__ import annotations

import re
import unicodedata

from ._common import UNSURE, Parsed, clean, never_raise, unknown

_LEAD_IN = re.compile(
    r"^(?:(?:hi|hello|hey|hiya)(?:\s+there)?\b[\s,!.]+(?=\S)(?!there\b))?"
    r"(?:(?:(?:my\s+)?(?:full\s+)?name(?:'s|\s+is|\s*:|\s*-)|i'm|i\s+am|it'?s|it\s+is|"
    r"this\s+is|call\s+me|you\s+can\s+call\s+me)\s+)?",
    re.IGNORECASE,
)
_HERE = re.compile(r"\s+here\W*$", re.IGNORECASE)  # "Dana here"
_AROUND = re.compile(r"^[\s\"'“”‘’«»(\[]+|[\s\"'“”‘’«»)\],!;:。！]+$")
_END_DOT = re.compile(r"(?:[^\W\d_]{3}|[^\w\s.])\s*\.+$")  # "Lee." but not "Dana L.", "Jr."

# Whole answers that are not a name (lower case, end punctuation removed).
_NOT_A_NAME = re.compile(
    r"(?:no|nope|nah|none|nothing|n/?a|na|nil|null|nobody|no\s+one|no\s+name|noname|nameless|"
    r"anon|anonymous|unknown|(?:a\s+)?secret|private|not\s+telling|not\s+saying|no\s+comment|"
    r"pass|skip|"
    r"(?:i'?d\s+)?rather\s+not(?:\s+(?:say|tell|share|give\s+it))?|"
    r"(?:i\s+)?(?:don'?t|do\s+not|won'?t|will\s+not)\s+(?:want\s+to\s+)?"
    r"(?:say|tell|share|give\s+it|give\s+my\s+name)|"
    r"none\s+of\s+your\s+business|why|what\s+for|who\s+cares|whatever|"
    r"test|testing|tester|test\s+user|user|me|myself|name|my\s+name(?:\s+is)?|your\s+name|"
    r"i\s+am|i'm|it'?s|here|"
    r"first\s+name|last\s+name|full\s+name|mr|mrs|ms|miss|dr|sir|madam|"
    r"(?:hi|hello|hey|hiya|yo|howdy|good\s+(?:morning|afternoon|evening|day))(?:\s+there)?|"
    r"yes|yeah|yep|yup|ok|okay|k|kk|sure|fine|thanks|thank\s+you|thx|lol|lmao|haha|hmm+|"
    r"idk|i\s+don'?t\s+know|dunno|no\s+idea|not\s+sure|unsure)"
)
# A refusal anywhere at the start ("prefer not to say", "I'd prefer not to share it").
_REFUSAL = re.compile(
    r"^(?:i'?d\s+|i\s+would\s+)?(?:prefer|rather)\s+not\b|^(?:not\s+)?(?:telling|saying)\b|"
    r"^(?:i\s+)?(?:don'?t|do\s+not)\s+want\s+to\b"
)
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_ROW_ENDS = frozenset({"qwe", "asd", "zxc", "poi", "lkj", "mnb"})
_VOWELS = frozenset("aeiouy")
_REPEATED = re.compile(r"(.{1,2})\1{2,}")  # "aaa", "hahaha"
_RUN = re.compile(r"(.{3,})\1+")  # "asdasd": a keyboard run repeated
_LINK = re.compile(r"@|https?:|www\.|\.(?:com|org|net|io)\b")
_DIGITS = re.compile(r"\d")


def _latin(word: str) -> str | None:
    """The word in plain ASCII lower case if it is written in Latin letters only, else None."""
    plain = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode().lower()
    return plain if plain and plain.isalpha() and len(plain) >= len(word) else None


def mashed(word: str) -> bool:
    """Keyboard mashing: "asdf", "sdf", "asdasd", "sdfgh", "aaa", "hahaha" (not "Coco", "Lulu",
    "Smrž"). The company reader asks the same."""
    plain = _latin(word)
    if plain is None:
        return False
    if _REPEATED.fullmatch(plain):
        return True
    run = _RUN.fullmatch(plain)
    chunk = run.group(1) if run else plain
    # three letters only without a vowel or from a row's end: "sdf", "asd" (not "Yui", "Tre")
    if (len(chunk) >= 4 or (len(chunk) == 3 and (chunk in _ROW_ENDS or not _VOWELS & set(chunk)))
            ) and any(chunk in row or chunk in row[::-1] for row in _KEYBOARD_ROWS):
        return True
    return len(plain) >= 5 and not _VOWELS.intersection(plain)


@never_raise
def parse_name(text: str) -> Parsed:
    """Read a person's name. See the module docstring for what is refused."""
    t = clean(text)
    name = _AROUND.sub("", _HERE.sub("", _LEAD_IN.sub("", t, count=1)))
    if _END_DOT.search(name):
        name = _AROUND.sub("", name.rstrip("."))
    if not name:
        return unknown()
    low = " ".join(name.lower().split())
    if (
        not any(c.isalpha() for c in name)
        or _NOT_A_NAME.fullmatch(low)
        or _REFUSAL.search(low)
        or UNSURE.search(low)
        or t.rstrip().endswith("?")
        or _LINK.search(low)
        or len(_DIGITS.findall(name)) >= 5
        or (len(name) == 1 and _latin(name) is not None)
        or any(mashed(w) for w in re.findall(r"[^\W\d_]+", name))
    ):
        return unknown()
    return {"name": name}
