"""A company's name (the widget's "which company do you work for?"): `{"company": "Acme Ltd"}`
or `{"unknown": True}`.

The name is kept as typed, without a lead-in ("I work at", "I work for", "I'm with", "we're",
"it's", "company:", "my company is") or a "thanks" after it, and without quotes or end
punctuation around it: "I work at Acme Logistics." is "Acme Logistics" ("Acme Corp." keeps the
dot of its "Corp.", "Yahoo!" its "!"). Short names, digits, symbols and any script are names:
"3M", "X", "AT&T", "Procter & Gamble", "O2", "1&1", "7-Eleven", "株式会社ソニー"; so is a
website ("acme.example", "www.acme.example"), and so are names that start with a non-answer
("N/A Logistics Ltd", "Unknown Worlds Entertainment"). Working for yourself is an answer,
stored as said: "self-employed", "freelance" ("I'm a freelancer" is "freelancer"; "myself" is
"Self-employed").

Not a company, so the question is asked again with its hint (they were stored as the company,
and on the lead):
- the whole answer a non-answer or refusal: "n/a", "none", "no company", "idk", "not sure",
  "unknown", "confidential", "private", "prefer not to say", "rather not", "test", "company",
  "I don't work for a company", "my own company", or one opening the answer ("none, I'm a
  student");
- no work to name a company for, the whole answer: "student", "I'm a student", "retired",
  "unemployed", "between jobs", "looking for work" (the hint says a university or the
  organization asked for is fine); "I'm a student at Leeds Uni" is "Leeds Uni";
- replies that answer something else: "hi", "yes", "ok", "thanks", "lol", or a question;
- keyboard mashing, as for a name ("asdf", "qwerty", "asdasd", "aaa"), except capitals of up
  to three letters, which are initials ("DFG", "AAA");
- an email address (typed in the wrong place), a phone number (five digits or more and no
  letter), or no letter or digit at all ("-", "?", "...").
"""

from __future__ import annotations

import re

from ._common import UNSURE, Parsed, clean, never_raise, unknown
from .name import mashed

# Students, the retired and those out of work have no company to name (a student may name their
# university: "I'm a student at Leeds Uni" is "Leeds Uni").
_STUDENT = (r"(?:(?:full[- ]time|part[- ]time|university|uni|college|grad(?:uate)?|"
            r"post[- ]?grad(?:uate)?|phd|masters?|mba|undergrad(?:uate)?|exchange)\s+)?student")
_NO_WORK = (r"(?:(?:i'?m|i\s+am)\s+)?(?:(?:currently|still|now)\s+)?(?:(?:an?\s+)?" + _STUDENT
            + r"|retired|(?:an?\s+)?(?:retiree|pensioner)|unemployed|jobless|out\s+of\s+work|"
            r"between\s+jobs|not\s+working|looking\s+for\s+(?:a\s+)?(?:job|work))")
_WORK_FOR_YOURSELF = (r"(?:an?\s+)?(?=(?:self|freelanc|independent|sole\s+trader|contractor|"
                      r"consultant)\w*)")
_LEAD_IN = re.compile(
    r"^(?:(?:hi|hello|hey)\b[\s,!.]+(?=\S))?"
    r"(?:(?:i|we)\s+(?:work|am\s+working|'m\s+working|are\s+working)\s+(?:at|for|with|in)|"
    r"(?:i'm|im|i\s+am|we're)\s+(?:with|at|from)|"
    r"(?:(?:my|our|the)\s+)?(?:company|employer|organi[sz]ation|business)(?:\s+name)?"
    r"(?:'s|\s+is|\s*:|\s*-)|"
    r"(?:it's|it\s+is|this\s+is)(?:\s+called)?|we're|"
    r"(?:(?:i'm|im|i\s+am)\s+)?(?:an?\s+)?" + _STUDENT + r"\s+at|"
    r"(?:i'm|im|i\s+am)\s+" + _WORK_FOR_YOURSELF + r")\s*",
    re.IGNORECASE,
)
# Each run at the end is matched from its first character only (a lookbehind): searched from
# every character of a long run of dashes or commas, they took time quadratic in its length.
_THANKS = re.compile(r"(?<![\s,.!-])[\s,.!-]+(?:thanks|thank\s+you|thx|ty|cheers)[\s.!]*$",
                     re.IGNORECASE)
_AROUND = re.compile(  # "Acme (EMEA)" keeps its ")"
    r"^[\s\"'“”‘’«»]+|(?<![\s\"'“”‘’«»,;:。])[\s\"'“”‘’«»,;:。]+$")
