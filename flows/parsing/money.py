"""Budgets: "50k", "$1.2M", "€40.000", "between 20 and 30k", "2k/mo", "no budget".

Result shapes:
- `{"amount": 50000, "currency": "USD", "period": "year"}`
- `{"min": 20000, "max": 30000, "currency": None, "period": "month"}` for a range; also for a
  budget with a contingency on top, from the budget to the budget with it: "50k plus 10k
  contingency", "50k with a 10k buffer", "50k plus another 10k if needed" are 50,000-60,000,
  "50k + 10% contingency" 50,000-55,000, "up to 50k plus 10k contingency" up to 60,000 ("50k
  including a 10k buffer" is 50k)
- `"bound": "at_most"` / `"at_least"` is added for "up to 50k" / "50k+" (amount is the bound);
  a negated "over" is at most: "we can't go over 30k", "not over 10k", "cannot exceed 40k"
- `{"amount": 100000, "currency": None, "period": "multi_year", "years": 3}` for a total over
  several years ("100k over 3 years", "$150,000 for a 3-year contract", "300k total over three
  years", "for a couple of years"): the amount as said; scoring and the read-back divide it by
  `years`; a term of more than a year that is not whole years has `months` instead ("80k over
  18 months", "over a year and a half": `"months": 18`); several years without a count ("300k
  multi-year", "300k multi year deal", "over several years", "over the next few years") has
  neither: the term is not made up, so there is no yearly share (the read-back says "over
  several years (term not stated)" and scoring does not score it)
- `{"amount": 50000, "currency": None, "period": "once", "plus": {"amount": 2000, "period":
  "month"}}` for a one-off and a recurring amount said together ("50k now plus 2k a month",
  "2k a month plus 50k setup", "$50k upfront + $2k/month"): the first as said, the second under
  `plus` (`amount` or `min`/`max`, and its `period`); scoring and the read-back add the first
  year of both (74,000). Each figure takes the period named on its side of the "plus" (the 50k
  was read as 50k a month; so was "we could do 50k and spend 2k a month after", a verb after the
  join); one without a period beside a recurring one is a one-off. Two
  amounts of one period are added up: "50k plus 10k for training" is 60,000, "$40k for licences
  and $10k for services" USD 50,000 (an "and" only between items named with "for"/"on"), "50k
  plus maybe 10k for training" 50,000-60,000 (these were "at least 50k" and 40k). Either part
  may be a price per seat, multiplied by the seats named ("$20/user/month for 100 users plus
  $5k setup" is 2,000 a month plus 5,000 one-off; the part keeps its `per_unit`), or without a
  count only the price under `per_unit`: then nothing is added up and there is no total
  ("$20/user/month plus $500/month for support" was USD 520 a month)
- `"per_unit": {"amount": 20, "count": 100, "unit": "seats"}` is added for a price per seat
  and the seats it is for: "$20 per seat per month, 100 seats" is `{"amount": 2000, "currency":
  "USD", "period": "month", "per_unit": ...}` (the price times the count; `min`/`max` for a
  price range), as are "2k per user per year for 20 users" (40,000 a year) and "50 users at
  $30/month each" (these were the price alone: 2k a year, USD 20 and USD 30 a month). The
  price is a figure followed by "per user", "/seat", "a head", "each", or the shorthand
  "pupm" / "pepm" (per user / employee per month, also a period) or "pp" (per person); the
  count a number right before a seat word (users, seats, licences, reps, agents,
  employees...), or a range of them: "$20 per user, maybe 50-60 users" is 1,000-1,200 with
  `"min_count": 50, "max_count": 60` instead of `count` (it was 60 users alone). A total for a
  count ("50k for 20 users") and a count beside a budget ("50 users, budget 40k") are not
  multiplied
- `{"currency": "GBP", "period": "month", "per_unit": {"amount": 500, "unit": "seat"}}` for a
  price per seat without a count of seats ("£500 a month per seat"; a count of anything else,
  "$20 per user, 3 locations", or different counts, "20 seats now, 50 later", are none): no
  `amount`, as no total was said (these were the price as the whole budget: GBP 500 a month);
  `unit` is the word the price is per ("seat", "user", "licence", "head"; "each" for "$20
  each"); the read-back says "GBP 500 per seat per month (number of seats not stated)" and
  scoring does not score it
- `{"amount": 0, "currency": None, "period": None}` for "no budget", "none", "zero"
- `{"unknown": True, "unsure": True}` for an explicit non-answer: "not sure", "tbd",
  "depends", "confidential"
- `{"unknown": True}` for anything else without an amount.

`currency` is ISO 4217, None when not stated ("$" is USD; "dollars" is USD unless qualified,
e.g. "Canadian dollars"). `period` is once/month/quarter/half_year/year/multi_year or None
when not stated. A rate named beside a term wins over it: "100k a year for 3 years" and "3
year budget of 100k per year" are per year. A term is read only right beside the figure ("50k,
we've been looking for 3 years" is not 50k over 3 years), in whole years (or 12, 24, 36...
months; one year is `year`), in months past a year ("over 18 months") or without a count
("multi-year"). Terms under a year ("over 6 months") are not read as a term.

Numbers: `price-parser` reads each figure and guesses its separators ("40.000" and "40,000"
are forty thousand, "1.2" and "1,5" are decimals). With a multiplier a "." is always a decimal
point ("1.250M" is 1.25 million). Multipliers: k/thousand/grand, m/mm/mn/mil/million,
b/bn/billion, hundred, lakh, crore. When an answer holds several figures, a total wins over a
price per seat ("budget 50k, happy to pay $30 per user" is 50k: it was USD 30), then the one
with a currency or multiplier over bare numbers; numbers that count something ("50 users",
"6 months", "20%") or look like a year ("for 2026") are ignored. What is spent today, said
beside the budget, is left out with its clause: "we have 50k and spend 2k a month", "50k
budget, we currently spend 2k a month on tools" and "we spend 2k a month, budget 50k" are 50k
(no period); a spend said alone ("we currently pay 2k a month") is read as the budget. A
negated figure is left out with its clause: "not 50k, maybe 20k" is 20k and "it's not 50k, more
like 30k" 30k (both were 50k); a negated figure alone ("not 50k") is not understood, so the bot
asks again ("not quite 50k", "not even 10k" and "not over 10k" are not negations of the figure).
So is another party's figure beside the budget: "we were quoted 80k by a competitor, our budget
is 60k" is 60k (it was 80k), "the other vendor wants 100k, we have 70k" 70k; a quote said alone
("a competitor quoted us 80k") is read as the budget. So is what was spent before: "last year we
paid 80k, this year we have 100k" is 100k a year (it was 80k), "we spent 80k last year and have
100k now" 100k; said alone ("we paid 80k last year") it is read as the budget. A rate said
for a figure left out as spent before, or negated, carries over to a budget that names none:
"previously 50k a year, now 70k" is 70k a year, "we used to pay 4k a month, budget now 6k" 6k a
month, "not 50k a month, more like 20k" 20k a month (these had no period); a time is no rate
("last year", "last fiscal year" carry nothing), and another party's figure carries nothing.
Beside no budget or a "not sure" now, what was spent before is left out too: "previously 50k a
year, now no budget" is none and "we paid 80k last year, not sure about this year" unsure (they
were 50k and 80k a year).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from price_parser.parser import parse_number

from ._common import (
    CLAUSES,
    UNSURE,
    Parsed,
    clean,
    lower,
    never_raise,
    number_value,
    unknown,
    unsure,
)
from .currency import currency_after, currency_anywhere, currency_before

_MULTIPLIERS: dict[str, Decimal] = {
    "k": Decimal(1000), "thousand": Decimal(1000), "grand": Decimal(1000),
    "m": Decimal(10**6), "mm": Decimal(10**6), "mn": Decimal(10**6), "mil": Decimal(10**6),
    "mill": Decimal(10**6), "mio": Decimal(10**6), "million": Decimal(10**6),
    "millions": Decimal(10**6),
    "b": Decimal(10**9), "bn": Decimal(10**9), "billion": Decimal(10**9),
    "billions": Decimal(10**9),
    "hundred": Decimal(100), "lakh": Decimal(10**5), "lakhs": Decimal(10**5),
    "crore": Decimal(10**7), "crores": Decimal(10**7),
}
_MAX_AMOUNT = Decimal(10**15)
_TOTAL_KEYS = frozenset({"amount", "min", "max"})

# What a yearly figure is worth per period (a one-off, or no period, counts once a year).
PER_YEAR: dict[str | None, int] = {"year": 1, "month": 12, "quarter": 4, "half_year": 2,
                                   "once": 1, None: 1}
_RECURRING = frozenset({"year", "month", "quarter", "half_year"})

_NUMBER = re.compile(
    r"(?<![0-9.,'])"
    r"(?P<num>[0-9]{1,3}(?:[,.'][0-9]{3})+(?:[.,][0-9]+)?(?![0-9])"
    r"|[0-9]{1,3}(?: [0-9]{3})+(?:[.,][0-9]+)?(?![0-9])"
    r"|[0-9]+(?:[.,][0-9]+)?"
    r"|[.,][0-9]+)"
    r"(?:\s?(?P<mult>hundred(?:\s+thousand|\s+grand|\s?k)?|thousand|grand|millions?|mill?|mio"
    r"|mm|mn|m|billions?|bn|b|k|lakhs?|crores?)(?![A-Za-z0-9]))?"
)

# Figures that count something other than money, when written right after the number, or
# after a second one ("50-60 users": both are a count).
_COUNTED = re.compile(
    r"(?:\s*(?:-|–|to)\s*[0-9]+(?:[.,][0-9]+)?)?"
    r"(?:\s|-)?(?:%|percent|per\s?cent|(?:users?|seats?|licen[cs]es?|people|persons?|employees?|"
    r"staff|reps?|agents?|heads?|hours?|hrs?|days?|weeks?|wks?|months?|mos?|years?|yrs?|"
    r"quarters?|x|times|locations?|sites?|offices?|stores?|countries|customers?|clients?|"
    r"accounts?|leads?|deals?|calls?|emails?|st|nd|rd|th|am|pm|seater)(?![a-z]))"
)
_TIMES = re.compile(r"(?:\bx|×|\*|\btimes)\s*$")
_YEAR_CONTEXT = re.compile(r"(?:\b(?:in|for|by|since|until|till|of|from|to|fy|q[1-4]|h[12])\s*|"
                           r"[-/])$")
_WORD_NUMBER_HINT = re.compile(r"hundred|thousand|grand|mil|billion|\bk\b")

_WORD_NUMBERS: dict[str, str] = {
    "a": "1", "an": "1", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11",
    "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15", "sixteen": "16",
    "seventeen": "17", "eighteen": "18", "nineteen": "19", "twenty": "20", "thirty": "30",
    "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80",
    "ninety": "90", "couple": "2", "few": "3", "several": "3", "half": "0.5",
    "quarter": "0.25",
}
_UNITS = ("one|two|three|four|five|six|seven|eight|nine")
_WORD_NUMBER = re.compile(
    r"\b(?:a\s+)?(?P<word>half|quarter|couple|few|several|"
    r"(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[- ](?:" + _UNITS + r"))?|"
    r"a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
    r"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen)"
    r"(?:\s+of)?(?:\s+a)?\s+(?=(?:hundred|thousand|grand|million|mil|billion|k)\b)"
)

_CONNECTOR = re.compile(r"\s*(?:-+|–|—|~|to|and|or|-to-)\s*")
_BETWEEN = re.compile(r"\b(?:between|from|somewhere\s+between)\s*$")

_AT_MOST_BEFORE = re.compile(
    r"(?:\bup\s*to|\bmax(?:imum)?\.?|\bat\s+most|\bno\s+more\s+than|\bnot\s+more\s+than|"
    r"\bless\s+than|\bunder|\bbelow|\bcapped\s+at|\bceiling\s+of|\bwithin|\bbeneath|<=?|"
    # "we can't go over 30k", "not over 10k", "won't spend more than 50k", "cannot exceed"
    r"\b(?:not|can'?t|cannot|won'?t|couldn'?t|shouldn'?t|mustn'?t|never)\s+(?:be\s+|go\s+|spend\s+|"
    r"pay\s+)?(?:over|above|beyond|more\s+than|exceed(?:ing)?|go\s+beyond))"
    r"(?:\s+(?:of|about|around|roughly|approx(?:imately)?\.?|maybe))?\s*$"
)
_AT_LEAST_BEFORE = re.compile(
    r"(?:\bat\s+least|\bmin(?:imum)?\.?|\bmore\s+than|\bover|\babove|\bno\s+less\s+than|"
    r"\bnot\s+less\s+than|\bstarting\s+(?:at|from)|\bupwards\s+of|\bin\s+excess\s+of|>=?)"
    r"(?:\s+(?:of|about|around|roughly))?\s*$"
)
_AT_LEAST_AFTER = re.compile(
    r"\s*(?:\+|\bor\s+more\b|\band\s+up\b|\bplus\b|\bor\s+above\b|\bminimum\b|\bat\s+least\b|"
    r"\band\s+above\b|\bor\s+higher\b)"
)
_AT_MOST_AFTER = re.compile(
    r"\s*(?:\bmax(?:imum)?\b|\btops\b|\bat\s+most\b|\bor\s+less\b|\bat\s+the\s+most\b|"
    r"\bor\s+lower\b|\bor\s+under\b)"
)

# Periods, read near the figure. `unit` words after "per/a/each" (single letters only after
# "/": "2k/m"; "fiscal" or "calendar" may stand between: "per fiscal quarter"), then words
# that name a period on their own, then "every 3 months" (a quarter) or "every 12 months".
# Twice a year ("semi-annually", "every 6 months") is looked for before "annually" in it.
_PERIOD = re.compile(
    r"\b(?P<half>(?:semi|bi)[- ]?annual(?:ly)?|half[- ]?yearly|twice\s+(?:a|per|each|every)\s+"
    r"year|twice\s+yearly|(?:per|every|each|a)\s+(?:6|six)\s+months|"
    r"(?:per|every|each|a)\s+half[- ]?year)\b|"
    r"(?:\b(?:per|a|an|each|every|first|1st)\s+(?:(?:fiscal|calendar|financial)\s+)?"
    r"|(?P<slash>/)\s*)"
    r"(?P<unit>quarter|qtr|q|month|mo|mth|mnth|m|year|yr|y|annum)\b(?!\s+and\s+a\s+half)"
    r"|\b(?:per|every|each)\s+(?P<months>3|three|12|twelve)\s+months\b"
    r"|\b(?P<word>quarterly|monthly|annual|annually|yearly|pcm|mrr|arr|acv|fiscal|p/?m|pa|once|"
    r"pupm|pepm|pupy|pepy|"
    r"total|overall|up[- ]?front|one[- ]?(?:time|off|shot)|lump[- ]?sum|in\s+total|flat\s+fee|"
    r"single\s+payment|year[- ]long)\b"
    r"|(?P<pa>\bp\.a\.?)"
    r"|\b(?:this|next|the|that|for\s+the)\s+(?P<this>quarter|year)\b"
    r"|\b(?P<fy>fy\s?'?[0-9]{0,4}|(?:for|in)\s+(?:fy\s?)?(?:19|20)[0-9]{2}|"
    r"(?:19|20)[0-9]{2}\s+budget)\b"
    r"|\b(?P<project>for\s+the\s+(?:whole\s+|entire\s+)?project|project\s+budget)\b"
    r"|\b(?P<monthly>month(?:ly)?\s+(?:budget|spend))\b"
)
_PERIOD_UNITS = {"quarter": "quarter", "qtr": "quarter", "q": "quarter", "month": "month",
                 "mo": "month", "mth": "month", "mnth": "month", "m": "month", "year": "year",
                 "yr": "year", "y": "year", "annum": "year"}
_PERIOD_WORDS = {
    "quarterly": "quarter", "monthly": "month", "pcm": "month", "mrr": "month", "pm": "month",
    "p/m": "month", "annual": "year", "annually": "year", "yearly": "year", "arr": "year",
    "acv": "year", "fiscal": "year", "pa": "year", "year-long": "year", "year long": "year",
    "yearlong": "year", "pupm": "month", "pepm": "month", "pupy": "year", "pepy": "year",
}
_PERIOD_WINDOW = 80
_RATE_KINDS = frozenset({"half", "unit", "months", "word", "pa", "monthly"})

# A term of several years, right beside the figure: "over 3 years", "for the next five
# years", "across 36 months", "for a 3-year contract", "a 3-year deal worth 90k", "3yr deal,
# 100k", "100k/3 years", "for a couple of years"; or of more than a year in months: "over 18
# months", "over a year and a half", "1.5 years" (these had no period: a yearly amount).
_TERM_COUNT = (r"(?P<{0}>[0-9]{{1,3}}(?:\.5)?|one|two|three|four|five|six|seven|eight|nine|ten|"
               r"twelve|twenty-four|thirty-six|forty-eight|sixty|couple(?:\s+of)?|a)"
               r"(?P<{0}h>\s+and\s+a\s+half)?")
_TERM_UNIT = r"\s*-?\s*(?P<{0}>years?|yrs?|months?|mos?)\b(?P<{0}h>\s+and\s+a\s+half)?"
_TERM = re.compile(
    r"(?:\b(?:over|across|for|covering|spanning|spread\s+(?:over|across)|per|every)\s+"
    r"(?:(?:the|a)\s+)?(?:(?:next|first|coming|following)\s+)?"
    r"(?:(?:course|period|term|span)\s+of\s+)?|/\s*)"
    + _TERM_COUNT.format("n") + _TERM_UNIT.format("unit")
    + r"|\b" + _TERM_COUNT.format("n2") + _TERM_UNIT.format("unit2")
    + r"\s+(?:contract|deal|term|agreement|commitment|period|plan|subscription|licen[cs]e|"
    r"budget|project|program|programme|engagement|renewal)\b"
    # several years, not counted: "300k multi-year", "over several years"
    r"|(?P<unstated>\bmulti[- ]?(?:year|yr)s?\b|\b(?:over|across|for|covering|spanning|"
    r"spread\s+(?:over|across))\s+(?:the\s+)?(?:(?:next|coming)\s+)?(?:multiple|several|"
    r"a\s+few|few|many|a\s+number\s+of)\s+years\b)"
)
_UNSTATED_TERM = 0  # what `_term` gives for several years without a count ("multi-year")
_TERM_WORDS = {"a": 1, "couple": 2, "couple of": 2, "one": 1, "two": 2, "three": 3, "four": 4,
               "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "twelve": 12,
               "twenty-four": 24, "thirty-six": 36, "forty-eight": 48, "sixty": 60}
# What may stand between a figure and the term after it ("100k in total over 3 years",
# "150k, spread over 3 years") or the term before it ("a 3-year deal worth 90k", "3yr deal,
# 100k", "for the first 3 years it's 100k"): a few words, no new sentence; before the figure
# no comma among the words ("for 3 years, budget is 50k" is two statements).
_TERM_GAP_AFTER = re.compile(r"[\s,(]*(?:[a-z'$€£]+[\s,(]+){0,2}")
_TERM_GAP_BEFORE = re.compile(r"(?:\s+[a-z']+){0,3}\s*(?:[,:]\s*)?|\s*[,:]\s*")
_TERM_REACH = 40

# Two amounts said together, one one-off and one recurring: "50k now plus 2k a month", "2k/mo
# + 50k setup", "50k for implementation and then about 2k per month". Between them a few words
# of the first ("now", "upfront", "a month", "for 20 users"), the join, and a few lead-in words.
_PLUS_JOIN = re.compile(
    r"[\s,]*(?:[a-z0-9/'.-]+[\s,]+){0,4}?"
    r"(?P<join>\+|\bplus\b|\band(?:\s+then)?\b|\bthen\b|\bon\s+top\s+of\s+(?:that|this)\b)"
    r"[\s,]*(?:(?:about|around|roughly|approx(?:imately)?|another|an?|extra|additional|further|"
    r"maybe|then|(?:(?:we|i)(?:'d|'ll)?\s+)?(?:(?:can|could|would|will)\s+)?(?:spend|pay|put\s+in)|"
    r"spending|paying)\s+)*"
)

# What an amount is for, right after it: "40k for licences", "10k on training".
_ITEM_AFTER = re.compile(r"\s+(?:for|on|in)\s+(?!(?:the\s+)?(?:year|month|quarter|total)\b)"
                         r"[a-z]")
_OPTIONAL = re.compile(r"\b(?:maybe|possibly|perhaps|potentially)\b")

# A contingency on top of the budget: "50k plus 10k contingency", "50k + a 10k buffer", "50k
# plus a contingency of 10k", "50k plus another 10k if needed", "50k plus 10% contingency". The
# budget is the range from the amount to the amount with the contingency (it was "at least
# 50k", the "plus" read as "50k+"). "50k including a 10k buffer" is 50k.
_CONTINGENCY_WORD = r"(?:contingency|buffer|reserve|headroom|cushion|(?:safety\s+)?margin)"
_CONTINGENCY_JOIN = re.compile(
    r"[\s,]*(?:[a-z0-9/'.-]+[\s,]+){0,3}?(?P<join>\+|\bplus\b|\band\b|\bwith\b)[\s,]*"
    r"(?:(?:an?|another|extra|additional|maybe|about|around|roughly)\s+)*"
    r"(?P<before>" + _CONTINGENCY_WORD + r"\s+(?:of\s+)?)?"
)
_CONTINGENCY_AFTER = re.compile(
    r"\s*(?:(?:in|as|for)\s+(?:an?\s+)?)?(?:extra\s+|additional\s+|more\s+)?"
    + _CONTINGENCY_WORD + r"\b|\s*(?:more\s+|extra\s+)?if\s+(?:needed|necessary|required)\b"
)
_CONTINGENCY_PERCENT = re.compile(
    r"(?P<pct>[0-9]{1,2}(?:\.[0-9])?)\s?(?:%|percent|per\s?cent)(?=" + _CONTINGENCY_AFTER.pattern
    + r")"
)


# What is spent today, beside the budget: "we have 50k and spend 2k a month", "50k budget, we
# currently spend 2k a month on tools", "our current spend is 2k a month", "50k, spending 2k a
# month now". Only with a subject, an "and", at a clause's start or after "currently": "we can
# spend 50k", "willing to pay 50k" and "60k to spend" are budgets; so is an "and spend" after a
# "can" or "will" ("we could do 50k and spend 2k a month").
_CURRENT_SPEND = re.compile(
    r"(?:\b(?:(?P<bare>and|but)|(?:we|i|they)(?:'re|\s+are|'m|\s+am)?)\s+"
    r"(?:(?:currently|already|now|presently|still)\s+)?|(?:^|(?<=[,;])\s*)(?P<clause>)"
    r"|\b(?:currently|already|presently)\s+)(?:spend(?:ing)?|pay(?:ing)?)\b"
    r"|\bcurrent(?:ly)?\s+(?:spend(?:ing)?|costs?|bill)\b"
)
_NOT_YET = re.compile(r"\b(?:can|could|would|will|should|might|may|willing|able|happy|ready|"
                      r"want|wants|plan|planning|going|intend)\b|'d\b|'ll\b")
# Between the verb and the figure: a few words, in the same clause ("we spend about 2k", "we
# pay our vendor 2k", "current spend is around 2k").
_SPEND_GAP = re.compile(r"[\s~]*(?:[a-z']+[\s~]+){0,4}?")


# A price per seat and the seats it is for: "2k per user per year for 20 users", "$20 per seat
# per month, 100 seats", "50 users at $30/month each". The price is the figure followed (past a
# period) by "per user", "/seat", "a head", "each"; the count a number right before a seat word.
# A count of anything else ("$20 per user, 3 locations") and a total for a count ("50k for 20
# users") are not multiplied; nor is a price when the answer names different counts.
_SEAT = (r"(?:users?|seats?|licen[cs]es?|heads?|persons?|people|employees?|agents?|reps?|"
         r"members?|logins?|named\s+users?|editors?|admins?|learners?|students?)")
_PER_SEAT_AFTER = re.compile(
    r"(?:\s*(?:(?:per|a|an|each|every)\s+|/\s*)(?:month|mo|mth|year|yr|annum|quarter|m|y)\b)?"
    r"\s*(?:(?:per|a|an|each|every)\s+|/\s*)(?P<unit>user|seat|licen[cs]e|head|person|agent|rep|"
    r"employee|member|login|editor|admin|learner|student)s?\b"
    r"|(?:\s*(?:(?:per|a|an|each|every)\s+|/\s*)(?:month|mo|mth|year|yr|annum|quarter|m|y)\b)?"
    r"\s*(?P<each>each|apiece)\b(?!\s+(?:month|year|yr|quarter|week|day|time|of)\b)"
    # shorthand: "$20 pupm" (per user per month), "$8 pepm" (per employee), "£40pp" (per person)
    r"|\s*(?P<short>pupm|pupy|pepm|pepy|pp)\b"
)
_SHORT_PER = {"pupm": "user", "pupy": "user", "pepm": "employee", "pepy": "employee",
              "pp": "person"}
_COUNT = r"[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,6}"
_SEAT_COUNT = re.compile(  # a range too: "50-60 users", "50 to 60 users"
    r"(?<![0-9.,$€£])\b(?:(?P<lo>" + _COUNT + r")\s*(?:-|–|to)\s*)?(?P<n>" + _COUNT + r")\s*"
    r"(?:(?:named|concurrent|active|paid|licensed|sales|support|full[- ]time|internal)\s+)?"
    r"(?P<unit>" + _SEAT + r")\b"
)


# Figures said not to be the budget, each with its clause: one negated ("not 50k, maybe 20k",
# "it's not 50k, more like 30k"; "not quite 50k", "not even 10k" and "not over 10k" are not
# negations of the figure). The budget is what is left; a negated figure alone is not a
# budget (not understood, so the bot asks again).
_NEGATED = re.compile(r"\b(?:not|isn'?t|wasn'?t|never)\s+(?:(?:about|around|roughly)\s+)?$")
# ... one another party asked or quoted ("we were quoted 80k by a competitor, our budget is
# 60k", "the other vendor wants 100k, we have 70k"): left out only when a figure is left.
_OTHER_PARTY = re.compile(
    r"\bquot(?:e|es|ed|ing)\b|\b(?:competitors?|rivals?)\b|"
    r"\b(?:vendor|supplier|provider|agency|consultancy|they)(?:'s)?\s+(?:charges?|charged|wants?|"
    r"wanted|asks?|asked|offered|priced|pitched|(?:is|was|are|were)\s+(?:asking|charging|offering))"
    r"\b|\b(?:their|other\s+(?:vendors?|suppliers?|providers?|tools?)'?s?)\s+(?:price|pricing|"
    r"offer|proposal|quote|bid)\b"
)
# ... one spent or budgeted before ("last year we paid 80k, this year we have 100k", "we spent
# 80k last year and have 100k now", "previously 50k a year, now 70k"): left out only when a
# figure is left.
_PAST = re.compile(
    r"\b(?:last|previous|prior|past)\s+(?:year|years|quarter|month|fy|fiscal\s+year|contract|"
    r"renewal|budget|time)\b|\b(?:last|previous|prior)\s+year'?s\b|\bused\s+to\b|\bpreviously\b|"
    r"\b(?:formerly|originally|historically|in\s+the\s+past)\b|\bbefore\s+(?:it|that)\s+was\b|"
    r"\b(?:it|that)\s+was\b[^,;.]*\bbefore\b|"
    r"\b(?:we|i|they)(?:'ve|\s+have|\s+had)?\s+(?:already\s+)?(?:paid|spent)\b|"
    r"\b(?:was|were)\s+(?:paying|spending)\b"
)
# Where the answer splits into clauses for these: punctuation not inside a number ("40,000",
# "1.2M"), a spaced dash, "and", "but".
_MONEY_CLAUSES = re.compile(r"\s*(?:[;!?()]+|[,.:]+(?![0-9])|\s[-\u2013\u2014]+\s*|\band\b|"
                            r"\bbut\b)\s*")


_ZERO_WHOLE = re.compile(
    r"(?:no|none|zero|nil|nada|nothing|null|no\s+budget|zilch|nope)"
    r"[\s.!]*"
)
_ZERO_PHRASE = re.compile(
    r"\b(?:no|zero|without\s+(?:a|any))\s+(?:real\s+|allocated\s+|dedicated\s+|approved\s+|"
    r"current\s+|actual\s+|committed\s+|extra\s+|spare\s+)?(?:budget|money|funds?|funding|spend)\b|"
    r"\b(?:don'?t|do\s+not|doesn'?t|does\s+not|didn'?t|haven'?t|have\s+not|hasn'?t|has\s+not)"
    r"\s+(?:have|got|get)?\s*(?:a|any)\s+(?:real\s+|allocated\s+|dedicated\s+|approved\s+)?"
    r"(?:budget|money|funds?|funding)\b|"
    r"\bnot\s+(?:yet\s+)?budgeted\b|\bnothing\s+(?:allocated|budgeted|set\s+aside|earmarked)\b|"
    r"\bbudget\s+(?:is|of)\s+(?:zero|nil|nothing)\b|\bno\s+spend\b|\bunfunded\b|"
    r"\bhaven'?t\s+(?:got\s+)?(?:budgeted|allocated)\b"
)


@dataclass(slots=True)
class _Figure:
    value: Decimal
    has_mult: bool
    multiplier: Decimal
    currency: str | None
    start: int  # where the figure begins, currency symbol included
    end: int  # where it ends, currency included
    num_start: int
    num_end: int
    score: int


def _words_to_digits(text: str) -> str:
    if not _WORD_NUMBER.search(text):
        return text

    def repl(m: re.Match[str]) -> str:
        word = m.group("word").lower()
        if "-" in word or " " in word:
            tens, units = re.split(r"[- ]", word)
            return f"{int(_WORD_NUMBERS[tens]) + int(_WORD_NUMBERS[units])} "
        return f"{_WORD_NUMBERS[word]} "

    return _WORD_NUMBER.sub(repl, text)


#: Longer figures (digits and separators) are past `_MAX_AMOUNT` anyway; price_parser's reading
#: takes time quadratic in the length (~60 ms for 2,000 digits).
_MAX_FIGURE_CHARS = 32


def _read_number(num: str, has_mult: bool) -> Decimal | None:
    num = num.replace("'", "").replace(" ", "")
    if len(num) > _MAX_FIGURE_CHARS:
        return None
    separator: str | None = None
    if has_mult and num.count(".") == 1 and "," not in num:
        separator = "."
    return parse_number(num, decimal_separator=separator)


def _figures(text: str, low: str) -> list[_Figure]:
    figures: list[_Figure] = []
    for m in _NUMBER.finditer(low):
        if len(figures) >= 20:
            break
        num_start, num_end = m.span("num")
        end = m.end()
        mult_text = m.group("mult")
        before = text[num_start - 1] if num_start else " "
        currency, start = currency_before(text, num_start)
        if before.isalpha() and currency is None:
            continue  # Q3, FY2026, H2, x2...
        after_currency, after_end = currency_after(text, end)
        currency = currency or after_currency
        if after_currency is not None:
            end = after_end
        if mult_text is None and currency is None and (
                _COUNTED.match(low, m.end()) or _TIMES.search(low, max(0, num_start - 8),
                                                              num_start)):
            continue  # "50 users", "6 months"; "x 100" after a price
        multiplier = Decimal(1)
        if mult_text is not None:
            key = " ".join(mult_text.split())
            if key.startswith("hundred") and key != "hundred":
                multiplier = Decimal(10**5)
            else:
                multiplier = _MULTIPLIERS[key]
        value = _read_number(m.group("num"), mult_text is not None)
        if value is None:
            continue
        value *= multiplier
        if value >= _MAX_AMOUNT:
            continue
        score = (4 if currency else 0) + (2 if mult_text else 0)
        raw = m.group("num")
        if (mult_text is None and currency is None and len(raw) == 4 and raw.isdigit()
                and 1950 <= int(raw) <= 2100):
            if _YEAR_CONTEXT.search(low, max(0, num_start - 12), num_start):
                continue
            score -= 2
        figures.append(_Figure(value, mult_text is not None, multiplier, currency, start, end,
                               num_start, num_end, score))
    return figures


def _is_range(text: str, first: _Figure, second: _Figure) -> bool:
    """Whether two figures in a row form a range ("20-30k", "between 20 and 30k")."""
    between = text[first.end:second.start]
    if _CONNECTOR.fullmatch(between) is None:
        return False
    return between.strip().lower() != "and" or _BETWEEN.search(text, 0, first.start) is not None


def _range_with(text: str, figures: list[_Figure], i: int) -> tuple[_Figure, _Figure] | None:
    """The figure pair forming a range around figure `i`, if any."""
    for a, b in ((i - 1, i), (i, i + 1)):
        if a < 0 or b >= len(figures):
            continue
        if _is_range(text, figures[a], figures[b]):
            return figures[a], figures[b]
    return None


def _range_values(first: _Figure, second: _Figure) -> tuple[Decimal, Decimal]:
    low, high = first.value, second.value
    if not first.has_mult and second.has_mult:
        # "20-30k": the multiplier of the second applies to the first when that puts both
        # in the same range of magnitude; "800-1.2M" means 800k.
        for mult in (second.multiplier, second.multiplier / 1000):
            if mult > 1 and high / 100 <= low * mult <= high * 10:
                low *= mult
                break
    elif (first.has_mult and not second.has_mult and high < low
          and high * first.multiplier >= low):
        high *= first.multiplier
    if low > high:
        low, high = high, low
    return low, high


def _period_of(m: re.Match[str]) -> str | None:
    kind = m.lastgroup
    if kind == "unit":
        unit = m.group("unit")
        if len(unit) == 1 and not m.group("slash"):
            return None
        if m.group(0).startswith(("first", "1st")) and unit not in {"year", "yr"}:
            return None
        return _PERIOD_UNITS[unit]
    if kind == "word":
        word = " ".join(m.group("word").split())
        return _PERIOD_WORDS.get(word, "once")
    if kind == "this":
        return m.group("this")
    if kind in {"pa", "fy"}:
        return "year"
    if kind == "project":
        return "once"
    if kind == "monthly":
        return "month"
    if kind == "half":
        return "half_year"
    if kind == "months":
        return "year" if m.group("months") in {"12", "twelve"} else "quarter"
    return None


def _period(low: str, figure_start: int, figure_end: int, lo: int = 0, hi: int | None = None
            ) -> str | None:
    """The period named nearest the figure (one after it preferred), between `lo` and `hi`."""
    best: tuple[int, str] | None = None
    lo = max(lo, figure_start - _PERIOD_WINDOW)
    hi = min(len(low) if hi is None else hi, figure_end + _PERIOD_WINDOW)
    for m in _PERIOD.finditer(low, lo, hi):
        period = _period_of(m)
        if period is None:
            continue
        if m.start() >= figure_end:
            distance = m.start() - figure_end
        else:
            distance = max(0, figure_start - m.end()) + 5
        if best is None or distance < best[0]:
            best = (distance, period)
    return best[1] if best else None


def _term_months(m: re.Match[str]) -> int | None:
    """The months a term match names: whole years up to 30, or more than a year in whole
    months ("over 18 months", "a year and a half"), `_UNSTATED_TERM` for several years without
    a count ("multi-year"), else None ("over 6 months" is not a term of its own: a budget spent
    within half a year is not a yearly rate)."""
    if m.group("unstated"):
        return _UNSTATED_TERM
    count = " ".join((m.group("n") or m.group("n2")).split())
    unit = m.group("unit") or m.group("unit2")
    n = Decimal(_TERM_WORDS[count]) if count in _TERM_WORDS else Decimal(count)
    if any(m.group(g) for g in ("nh", "unith", "n2h", "unit2h")):
        n += Decimal("0.5")  # "one and a half years", "a year and a half"
    months = n if unit.startswith("m") else n * 12
    if months != months.to_integral_value():
        return None
    whole = int(months)
    if whole % 12 == 0:
        return whole if 1 <= whole // 12 <= 30 else None
    return whole if 12 < whole <= 360 else None


def _term(low: str, figure_start: int, figure_end: int) -> int | None:
    """The months of a term right beside the figure: after it ("100k over 3 years"), else
    before it ("a 3-year deal worth 90k")."""
    after = _TERM.search(low, figure_end, figure_end + _TERM_REACH)
    if after is not None and _TERM_GAP_AFTER.fullmatch(low, figure_end, after.start()):
        return _term_months(after)
    before = None
    for m in _TERM.finditer(low, max(0, figure_start - _TERM_REACH), figure_start):
        before = m
    if before is not None and _TERM_GAP_BEFORE.fullmatch(low, before.end(), figure_start):
        return _term_months(before)
    return None


def _with_term(result: Parsed, low: str, figures: list[_Figure], first: _Figure,
               last: _Figure) -> Parsed:
    """A total over several years (no rate named, or a "total" / "one-time"): period
    `multi_year` with its `years`, or its `months` when not whole years; one year is `year`. A
    rate named only past another figure is that figure's: "100k over 3 years, so about 33k a
    year" is over 3 years."""
    period = result["period"]
    if period not in (None, "once"):
        lo = max((f.end for f in figures if f.end <= first.start), default=0)
        hi = min((f.start for f in figures if f.start >= last.end), default=None)
        period = _period(low, first.start, last.end, lo, hi)
    if period not in (None, "once"):
        return result  # "100k a year for 3 years" is per year
    months = _term(low, first.start, last.end)
    if months == 12:
        result["period"] = "year"
    elif months == _UNSTATED_TERM:
        result["period"] = "multi_year"  # without `years`: a term is not made up
    elif months is not None:
        result["period"] = "multi_year"
        if months % 12:
            result["months"] = months
        else:
            result["years"] = months // 12
    return result


