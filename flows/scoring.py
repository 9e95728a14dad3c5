"""Scoring: a framework's answers -> a weighted total, gates and a verdict, with reasons.

Pure functions, no I/O. `score()` is called for every completed conversation and for every
re-score of stored leads (answers age: timeframes are scored relative to `as_of`), so the
framework is compiled once into a plan (cached per framework object) and each call only
walks the plan.

Per criterion: the main question's score (0..1); answered follow-ups that were asked (their
`ask_if` holds for the current answers) can only lower it, the criterion scoring the minimum;
skipped or unreadable follow-ups are ignored, and a skipped, unreadable or missing main answer
scores the criterion's `scoring.unknown`. Points are the criterion's share of 100 (its weight
over the sum of weights) times its score.

Gates (`flows.definitions.Gate`) are checked in order. A failed `cap_nurture` gate caps the
verdict at nurture. At the first failed `disqualify` gate the total counts only that gate's
own criteria and the verdict is disqualified. Otherwise the verdict follows the framework's
thresholds: qualified at or above `thresholds.qualified`, nurture at or above
`thresholds.nurture`, else disqualified.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, cast, get_args

from flows.answers import AnswerRecord
from flows.definitions import (
    AnswerType,
    AuthorityLevel,
    Condition,
    Criterion,
    FollowUp,
    Framework,
    Scoring,
)
from flows.parsing import parse_authority
from flows.parsing.money import PER_YEAR, has_total, seats_not_stated, term_of

Verdict = Literal["qualified", "nurture", "disqualified"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)

# A timeline whose last date has passed loses its marks linearly over this many days: the
# deal has slipped and needs re-qualifying.
STALE_AFTER_DAYS = 90

# Authority scores for levels a definition's `scoring.levels` does not list.
DEFAULT_LEVELS: dict[str, float] = {
    "economic_buyer": 1.0, "decision_maker": 0.8, "influencer": 0.4, "end_user": 0.2,
    "unknown": 0.0,
}
_LEVEL_TEXT = {
    "economic_buyer": "economic buyer", "decision_maker": "decision maker",
    "influencer": "influencer", "end_user": "end user", "unknown": "role in the decision unclear",
}

# `scoring.full_at` is in US dollars. Other currencies are converted with these rough rates
# (USD per unit); they only place an amount against a threshold, so approximate is enough.
# An amount without a currency is read as USD; one in a currency not listed is not converted.
USD_PER_UNIT: dict[str, float] = {
    "USD": 1.0, "EUR": 1.08, "GBP": 1.27, "CHF": 1.12, "CAD": 0.73, "AUD": 0.66, "NZD": 0.6,
    "JPY": 0.0067, "CNY": 0.14, "HKD": 0.128, "SGD": 0.74, "INR": 0.012, "KRW": 0.00074,
    "TWD": 0.031, "SEK": 0.095, "NOK": 0.093, "DKK": 0.145, "PLN": 0.25, "CZK": 0.043,
    "HUF": 0.0027, "ILS": 0.27, "AED": 0.272, "SAR": 0.267, "ZAR": 0.054, "BRL": 0.19,
    "MXN": 0.055, "TRY": 0.03,
}
_PERIOD_TEXT = {"year": " per year", "month": " per month", "quarter": " per quarter",
                "half_year": " per half-year", "once": " one-off", None: ""}

_QUOTE_LIMIT = 80
_EPSILON = 1e-9


class _NotScored(Exception):
    """An answer that was read but gives nothing to score ("300k multi-year": no yearly share
    without the term); its message says what was read."""


class ScoringError(ValueError):
    """Stored score data that cannot be read back."""


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CriterionScore:
    """One criterion's result. `answers` are the ids of the questions whose answers were used
    (the main question and the follow-ups that were asked and answered)."""

    criterion: str
    label: str
    score: float  # 0..1
    points: float  # counted towards the total (0 when a failed disqualify gate excludes it)
    max_points: float
    reason: str
    answers: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"criterion": self.criterion, "label": self.label, "score": self.score,
                "points": self.points, "max_points": self.max_points, "reason": self.reason,
                "answers": list(self.answers)}


@dataclass(frozen=True, slots=True)
class GateResult:
    gate: str
    label: str
    passed: bool
    require: Literal["all", "any"]
    on_fail: Literal["cap_nurture", "disqualify"]
    met: tuple[str, ...]
    unmet: tuple[str, ...]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "label": self.label, "passed": self.passed,
                "require": self.require, "on_fail": self.on_fail, "met": list(self.met),
                "unmet": list(self.unmet), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ScoreResult:
    framework: str
    framework_version: int
    total: float  # 0..100, one decimal
    verdict: Verdict
    criteria: tuple[CriterionScore, ...]
    gates: tuple[GateResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy, for storage (`ScoreResult.from_dict` reads it back)."""
        return {
            "framework": self.framework,
            "framework_version": self.framework_version,
            "total": self.total,
            "verdict": self.verdict,
            "criteria": [c.to_dict() for c in self.criteria],
            "gates": [g.to_dict() for g in self.gates],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScoreResult:
        try:
            verdict = data["verdict"]
            if verdict not in VERDICTS:
                raise ValueError(f"unknown verdict {verdict!r}")
            return cls(
                framework=str(data["framework"]),
                framework_version=int(data["framework_version"]),
                total=float(data["total"]),
                verdict=verdict,
                criteria=tuple(
                    CriterionScore(
                        criterion=str(c["criterion"]), label=str(c["label"]),
                        score=float(c["score"]), points=float(c["points"]),
                        max_points=float(c["max_points"]), reason=str(c["reason"]),
                        answers=tuple(str(a) for a in c["answers"]),
                    )
                    for c in data["criteria"]
                ),
                gates=tuple(
                    GateResult(
                        gate=str(g["gate"]), label=str(g["label"]), passed=bool(g["passed"]),
                        require=g["require"], on_fail=g["on_fail"],
                        met=tuple(str(m) for m in g["met"]),
                        unmet=tuple(str(u) for u in g["unmet"]), reason=str(g["reason"]),
                    )
                    for g in data["gates"]
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ScoringError(f"stored score is not readable: {exc!r}") from exc

    def summary_lines(self) -> list[str]:
        """The result as text: the total and verdict, one line per criterion, then the gates."""
        head = f"{self.framework.upper()} score {_fmt(self.total)}/100: {self.verdict}"
        failed = [g for g in self.gates if not g.passed]
        disqualifying = next((g for g in failed if g.on_fail == "disqualify"), None)
        if disqualifying is not None:
            head += f' (gate "{disqualifying.label}" not passed)'
        elif self.verdict == "nurture" and failed:
            head += f' (capped at nurture: gate "{failed[0].label}" not passed)'
        lines = [head]
        lines.extend(f"• {c.reason}" for c in self.criteria)
        lines.extend(f"Gate {g.reason}" for g in self.gates)
        return lines


# --- the compiled plan ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _QuestionPlan:
    id: str
    label: str  # how a follow-up is named in a reason ("amount" for budget_amount)
    type: AnswerType
    scored: bool
    scoring: Scoring
    choices: Mapping[str, tuple[str, float]]
    levels: Mapping[str, float]
    ask_if: Condition | None
    reader: _Reader
    unknown: float
    unknown_note: str


@dataclass(frozen=True, slots=True)
class _CriterionPlan:
    id: str
    label: str
    max_points: float
    max_text: str
    max_rounded: float
    main: _QuestionPlan
    follow_ups: tuple[_QuestionPlan, ...]


@dataclass(frozen=True, slots=True)
class _GatePlan:
    id: str
    label: str
    criteria: tuple[str, ...]
    labels: tuple[str, ...]
    require: Literal["all", "any"]
    min_score: float
    on_fail: Literal["cap_nurture", "disqualify"]


@dataclass(frozen=True, slots=True)
class _Plan:
    framework: str
    version: int
    qualified: float
    nurture: float
    criteria: tuple[_CriterionPlan, ...]
    gates: tuple[_GatePlan, ...]


_PLANS: dict[int, tuple[Framework, _Plan]] = {}
_MAX_PLANS = 256


def _plan(framework: Framework) -> _Plan:
    cached = _PLANS.get(id(framework))
    if cached is not None and cached[0] is framework:
        return cached[1]
    plan = _compile(framework)
    if len(_PLANS) >= _MAX_PLANS:
        _PLANS.clear()
    _PLANS[id(framework)] = (framework, plan)
    return plan


def _question_plan(q: Criterion | FollowUp, criterion: Criterion) -> _QuestionPlan:
    has_choice_scores = any(c.score is not None for c in q.choices)
    scoring = q.scoring if q.scoring is not None else Scoring()
    if isinstance(q, Criterion):
        label, scored, ask_if = criterion.label, True, None
    else:
        prefix = criterion.id + "_"
        label = (q.id[len(prefix):] if q.id.startswith(prefix) else q.id).replace("_", " ")
        scored = q.scoring is not None or (q.type == "choice" and has_choice_scores)
        ask_if = q.ask_if
    levels = dict(DEFAULT_LEVELS)
    for level, level_score in scoring.levels.items():
        levels[level] = level_score
    choices = {c.value: (c.label, c.score if c.score is not None else 0.0) for c in q.choices}
    return _QuestionPlan(q.id, label, q.type, scored, scoring, choices, levels, ask_if,
                         _READERS[q.type], scoring.unknown, _unknown_note(scoring.unknown))


def _compile(framework: Framework) -> _Plan:
    total_weight = sum(c.weight for c in framework.criteria)
    labels = {c.id: c.label for c in framework.criteria}
    criteria = tuple(
        _CriterionPlan(
            c.id, c.label, c.weight / total_weight * 100, _fmt(c.weight / total_weight * 100),
            round(c.weight / total_weight * 100, 2), _question_plan(c, c),
            tuple(_question_plan(f, c) for f in c.follow_ups),
        )
        for c in framework.criteria
    )
    gates = tuple(
        _GatePlan(g.id, g.label, g.criteria, tuple(labels[c] for c in g.criteria), g.require,
                  g.min_score, g.on_fail)
        for g in framework.gates
    )
    return _Plan(framework.id, framework.version, framework.thresholds.qualified,
                 framework.thresholds.nurture, criteria, gates)


# --- scoring -------------------------------------------------------------------------------


def score(framework: Framework, answers: Mapping[str, AnswerRecord], *, as_of: date) -> ScoreResult:
    """Score a lead's answers (keyed by question id) under `framework`, as of a date."""
    plan = _plan(framework)
    scored = [_criterion(cp, answers, as_of) for cp in plan.criteria]
    by_id = {cp.id: value for cp, value, _, _ in scored}

    gates = tuple(_gate(gp, by_id) for gp in plan.gates)
    disqualifier: GateResult | None = None
    capped = False
    for result in gates:
        if not result.passed:
            if result.on_fail == "cap_nurture":
                capped = True
            elif disqualifier is None:
                disqualifier = result
    counted = (frozenset((*disqualifier.met, *disqualifier.unmet))
               if disqualifier is not None else None)

    criteria: list[CriterionScore] = []
    total = 0.0
    for cp, value, part, used in scored:
        raw_points = cp.max_points * value
        if value == 1.0:
            shown, points = cp.max_text, cp.max_rounded
        elif value == 0.0:
            shown, points = "0", 0.0
        else:
            shown, points, value = _fmt(raw_points), round(raw_points, 2), round(value, 3)
        if counted is not None and cp.id not in counted:
            reason = f"{cp.label} 0/{cp.max_text}: {part}"
            if points:
                reason += (f' [would score {shown}; not counted while gate '
                           f'"{disqualifier.label if disqualifier else ""}" fails]')
            points = 0.0
        else:
            total += raw_points
            reason = f"{cp.label} {shown}/{cp.max_text}: {part}"
        criteria.append(CriterionScore(cp.id, cp.label, value, points, cp.max_rounded, reason,
                                       used))

    total = round(min(100.0, total), 1)
    verdict: Verdict
    if disqualifier is not None:
        verdict = "disqualified"
    elif total >= plan.qualified:
        verdict = "nurture" if capped else "qualified"
    elif total >= plan.nurture:
        verdict = "nurture"
    else:
        verdict = "disqualified"
    return ScoreResult(plan.framework, plan.version, total, verdict, tuple(criteria), gates)


def _criterion(
    cp: _CriterionPlan, answers: Mapping[str, AnswerRecord], as_of: date
) -> tuple[_CriterionPlan, float, str, tuple[str, ...]]:
    main = cp.main
    record = answers.get(main.id)
    used: tuple[str, ...] = ()
    if record is None:
        value, part = main.unknown, "no answer" + main.unknown_note
    else:
        used = (main.id,)
        status = record["status"]
        if status == "skipped":
            value, part = main.unknown, "skipped" + main.unknown_note
        elif status != "answered" or record["parsed"].get("unknown"):
            value = main.unknown
            parsed = record["parsed"]
            # "not sure" and "never" are answers, not misreadings: say what they were.
            what = ("not sure yet" if parsed.get("unsure") else
                    "none" if parsed.get("none") else "not understood")
            part = f"{_quote(record['raw'])} — {what}{main.unknown_note}"
        else:
            read = _read(main, record["parsed"], as_of)
            if read is None:
                value = main.unknown
                part = f"{_quote(record['raw'])} — answer could not be read{main.unknown_note}"
            elif read[0] is None:
                value = main.unknown
                part = f"{_quote(record['raw'])} — {read[1]}{main.unknown_note}"
            else:
                value = read[0]
                part = f"{_quote(record['raw'])} — {read[1]}"
    for fp in cp.follow_ups:
        frec = answers.get(fp.id)
        if (frec is None or frec["status"] != "answered" or frec["parsed"].get("unknown")
                or not _applies(fp.ask_if, answers)):
            continue
        # said in the main answer ("approved, about 80k a year"): not quoted twice
        said = "" if record is not None and frec["raw"] == record["raw"] else (
            f" {_quote(frec['raw'])}")
        if fp.scored:
            read = _read(fp, frec["parsed"], as_of)
            if read is None:  # unreadable stored data: ignored, like an unknown answer
                continue
            if read[0] is not None and read[0] < value:  # None: shown, but not scored
                value = read[0]
            part += f"; {fp.label}{said} — {read[1]}"
        else:
            part += f"; {fp.label}{said or ' (in the same answer)'}"
        used += (fp.id,)
    return cp, value, part, used


def _gate(gp: _GatePlan, scores: Mapping[str, float]) -> GateResult:
    threshold = gp.min_score - _EPSILON
    met = tuple(c for c in gp.criteria if scores[c] >= threshold)
    unmet = tuple(c for c in gp.criteria if scores[c] < threshold)
    passed = not unmet if gp.require == "all" else bool(met)
    if passed:
        reason = f'"{gp.label}": passed'
    elif gp.require == "all":
        short = ", ".join(f"{label} {scores[c]:.0%}" for c, label in zip(gp.criteria, gp.labels,
                                                                         strict=True)
                          if c in unmet)
        reason = f'"{gp.label}": failed, below {gp.min_score:.0%}: {short}'
    else:
        reason = (f'"{gp.label}": failed, none of {" / ".join(gp.labels)} reached '
                  f"{gp.min_score:.0%}")
    if not passed:
        reason += (" (verdict at most nurture)" if gp.on_fail == "cap_nurture"
                   else " (disqualified; only this gate's criteria count)")
    return GateResult(gp.id, gp.label, passed, gp.require, gp.on_fail, met, unmet, reason)


def _unknown_note(unknown: float) -> str:
    return f", counts {unknown:.0%} as unknown" if unknown > 0 else ""


def _applies(condition: Condition | None, answers: Mapping[str, AnswerRecord]) -> bool:
    """Whether a follow-up was asked, given the current answers (as the flow engine decides)."""
    if condition is None:
        return True
    earlier = answers.get(condition.question)
    if earlier is None or earlier["status"] != "answered":
        return False
    value = str(earlier["parsed"].get("value"))
    if condition.is_in is not None:
        return value in condition.is_in
    return value not in (condition.not_in or ())


def _read(
    qp: _QuestionPlan, parsed: Mapping[str, Any], as_of: date
) -> tuple[float | None, str] | None:
    """Score one answer: (0..1, why), (None, why) when it gives nothing to score, or None when
    its parsed data is malformed."""
    try:
        return qp.reader(qp, parsed, as_of)
    except _NotScored as exc:
        return None, str(exc)
    except (TypeError, ValueError, KeyError, AttributeError):
        return None


def _choice(qp: _QuestionPlan, parsed: Mapping[str, Any], as_of: date) -> tuple[float, str]:
    picked = parsed.get("value")
    found = qp.choices.get(str(picked))
    if found is None:
        unknown = qp.scoring.unknown
        return unknown, f"{picked!r} is not one of the options{_unknown_note(unknown)}"
    label, value = found
    return value, f"{label}, {_marks(value)}"


def _yesno(qp: _QuestionPlan, parsed: Mapping[str, Any], as_of: date) -> tuple[float, str]:
    scoring = qp.scoring
    answer = parsed.get("value")
    if answer is True:
        return scoring.yes, f"yes, {_marks(scoring.yes)}"
    if answer is False:
        return scoring.no, f"no, {_marks(scoring.no)}"
    return scoring.unsure, f"unsure, {_marks(scoring.unsure)}"


def _amount(parsed: Mapping[str, Any]) -> tuple[float, str]:
    """(the amount, a range's midpoint, and how it is shown)."""
    amount = parsed.get("amount")
    if amount is not None:
        amount = float(amount)
        return amount, f"{amount:,.0f}"
    low, high = parsed.get("min"), parsed.get("max")
    if low is None and high is None:
        raise ValueError("no amount")
    if high is None:
        amount = float(cast(float, low))
        return amount, f"{amount:,.0f} or more"
    if low is None:
        amount = float(high)
        return amount, f"up to {amount:,.0f}"
    return (float(low) + float(high)) / 2, f"{float(low):,.0f}–{float(high):,.0f}"


def _money(qp: _QuestionPlan, parsed: Mapping[str, Any], as_of: date) -> tuple[float, str]:
    scoring = qp.scoring
    _refuse_seat_prices(parsed)
    amount, shown = _amount(parsed)
    if amount <= 0:
        return 0.0, "no budget, no marks"
    currency = parsed.get("currency")
    period = parsed.get("period")
    text = f"{currency} {shown}" if currency else shown
    if period == "multi_year":
        # a total over several years ("100k over 3 years", "80k over 18 months") scores its
        # yearly share; without the term ("300k multi-year") there is none to score
        if "years" not in parsed and "months" not in parsed:
            raise _NotScored(f"{text} over several years, term not stated: no yearly share, "
                             "not scored")
        years, term = term_of(parsed)
        yearly = amount / years
        text += f" over {term}"
    else:
        yearly = amount * PER_YEAR[period]
        text += _PERIOD_TEXT[period]
    notes: list[str] = []
    per_unit = parsed.get("per_unit")
    if isinstance(per_unit, Mapping):
        # a price per seat times the seats ("$20 per seat per month, 100 seats"): the amount
        # scored is the product; the price and count (or counts: "50-60 users") are shown
        with contextlib.suppress(ValueError, TypeError, KeyError):
            count = (f"{per_unit['count']:,}" if "count" in per_unit else
                     f"{per_unit['min_count']:,}–{per_unit['max_count']:,}")
            notes.append(f"{count} {per_unit.get('unit', 'seats')} × "
                         f"{currency + ' ' if currency else ''}{_amount(per_unit)[1]}")
    plus = parsed.get("plus")
    if plus is not None:
        # a one-off plus a recurring amount ("50k now plus 2k a month") scores the first
        # year of both: 50k + 24k
        extra, extra_shown = _amount(plus)
        extra_period = plus.get("period")
        yearly += extra * PER_YEAR[extra_period]
        text += f" plus {extra_shown}{_PERIOD_TEXT[extra_period]}"
        when = "in the first year" if "once" in (period, extra_period) else "a year"
        notes.append(f"{currency + ' ' if currency else ''}{yearly:,.0f} {when}")
    elif period in ("month", "quarter", "half_year", "multi_year"):
        notes.append(f"{currency + ' ' if currency else ''}{yearly:,.0f} a year")
    if currency is None:
        usd = yearly
        notes.append("no currency given, read as USD")
    elif currency in USD_PER_UNIT:
        usd = yearly * USD_PER_UNIT[currency]
        if currency != "USD":
            notes.append(f"≈ USD {usd:,.0f}{' a year' if period != 'once' else ''}")
    else:
        usd = yearly
        notes.append(f"{currency} not converted")
    if notes:
        text += f" ({'; '.join(notes)})"
    full_at = scoring.full_at
    if full_at is None:
        return 1.0, f"{text}, any budget earns full marks"
    value = min(1.0, usd / full_at)
    if value >= 1.0:
        return 1.0, f"{text}, full marks from USD {full_at:,.0f}"
    return value, f"{text}, {value:.0%} of the USD {full_at:,.0f} that earns full marks"


def _refuse_seat_prices(parsed: Mapping[str, Any]) -> None:
    """_NotScored for a budget with a price per seat but no count of seats, so no total ("£500
    a month per seat", "$20 per user a month plus $5k setup")."""
    plus = parsed.get("plus")
    parts = [parsed, *([plus] if isinstance(plus, Mapping) else [])]
    if all(has_total(part) for part in parts):
        return
    currency = parsed.get("currency")
    said: list[str] = []
    units: list[str] = []
    for part in parts:
        seat = None if has_total(part) else part["per_unit"]
        text = _amount(part if seat is None else seat)[1]
        if not said and currency:
            text = f"{currency} {text}"
        if seat is not None:
            units.append(str(seat["unit"]))
            text += " each" if units[-1] == "each" else f" per {units[-1]}"
        said.append(text + _PERIOD_TEXT.get(part.get("period"), ""))
    raise _NotScored(f"{' plus '.join(said)}, {seats_not_stated(units[0])}: no total, not scored")


def _timeframe(qp: _QuestionPlan, parsed: Mapping[str, Any], as_of: date) -> tuple[float, str]:
    scoring = qp.scoring
    earliest_text, latest_text = parsed.get("earliest"), parsed.get("latest")
    earliest = date.fromisoformat(earliest_text) if earliest_text else None
    latest = date.fromisoformat(latest_text) if latest_text else None
    if earliest is None and latest is None:
        return scoring.otherwise, f"no date given, {_marks(scoring.otherwise)}"
    start = cast(date, earliest or latest)
    end = cast(date, latest or earliest)
    if earliest is not None and latest is not None and earliest != latest:
        shown = f"{earliest.isoformat()} to {latest.isoformat()}"
    elif earliest is not None and latest is None:
        shown = f"from {earliest.isoformat()}"
    elif earliest is None:
        shown = f"by {end.isoformat()}"
    else:
        shown = start.isoformat()
    buckets = scoring.within_days
    if as_of > end:
        overdue = (as_of - end).days
        best = buckets[0][1] if buckets else scoring.otherwise
        value = best * max(0.0, 1.0 - overdue / STALE_AFTER_DAYS)
        return value, (f"{shown}, passed {overdue} days ago (a passed date loses its marks "
                       f"over {STALE_AFTER_DAYS} days), {_marks(value)}")
    days = max(0, (start - as_of).days)
    value = scoring.otherwise
    for limit, bucket_score in buckets:
        if days <= limit:
            value = bucket_score
            break
    when = "under way now" if days == 0 else f"{days} days away"
    return value, f"{shown}, {when}, {_marks(value)}"


def _authority(qp: _QuestionPlan, parsed: Mapping[str, Any], as_of: date) -> tuple[float, str]:
    level = cast(AuthorityLevel, parsed.get("level") or "unknown")
    role = parsed.get("role")
    prefix = ""
    approver = parsed.get("approver")
    if qp.scoring.level_of == "final_say" and isinstance(approver, str):
        named = parse_authority(approver).get("level")
        # levels rank as their default scores do (economic buyer highest)
        if named is not None and DEFAULT_LEVELS[named] > DEFAULT_LEVELS[level]:
            level, role, prefix = named, approver, "final say: "
    value = qp.levels[level]
    level_text = _LEVEL_TEXT[level]
    shown = f"{role} ({level_text})" if role else level_text
    board = parsed.get("final_say")
    if isinstance(board, str) and board:
        # the board decides above everyone named ("the CFO but I need board approval"): no
        # one named has the final say, so at most a decision maker's marks
        if prefix:
            prefix = "sign-off: "
        if DEFAULT_LEVELS[level] > DEFAULT_LEVELS["decision_maker"]:
            value = min(value, qp.levels["decision_maker"])
            shown += f"; final say: the {board.lower()}, marked as a decision maker"
        else:
            shown += f"; final say: the {board.lower()}"
    return value, f"{prefix}{shown}, {_marks(value)}"


def _text(qp: _QuestionPlan, parsed: Mapping[str, Any], as_of: date) -> tuple[float, str]:
    scoring = qp.scoring
    words = int(parsed.get("words") or 0)
    if not parsed.get("substantive"):
        return 0.0, "not a substantive answer, no marks"
    if words < scoring.min_words:
        return 0.0, f"only {words} words ({scoring.min_words} needed for credit), no marks"
    if scoring.wants_number and not parsed.get("has_number"):
        value = scoring.number_factor
        return value, f"no figure given, {_marks(value)}"
    return 1.0, "full marks" if not scoring.wants_number else "quantified, full marks"


def _email(qp: _QuestionPlan, parsed: Mapping[str, Any], as_of: date) -> tuple[float, str]:
    scoring = qp.scoring
    if parsed.get("email"):
        return scoring.yes, f"email given, {_marks(scoring.yes)}"
    return scoring.unknown, f"no email, {_marks(scoring.unknown)}"


def _name(qp: _QuestionPlan, parsed: Mapping[str, Any], as_of: date) -> tuple[float, str]:
    scoring = qp.scoring
    if parsed.get("name"):
        return scoring.yes, f"name given, {_marks(scoring.yes)}"
    return scoring.unknown, f"no name, {_marks(scoring.unknown)}"


def _company(qp: _QuestionPlan, parsed: Mapping[str, Any], as_of: date) -> tuple[float, str]:
    scoring = qp.scoring
    if parsed.get("company"):
        return scoring.yes, f"company given, {_marks(scoring.yes)}"
    return scoring.unknown, f"no company, {_marks(scoring.unknown)}"


_Reader = Callable[[_QuestionPlan, Mapping[str, Any], date], tuple[float, str]]
_READERS: dict[str, _Reader] = {
    "choice": _choice, "yesno": _yesno, "money": _money, "timeframe": _timeframe,
    "authority": _authority, "text": _text, "email": _email, "name": _name,
    "company": _company,
}


# --- formatting ----------------------------------------------------------------------------


def _marks(value: float) -> str:
    if value >= 1.0 - _EPSILON:
        return "full marks"
    if value <= _EPSILON:
        return "no marks"
    return f"{value:.0%} of marks"


def _fmt(value: float) -> str:
    """25.0 -> "25", 12.5 -> "12.5", 16.666 -> "16.7"."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _quote(raw: str) -> str:
    text = raw if raw.isprintable() and "  " not in raw else " ".join(raw.split())
    text = text.strip()
    if len(text) > _QUOTE_LIMIT:
        text = text[: _QUOTE_LIMIT - 1].rstrip() + "…"
    return f'"{text}"'


__all__ = [
    "DEFAULT_LEVELS", "STALE_AFTER_DAYS", "USD_PER_UNIT", "VERDICTS", "CriterionScore",
    "GateResult", "ScoreResult", "ScoringError", "Verdict", "score",
]
