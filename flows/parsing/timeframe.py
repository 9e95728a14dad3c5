"""Timeframes: "ASAP", "Q3", "in 3 months", "by March", "mid 2027", "March 15, 2027".

Result: `{"earliest": "2026-07-01", "latest": "2026-09-30"}` (ISO dates, relative to `today`;
None when open-ended), `{"unknown": True, "none": True}` for an explicit "never" / "no plans" /
"not buying", `{"unknown": True, "unsure": True}` for an explicit answer without a date ("not
sure", "no timeline", "no rush", "whenever", "depends") and `{"unknown": True}` otherwise.

Rules (documented choices):
- ASAP / immediately / right away / urgent / "yesterday": today .. today + 30 days.
  "soon" / "shortly" / "near future": today .. today + 90 days. "today": today .. today.
- A period that has already begun starts today ("this quarter" is today .. end of quarter).
- A period without a year is the next one not wholly in the past ("Q3" in August is this Q3,
  starting today; in October it is next year's Q3). "next Q3" skips the one in progress.
- "by X", "until X", "no later than X", "X at the latest": a deadline: earliest None
  (any time from now), latest the end of X ("by March" -> latest = end of the next March,
  "by 2027" -> Dec 31, 2027). "before X" ends the day before X starts; "before the end of X",
  "before X end", "before EOY" end with X. An event placed in X takes the "before" or "by"
  said of it: "before our busy season in October" is before October, "by our conference in
  May" by May.
- "after X", "not X", "not buying X", "not looking X", "won't be buying in X": earliest the day
  after X ends, latest None ("not buying this year" was read as this year, from today).
  "not before X", "not until X", "X at the earliest", "X or later", "from X" (alone): earliest
  the start of X, latest None.
- "in 3 months", "3 months from now": a point, earliest = latest = today + 3 months.
  "2 months ago" is in the past: today - 2 months (it was read as in 2 months), which the score
  marks as passed; beside a date to come it is left out ("a year ago, now Q3" is Q3).
  Needed or due in the past is overdue, so wanted now: "we needed it 2 months ago", "should have
  had it 6 months ago", "we needed it last month", "it was due in March", "the deadline was last
  week", "we're overdue", "3 weeks behind schedule" are ASAP (they were the past date, scored as
  passed, next March, or not understood); the dates in such a clause are left out, and a date
  to come beside it is still the timeline ("needed it 2 months ago, realistically Q3" is Q3).
  "this time next year" (or next month, week, quarter): around today's date a year on (it was
  all of next year); "by this time next year" a deadline on that date.
  "in 3-6 months": today + 3 months .. today + 6 months.
  "within 6 weeks", "in the next 6 weeks", "less than 6 weeks": deadline, latest today + 6 weeks.
  "not for 6 months", "after 6 months", "at least 6 months": earliest today + 6 months.
- Parts of a period: a year's "early" is Jan-Apr, "mid" May-Aug, "late" Sep-Dec, its
  "start"/"beginning" Q1 and its "end" Q4 ("end of year" = Oct 1 .. Dec 31, clamped to today).
  A half's early/mid/late are its 2-month thirds; a quarter's or season's its months; a month's
  the 1st-10th, 11th-20th and 21st-end. "by the end of X" is a deadline at the end of X.
- H1 = Jan-Jun, H2 = Jul-Dec. Seasons are northern: spring Mar-May, summer Jun-Aug,
  fall/autumn Sep-Nov, winter Dec-Feb. Fiscal years (FY27, "this fiscal year") are read as
  calendar years.
- Numeric dates: "2027-03-15"; "15.03.2027" is day-first; "3/15/2027" is month-first unless the
  first number is over 12 ("15/03/2027"). Slash dates without a year need a preposition
  ("by 3/15").
- Several expressions combine: ranges and alternatives are united ("Q3 or Q4", "Q3-Q4"),
  deadlines cap the latest ("Q3 ideally, Q4 at the latest" -> Jul 1 .. Dec 31), and lower bounds
  raise the earliest ("not this year, maybe next year" -> next year).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from ._common import UNSURE, Parsed, clean, lower, never_raise, unknown, unsure

Span = tuple[date, date]

_MONTHS: dict[str, int] = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
    "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBER_WORDS: dict[str, float] = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "eighteen": 18,
    "twenty": 20, "thirty": 30, "sixty": 60, "ninety": 90, "couple": 2, "few": 3,
    "several": 3, "half": 0.5,
}

_MONTH = (r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?")
_N = (r"[0-9]{1,3}(?:\.[0-9])?|a\s+couple(?:\s+of)?|couple(?:\s+of)?|a\s+few|few|several|"
      r"half\s+an?|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
      r"eighteen|twenty|thirty|sixty|ninety")

# The core of every time expression, leftmost first; at one position the first alternative
# wins (dates before durations before periods). Words before a core ("by the end of next")
# and after it ("2027", "at the latest") are read separately, around each match.
_CORE = re.compile(
    r"(?P<iso>(?<![0-9])(?P<iso_y>20[0-9]{2})[-/.](?P<iso_m>[0-9]{1,2})[-/.]"
    r"(?P<iso_d>[0-9]{1,2})(?![0-9]))"
    r"|(?P<md>\b(?P<md_month>" + _MONTH + r")\b\.?\s*(?P<md_day>[0-9]{1,2})(?:st|nd|rd|th)?"
    r"(?![0-9])(?:\s*,?\s*(?P<md_year>20[0-9]{2})(?![0-9]))?)"
    r"|(?P<dm>(?<![0-9])(?P<dm_day>[0-9]{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?"
    r"(?P<dm_month>" + _MONTH + r")\b\.?(?:\s*,?\s*(?P<dm_year>20[0-9]{2})(?![0-9]))?)"
    r"|(?P<nd>(?<![0-9./])(?P<nd_a>[0-9]{1,2})(?P<nd_sep>[/.])(?P<nd_b>[0-9]{1,2})"
    r"(?:(?P=nd_sep)(?P<nd_y>20[0-9]{2}|[0-9]{2}))?(?![0-9./]))"
    r"|(?P<nu>\b(?:within|in|over|during|inside)\s+the\s+(?:next|coming)\s+"
    r"(?P<nu_unit>year|month|week)\b)"
    r"|(?P<dur>(?<![0-9.$€£¥a-z])(?P<dur_n>" + _N + r")(?:\s*(?:-|–|to|or|/)\s*(?P<dur_n2>"
    + _N + r"))?\s*(?:more\s+)?(?P<dur_unit>days?|d|weeks?|wks?|w|months?|mos?|mths?|m|"
    r"quarters?|qtrs?|years?|yrs?|y)(?![a-z]))"
    r"|(?P<q>(?<![a-z0-9])q(?P<q_n>[1-4])(?![0-9])|(?<![a-z0-9])(?P<q_n2>[1-4])q(?![a-z0-9])"
    r"|\b(?P<q_ord>first|second|third|fourth|1st|2nd|3rd|4th|last)\s+quarter"
    r"(?:(?=\s+of)|(?<!last\squarter))"  # "last quarter" alone is the one that has passed
    r"|\b(?P<q_word>quarter)\b)"
    r"|(?P<h>(?<![a-z0-9])h(?P<h_n>[12])(?![0-9])|(?<![a-z0-9])(?P<h_n2>[12])h(?![a-z0-9])"
    r"|\b(?P<h_ord>first|second|1st|2nd|latter|back|front)\s+half\b)"
    r"|(?P<season>\b(?:spring|summer|fall|autumn|winter)\b)"
    r"|(?P<mon>\b(?:" + _MONTH + r")\b\.?)"
    r"|(?P<after_next>\bthe\s+year\s+after\s+next\b)"
    r"|(?P<same_time>\b(?:this|that|the\s+same|same)\s+time\s+(?P<same_unit>next\s+year|"
    r"next\s+month|next\s+week|next\s+quarter)\b)"
    r"|(?P<named>\b(?:week|month|year|today|tomorrow|" + "|".join(_WEEKDAYS)
    + r"|eom|eoq|eoy|ye|fye|christmas|xmas|holidays|holiday\s+season)\b)"
    r"|(?P<yn>(?<![0-9])(?P<yn_y>20[0-9]{2})(?![0-9])|\bfy\s?'?(?P<yn_fy>20[0-9]{2}|[0-9]{2})\b)"
    r"|(?P<asap>(?<!not )\b(?:asap|a\.s\.a\.p|as\s+soon\s+as\s+(?:possible|we\s+can|feasible|"
    r"practical)|immediately|immediate|right\s+away|right\s+now|straight\s+away|urgent(?:ly)?|"
    r"yesterday|at\s+once|without\s+delay)\b|^now\b|\bnow(?=\s*[.!]*$))"
    r"|(?P<soon>(?<!not )(?<!anytime )(?<!any time )\b(?:soon|shortly|near\s+future|"
    r"near[- ]term|short[- ]term|coming\s+weeks|coming\s+months)\b)"
)
_PREFIX = re.compile(
    r"(?<![a-z'])"
    r"(?:(?P<rel>(?:no\s+plans?|nothing\s+planned|not\s+(?:buying|looking|planning))\s+"
    r"(?:until|till|before)|not\s+until|not\s+before|not\s+earlier\s+than|not\s+sooner\s+than|"
    r"no\s+sooner\s+than|no\s+earlier\s+than|no\s+later\s+than|not\s+later\s+than|not\s+after|"
    r"latest\s+by|at\s+the\s+latest\s+by|in\s+time\s+for|prior\s+to|ahead\s+of|"
    r"sometime\s+(?:in|during|around|after|before)|some\s+time\s+(?:in|during)|"
    r"starting(?:\s+(?:in|from|at|on))?|beginning\s+(?:in|from|on)|"
    r"(?P<not_buying>(?:not|won'?t\s+be|no)\s+(?:buying|looking|planning|purchasing|budgeting)"
    r"(?:\s+(?:anything|to\s+buy))?(?:\s+(?:in|during|for))?)|"
    r"not\s+(?:in|during|for)|not|after|from|by|before|until|till|til|through|thru|to|"
    r"in|on|during|for|within|around|about|approximately|roughly|circa|at)\s+)?"
    r"(?:the\s+)?"
    r"(?:(?P<part>(?:very\s+)?(?:early|earlier|mid|middle|late|later|end|beginning|start|close))"
    r"(?:\s*-\s*|\s+of\s+(?:the\s+)?|\s+))?"
    r"(?:(?P<sel>this|the\s+current|current|next|the\s+next|the\s+coming|coming|upcoming|"
    r"the\s+following|following)\s+)?"
    r"(?:(?:fiscal|calendar|financial)\s+)?$"
)
_DURATION_PREFIX = re.compile(
    r"(?:(?<![a-z])(?P<pre>within|in\s+(?:the\s+)?(?:next|coming)|over\s+the\s+(?:next|coming)|"
    r"during\s+the\s+next|(?:the\s+)?next|(?:the\s+)?coming|in\s+(?:less|under|fewer)\s+than|"
    r"less\s+than|under|inside(?:\s+of)?|no\s+more\s+than|not\s+more\s+than|max(?:imum)?|"
    r"up\s+to|by|before|in\s+about|in\s+around|in\s+approximately|in\s+roughly|"
    r"in\s+another|in|about|around|approximately|approx\.?|roughly|"
    r"not\s+for(?:\s+(?:another|at\s+least))?|not\s+(?:in|within)\s+the\s+next|after|"
    r"not\s+before|no\s+sooner\s+than|at\s+least|more\s+than|over|another)|(?P<tilde>~))\s*$"
)
_DURATION_TAIL = re.compile(
    r"(?P<or>\s+or\s+(?:two|three|so)\b)?"
    r"(?P<post>\s+(?:from\s+(?:now|today)|out|away|time|hence|later)\b)?"
    r"(?P<ago>\s+ago\b)?"
)
_YEAR_SPEC = re.compile(
    r"\s*,?\s*(?:of\s+|in\s+)?(?:the\s+)?(?P<yr>20[0-9]{2}(?![0-9])|'[0-9]{2}(?![0-9])|"
    r"fy\s?'?(?:20[0-9]{2}|[0-9]{2})\b|(?:this|current|next|the\s+following|following|coming)"
    r"\s+(?:fiscal\s+|calendar\s+)?year\b|year\b)"
)
_END_SUFFIX = re.compile(r"[\s-]*end\b")
_SUFFIX = re.compile(
    r"\s*,?\s*(?P<sfx>at\s+the\s+(?:very\s+)?latest|at\s+the\s+(?:very\s+)?earliest|"
    r"at\s+latest|at\s+earliest|or\s+(?:later|after|beyond|thereafter)|"
    r"or\s+(?:earlier|before|sooner)|on\s*wards?|and\s+(?:beyond|later|after)|"
    r"latest|earliest)\b|(?P<plus>\+)"
)
_NONE = re.compile(
    r"\b(?:never|no\s+plans?|not\s+planning|not\s+looking|not\s+buying|not\s+interested|"
    r"no\s+intention|not\s+in\s+the\s+market|no\s+need|not\s+going\s+to\s+(?:buy|purchase)|"
    r"won'?t\s+be\s+buying|no\s+project)\b"
)
# Open-ended answers: no date, but a real answer.
_OPEN = re.compile(
    r"\b(?:no\s+(?:fixed\s+|set\s+|firm\s+|real\s+|specific\s+)?(?:timeline|timeframe|deadline|"
    r"date|rush|hurry)|whenever|no\s+time\s+pressure|open[- ]ended|someday|eventually|"
    r"at\s+some\s+point|not\s+urgent|long[- ]term)\b"
)
_MAX_EXPRESSIONS = 20
_ASAP_DAYS = 30

# Overdue: the clause says it was needed, or due, in the past ("we needed it 2 months ago",
# "should have had it last quarter", "it was due in March", "we're overdue", "3 weeks behind
# schedule"); read as as soon as possible. "2 months ago" alone is only in the past.
_OVERDUE_HINT = re.compile(r"due|deadline|should|behind|late\b|ago\b|yesterday|last|past|"
                           r"previous|earlier")
_NEEDED_THEN = re.compile(  # said of the past only with a past time beside it
    r"\b(?:needed|required|(?:was|were)\s+(?:supposed|meant|planned|scheduled|expected)\s+to|"
    r"(?:would|could)(?:'ve|\s+have)\s+(?:liked|loved|needed)|'d\s+have\s+(?:liked|loved|had|"
    r"needed))\b"
)
_PAST_TIME = re.compile(
    r"\bago\b|\byesterday\b|\b(?:last|past|previous)\s+(?:week|month|quarter|year|fy|"
    r"fiscal\s+year|spring|summer|fall|autumn|winter)\b|\bearlier\s+this\s+(?:year|quarter|month)\b"
)
_LATE = re.compile(  # late on its own
    r"\b(?:over\s?due|past\s+due|behind\s+schedule|(?:was|were)\s+due|(?:the\s+)?(?:deadline|due\s+"
    r"date)\s+was|should(?:'ve|\s+have)\s+(?:had|been|done|bought|started|gone|launched|got|"
    r"gotten|signed|implemented|finished|rolled|switched|replaced)|(?:[0-9]+|a|an|one|two|three|"
    r"four|five|six|a\s+few|a\s+couple(?:\s+of)?|several)\s+(?:days?|weeks?|months?|quarters?|"
    r"years?)\s+(?:late|behind)|(?:already|running|we'?re|we\s+are)\s+(?:already\s+)?late)\b"
)
_NEGATION = re.compile(r"\b(?:not|never|no)\b|n't\b")
# Clauses for it: punctuation not inside a number ("2.5 months"), a spaced dash, "and", "but".
_CLAUSE_BREAK = re.compile(r"[;!?]+|[,.:](?![0-9])|\s[-\u2013\u2014]+\s|\b(?:and|but|so|though|"
                           r"although|however)\b")


@dataclass(slots=True)
class _Ctx:
    """The words around a core match."""

    pos: int
    rel: str
    part: str
    sel: str
    yr: str | None
    sfx: str
    end_suffix: bool
    whole: bool


@dataclass(slots=True)
class _Found:
    pos: int
    earliest: date | None
    latest: date | None
    soft: bool = False  # "from X": a lower bound unless something follows
    past: bool = False  # "2 months ago": left out beside a date to come
    overdue: bool = False  # "we needed it 2 months ago": now, unless a date to come is named


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _add_months(day: date, months: int) -> date:
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _months_span(year: int, first: int, count: int) -> Span:
    end = _add_months(date(year, first, 1), count) - timedelta(days=1)
    return date(year, first, 1), end


def _part_of(span: Span, part: str | None, kind: str) -> Span:
    """The early/mid/late/start/end portion of a period."""
    if not part:
        return span
    p = re.sub(r"[^a-z]", " ", part.lower()).split()
    word = next((w for w in p if w not in {"very", "of", "the"}), "")
    if word in {"later"}:
        return span
    start, end = span
    if kind == "year":
        ranges = {"early": (1, 4), "mid": (5, 4), "middle": (5, 4), "late": (9, 4),
                  "earlier": (1, 4), "start": (1, 3), "beginning": (1, 3), "end": (10, 3),
                  "close": (10, 3)}
        first, count = ranges.get(word, (1, 12))
        return _months_span(start.year, first, count)
    if kind in {"half", "quarter", "season"}:
        months = 6 if kind == "half" else 3
        step = months // 3
        offset = {"early": 0, "earlier": 0, "start": 0, "beginning": 0, "mid": step,
                  "middle": step, "late": months - step, "end": months - step,
                  "close": months - step}.get(word, 0)
        begin = _add_months(start, offset)
        return begin, _add_months(begin, step) - timedelta(days=1)
    if kind == "month":
        last = end.day
        days = {"early": (1, 10), "earlier": (1, 10), "start": (1, 10),
                "beginning": (1, 10), "mid": (11, 20), "middle": (11, 20),
                "late": (21, last), "end": (21, last), "close": (21, last)}
        a, b = days.get(word, (1, last))
        return start.replace(day=a), start.replace(day=b)
    if kind == "week":
        offsets = {"early": (0, 2), "start": (0, 2), "beginning": (0, 2), "mid": (2, 3),
                   "middle": (2, 3), "late": (4, 6), "end": (4, 6), "close": (4, 6)}
        a, b = offsets.get(word, (0, 6))
        return start + timedelta(days=a), start + timedelta(days=b)
    return span


def _year_of(spec: str | None, today: date) -> int | None:
    """The year named by a year spec ("2027", "'27", "FY27", "next year"), or None."""
    if not spec:
        return None
    s = spec.lower()
    digits = re.sub(r"[^0-9]", "", s)
    if digits:
        return 2000 + int(digits) % 100 if len(digits) <= 2 else int(digits)
    if "next" in s or "following" in s or "coming" in s:
        return today.year + 1
    return today.year


def _resolve(
    make: Callable[[int], Span], today: date, *, year: int | None, sel: str | None,
    part: str | None, kind: str,
) -> Span:
    """The period for an explicit year, or the next one not wholly in the past."""
    if year is not None:
        return _part_of(make(year), part, kind)
    s = (sel or "").split()[-1] if sel else ""
    if s in {"this", "current"}:
        return _part_of(make(today.year), part, kind)
    for y in (today.year - 1, today.year, today.year + 1, today.year + 2):
        whole = make(y)
        span = _part_of(whole, part, kind)
        if span[1] < today:
            continue
        if s in {"next", "following"} and whole[0] <= today:
            continue
        return span
    return _part_of(make(today.year + 1), part, kind)


_DEADLINE_RELS = {"by", "until", "till", "til", "through", "thru", "to", "not after",
                  "no later than", "not later than", "latest by", "at the latest by",
                  "in time for"}
_BEFORE_RELS = {"before", "prior to", "ahead of", "sometime before"}
# An event placed in a period, with a "before" or "by" that relates to the period: "before our
# busy season in October", "ahead of the Q2 kickoff in April", "by our conference in May".
_EVENT_IN = {"in", "on", "during", "at"}
_BEFORE_EVENT = re.compile(
    r"(?<![a-z'])(?P<rel>before|by|prior\s+to|ahead\s+of|in\s+time\s+for)\s+"
    r"(?:(?:the|our|their|its|my|a|an)\s+)?(?:[a-z][\w'&-]*\s+){1,3}$"
)
_AFTER_RELS = {"after", "sometime after", "not in", "not during", "not for", "not"}
_FROM_HARD_RELS = {"not until", "not before", "not earlier than", "not sooner than",
                   "no sooner than", "no earlier than"}
_FROM_SOFT_RELS = {"from", "starting", "starting in", "starting from", "starting at",
                   "starting on", "beginning in", "beginning from", "beginning on"}
_LATEST_SFX = ("latest", "earlier", "before", "sooner")
_EARLIEST_SFX = ("earliest", "later", "after", "beyond", "thereafter", "onward", "and", "+")


def _clamp(start: date, today: date, end: date | None) -> date:
    """A period that has begun starts today."""
    if start < today and (end is None or today <= end):
        return today
    return start


def _number(text: str) -> float:
    words = text.lower().split()
    try:
        return float(words[0])
    except (ValueError, IndexError):
        pass
    values = [_NUMBER_WORDS[w] for w in words if w in _NUMBER_WORDS and w not in {"a", "an"}]
    return values[0] if values else 1.0


def _shift(today: date, n: float, unit: str) -> date:
    u = unit.lower()
    if u.startswith("d"):
        return today + timedelta(days=round(n))
    if u.startswith("w"):
        return today + timedelta(days=round(n * 7))
    months = 3.0 if u.startswith("q") else 12.0 if u.startswith("y") else 1.0
    total = n * months
    whole = int(total)
    return _add_months(today, whole) + timedelta(days=round((total - whole) * 30.44))


def _relate(span: Span, ctx: _Ctx, today: date) -> _Found:
    """Apply the relation word and suffix around a match to the period it names."""
    start, end = span
    rel, sfx, pos = ctx.rel, ctx.sfx, ctx.pos
    part = ctx.part or ("end" if ctx.end_suffix else "")  # "before year end" as "... the end"
    if rel in _DEADLINE_RELS or any(w in sfx for w in _LATEST_SFX):
        if ("start" in part or "beginning" in part) and rel in _DEADLINE_RELS:
            return _Found(pos, None, start)
        return _Found(pos, None, end)
    if rel in _BEFORE_RELS:
        if "end" in part or "close" in part:
            return _Found(pos, None, end)
        return _Found(pos, None, start - timedelta(days=1))
    if rel in _AFTER_RELS:
        return _Found(pos, end + timedelta(days=1), None)
    if rel in _FROM_HARD_RELS or any(w in sfx for w in _EARLIEST_SFX):
        return _Found(pos, _clamp(start, today, end), None)
    if rel in _FROM_SOFT_RELS:
        return _Found(pos, _clamp(start, today, end), None, soft=True)
    return _Found(pos, _clamp(start, today, end), end)


def _next_sel(ctx: _Ctx) -> bool:
    return bool(ctx.sel) and ctx.sel.split()[-1] in {"next", "coming", "following", "upcoming"}


def _quarter(m: re.Match[str], ctx: _Ctx, today: date) -> _Found | None:
    n_text = m.group("q_n") or m.group("q_n2")
    ordinal = m.group("q_ord") or ""
    part = ctx.part or ("end" if ctx.end_suffix else "")
    if n_text:
        n = int(n_text)
    elif ordinal:
        n = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4,
             "4th": 4, "last": 4}[ordinal]
    else:  # "this quarter", "next quarter", "end of quarter"
        if not ctx.sel and not part and not ctx.rel:
            return None  # a bare "quarter"
        current = (today.month - 1) // 3 + (1 if _next_sel(ctx) else 0)
        first = date(today.year + current // 4, (current % 4) * 3 + 1, 1)
        span = _part_of(_months_span(first.year, first.month, 3), part, "quarter")
        return _relate(span, ctx, today)

    def make(y: int) -> Span:
        return _months_span(y, (n - 1) * 3 + 1, 3)

    span = _resolve(make, today, year=_year_of(ctx.yr, today), sel=ctx.sel, part=part,
                    kind="quarter")
    return _relate(span, ctx, today)


def _half(m: re.Match[str], ctx: _Ctx, today: date) -> _Found | None:
    n_text = m.group("h_n") or m.group("h_n2")
    ordinal = m.group("h_ord") or ""
    n = int(n_text) if n_text else (1 if ordinal in {"first", "1st", "front"} else 2)

    def make(y: int) -> Span:
        return _months_span(y, 1 if n == 1 else 7, 6)

    span = _resolve(make, today, year=_year_of(ctx.yr, today), sel=ctx.sel, part=ctx.part,
                    kind="half")
    return _relate(span, ctx, today)


def _season(m: re.Match[str], ctx: _Ctx, today: date) -> _Found | None:
    first = {"spring": 3, "summer": 6, "fall": 9, "autumn": 9, "winter": 12}[m.group("season")]

    def make(y: int) -> Span:
        return _months_span(y, first, 3)

    span = _resolve(make, today, year=_year_of(ctx.yr, today), sel=ctx.sel, part=ctx.part,
                    kind="season")
    return _relate(span, ctx, today)


def _month(m: re.Match[str], ctx: _Ctx, today: date) -> _Found | None:
    name = m.group("mon").rstrip(".")
    if name == "may" and not (ctx.rel or ctx.part or ctx.sel or ctx.yr or ctx.whole):
        return None  # "we may buy"
    month = _MONTHS[name[:3]]

    def make(y: int) -> Span:
        return date(y, month, 1), _month_end(y, month)

    span = _resolve(make, today, year=_year_of(ctx.yr, today), sel=ctx.sel, part=ctx.part,
                    kind="month")
    return _relate(span, ctx, today)


def _day(ctx: _Ctx, today: date, year: int | None, month: int, day: int) -> _Found | None:
    try:
        if year is not None:
            when = date(year, month, day)
        else:
            when = date(today.year, month, day)
            if when < today:
                when = date(today.year + 1, month, day)
    except ValueError:
        return None
    return _relate((when, when), ctx, today)


def _iso_date(m: re.Match[str], ctx: _Ctx, today: date) -> _Found | None:
    return _day(ctx, today, int(m.group("iso_y")), int(m.group("iso_m")), int(m.group("iso_d")))


def _num_date(m: re.Match[str], ctx: _Ctx, today: date) -> _Found | None:
    a, b = int(m.group("nd_a")), int(m.group("nd_b"))
    y = m.group("nd_y")
    if y is None and not ctx.rel:
        return None  # "24/7", "3/4 of the team"
    if m.group("nd_sep") == "." or a > 12:
        day, month = a, b
    else:
        month, day = a, b
    year = None if y is None else (2000 + int(y) if len(y) == 2 else int(y))
    return _day(ctx, today, year, month, day)


def _month_day(m: re.Match[str], ctx: _Ctx, today: date) -> _Found | None:
    k = "md" if m.group("md") else "dm"
    y = m.group(f"{k}_year")
    return _day(ctx, today, int(y) if y else None, _MONTHS[m.group(f"{k}_month")[:3]],
                int(m.group(f"{k}_day")))


_DURATION_LOWER = {"not for", "not for another", "not for at least", "not in the next",
                   "not within the next", "after", "not before", "no sooner than", "at least",
                   "more than", "over"}
_DURATION_POINT = {"", "in", "in about", "in around", "in approximately", "in roughly",
                   "in another", "about", "around", "approximately", "approx", "approx.",
                   "roughly", "~", "another"}
_UNIT_DAYS = {"d": 1, "w": 7, "m": 30, "q": 91, "y": 365}


def _duration(m: re.Match[str], t: str, lo: int, today: date) -> tuple[_Found | None, int]:
    """A duration ("in 3 months", "within 6 weeks") and where its words end."""
    prefix = _DURATION_PREFIX.search(t, lo, m.start())
    pre = ""
    pos = m.start()
    if prefix is not None:
        pre = " ".join((prefix.group("pre") or "~").split())
        pos = prefix.start()
    tail = _DURATION_TAIL.match(t, m.end())
    end = tail.end() if tail else m.end()
    n_text = m.group("dur_n")
    n = _number(n_text)
    n2 = _number(m.group("dur_n2")) if m.group("dur_n2") else None
    alternative = (tail.group("or") or "") if tail else ""
    if n2 is None and ("two" in alternative or "three" in alternative):
        n2 = 2.0 if "two" in alternative else 3.0
    unit = m.group("dur_unit")
    if unit in {"m", "y", "d", "w"} and (not n_text[-1:].isdigit() or n > 24):
        return None, m.end()  # "a m", "50m revenue"
    if max(n, n2 or 0) * _UNIT_DAYS[unit[0]] > 3660:
        return None, m.end()  # more than ten years out is not a timeframe
    ago = tail is not None and tail.group("ago") is not None
    sign = -1 if ago else 1  # "2 months ago" is in the past (it was read as in 2 months)
    first = _shift(today, sign * n, unit)
    second = _shift(today, sign * n2, unit) if n2 is not None else first
    if second < first:
        first, second = second, first
    if ago:
        return _Found(pos, first, second, past=True), end  # the score marks it as passed
    if pre in _DURATION_LOWER:
        return _Found(pos, first, None), end
    if pre in _DURATION_POINT:
        return _Found(pos, first, second), end
    return _Found(pos, None, second), end


def _named(m: re.Match[str], ctx: _Ctx, today: date) -> _Found | None:
    name = " ".join(m.group("named").split())
    nxt = _next_sel(ctx)
    part = ctx.part or ("end" if ctx.end_suffix else "")
    if name == "year":
        return _year_word(ctx, today)
    if name in {"eoy", "ye", "fye", "eom", "eoq"}:
        ctx = replace(ctx, part=ctx.part or "end")  # the end of a period: "before EOY"
    if name in {"eoy", "ye", "fye"}:
        return _relate(_part_of(_months_span(today.year, 1, 12), "end", "year"), ctx, today)
    if name == "today":
        return _relate((today, today), ctx, today)
    if name == "tomorrow":
        t = today + timedelta(days=1)
        return _relate((t, t), ctx, today)
    if name in _WEEKDAYS:
        ahead = (_WEEKDAYS.index(name) - today.weekday()) % 7
        if nxt and ahead == 0:
            ahead = 7
        t = today + timedelta(days=ahead)
        return _relate((t, t), ctx, today)
    if name == "week":
        if not ctx.sel and not part and not ctx.rel:
            return None
        monday = today - timedelta(days=today.weekday()) + timedelta(days=7 if nxt else 0)
        span = _part_of((monday, monday + timedelta(days=6)), part, "week")
        return _relate(span, ctx, today)
    if name in {"month", "eom"}:
        if name == "eom":
            part = "end"
        elif not ctx.sel and not part and not ctx.rel:
            return None
        first = _add_months(today.replace(day=1), 1 if nxt else 0)
        span = _part_of((first, _month_end(first.year, first.month)), part, "month")
        return _relate(span, ctx, today)
    if name == "eoq":
        q = (today.month - 1) // 3
        span = _part_of(_months_span(today.year, q * 3 + 1, 3), "end", "quarter")
        return _relate(span, ctx, today)
    # Christmas, the holidays
    first_day, last_day = (25, 25) if name in {"christmas", "xmas"} else (15, 31)
    span = _resolve(lambda y: (date(y, 12, first_day), date(y, 12, last_day)), today,
                    year=None, sel=None, part="", kind="day")
    return _relate(span, ctx, today)


def _year_word(ctx: _Ctx, today: date) -> _Found | None:
    part = ctx.part or ("end" if ctx.end_suffix else "")
    if ctx.sel:
        year = today.year + (1 if _next_sel(ctx) else 0)
        return _relate(_part_of(_months_span(year, 1, 12), part, "year"), ctx, today)
    if part:  # "end of year", "mid-year": the next one not past
        span = _resolve(lambda y: _months_span(y, 1, 12), today, year=None, sel=None,
                        part=part, kind="year")
        return _relate(span, ctx, today)
    if ctx.rel.split()[:1] and ctx.rel.split()[0] in {"within", "during", "by", "until", "till",
                                                      "through"}:
        return _relate(_months_span(today.year, 1, 12), ctx, today)  # "within the year"
    return None


def _after_next(m: re.Match[str], ctx: _Ctx, today: date) -> _Found | None:
    span = _part_of(_months_span(today.year + 2, 1, 12), ctx.part, "year")
    return _relate(span, ctx, today)


def _same_time(m: re.Match[str], ctx: _Ctx, today: date) -> _Found | None:
    """"this time next year": around today's date a year on (it was all of next year)."""
    unit = m.group("same_unit").split()[-1]
    day = _shift(today, 1, unit)
    return _relate((day, day), ctx, today)


