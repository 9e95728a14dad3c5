"""Yes/no answers: `{"value": True}`, `{"value": False}`, `{"value": None}` (unsure).

The first yes/no/unsure phrase in the answer decides ("No, but maybe next year" is no), the
longest phrase winning at a position ("absolutely not" is no, "not sure" is unsure); an unsure
phrase inside it or right after it wins ("I'm not sure", "I have no idea" are unsure). A
subject and verb ("we do", "I am") count only as a clause of their own ("we do, about 50k" is
yes; "we have to check with legal" and "we are still figuring it out" are not).
Hedged answers are unsure ("maybe", "probably", "depends", "kind of", "yes and no"), except a
hedged no, which is no ("probably not", "unlikely"). Not fully sure is unsure, not the "sure"
or "100%" in it nor the "not quite" it opens with: "not 100% sure", "not entirely sure", "not
quite sure yet", "not so sure", "not totally convinced", and "not 100%" alone; "I'm not sure
yet but probably" too (the first phrase decides, and a "probably" would be unsure anyway).
Being happy, fine or OK with it is a yes ("I am happy with that", "that's fine", "works for
me"; "happy to" only alone), and "not" before it a no ("not happy", "not ok"). Emoji: 👍 ✅ 👌
💯 are yes, 👎 ❌ 🚫 no, 🤷 🤔 unsure. Nothing recognisable: `{"unknown": True}`.
"""

from __future__ import annotations

import re

from ._common import CLAUSES, Parsed, clean, never_raise, unknown

_YES = [
    "yes", "yeah", "yea", "yep", "yup", "yah", "yass", "yess", "yesss", "yes please", "sure",
    "sure thing", "surely", "of course", "ofc", "absolutely", "definitely", "certainly",
    "correct", "that's right", "thats right", "that is right", "that's correct", "affirmative",
    "indeed", "agreed", "i agree", "we agree", "agree", "ok", "okay", "sounds good",
    "for sure", "totally", "exactly", "true", "we do", "we have", "we are", "we did", "i do",
    "i am", "i have", "it is", "it does", "they do", "they are", "aye", "confirmed",
    "confirm", "precisely", "you bet", "why not", "no doubt", "no problem", "no question",
    "no worries", "not a problem", "no objection", "no objections", "without a doubt",
    "i think so", "i believe so", "i guess so", "already", "go ahead", "let's do it",
    "let's go", "count me in", "100%", "100 %", "oui", "si", "sí", "ja",
    # being happy, fine or OK with it ("I am happy with that": the "I am" alone is not a yes)
    "happy with that", "happy with it", "happy with this", "happy for you to",
    "fine with that", "fine with it", "fine with this", "fine with me", "fine by me",
    "that's fine", "thats fine", "that is fine", "works for me", "that works", "i accept",
    "i consent", "i give my consent", "you have my consent",
]
_NO = [
    "no", "nope", "nah", "naw", "nay", "non", "nein", "not really", "not at all", "no way",
    "never", "negative", "definitely not", "absolutely not", "certainly not", "of course not",
    "surely not", "not yet", "not now", "not right now", "not currently", "don't think so",
    "do not think so", "dont think so", "i disagree", "disagree", "we disagree",
    "don't agree", "do not agree", "dont agree", "false", "incorrect", "wrong", "not true",
    "not correct", "we don't", "we do not", "we dont", "we haven't", "we have not",
    "we havent", "we aren't", "we are not", "we arent", "we didn't", "we did not",
    "it's not", "it is not", "it isn't", "it doesn't", "it does not", "they don't",
    "they do not", "i don't", "i do not", "i dont", "i'm not", "i am not", "not interested",
    "no thanks", "no thank you", "hell no", "rather not", "unlikely", "probably not",
    "likely not", "most likely not", "i wouldn't say so", "wouldn't say so",
    "not that i know of", "not that i'm aware of", "none", "nothing", "doesn't", "does not",
    "don't", "do not", "haven't", "have not", "not anymore", "no longer", "not so much",
    "not quite", "not really no", "not exactly", "not happy", "unhappy", "not ok", "not okay",
    "not fine", "not accepted",
]
_UNSURE = [
    "maybe", "perhaps", "possibly", "not sure", "unsure", "not certain", "uncertain",
    "depends", "it depends", "that depends", "don't know", "do not know", "dont know",
    "dunno", "idk", "no idea", "kind of", "kinda", "sort of", "sorta", "somewhat",
    "partially", "partly", "50/50", "50-50", "fifty fifty", "fifty-fifty", "hard to say",
    "can't say", "cannot say", "cant say", "undecided", "not decided", "probably", "likely",
    "most likely", "might", "could be", "to some extent", "in part", "more or less", "tbd",
    "unclear", "not clear", "we'll see", "we will see", "yes and no", "yes or no", "hmm",
    "mixed", "not sure yet", "no clue", "possibly not", "maybe not", "sometimes", "in theory",
    "i guess",
    # not fully anything is partly, not a yes ("not 100%" is not the "100%" in it)
    "not 100%", "not 100 %", "not a hundred percent", "not 100 percent", "not entirely",
    "not totally", "not completely", "not fully", "not convinced", "not positive",
    "not confident",
]
# Not fully sure is unsure, whatever stands between ("not 100% sure", "not entirely sure",
# "not so sure" were a yes by the "100%" or "sure" in them; "not quite sure", "not really sure"
# a no by the "not quite", "not really" they open with).
_DEGREES = ("100%", "100 %", "a hundred percent", "one hundred percent", "100 percent",
            "entirely", "quite", "totally", "completely", "fully", "so", "too", "that", "very",
            "all that", "really", "exactly", "absolutely", "overly", "super")