def _bound(text: str, figure: _Figure, hi: int | None = None) -> str | None:
    """"up to 50k", "50k+": the bound named beside the figure, before `hi` (so the "plus" of
    "50k plus 2k a month" is not "50k or more")."""
    hi = len(text) if hi is None else hi
    if _AT_MOST_BEFORE.search(text, max(0, figure.start - 40), figure.start):
        return "at_most"
    if _AT_LEAST_BEFORE.search(text, max(0, figure.start - 40), figure.start):
        return "at_least"
    if _AT_LEAST_AFTER.match(text, figure.end, hi):
        return "at_least"
    if _AT_MOST_AFTER.match(text, figure.end, hi):
        return "at_most"
    return None


def _items(text: str, figures: list[_Figure]) -> list[tuple[_Figure, _Figure]]:
    """The figures as amounts: a range is one (its two figures), a figure alone another."""
    items: list[tuple[_Figure, _Figure]] = []
    i = 0
    while i < len(figures):
        if i + 1 < len(figures) and _is_range(text, figures[i], figures[i + 1]):
            items.append((figures[i], figures[i + 1]))
            i += 2
        else:
            items.append((figures[i], figures[i]))
            i += 1
    return items


def _part(low: str, item: tuple[_Figure, _Figure], period: str | None, hi: int | None
          ) -> Parsed | None:
    """One amount of a two-part budget: `amount` (with its `bound`) or `min`/`max`, `period`."""
    first, second = item
    smallest, largest = _range_values(first, second) if first is not second else (
        first.value, first.value)
    if smallest <= 0:
        return None
    part: Parsed = ({"amount": number_value(smallest)} if smallest == largest else
                    {"min": number_value(smallest), "max": number_value(largest)})
    part["period"] = period
    bound = _bound(low, first, hi) if first is second else None
    if bound is not None:
        part["bound"] = bound
    return part


