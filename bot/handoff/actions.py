"""What a rep does with a handoff notice: claim the lead or release the claim, mark it
nurture / disqualified, record the outcome of a claimed lead (won / lost), or re-open a
decision or an outcome.

Each method is one unit of work (the transaction is here, at the boundary): it records the
delivery's dedupe key, changes the lead, and enqueues what Slack must show (the notice
updated in the channel, or a polite refusal to the clicker) in the outbox, all in one commit.

Claim, release, won / lost and re-open read the lead's row locked (`SELECT ... FOR UPDATE`
on PostgreSQL; SQLite serialises writers) and change it only from the state they expect: of
two reps (or two replicas) claiming at once exactly one gets the lead, and a double click on
Release, Won or Re-open has effect once (the second click finds it done and changes
nothing). A decision is a conditional UPDATE (`... WHERE` undecided): the first one stands.
A lead with an outcome is settled like a decided one: it is not claimed, released or
decided until someone re-opens it.

A notice is repainted from the `handoff` outbox row it was posted from (its buttons carry
that row's id, `Notice.source`), so an older notice keeps showing the qualification it was
posted for when the lead has been qualified again since; the buttons act on the lead as it
is now.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import AlreadyProcessed, Conflict, InvalidInput, NotFound
from bot.handoff.notice import handoff_key, handoff_payload, rerouted_key
from bot.slack.render import mrkdwn
from flows.engine import FlowState
from flows.scoring import ScoreResult
from storage.dedupe import ProcessedEventRepository
from storage.models import LEAD_STATUSES, Conversation, Lead, OutboxMessage
from storage.repositories import (
    LeadEventRepository,
    LeadRepository,
    OutboxRepository,
    ScoreRepository,
)

log = logging.getLogger(__name__)

Decision = Literal["nurture", "disqualified"]
DECISIONS: tuple[Decision, ...] = ("nurture", "disqualified")
DECISION_WORDS: dict[str, str] = {"nurture": "moved to nurture", "disqualified": "disqualified"}
#: What came of a claimed lead, recorded by its owner ("lost" with a reason).
Outcome = Literal["won", "lost"]
OUTCOMES: tuple[Outcome, ...] = ("won", "lost")
OUTCOME_WORDS: dict[str, str] = {"won": "marked won", "lost": "marked lost"}
MAX_REASON_LENGTH = 500


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Notice:
    """Where a handoff notice was posted (the message the buttons are on), and the `handoff`
    outbox row it was posted from (None: a notice whose buttons predate that, found by
    where it is)."""

    channel: str
    ts: str
    source: int | None = None


@dataclass(frozen=True)
class HandoffOutcome:
    lead_id: int
    company: str
    changed: bool  # False: refused (already claimed, ...) or already done; nothing changed
    status: str  # "claimed", "released", "nurture", "disqualified", "won", "lost", "reopened"
    owner: str | None


@dataclass(frozen=True)
class _State:
    """The lead's row as a handoff action sees it (read locked)."""

    owner: str | None
    status: str
    reason: str | None
    verdict: str | None

    @property
    def decided(self) -> bool:
        """A rep moved it to nurture or disqualified it (a decision always has a reason)."""
        return self.status in DECISIONS and self.reason is not None

    @property
    def settled(self) -> bool:
        """Decided, or its owner recorded an outcome (won / lost): nothing but a re-open
        changes it."""
        return self.decided or self.status in OUTCOMES

    def decision(self) -> str:
        """"disqualified (reason: Student project)", "marked won", "marked lost (reason:
        Price)": what was decided, the reason escaped."""
        return settled_words(self.status, self.reason, mrkdwn)


def settled_words(
    status: str, reason: str | None, escape: Callable[[str, int], str] | None = None
) -> str:
    """"disqualified (reason: ...)", "marked won", "marked lost (reason: ...)": a decision
    or outcome in words, its reason passed through `escape` (for mrkdwn) if given."""
    words = DECISION_WORDS.get(status) or OUTCOME_WORDS.get(status) or status
    if reason is None:
        return words
    return f"{words} (reason: {escape(reason, MAX_REASON_LENGTH) if escape else reason})"