_END_DOTS = re.compile(r"(?<!\.)\.+$")
_END_BANGS = re.compile(r"(?<![!！])[!！]+$")
# "Acme Corp.", "Smith & Co.", "Acme S.A.": the end dot belongs to the name.
_ABBREVIATION = re.compile(
    r"(?:^|\s)(?:inc|corp|ltd|co|llc|plc|gmbh|bros|intl|mfg|ag|sa|pty|pte|pvt|assn|dept|"
    r"[^\W\d_](?:\.[^\W\d_])+)\.$",
    re.IGNORECASE,
)
_MYSELF = re.compile(r"(?:for\s+)?(?:me|myself)", re.IGNORECASE)

# Whole answers that are not a company (lower case, end punctuation removed); the first few
# also before a comma ("none, I'm a student", "n/a, sorry").
_NON_ANSWER = (
    r"none|nothing|n/?a|n\.a\.?|na|nil|null|nobody|no\s+one|nowhere|not\s+applicable|"
    r"no\s+(?:company|comp|business|employer|organi[sz]ation|org|name)|none\s+(?:really|yet)|"
    r"(?:i\s+)?(?:don'?t|do\s+not)\s+(?:work\s+for|have)\s+(?:a|an|any)\s+(?:company|employer)|"
    r"(?:my\s+)?own\s+(?:company|business)|my\s+own|not\s+employed|"
    r"idk|i\s+don'?t\s+know|dunno|no\s+idea|not\s+sure|unsure|unknown|tbd|tbc"
)
_FIRST_CLAUSE = re.compile(r"(?:" + _NON_ANSWER + r")\s*(?:,|\s-\s)")
_NOT_A_COMPANY = re.compile(
    r"(?:" + _NON_ANSWER + r"|" + _NO_WORK + r"|no|nope|nah|"
    r"anon|anonymous|(?:a\s+)?secret|private|confidential|not\s+telling|not\s+saying|"
    r"no\s+comment|pass|skip|none\s+of\s+your\s+business|why|what\s+for|who\s+cares|whatever|"
    r"test|testing|tester|test\s+company|(?:(?:my|our|your|the|a)\s+)?(?:company|business|"
    r"organi[sz]ation|employer)(?:\s+name)?|"
    r"(?:hi|hello|hey|hiya|yo|howdy|good\s+(?:morning|afternoon|evening|day))(?:\s+there)?|"
    r"yes|yeah|yep|yup|ok|okay|k|kk|sure|fine|thanks|thank\s+you|thx|lol|lmao|haha|hmm+)"
)
# A refusal at the start ("prefer not to say", "I'd rather not", "I don't want to say").
_REFUSAL = re.compile(
    r"^(?:i'?d\s+|i\s+would\s+)?(?:prefer|rather)\s+not\b|^(?:not\s+)?(?:telling|saying)\b|"
    r"^(?:i\s+)?(?:don'?t|do\s+not|won'?t|will\s+not)\s+(?:want\s+to\s+)?(?:say|tell|share)\b"
)
_EMAIL = re.compile(r"(?<![^\s@])[^\s@]+@[^\s@]+\.[^\s@]+")  # from a word's start (as above)
_DIGIT = re.compile(r"\d")
_LATIN_WORD = re.compile(r"[^\W\d_]+")
_WEB = frozenset({"www", "http", "https"})  # "www.acme.example" is a company's website


def _initials(word: str) -> bool:
    """Capitals of up to three letters: initials ("DFG", "AAA"), not keyboard mashing."""
    return word.isupper() and len(word) <= 3


@never_raise
def parse_company(text: str) -> Parsed:
    """Read a company's name. See the module docstring for what is refused."""
    t = clean(text).replace("’", "'")
    if t.rstrip().endswith(("?", "？")):
        return unknown()  # "why?", "what's it to you?"
    stripped = _LEAD_IN.sub("", t, count=1)
    sentence = stripped != t
    name = _AROUND.sub("", _THANKS.sub("", stripped))
    if _END_DOTS.search(name) and not _ABBREVIATION.search(name):
        name = _AROUND.sub("", _END_DOTS.sub("", name))
    if sentence or " " in name or name.endswith(("!!", "！！")):
        name = _AROUND.sub("", _END_BANGS.sub("", name))  # "it's Acme!" (but "Yahoo!")
    if _MYSELF.fullmatch(name):
        return {"company": "Self-employed"}  # "I work for myself"
    low = " ".join(_END_BANGS.sub("", name).lower().split())
    if (
        not any(c.isalnum() for c in name)
        or _NOT_A_COMPANY.fullmatch(low)
        or UNSURE.fullmatch(low)
        or _FIRST_CLAUSE.match(low)
        or _REFUSAL.search(low)
        or _EMAIL.search(low)
        or (len(_DIGIT.findall(name)) >= 5 and not any(c.isalpha() for c in name))
        or any(mashed(w) and not _initials(w) and w.lower() not in _WEB
               for w in _LATIN_WORD.findall(name))
    ):
        return unknown()
    return {"company": name}