def _two_parts(t: str, low: str, figures: list[_Figure]) -> Parsed | None:
    """A one-off and a recurring amount said together ("50k now plus 2k a month"): the first
    amount with the second under `plus`, each with the period named on its side of the join;
    one without a period beside a recurring one is a one-off. None unless the answer holds
    exactly two amounts, joined so, with different periods, at least one recurring."""
    items = _items(low, figures)
    if len(items) != 2:
        return None
    (a1, a2), (b1, b2) = items
    join = _PLUS_JOIN.fullmatch(low, a2.end, b1.start)
    if join is None or (a1.currency and b1.currency and a1.currency != b1.currency):
        return None
    if _term(low, a1.start, a2.end) is not None or _term(low, b1.start, b2.end) is not None:
        return None  # "100k over 3 years plus 2k a month": the term is read as before
    first = _period(low, a1.start, a2.end, 0, join.start("join"))
    second = _period(low, b1.start, b2.end, join.end("join"))
    if first == second:
        return _added(t, low, (a1, a2), (b1, b2), join, first)
    if not {first, second} & _RECURRING:
        return None
    # each a money figure: "50 and 60k a year" is not 50 once plus 60k a year, "10k setup and
    # 50 a month" is 50 a month
    for figure, period in ((a1, first), (b1, second)):
        if not (figure.currency or figure.has_mult or figure.value >= 100 or period):
            return None
    main = _part(low, (a1, a2), first or "once", join.start("join"))
    plus = _part(low, (b1, b2), second or "once", None)
    if main is None or plus is None:
        return None
    return _both(t, low, a1, b1, _times_seats(main, _per_seat(low, a2)),
                 _times_seats(plus, _per_seat(low, b2)))