class HandoffActions:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = utcnow,
        on_outbox: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = session_factory
        self._clock = clock
        self._on_outbox = on_outbox

    def claim(
        self,
        lead_id: int,
        user: str,
        *,
        team_id: str | None,
        notice: Notice | None,
        dedupe_key: str | None = None,
    ) -> HandoffOutcome:
        """Make `user` the lead's owner, unless someone else already is (claimed it, or was
        assigned it by a routing rule) or a rep has decided it (nurture / disqualified). On
        success the notice is updated ("Claimed by ..."; the assigned rep accepting updates
        it too; the owner clicking again changes nothing); otherwise the clicker is told who
        has it or what was decided (ephemeral)."""
        now = self._clock()
        with self._acting(lead_id, team_id, dedupe_key) as (session, lead, state):
            outbox = OutboxRepository(session)
            if state.settled or state.owner not in (None, user):
                if state.settled:
                    text = f"Sorry, this lead can't be claimed: it was {state.decision()}."
                else:
                    text = f"Sorry, this lead is already taken: its owner is <@{state.owner}>."
                _tell(outbox, team_id, user, notice, text)
                outcome = HandoffOutcome(lead_id, lead.company, False, "claimed", state.owner)
            else:
                self._claim(session, outbox, lead, user, state, team_id, notice, now)
                outcome = HandoffOutcome(lead_id, lead.company, True, "claimed", user)
        return outcome

    @staticmethod
    def _claim(
        session: Session,
        outbox: OutboxRepository,
        lead: Lead,
        user: str,
        state: _State,
        team_id: str | None,
        notice: Notice | None,
        now: datetime,
    ) -> None:
        new = state.owner is None
        if new:
            session.execute(
                update(Lead)
                .where(Lead.id == lead.id, Lead.owner.is_(None))
                .values(owner=user, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            LeadEventRepository(session).record(lead.id, "claimed", user, at=now)
        if notice is None:
            return
        payload = _notice_update(session, lead, team_id, notice, "claimed", user, owner=user)
        # A claim that changes nothing (the owner clicking again, a double click, maybe on
        # two replicas) updates the notice once per notice and rep; the assigned rep
        # accepting the lead is the first such click. A new claim always does (the rep may
        # have claimed and released the lead on this notice before).
        key = f"notice:{notice.channel}:{notice.ts}:claimed:{user}"
        if not outbox.append_once("notice_update", "slack", notice.channel, payload, key) and new:
            outbox.append("notice_update", "slack", notice.channel, payload)

    def release(
        self,
        lead_id: int,
        user: str,
        *,
        team_id: str | None,
        notice: Notice | None,
        dedupe_key: str | None = None,
    ) -> HandoffOutcome:
        """Give a claimed lead back: only its owner may, and only while nobody has decided
        it. The owner is cleared (the lead's round-robin turn is not taken again, and nobody
        is DMed) and the notice goes back to its unclaimed form with "Released by ... at
        ...". Anyone else is told who owns it; a lead nobody owns any more (a double click,
        a click on an older view) is left as it is, without a word."""
        now = self._clock()
        with self._acting(lead_id, team_id, dedupe_key) as (session, lead, state):
            outbox = OutboxRepository(session)
            if state.owner != user or state.settled:
                if state.owner is not None and state.owner != user:
                    text = (
                        "Sorry, only the lead's owner can release it: its owner is "
                        f"<@{state.owner}>."
                    )
                    _tell(outbox, team_id, user, notice, text)
                elif state.owner is not None:
                    text = (
                        f"Sorry, this lead can't be released: it was {state.decision()}. "
                        "Re-open it first."
                    )
                    _tell(outbox, team_id, user, notice, text)
                outcome = HandoffOutcome(lead_id, lead.company, False, "released", state.owner)
            else:
                session.execute(
                    update(Lead)
                    .where(Lead.id == lead_id, Lead.owner == user)
                    .values(owner=None, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                LeadEventRepository(session).record(lead_id, "released", user, at=now)
                if notice is not None:
                    outbox.append(
                        "notice_update", "slack", notice.channel,
                        _notice_update(session, lead, team_id, notice, "released", user,
                                       owner=None, at=now),
                    )
                log.info("lead %s released by %s", lead_id, user)
                outcome = HandoffOutcome(lead_id, lead.company, True, "released", None)
        return outcome

    def decide(
        self,
        lead_id: int,
        status: str,
        reason: str,
        user: str,
        *,
        team_id: str | None,
        notice: Notice | None,
        dedupe_key: str | None = None,
    ) -> HandoffOutcome:
        """Mark the lead `nurture` or `disqualified` with the rep's reason, and update the
        notice to say so. A lead already decided is not decided again (`Conflict` saying
        what was decided): two reps submitting at once, or a form opened from an older view
        of the notice, cannot overwrite the first decision, nor a won / lost outcome."""
        if status not in DECISIONS:
            raise InvalidInput(f"{status!r} is not a decision on a lead.")
        reason = _reason(reason)
        now = self._clock()
        with self._sessions.begin() as session:
            _claim_key(session, dedupe_key)
            lead = _visible_lead(session, lead_id, team_id)
            decided = session.execute(
                update(Lead)
                .where(Lead.id == lead_id, _undecided())
                .values(status=status, status_reason=reason, updated_at=now)
                .returning(Lead.owner)
                .execution_options(synchronize_session=False)
            ).first()
            if decided is None:
                session.refresh(lead)
                raise Conflict(
                    "Not saved: this lead was already "
                    f"{settled_words(lead.status, lead.status_reason)}."
                )
            owner = decided.owner
            LeadEventRepository(session).record(lead_id, status, user, reason=reason, at=now)
            if notice is not None:
                OutboxRepository(session).append(
                    "notice_update", "slack", notice.channel,
                    _notice_update(session, lead, team_id, notice, status, user,
                                   owner=owner, reason=reason),
                )
        self._written()
        return HandoffOutcome(lead_id, lead.company, True, status, owner)

    def won(
        self,
        lead_id: int,
        user: str,
        *,
        team_id: str | None,
        notice: Notice | None,
        dedupe_key: str | None = None,
    ) -> HandoffOutcome:
        """The Won button: the lead's owner records that the deal was won. The status
        becomes `won` and the notice says "Marked won by ... at ..." (View answers and
        Re-open). Anyone else, or a lead nobody owns or that is decided or lost, gets an
        ephemeral saying why not; a lead already won by its owner (a double click) is left
        as it is, without a word."""
        now = self._clock()
        with self._acting(lead_id, team_id, dedupe_key) as (session, lead, state):
            if state.status == "won" and state.owner == user:
                return HandoffOutcome(lead_id, lead.company, False, "won", state.owner)
            refusal = _outcome_refusal(state, "won", user)
            if refusal is not None:
                _tell(OutboxRepository(session), team_id, user, notice, refusal)
                return HandoffOutcome(lead_id, lead.company, False, "won", state.owner)
            self._record_outcome(session, lead, "won", None, user, team_id, notice, now)
        return HandoffOutcome(lead_id, lead.company, True, "won", user)

    def may_mark_lost(
        self,
        lead_id: int,
        user: str,
        *,
        team_id: str | None,
        notice: Notice | None,
        dedupe_key: str | None = None,
    ) -> bool:
        """The Lost button, before its form opens: True if `user` may mark the lead lost
        (its owner, while it is neither decided nor has an outcome); otherwise the clicker
        is told why not (ephemeral, once per click) and no form should open. Nothing is
        locked: `lost` checks again when the form is submitted."""
        with self._sessions.begin() as session:
            lead = _visible_lead(session, lead_id, team_id)
            state = _read_state(session, lead.id, locked=False)
            refusal = _outcome_refusal(state, "lost", user)
            if refusal is None:
                return True
            _claim_key(session, dedupe_key)
            _tell(OutboxRepository(session), team_id, user, notice, refusal)
        self._written()
        return False

    def lost(
        self,
        lead_id: int,
        reason: str,
        user: str,
        *,
        team_id: str | None,
        notice: Notice | None,
        dedupe_key: str | None = None,
    ) -> HandoffOutcome:
        """The Lost form: the lead's owner records that the deal was lost, and why (a reason
        is required, as for Disqualify). The status becomes `lost` with the reason, and the
        notice says "Marked lost by ... at ...: <reason>" (View answers and Re-open). If the
        lead changed since the form opened (someone marked it won or lost, decided it,
        released or took it), nothing is saved: `Conflict`, shown in the form."""
        reason = _reason(reason)
        now = self._clock()
        with self._acting(lead_id, team_id, dedupe_key) as (session, lead, state):
            if _outcome_refusal(state, "lost", user) is not None:
                raise Conflict(_form_refusal(state))
            self._record_outcome(session, lead, "lost", reason, user, team_id, notice, now)
        return HandoffOutcome(lead_id, lead.company, True, "lost", user)

    @staticmethod
    def _record_outcome(
        session: Session,
        lead: Lead,
        outcome: Outcome,
        reason: str | None,
        user: str,
        team_id: str | None,
        notice: Notice | None,
        now: datetime,
    ) -> None:
        session.execute(
            update(Lead)
            .where(Lead.id == lead.id, Lead.owner == user)
            .values(status=outcome, status_reason=reason, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        LeadEventRepository(session).record(lead.id, outcome, user, reason=reason, at=now)
        if notice is not None:
            OutboxRepository(session).append(
                "notice_update", "slack", notice.channel,
                _notice_update(session, lead, team_id, notice, outcome, user,
                               owner=user, reason=reason, at=now),
            )
        log.info("lead %s %s by %s%s", lead.id, OUTCOME_WORDS[outcome], user,
                 f" ({reason})" if reason else "")

    def reopen(
        self,
        lead_id: int,
        user: str,
        *,
        team_id: str | None,
        notice: Notice | None,
        dedupe_key: str | None = None,
    ) -> HandoffOutcome:
        """Undo a nurture / disqualify decision or a won / lost outcome: the lead's status
        goes back to its verdict (the latest score's) and the reason is cleared; the notice
        goes back to its unclaimed form (the claimed one when the lead has an owner, who
        keeps it: always, after an outcome) with "Re-opened by ... at ... (it was
        disqualified: <reason>)". Any rep may. A lead that is not settled (a double click, a
        click on an older view after someone re-opened it) is left as it is, without a
        word."""
        now = self._clock()
        with self._acting(lead_id, team_id, dedupe_key) as (session, lead, state):
            if not state.settled:
                return HandoffOutcome(lead_id, lead.company, False, "reopened", state.owner)
            status = state.verdict if state.verdict in LEAD_STATUSES else "open"
            session.execute(
                update(Lead)
                .where(Lead.id == lead_id)
                .values(status=status, status_reason=None, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            LeadEventRepository(session).record(
                lead_id, "reopened", user, detail={"was": state.status, "was_reason": state.reason},
                at=now,
            )
            if notice is not None:
                OutboxRepository(session).append(
                    "notice_update", "slack", notice.channel,
                    _notice_update(session, lead, team_id, notice, "reopened", user,
                                   owner=state.owner, at=now,
                                   was={"status": state.status, "reason": state.reason}),
                )
            log.info("lead %s re-opened by %s (it was %s: %s)", lead_id, user, state.status,
                     state.reason)
        return HandoffOutcome(lead_id, lead.company, True, "reopened", state.owner)

    def posted(
        self, lead_id: int, notice: Notice, *, team_id: str | None
    ) -> dict[str, Any] | None:
        """What a notice of the lead was posted with (its `handoff` outbox row's payload:
        the answers and score of that qualification), for its View answers; None when it
        cannot be found. Reads only."""
        with self._sessions() as session:
            lead = _visible_lead(session, lead_id, team_id)
            row = _posted_row(session, lead, notice)
            return dict(row.payload) if row is not None else None

    @contextlib.contextmanager
    def _acting(
        self, lead_id: int, team_id: str | None, dedupe_key: str | None
    ) -> Iterator[tuple[Session, Lead, _State]]:
        """One click's unit of work: the delivery's key recorded, the lead (of this
        workspace) found and its row read locked; then the commit, and the outbox dispatcher
        woken for what was enqueued (an update, or a refusal to the clicker), also when the
        action returns early. An exception rolls everything back."""
        with self._sessions.begin() as session:
            _claim_key(session, dedupe_key)
            lead = _visible_lead(session, lead_id, team_id)
            yield session, lead, _read_state(session, lead_id)
        self._written()

    def _written(self) -> None:
        if self._on_outbox is not None:
            self._on_outbox()


def _undecided() -> ColumnElement[bool]:
    """No rep has decided the lead or recorded its outcome: a decision (nurture /
    disqualified from the notice) always has a reason, a verdict of the same name has none;
    an outcome (won / lost) is never a verdict."""
    return and_(
        or_(Lead.status.not_in(DECISIONS), Lead.status_reason.is_(None)),
        Lead.status.not_in(OUTCOMES),
    )


def _reason(reason: str) -> str:
    """A decision's or a loss's reason, its whitespace tidied; required, and not too long."""
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidInput("Please give a reason.")
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput(
            f"Please keep the reason under {MAX_REASON_LENGTH} characters "
            f"(it is {len(reason)})."
        )
    return reason


def _outcome_refusal(state: _State, outcome: Outcome, user: str) -> str | None:
    """Why `user` may not mark the lead `outcome` (mrkdwn, for an ephemeral), or None: only
    its owner may, and only while nobody has decided it or recorded an outcome."""
    if state.status in OUTCOMES:
        return f"Sorry, this lead was already {state.decision()}. Re-open it first."
    if state.decided:
        return (
            f"Sorry, this lead can't be marked {outcome}: it was {state.decision()}. "
            "Re-open it first."
        )
    if state.owner is None:
        return f"Sorry, only the lead's owner can mark it {outcome}, and nobody has claimed it."
    if state.owner != user:
        return (
            f"Sorry, only the lead's owner can mark it {outcome}: its owner is "
            f"<@{state.owner}>."
        )
    return None


def _form_refusal(state: _State) -> str:
    """Why a Lost form was not saved, for the form itself (plain text: no mentions)."""
    if state.settled:
        return f"Not saved: this lead was already {settled_words(state.status, state.reason)}."
    if state.owner is None:
        return "Not saved: nobody owns this lead now (it was released). Claim it first."
    return "Not saved: only the lead's owner can mark it lost, and someone else owns it now."


def _read_state(session: Session, lead_id: int, *, locked: bool = True) -> _State:
    """The lead's owner, status, reason and verdict; `locked`: its row locked until the
    commit."""
    stmt = select(Lead.owner, Lead.status, Lead.status_reason, Lead.verdict).where(
        Lead.id == lead_id
    )
    row = session.execute(stmt.with_for_update() if locked else stmt).one()
    return _State(row.owner, row.status, row.status_reason, row.verdict)


def _claim_key(session: Session, dedupe_key: str | None) -> None:
    if dedupe_key is not None and not ProcessedEventRepository(session).claim(dedupe_key):
        raise AlreadyProcessed(dedupe_key)


def _visible_lead(session: Session, lead_id: int, team_id: str | None) -> Lead:
    lead = LeadRepository(session).get(lead_id)
    if lead is None or (team_id is not None and lead.team_id not in (None, team_id)):
        raise NotFound(f"There is no lead {lead_id}.")
    return lead


def _tell(
    outbox: OutboxRepository, team_id: str | None, user: str, notice: Notice | None, text: str
) -> None:
    """A short message only the clicker sees: ephemeral in the notice's channel, else a DM."""
    if notice is not None:
        outbox.enqueue(
            kind="ephemeral",
            channel="slack",
            lane=f"dm:{user}",
            payload={"team_id": team_id, "channel": notice.channel, "user": user, "text": text},
        )
    else:
        outbox.enqueue(
            kind="dm",
            channel="slack",
            lane=f"dm:{user}",
            payload={"team_id": team_id, "user": user, "text": text},
        )


class _StoredScore:
    """A stored score's breakdown where `handoff_payload` expects a `ScoreResult`."""

    def __init__(self, breakdown: dict[str, Any]) -> None:
        self._breakdown = breakdown

    def to_dict(self) -> dict[str, Any]:
        return dict(self._breakdown)


def _handoff(session: Session, lead: Lead, channel: str) -> dict[str, Any]:
    """A handoff payload rebuilt from the lead's latest score and the answers of the scored
    conversation: for a notice whose own `handoff` row cannot be found."""
    score = ScoreRepository(session).latest(lead.id)
    conversation = (
        session.get(Conversation, score.conversation_id)
        if score is not None and score.conversation_id is not None
        else None
    )
    if score is None or conversation is None:
        return {
            "channel": channel,
            "team_id": lead.team_id,
            "lead": {"id": lead.id, "company": lead.company, "source": lead.source},
            "framework": lead.framework,
            "answers": [],
            "score": {"total": lead.score_total, "verdict": lead.verdict, "criteria": []},
        }
    answers = FlowState.from_data(conversation.state, conversation.data).answers
    result = cast(ScoreResult, _StoredScore(score.breakdown))
    return handoff_payload(lead, conversation, result, channel, answers)


def _posted_handoff(
    session: Session, lead: Lead, notice: Notice
) -> tuple[dict[str, Any], int | None]:
    """What the notice was posted with (the payload of its `handoff` outbox row) and that
    row's id (see `_posted_row`). Not found: rebuilt from the lead's latest score, without
    an id."""
    row = _posted_row(session, lead, notice)
    if row is not None:
        return row.payload, row.id
    return _handoff(session, lead, notice.channel), None


def _posted_row(session: Session, lead: Lead, notice: Notice) -> OutboxMessage | None:
    """The `handoff` outbox row `notice` was posted from: the row its buttons name, or, for
    a notice whose buttons predate that, the lead's notice posted at `notice`'s channel and
    ts; None if neither is found (or the row named is another lead's)."""
    outbox = OutboxRepository(session)
    if notice.source is not None:
        row = outbox.get(notice.source)
        if row is not None and row.kind == "handoff" and _lead_of(row.payload) == lead.id:
            return row
    conversations = session.scalars(
        select(Conversation.id).where(Conversation.lead_id == lead.id)
    ).all()
    rows = outbox.by_dedupe_keys(handoff_key(cid) for cid in conversations)
    rows += outbox.by_dedupe_keys(rerouted_key(row.id) for row in rows)
    for row in rows:
        where = row.result or {}
        if (row.kind == "handoff" and where.get("channel") == notice.channel
                and where.get("ts") == notice.ts):
            return row
    return None


def _lead_of(payload: Any) -> object:
    lead = payload.get("lead") if isinstance(payload, dict) else None
    return lead.get("id") if isinstance(lead, dict) else None


def _notice_update(
    session: Session,
    lead: Lead,
    team_id: str | None,
    notice: Notice,
    status: str,
    by: str,
    *,
    owner: str | None,
    reason: str | None = None,
    at: datetime | None = None,
    was: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A `notice_update` payload: the notice as it was posted, with `status` by `by` (and
    the decision's `reason`, the time `at`, the decision `was` before a re-open), and the
    lead's `owner` now (None: nobody)."""
    handoff, notice_id = _posted_handoff(session, lead, notice)
    payload: dict[str, Any] = {
        "team_id": team_id if team_id is not None else lead.team_id,
        "channel": notice.channel,
        "ts": notice.ts,
        "handoff": handoff,
        "notice_id": notice_id,
        "status": status,
        "by": by,
        "owner": owner,
    }
    if reason is not None:
        payload["reason"] = reason
    if at is not None:
        payload["at"] = at.isoformat()
    if was is not None:
        payload["was"] = was
    return payload