def _year_num(m: re.Match[str], ctx: _Ctx, today: date) -> _Found | None:
    if m.group("yn_y"):
        year = int(m.group("yn_y"))
    else:
        fy = m.group("yn_fy")
        year = int(fy) if len(fy) == 4 else 2000 + int(fy)
    part = ctx.part or ("end" if ctx.end_suffix else "")
    return _relate(_part_of(_months_span(year, 1, 12), part, "year"), ctx, today)


_Handler = Callable[[re.Match[str], _Ctx, date], "_Found | None"]
_HANDLERS: dict[str, _Handler] = {
    "iso": _iso_date, "md": _month_day, "dm": _month_day, "nd": _num_date, "q": _quarter,
    "h": _half, "season": _season, "mon": _month, "named": _named, "yn": _year_num,
    "after_next": _after_next, "same_time": _same_time,
}
_TAKES_YEAR = {"q", "h", "season", "mon"}
_TAKES_END = {"q", "named", "yn"}


def _find(t: str, today: date) -> list[_Found]:
    found: list[_Found] = []
    pos = 0
    prev_end = 0
    stripped = t.strip(" .!?")
    while len(found) < _MAX_EXPRESSIONS:
        m = _CORE.search(t, pos)
        if m is None:
            break
        kind = m.lastgroup or ""
        lo = max(prev_end, m.start() - 60)
        result: _Found | None
        end = m.end()
        if kind == "dur":
            result, end = _duration(m, t, lo, today)
        elif kind == "nu":
            result = _Found(m.start(), None, _shift(today, 1, m.group("nu_unit")))
        elif kind in {"asap", "soon"}:
            days = _ASAP_DAYS if kind == "asap" else 90
            result = _Found(m.start(), today, today + timedelta(days=days))
        else:
            yr = None
            if kind in _TAKES_YEAR:
                spec = _YEAR_SPEC.match(t, end)
                if spec is not None:
                    yr, end = spec.group("yr"), spec.end()
            end_suffix = False
            if kind in _TAKES_END:
                es = _END_SUFFIX.match(t, end)
                if es is not None:
                    end_suffix, end = True, es.end()
            sfx = ""
            suffix = _SUFFIX.match(t, end)
            if suffix is not None:
                sfx = " ".join((suffix.group("sfx") or "+").split())
                end = suffix.end()
            prefix = _PREFIX.search(t, lo, m.start())
            rel = part = sel = ""
            start = m.start()
            if prefix is not None:
                rel = " ".join((prefix.group("rel") or "").split())
                if prefix.group("not_buying"):
                    rel = "not"  # "not buying this year": after this year
                elif rel.startswith(("no ", "nothing ", "not buying", "not looking",
                                   "not planning")):
                    rel = "not until"  # "no plans until 2027"
                part = prefix.group("part") or ""
                sel = " ".join((prefix.group("sel") or "").split())
                start = prefix.start()
                if rel in _EVENT_IN:
                    # "before our busy season in October" is before October
                    event = _BEFORE_EVENT.search(t, lo, start)
                    if event is not None:
                        rel, start = " ".join(event.group("rel").split()), event.start()
            ctx = _Ctx(start, rel, part, sel, yr, sfx, end_suffix,
                       whole=stripped == m.group(0).strip(" .!?"))
            try:
                result = _HANDLERS[kind](m, ctx, today)
            except (ValueError, OverflowError):
                result = None
        if result is None:
            pos = m.end()
            continue
        found.append(result)
        pos = prev_end = max(end, m.end())
    return found


