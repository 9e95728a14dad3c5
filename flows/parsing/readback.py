"""What was understood, in words, for a rep or prospect to check ("USD 50,000 per year")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import Any

from flows.definitions import Choice

from .money import PER_YEAR, has_total, seats_not_stated, term_of

NOT_UNDERSTOOD = "not understood"

_PERIODS = {"once": "one-time", "month": "per month", "quarter": "per quarter",
            "half_year": "per half-year", "year": "per year"}
_LEVELS = {"economic_buyer": "economic buyer", "decision_maker": "decision maker",
           "influencer": "influencer", "end_user": "end user", "unknown": "authority unknown"}


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number")
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _money(p: dict[str, Any]) -> str:
    currency = p.get("currency")
    if p.get("plus") is not None:
        return _two_parts(p, p["plus"], currency)
    seat = _seat_price(p)
    if seat is not None:  # "GBP 500 per seat per month (number of seats not stated)"
        note = "" if currency else "; currency not stated"
        return f"{_amount(p, currency)} ({seats_not_stated(str(seat['unit']))}{note})"
    if "min" in p and "max" in p:
        figure = f"{_number(p['min'])}–{_number(p['max'])}"
    else:
        if p["amount"] == 0:
            return "no budget"
        figure = _number(p["amount"])
    bound = {"at_most": "up to ", "at_least": "at least "}.get(p.get("bound") or "", "")
    text = bound + (f"{currency} {figure}" if currency else figure)
    if p.get("period") == "multi_year":
        # "USD 33,333 per year (USD 100,000 over 3 years)": the yearly share scored, and the
        # total as said, so the person can check both
        return _over_years(p, text, bound, currency)
    period = _PERIODS.get(p.get("period") or "")
    if period:
        text = f"{text} {period}"
    notes = [] if p.get("per_unit") is None else [_per_unit(p["per_unit"], bound, currency)]
    if not currency:
        notes.append("currency not stated")
    return f"{text} ({'; '.join(notes)})" if notes else text


def _per_unit(u: dict[str, Any], bound: str, currency: str | None) -> str:
    """"100 seats × USD 20": the count and the price per seat the amount was made of."""
    price = _amount({k: u[k] for k in ("amount", "min", "max") if k in u}, currency)
    count = (_number(u["count"]) if "count" in u else
             f"{_number(u['min_count'])}–{_number(u['max_count'])}")
    return f"{count} {u['unit']} × {bound}{price}"


def _seat_price(p: dict[str, Any]) -> dict[str, Any] | None:
    """The price per seat of an amount that is only that: no count of seats, so no total."""
    return None if has_total(p) else p.get("per_unit")


def _two_parts(p: dict[str, Any], plus: dict[str, Any], currency: str | None) -> str:
    """"50,000 one-time plus 2,000 per month (74,000 in the first year; currency not stated)":
    both amounts as said, and what they come to in a year (the first, with a one-off); with a
    price per seat without a count, no total: "USD 20 per user per month plus USD 5,000
    one-time (number of users not stated)"."""
    parts = (p, plus)
    said = " plus ".join(_amount(part, currency) for part in parts)
    note = "" if currency else "; currency not stated"
    seat = next((s for s in map(_seat_price, parts) if s is not None), None)
    if seat is not None:
        return f"{said} ({seats_not_stated(str(seat['unit']))}{note})"
    low = sum(_bounds(part)[0] * PER_YEAR[part.get("period")] for part in parts)
    high = sum(_bounds(part)[1] * PER_YEAR[part.get("period")] for part in parts)
    total = f"{round(low):,}" if low == high else f"{round(low):,}–{round(high):,}"
    when = "in the first year" if any(part.get("period") == "once" for part in parts) else (
        "a year")
    return f"{said} ({currency + ' ' if currency else ''}{total} {when}{note})"


def _amount(p: dict[str, Any], currency: str | None) -> str:
    """One amount as said: "up to USD 50,000 per month", "EUR 20,000–30,000 one-time"; a price
    per seat without a count: "GBP 500 per seat per month", "USD 20 each"."""
    seat = _seat_price(p)
    shown = p if seat is None else seat
    low, high = _bounds(shown)
    figure = (_number(shown["amount"]) if low == high else
              f"{_number(shown['min'])}–{_number(shown['max'])}")
    bound = {"at_most": "up to ", "at_least": "at least "}.get(p.get("bound") or "", "")
    text = bound + (f"{currency} {figure}" if currency else figure)
    if seat is not None:
        text += " each" if seat["unit"] == "each" else f" per {seat['unit']}"
    period = _PERIODS.get(p.get("period") or "")
    return f"{text} {period}" if period else text