def _both(t: str, low: str, first: _Figure, second: _Figure, main: Parsed, plus: Parsed
          ) -> Parsed:
    """The first amount with the second under `plus`, in the usual order: amount, currency,
    period."""
    bound, period = main.pop("bound", None), main.pop("period")
    per_unit = main.pop("per_unit", None)
    result: Parsed = {**main, "currency": first.currency or second.currency
                      or currency_anywhere(t, low, first.start), "period": period}
    if per_unit is not None:
        result["per_unit"] = per_unit
    result["plus"] = plus
    if bound is not None:
        result["bound"] = bound
    return result


def has_total(part: Mapping[str, Any]) -> bool:
    """Whether a budget (or its `plus` part) has a total: an `amount` or `min`/`max`; a price
    per seat without a count has only `per_unit`."""
    return not _TOTAL_KEYS.isdisjoint(part)


def _added(t: str, low: str, a: tuple[_Figure, _Figure], b: tuple[_Figure, _Figure],
           join: re.Match[str], period: str | None) -> Parsed | None:
    """Two amounts of one period added up: "50k plus 10k for training", "40k for licences and
    10k for services" (an "and" only between items named with "for"/"on"), "50k + 5k
    onboarding". A "maybe" after the join makes the second optional: a range from the first to
    both. None for anything else ("50k and 60k", "50 plus 10k")."""
    word = join.group("join")
    itemised = (_ITEM_AFTER.match(low, a[1].end) is not None
                and _ITEM_AFTER.match(low, b[1].end) is not None)
    if not (word in ("+", "plus") or word.startswith("on top") or (word == "and" and itemised)):
        return None
    for item in (a, b):
        if not any(f.currency or f.has_mult or f.value >= 100 for f in item):
            return None
    main, extra = _part(low, a, period, join.start("join")), _part(low, b, period, None)
    if main is None or extra is None:
        return None
    main = _times_seats(main, _per_seat(low, a[1]))
    extra = _times_seats(extra, _per_seat(low, b[1]))
    if not (has_total(main) and has_total(extra)):
        # "$20/user/month plus $500/month for support": no total to add up; both as said
        return _both(t, low, a[0], b[0], main, extra)
    lows = [Decimal(str(p.get("min", p.get("amount")))) for p in (main, extra)]
    highs = [Decimal(str(p.get("max", p.get("amount")))) for p in (main, extra)]
    smallest, largest = lows[0] + lows[1], highs[0] + highs[1]
    if _OPTIONAL.search(low, join.end("join"), join.end()):
        smallest = lows[0]  # "50k plus maybe 10k for training": 50-60k
    currency = a[0].currency or b[0].currency or currency_anywhere(t, low, a[0].start)
    bound = main.get("bound")
    result: Parsed = ({"amount": number_value(smallest)} if smallest == largest else
                      {"min": number_value(smallest), "max": number_value(largest)})
    result.update(currency=currency, period=period)
    if bound == "at_most" and "amount" in result:
        result["bound"] = bound  # "up to 50k plus 10k for training": up to 60k
    return result