def _overdue(t: str) -> list[tuple[int, int]]:
    """Where the clauses are that say it was needed or due in the past, not negated."""
    spans: list[tuple[int, int]] = []
    if not (_LATE.search(t) or _NEEDED_THEN.search(t)):
        return spans
    start = 0
    for brk in [*_CLAUSE_BREAK.finditer(t), None]:
        end = len(t) if brk is None else brk.start()
        clause = t[start:end]
        late = _LATE.search(clause)
        if late is None:
            needed = _NEEDED_THEN.search(clause)
            if needed is not None and _PAST_TIME.search(clause, needed.end()):
                late = needed
        if late is not None and not _NEGATION.search(clause, 0, late.start()):
            spans.append((start, end))
        start = len(t) if brk is None else brk.end()
    return spans


def _combine(found: list[_Found]) -> tuple[date | None, date | None]:
    found.sort(key=lambda f: f.pos)
    spans: list[_Found] = []
    lowers: list[date] = []
    uppers: list[date] = []
    for i, f in enumerate(found):
        if f.earliest is not None and f.latest is not None:
            spans.append(f)
        elif f.earliest is not None:
            if f.soft and i + 1 < len(found):
                spans.append(_Found(f.pos, f.earliest, f.earliest))
            else:
                lowers.append(f.earliest)
        elif f.latest is not None:
            uppers.append(f.latest)
    span_earliest = min((s.earliest for s in spans if s.earliest), default=None)
    span_latest = max((s.latest for s in spans if s.latest), default=None)
    earliest = max([*lowers, *([span_earliest] if span_earliest else [])], default=None)
    latest = max(uppers) if uppers else span_latest
    if earliest is not None and latest is not None and earliest > latest:
        every_earliest = [f.earliest for f in found if f.earliest is not None]
        every_latest = [f.latest for f in found if f.latest is not None]
        earliest = min(every_earliest) if every_earliest else None
        latest = max(every_latest) if every_latest else None
        if latest is not None and earliest is not None and earliest > latest:
            latest = None
    return earliest, latest