def _bounds(p: dict[str, Any]) -> tuple[float, float]:
    """(lowest, highest) of an amount or range, as finite numbers, else ValueError."""
    low, high = (p["min"], p["max"]) if "min" in p and "max" in p else (p["amount"],) * 2
    _number(low)  # a number, or TypeError
    _number(high)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("not a finite number")
    return float(low), float(high)


def _over_years(p: dict[str, Any], total: str, bound: str, currency: str | None) -> str:
    note = "" if currency else "; currency not stated"
    if "years" not in p and "months" not in p:  # "300k multi-year": no yearly share to show
        return f"{total} over several years (term not stated{note})"
    years, term = term_of(p)  # (3, "3 years") or (1.5, "18 months")
    if "min" in p and "max" in p:
        figure = f"{_per_year(p['min'], years)}–{_per_year(p['max'], years)}"
    else:
        figure = _per_year(p["amount"], years)
    yearly = bound + (f"{currency} {figure}" if currency else figure)
    return f"{yearly} per year ({total} over {term}{note})"


def _per_year(value: Any, years: float) -> str:
    """A yearly share in whole units (100,000 over 3 years: "33,333")."""
    _number(value)  # a number, or TypeError
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return f"{round(value / years):,}"


def _day(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d:%b} {d.day}, {d.year}"


def _timeframe(p: dict[str, Any]) -> str:
    earliest, latest = p.get("earliest"), p.get("latest")
    if earliest and latest:
        if earliest == latest:
            return f"around {_day(earliest)}"
        return f"between {_day(earliest)} and {_day(latest)}"
    if latest:
        return f"by {_day(latest)}"
    if earliest:
        return f"not before {_day(earliest)}"
    return NOT_UNDERSTOOD


def _authority(p: dict[str, Any]) -> str:
    level = _LEVELS.get(p.get("level") or "unknown", "authority unknown")
    role = p.get("role")
    detail = f"{level}; {_sign_off(p)}" if p.get("approver") else level
    if p.get("final_say"):
        detail += f"; final say: {_final_say(p['final_say'])}"
    return f"{role} ({detail})" if role else detail[0].upper() + detail[1:]


def _sign_off(p: dict[str, Any]) -> str:
    """Who else signs off, and above what amount: "sign-off by CFO above 100k"."""
    above = p.get("approver_above")
    return f"sign-off by {p['approver']}" + (f" above {above}" if above else "")


def _final_say(body: Any) -> str:
    """Who has the final say above everyone named: "the board"."""
    return f"the {str(body).lower()}"


def _choice(p: dict[str, Any], choices: Sequence[Choice]) -> str:
    value = p["value"]
    for c in choices:
        if c.value == value:
            return c.label
    return str(value)


def _text(p: dict[str, Any]) -> str:
    text = str(p["text"])
    return text if len(text) <= 200 else text[:199].rstrip() + "…"


def _authority_for_prospect(p: dict[str, Any]) -> str:
    """An authority answer read back to the person who gave it, without the sales terms (a
    visitor is not told they were taken for an "influencer")."""
    role, approver = p.get("role"), p.get("approver")
    parts = [str(role)] if role else []
    if approver:
        parts.append(_sign_off(p))
    elif p.get("level") in ("economic_buyer", "decision_maker") and not p.get("final_say"):
        parts.append("you make the decision")
    if p.get("final_say"):
        parts.append(f"final say: {_final_say(p['final_say'])}")
    text = ", ".join(parts) or "noted"
    return text[0].upper() + text[1:]


def readback(
    answer_type: str,
    parsed: dict[str, Any],
    choices: Sequence[Choice] = (),
    *,
    for_prospect: bool = False,
) -> str:
    """`parsed` (a parser's result) in words; "not understood" for unknown or bad input.
    `for_prospect`: worded for the visitor who answered (no sales terms)."""
    try:
        if not isinstance(parsed, dict) or parsed.get("unknown"):
            if isinstance(parsed, dict) and parsed.get("none") and answer_type == "timeframe":
                return "no plans"
            if isinstance(parsed, dict) and parsed.get("unsure"):
                return "not sure"
            return NOT_UNDERSTOOD
        if answer_type == "money":
            return _money(parsed)
        if answer_type == "timeframe":
            return _timeframe(parsed)
        if answer_type == "authority":
            return _authority_for_prospect(parsed) if for_prospect else _authority(parsed)
        if answer_type == "yesno":
            value = parsed["value"]
            return "Yes" if value is True else "No" if value is False else "Not sure"
        if answer_type == "choice":
            return _choice(parsed, choices)
        if answer_type == "text":
            return _text(parsed)
        if answer_type == "email":
            return str(parsed["email"])
        if answer_type == "name":
            return str(parsed["name"])
        if answer_type == "company":
            return str(parsed["company"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return NOT_UNDERSTOOD
    return NOT_UNDERSTOOD