_UNSURE += [f"not {degree} {word}" for degree in _DEGREES
            for word in ("sure", "certain", "convinced", "positive", "confident")]
# Ambiguous in running text; accepted only as the whole answer.
_WHOLE_ONLY: dict[str, bool | None] = {
    "y": True, "k": True, "kk": True, "ya": True, "ye": True, "right": True, "fine": True,
    "yes yes": True, "n": False, "nn": False, "?": None, "??": None, "meh": None,
    # "happy to" is a yes alone, not in "happy to discuss" (to "do you have budget?")
    "happy": True, "happy to": True, "i'm happy": True, "im happy": True, "i am happy": True,
    "i'd be happy to": True, "more than happy to": True, "accept": True, "accepted": True,
    "alright": True, "all right": True, "all good": True, "please do": True, "go for it": True,
}
_EMOJI_YES = "👍👌✅✔☑💯🙌🤝👏🆗"
_EMOJI_NO = "👎❌✖🚫⛔🙅"
_EMOJI_UNSURE = "🤷🤔😕"


# Later lists win for a phrase in two lists.
_KIND: dict[str, str] = {
    **dict.fromkeys(_YES, "yes"), **dict.fromkeys(_NO, "no"), **dict.fromkeys(_UNSURE, "unsure"),
}
# One alternation over all phrases, longest first, so the leftmost-longest phrase wins.
_PATTERN = re.compile(
    r"(?<![\w'])(?:"
    + "|".join(re.escape(p) for p in sorted(_KIND, key=len, reverse=True))
    + r")(?![\w'])"
)
_STRIP = re.compile(r"[^\w\s'/%?-]+")
_VALUES: dict[str, bool | None] = {"yes": True, "no": False, "unsure": None}
_CLAUSE_ONLY = frozenset({"we do", "we have", "we are", "we did", "i do", "i am", "i have",
                          "it is", "it does", "they do", "they are"})
# Phrases that lead into the next one rather than answer alone ("I have | no idea",
# "absolutely | no idea"); a bare "no" does not ("No, maybe later" is no).
_LEADS_INTO = re.compile(r"(?:i|we|it|they|you)\b|(?:absolutely|definitely|certainly|totally)$")


def _emoji(text: str) -> bool | str | None:
    """The value of the first yes/no emoji, or "" if none."""
    for ch in text:
        if ch in _EMOJI_YES:
            return True
        if ch in _EMOJI_NO:
            return False
        if ch in _EMOJI_UNSURE:
            return None
    return ""


def _reply(words: str, low: str) -> str | None:
    """The first phrase that answers; a subject and verb ("we have", "I am") only as a clause
    of its own ("we do, about 50k", not "we have to check with legal")."""
    clauses = {" ".join(_STRIP.sub(" ", c).split()) for c in CLAUSES.split(low)}
    pos = 0
    while (m := _PATTERN.search(words, pos)) is not None:
        phrase = _first_phrase(words, m)
        if phrase not in _CLAUSE_ONLY or phrase in clauses:
            return phrase
        pos = m.end()
    return None


def _first_phrase(words: str, m: re.Match[str]) -> str:
    """The phrase that decides: `m`'s, unless an unsure phrase starts inside it or is the very
    next word ("I'm not sure" is unsure, not "I'm not"; "I have no idea" is not "I have")."""
    nxt = _PATTERN.search(words, m.start() + 1)
    if nxt is None or _KIND[nxt.group(0)] != "unsure":
        return m.group(0)
    inside = nxt.start() < m.end()
    if inside or (nxt.start() == m.end() + 1 and _LEADS_INTO.match(m.group(0))):
        return nxt.group(0)
    return m.group(0)


@never_raise
def parse_yesno(text: str) -> Parsed:
    """Read a yes/no answer. See the module docstring for the rules."""
    t = clean(text)
    if not t:
        return unknown()
    low = t.lower().replace("’", "'")
    words = " ".join(_STRIP.sub(" ", low).split())
    if words in _WHOLE_ONLY:
        return {"value": _WHOLE_ONLY[words]}
    phrase = _reply(words, low)
    if phrase is not None:
        return {"value": _VALUES[_KIND[phrase]]}
    emoji = _emoji(t)
    if emoji != "":
        return {"value": emoji}
    return unknown()