def _contingency(t: str, low: str, figures: list[_Figure]) -> Parsed | None:
    """A budget with a contingency on top ("50k plus 10k contingency"): `min` the budget,
    `max` with the contingency ("up to 50k plus 10k contingency" is up to 60k). None unless the
    answer is one amount and a contingency joined to it."""
    items = _items(low, figures)
    if not 1 <= len(items) <= 2:
        return None
    a1, a2 = items[0]
    smallest, largest = _range_values(a1, a2) if a1 is not a2 else (a1.value, a1.value)
    join = _CONTINGENCY_JOIN.match(low, a2.end)
    if join is None or smallest <= 0:
        return None
    currency = a1.currency
    if len(items) == 2:  # "plus 10k contingency"
        b1, b2 = items[1]
        if (join.end() != b1.start
                or not (join.group("before") or _CONTINGENCY_AFTER.match(low, b2.end))
                or (currency and b1.currency and currency != b1.currency)):
            return None
        extra = max(_range_values(b1, b2) if b1 is not b2 else (b1.value, b1.value))
        currency, end = currency or b1.currency, b2.end
    else:  # "plus 10% contingency"
        pct = _CONTINGENCY_PERCENT.match(low, join.end())
        if pct is None:
            return None
        extra, end = largest * Decimal(pct.group("pct")) / 100, pct.end()
    if extra <= 0:
        return None
    currency = currency or currency_anywhere(t, low, a1.start)
    period = _period(low, a1.start, end)
    result: Parsed
    if a1 is a2 and _bound(low, a1, join.start("join")) == "at_most":
        result = {"amount": number_value(largest + extra), "currency": currency,
                  "period": period, "bound": "at_most"}
    else:
        result = {"min": number_value(smallest), "max": number_value(largest + extra),
                  "currency": currency, "period": period}
    return _with_term(result, low, figures, a1, a2)


