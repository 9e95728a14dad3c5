"""Handoff routing: which sales channel a lead's notice goes to, and which rep gets it.

`HandoffRouter` is the service's `router` hook. For a scored lead whose verdict is in
`[handoff] verdicts` it walks `[[handoff.rules]]` in order; the first rule whose filters all
match gives the channel. A rule with `assign` also picks the next rep of its list in turn
(round-robin, tracked in the `round_robin` table under a row lock, so replicas never hand two
leads to the same turn), makes them the lead's owner and DMs them, through a `dm` outbox row
in the same transaction; a lead that already has an owner and qualifies again gets its
owner a DM instead. No rule matching: `QUALIBOT_HANDOFF_CHANNEL`; neither: no notice
(logged once, clearly). The rule fields are documented in `docs/HANDOFF.md`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.handoff.config import HandoffConfig, HandoffRule, band_of_choice
from bot.handoff.notice import HandoffContext
from bot.slack.notices import channel_mention, framework_name
from bot.slack.render import mrkdwn, number
from flows.answers import AnswerRecord
from storage.models import RoundRobin
from storage.repositories import LeadEventRepository, OutboxRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeadFacts:
    """What the rules filter on."""

    framework: str
    verdict: str
    score: float
    source: str
    region: str | None = None  # the ICP region answer's value, e.g. "north_america"
    band: str | None = None  # the ICP size band, e.g. "51-200"

    @classmethod
    def of(
        cls,
        *,
        framework: str,
        verdict: str,
        score: float,
        source: str,
        answers: Mapping[str, AnswerRecord],
    ) -> LeadFacts:
        return cls(
            framework=framework.lower(),
            verdict=verdict,
            score=score,
            source=source,
            region=_choice(answers, "icp_region"),
            band=band_of_choice(_choice(answers, "icp_size")),
        )


def _choice(answers: Mapping[str, AnswerRecord], question_id: str) -> str | None:
    record = answers.get(question_id)
    if record is None or record.get("status") != "answered":
        return None
    value = (record.get("parsed") or {}).get("value")
    return value if isinstance(value, str) else None


def rule_matches(rule: HandoffRule, facts: LeadFacts) -> bool:
    """Whether every filter the rule has holds for the lead (a rule without filters matches
    every lead). `min_score` and `max_score` are inclusive."""
    if rule.framework and facts.framework not in rule.framework:
        return False
    if rule.verdict and facts.verdict not in rule.verdict:
        return False
    if rule.min_score is not None and facts.score < rule.min_score:
        return False
    if rule.max_score is not None and facts.score > rule.max_score:
        return False
    if rule.source and facts.source not in rule.source:
        return False
    if rule.region and facts.region not in rule.region:
        return False
    return not (rule.segment and facts.band not in rule.bands())


def round_robin_name(rule: HandoffRule) -> str:
    """The `round_robin` row of a rule: its `name`, else its channel and reps."""
    if rule.name:
        return f"handoff:{rule.name}"
    digest = hashlib.sha1(",".join(rule.assign).encode()).hexdigest()[:12]
    return f"handoff:{rule.channel}:{digest}"


def next_in_turn(session: Session, name: str, reps: tuple[str, ...]) -> str:
    """The next of `reps` for the round-robin `name`, advancing it, in the caller's
    transaction. The row is locked (`FOR UPDATE` on PostgreSQL; SQLite's write transaction
    serialises writers) until that transaction ends, so concurrent handoffs take turns."""
    if not reps:
        raise ValueError("no reps to choose from")
    _ensure_row(session, name)
    stmt = (
        select(RoundRobin)
        .where(RoundRobin.name == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = session.scalars(stmt).one()
    position = row.position % len(reps)
    row.position = (position + 1) % len(reps)
    session.flush()
    return reps[position]


def _ensure_row(session: Session, name: str) -> None:
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            insert_(RoundRobin)
            .values(name=name, position=0)
            .on_conflict_do_nothing(index_elements=[RoundRobin.name])
        )
        return
    if session.get(RoundRobin, name) is None:  # pragma: no cover - other databases
        try:
            with session.begin_nested():
                session.add(RoundRobin(name=name, position=0))
        except IntegrityError:
            pass


class HandoffRouter:
    """The service's `router`: `router(context) -> channel | None` (see the module doc)."""

    def __init__(
        self, config: HandoffConfig | None = None, *, default_channel: str | None = None
    ) -> None:
        self.config = config or HandoffConfig()
        self.default_channel = (default_channel or "").strip() or None
        self._warned = False
        self._lock = threading.Lock()

    @property
    def verdicts(self) -> frozenset[str]:
        """The verdicts that produce a notice (`[handoff] verdicts`)."""
        return frozenset(self.config.verdicts)

    def match(self, facts: LeadFacts) -> HandoffRule | None:
        """The first rule that matches, or None."""
        return next((rule for rule in self.config.rules if rule_matches(rule, facts)), None)

    def channel_for(self, facts: LeadFacts) -> str | None:
        """Where a notice for these facts goes (no assignment, nothing written)."""
        rule = self.match(facts)
        return rule.channel if rule is not None else self.default_channel

    def __call__(self, ctx: HandoffContext) -> str | None:
        lead, conversation, result = ctx.lead, ctx.conversation, ctx.result
        if result.verdict not in self.verdicts:
            return None
        facts = LeadFacts.of(
            framework=str(conversation.framework),
            verdict=result.verdict,
            score=result.total,
            source=lead.source,
            answers=ctx.answers,
        )
        rule = self.match(facts)
        if rule is None:
            if self.default_channel is None:
                self._warn_unrouted(lead.id, facts)
                return None
            channel = self.default_channel
        else:
            channel = rule.channel
            log.info("lead %s routed to %s by rule %s", lead.id, rule.channel,
                     rule.name or self.config.rules.index(rule) + 1)
        if rule is not None and rule.assign and not lead.owner:
            rep = next_in_turn(ctx.session, round_robin_name(rule), rule.assign)
            lead.owner = rep
            LeadEventRepository(ctx.session).record(lead.id, "assigned", None, detail={"to": rep})
            self._notify_assignee(ctx, rep, rule.channel)
            log.info("lead %s assigned to %s (round-robin)", lead.id, rep)
        elif lead.owner and lead.owner != conversation.participant:
            # qualified again (a returning visitor, say): whoever has the lead hears of it
            self._notify_owner(ctx, lead.owner, channel)
        return channel

    def _warn_unrouted(self, lead_id: int, facts: LeadFacts) -> None:
        with self._lock:
            if self._warned:
                log.info("lead %s (%s) gets no handoff notice: no channel", lead_id,
                         facts.verdict)
                return
            self._warned = True
        log.warning(
            "lead %s is %s but gets no handoff notice: no [[handoff.rules]] entry matches "
            "and QUALIBOT_HANDOFF_CHANNEL is not set. Set QUALIBOT_HANDOFF_CHANNEL or add "
            "a rule without filters as a catch-all (see docs/HANDOFF.md). This warning is "
            "given once.", lead_id, facts.verdict,
        )

    def _notify_assignee(self, ctx: HandoffContext, rep: str, channel: str) -> None:
        text = (
            f"You have a new lead: {self._summary(ctx)}. "
            f"The handoff notice is in {channel_mention(channel)}."
        )
        key = f"assign:{ctx.conversation.id}:{ctx.conversation.version}"
        self._dm(ctx, rep, text, key)

    def _notify_owner(self, ctx: HandoffContext, owner: str, channel: str) -> None:
        text = (
            f"Your lead qualified again: {self._summary(ctx)}. "
            f"The new handoff notice is in {channel_mention(channel)}."
        )
        self._dm(ctx, owner, text, f"requalified:{ctx.conversation.id}")

    @staticmethod
    def _summary(ctx: HandoffContext) -> str:
        """*Acme* — BANT score 85/100, qualified"""
        return (
            f"*{mrkdwn(ctx.lead.company, 200)}* — "
            f"{mrkdwn(framework_name(ctx.conversation.framework))} score "
            f"{number(ctx.result.total)}/100, {ctx.result.verdict}"
        )

    @staticmethod
    def _dm(ctx: HandoffContext, rep: str, text: str, dedupe_key: str) -> None:
        payload: dict[str, Any] = {
            "team_id": ctx.conversation.team_id,
            "user": rep,
            "text": text,
            "lead_id": ctx.lead.id,
        }
        OutboxRepository(ctx.session).enqueue(
            kind="dm", channel="slack", lane=f"dm:{rep}", payload=payload, dedupe_key=dedupe_key
        )


__all__ = ["HandoffRouter", "LeadFacts", "next_in_turn", "round_robin_name", "rule_matches"]