@never_raise
def parse_timeframe(text: str, today: date) -> Parsed:
    """Read a buying timeframe relative to `today`. See the module docstring for the rules."""
    if isinstance(today, datetime):
        today = today.date()
    if not isinstance(today, date):
        return unknown()
    t = lower(clean(text))
    if not t:
        return unknown()
    found = _find(t, today)
    spans = _overdue(t) if _OVERDUE_HINT.search(t) else []  # (a cheap look first)
    if spans:
        # "we needed it 2 months ago", "it was due in March": late, so wanted now; the dates
        # in those clauses are when it was needed, not when it will be bought
        found = [f for f in found if not any(a <= f.pos < b for a, b in spans)]
        found += [_Found(a, today, today + timedelta(days=_ASAP_DAYS), overdue=True)
                  for a, _b in spans]
    if not found:
        if _NONE.search(t):
            return {"unknown": True, "none": True}
        if UNSURE.search(t) or _OPEN.search(t):
            return unsure()
        return unknown()
    # "a year ago, now Q3" is Q3, as is "we needed it a month ago, realistically Q3"
    found = ([f for f in found if not (f.past or f.overdue)]
             or [f for f in found if f.overdue] or found)
    earliest, latest = _combine(found)
    if earliest is None and latest is None:
        return unknown()
    return {
        "earliest": earliest.isoformat() if earliest else None,
        "latest": latest.isoformat() if latest else None,
    }