def _current_spend(low: str, figures: list[_Figure]) -> list[tuple[int, int]]:
    """Where the answer says what is spent today ("we spend 2k a month on tools"): from the
    verb to the end of its clause, for each such figure (or range)."""
    spans: list[tuple[int, int]] = []
    for m in _CURRENT_SPEND.finditer(low):
        i = next((i for i, f in enumerate(figures) if f.start >= m.end()), None)
        if i is None:
            break
        gap = low[m.end():figures[i].start]
        if not _SPEND_GAP.fullmatch(gap) or CLAUSES.search(gap):
            continue
        sentence = max(low.rfind(c, 0, m.start()) for c in ".;!?")
        bare = m.group("bare") is not None or m.group("clause") is not None
        if bare and _NOT_YET.search(low, sentence + 1, m.start()):
            continue
        end = figures[i].end
        if i + 1 < len(figures) and _is_range(low, figures[i], figures[i + 1]):
            end = figures[i + 1].end
        clause_end = CLAUSES.search(low, end)
        spans.append((m.start(), len(low) if clause_end is None else clause_end.start()))
    return spans


@dataclass(frozen=True, slots=True)
class _Seats:
    """What a price per seat is for: the word it is per ("seat", "user", "each"), and the seats
    named, fewest and most, with their word as said ((100, 100, "users"), (50, 60, "reps")),
    None when none is."""

    per: str
    count: tuple[int, int, str] | None


def _per_seat(low: str, last: _Figure) -> _Seats | None:
    """How the figure (or range) ending at `last` is a price per seat, or None when it is not
    one."""
    price = _PER_SEAT_AFTER.match(low, last.end)
    if price is None:
        return None
    per = price.group("unit") or _SHORT_PER.get(price.group("short") or "", "each")
    counts = {_count_range(m): " ".join(m.group("unit").split())
              for m in _SEAT_COUNT.finditer(low)}
    if len(counts) != 1:
        return _Seats(per, None)  # no count, or different ones ("20 seats now, 50 later")
    (((fewest, most), unit),) = counts.items()
    return _Seats(per, (fewest, most, unit) if fewest >= 1 else None)


def _count_range(m: re.Match[str]) -> tuple[int, int]:
    """The fewest and most seats a count names: (100, 100) for "100 users"."""
    most = int(m.group("n").replace(",", ""))
    fewest = int(m.group("lo").replace(",", "")) if m.group("lo") else most
    return min(fewest, most), max(fewest, most)


def _best(low: str, figures: list[_Figure]) -> int:
    """The figure the budget is read from: a total before a price per seat ("budget 50k, happy
    to pay $30 per user" is 50k, not USD 30 a user), then one with a currency or multiplier
    before a bare number, the first of equals. A total is a figure with a currency or
    multiplier, or of 100 or more ("2 teams, 5k each" is 5k each, not 2)."""
    if len(figures) == 1:
        return 0

    def total(i: int) -> bool:
        f = figures[i]
        if not (f.currency or f.has_mult or f.value >= 100):
            return False
        end = f.end
        if i + 1 < len(figures) and _is_range(low, f, figures[i + 1]):
            end = figures[i + 1].end  # "$20-30 per seat": the range is priced per seat
        return _PER_SEAT_AFTER.match(low, end) is None

    return max(range(len(figures)), key=lambda i: (total(i), figures[i].score, -i))


def _times_seats(result: Parsed, seats: _Seats | None) -> Parsed:
    """The price per seat times the seats, the price and count kept under `per_unit`; a price
    per seat without a count is no total: only the price, under `per_unit` ("£500 a month per
    seat" is not a budget of 500 a month)."""
    if seats is None:
        return result
    price: Parsed = {k: result.pop(k) for k in ("amount", "min", "max") if k in result}
    if seats.count is None:
        return {**result, "per_unit": {**price, "unit": seats.per}}
    fewest, most, unit = seats.count
    lowest = Decimal(str(price.get("min", price.get("amount")))) * fewest
    highest = Decimal(str(price.get("max", price.get("amount")))) * most
    totals = ({"amount": number_value(lowest)} if lowest == highest else
              {"min": number_value(lowest), "max": number_value(highest)})
    counted = {"count": fewest} if fewest == most else {"min_count": fewest, "max_count": most}
    return {**totals, **result, "per_unit": {**price, **counted, "unit": unit}}


def _not_the_budget(low: str, figures: list[_Figure]) -> list[tuple[int, int, str]]:
    """The clauses whose figures are said not to be the budget: (start, end, why), why being
    "negated", "other" (another party's figure) or "past" (spent before)."""
    spans: list[tuple[int, int, str]] = []
    start = 0
    for sep in [*_MONEY_CLAUSES.finditer(low), None]:
        end = len(low) if sep is None else sep.start()
        inside = [f for f in figures if start <= f.start and f.end <= end]
        if inside and any(_NEGATED.search(low, max(start, f.start - 20), f.start)
                          for f in inside):
            spans.append((start, end, "negated"))
        elif inside and _OTHER_PARTY.search(low, start, end):
            spans.append((start, end, "other"))
        elif inside and _PAST.search(low, start, end):
            spans.append((start, end, "past"))
        start = len(low) if sep is None else sep.end()
    return spans


def seats_not_stated(unit: str) -> str:
    """How a price per seat without a count says what is missing: "number of seats not stated"
    ("per person": "number of people"; "each": "number")."""
    if unit == "each":
        return "number not stated"
    return f"number of {'people' if unit == 'person' else unit + 's'} not stated"


def _earlier_rate(low: str, dropped: list[tuple[int, int, str]]) -> str | None:
    """The recurring period said as a rate in a clause left out as spent before or negated
    ("previously 50k a year", "not 50k a month"), for a budget that names none."""
    for start, end, why in dropped:
        if why == "other":
            continue
        for m in _PERIOD.finditer(low, start, end):
            kind = m.lastgroup
            # a rate ("a year", "monthly"), not a time ("last fiscal year", "this quarter")
            if kind in _RATE_KINDS and m.group(0) != "fiscal":
                period = _period_of(m)
                if period in _RECURRING:
                    return period
    return None


def term_of(parsed: Mapping[str, Any]) -> tuple[float, str]:
    """The years a `multi_year` budget spans, and the term in words: (3, "3 years") or, in
    months, (1.5, "18 months"). ValueError when it names no term of more than a year (a total
    over several years without a count, "300k multi-year", names none)."""
    years, months = parsed.get("years"), parsed.get("months")
    if isinstance(years, int) and not isinstance(years, bool) and years >= 2:
        return years, f"{years} years"
    if isinstance(months, int) and not isinstance(months, bool) and months > 12:
        return months / 12, f"{months} months"
    raise ValueError("no term")


@never_raise
def parse_money(text: str) -> Parsed:
    """Read a budget. See the module docstring for the result shapes."""
    t = clean(text)
    if not t:
        return unknown()
    low = lower(t)
    if _WORD_NUMBER_HINT.search(low):
        t = _words_to_digits(t)
        low = lower(t)
    figures = _figures(t, low)
    spans = _current_spend(low, figures)
    if spans:
        # The budget is what is left: "we have 50k and spend 2k a month" is 50k (it was 50k a
        # month, the period of the 2k), "... no budget yet" none, "... not sure" unsure. What
        # is spent today alone is read as the budget.
        rest_t, rest_low = t, low
        for a, b in spans:
            rest_t = rest_t[:a] + " " * (b - a) + rest_t[b:]
            rest_low = rest_low[:a] + " " * (b - a) + rest_low[b:]
        rest = _figures(rest_t, rest_low)
        if rest or _ZERO_PHRASE.search(rest_low) or UNSURE.search(rest_low):
            t, low, figures = rest_t, rest_low, rest
    dropped = _not_the_budget(low, figures)
    earlier: str | None = None
    if dropped:
        # The budget is what is left: "not 50k, maybe 20k" is 20k (it was 50k), "previously
        # 50k, now no budget" none; a negated figure alone says only what the budget is not
        rest_t, rest_low = t, low
        for a, b, _why in dropped:
            rest_t = rest_t[:a] + " " * (b - a) + rest_t[b:]
            rest_low = rest_low[:a] + " " * (b - a) + rest_low[b:]
        rest = _figures(rest_t, rest_low)
        if (rest or all(why == "negated" for _a, _b, why in dropped)
                or _ZERO_PHRASE.search(rest_low) or UNSURE.search(rest_low)):
            earlier = _earlier_rate(low, dropped)
            t, low, figures = rest_t, rest_low, rest
    result = _budget(t, low, figures)
    if earlier is not None and result.get("period", "") is None and result.get("amount") != 0:
        # "previously 50k a year, now 70k" is 70k a year: the rate said before carries over
        result["period"] = earlier
    return result


def _budget(t: str, low: str, figures: list[_Figure]) -> Parsed:
    """The budget the figures say (what is spent today and what is not the budget left out)."""
    if not figures:
        if _ZERO_WHOLE.fullmatch(low) or (UNSURE.search(low) is None
                                          and _ZERO_PHRASE.search(low)):
            return {"amount": 0, "currency": None, "period": None}
        return unsure() if UNSURE.search(low) else unknown()
    contingency = _contingency(t, low, figures)
    if contingency is not None:
        return contingency
    parts = _two_parts(t, low, figures)
    if parts is not None:
        return parts
    best = _best(low, figures)
    pair = _range_with(low, figures, best)
    if pair is not None:
        first, second = pair
        smallest, largest = _range_values(first, second)
        if smallest != largest:
            ranged = _with_term({"min": number_value(smallest), "max": number_value(largest),
                                 "currency": (first.currency or second.currency
                                              or currency_anywhere(t, low, first.start)),
                                 "period": _period(low, first.start, second.end)},
                                low, figures, first, second)
            return _times_seats(ranged, _per_seat(low, second))
        figure = first
        figure.value = smallest
    else:
        figure = figures[best]
    currency = figure.currency or currency_anywhere(t, low, figure.start)
    result: Parsed = {
        "amount": number_value(figure.value),
        "currency": currency,
        "period": _period(low, figure.start, figure.end),
    }
    if figure.value == 0:
        return result
    _with_term(result, low, figures, figure, figure)
    bound = _bound(low, figure)
    if bound is not None:
        result["bound"] = bound
    return _times_seats(result, _per_seat(low, figure))
