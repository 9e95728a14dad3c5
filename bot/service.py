"""The qualification service: the one entry point every channel (CLI, Slack, widget) calls.

Each public method is one unit of work: it loads the conversation, fires one event on the
framework's shared flow, stores the new state, the answer (append-only) and whatever must go
out (outbox), and commits. A concurrent update of the same conversation is detected by
optimistic locking (the conversation's `version`); the loser re-runs its turn on fresh data,
and gives up with `Conflict` only if that keeps happening.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from bot.contacts import MAX_COMPANY_LENGTH
from bot.errors import Conflict, InvalidFields, InvalidInput, NotFound, QualibotError
from bot.handoff.notice import HandoffRouterFn, enqueue_handoff
from bot.registry import FlowRegistry
from bot.turns import (
    FollowUp,
    TurnContext,
    TurnResult,
    answer_action,
    answer_ahead,
    claim_delivery,
    clean,
    decline,
    email_of,
    expecting,
    followed_by,
    latest_open,
    read_answers,
    store_answer,
)
from flows.engine import DONE, BotMessage, Flow, FlowError, FlowState, Turn
from flows.scoring import ScoreResult
from storage.db import reading, transaction
from storage.models import SCORED_STATUSES, Conversation, Lead
from storage.repositories import (
    ConversationRepository,
    LeadRepository,
    OutboxRepository,
    ScoreRepository,
)

log = logging.getLogger(__name__)

Channel = Literal["slack", "widget", "cli"]
Source = Literal["rep", "widget"]
# Channels whose replies are delivered later by the outbox dispatcher rather than returned
# in the response (Slack: the ack must not wait for the Web API).
OUTBOX_CHANNELS = frozenset({"slack"})
MAX_CONFLICT_RETRIES = 5
ALREADY_ANSWERED = "That question has already been answered."
ALREADY_RESUMED = (
    "Already resumed: the qualification has moved on since this button was listed. "
    "List your qualifications again for a fresh Resume button."
)


@dataclass
class RescoreSummary:
    """What `rescore_all` did."""

    scored: int  # leads re-scored
    changed: dict[tuple[str | None, str], int]  # (verdict before, after): how many leads
    handed_off: int  # notices enqueued for leads that became ones to hand off


def _status_follows_verdict(
    status: str, reason: str | None, *, new_qualification: bool = False
) -> bool:
    """Whether a new score sets the lead's status to its verdict: not after a rep's decision
    (nurture / disqualified with a reason), unless the lead qualified again in a new
    conversation; never after an outcome (won / lost). `LeadRepository.record_scores_many`
    applies the same rule in SQL."""
    return status in SCORED_STATUSES and (new_qualification or reason is None)


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a bulk job (reference counting still frees
    everything that is not in a cycle, i.e. all of the job's rows and results). Its full
    passes each walk every live object, and a re-score of 100,000 leads triggered ~50 of
    them: measured, 10.8 s with it on against 7.6-7.9 s with it off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def utcnow() -> datetime:
    return datetime.now(UTC)


class QualificationService:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        flows: FlowRegistry,
        *,
        clock: Callable[[], datetime] = utcnow,
        handoff_verdicts: frozenset[str] = frozenset({"qualified"}),
        on_outbox: Callable[[], None] | None = None,
        router: HandoffRouterFn | None = None,
    ) -> None:
        """`on_outbox` is called after a commit that wrote outbox rows (e.g. to wake the
        dispatcher so the next question reaches Slack within milliseconds).

        `router` (see `bot.handoff.routing.HandoffRouter`) picks the channel of a handoff
        notice from the lead, the score and the answers, in the turn's transaction (it may
        assign an owner and enqueue more rows). Without a router no handoff notice is sent."""
        self._sessions = session_factory
        self._on_outbox = on_outbox
        self._flows = flows
        self._clock = clock
        self._handoff_verdicts = handoff_verdicts
        self._router = router

    # --- starting ---------------------------------------------------------------------------

    def start(
        self,
        *,
        framework: str,
        company: str,
        channel: Channel,
        participant: str,
        source: Source = "rep",
        team_id: str | None = None,
        contact: dict[str, str] | None = None,
        ask_contact: bool = False,
        locale: str = "en",
        on_start: Callable[[Session, Conversation, Lead], None] | None = None,
        answers: Mapping[str, str] | None = None,
        dedupe_key: str | None = None,
    ) -> TurnResult:
        """Create a lead and its conversation, and ask the first question.

        Contact details given up front are stored as answers (a widget visitor whose work
        email is already on a lead continues on that lead). `on_start` runs in the same
        transaction once the conversation exists (e.g. to create the widget session).

        `answers` (question id -> text or choice value, e.g. from a form) are all checked
        first (`InvalidFields` names each one that can't be read), then recorded in order,
        and the conversation continues at the first question not answered. `dedupe_key`
        (a delivery id) is recorded in the same transaction: a second delivery raises
        `AlreadyProcessed` and changes nothing."""
        flow = self._flows.get(framework)
        company = clean(company)
        # InvalidFields: a form shows these on its company field
        if not company and not ask_contact:
            raise InvalidFields({"company": "Please name the company you are qualifying."})
        if len(company) > MAX_COMPANY_LENGTH:
            raise InvalidFields({"company": (
                f"The company name is too long ({len(company)} characters; "
                f"the limit is {MAX_COMPANY_LENGTH})."
            )})
        now = self._clock()
        today = now.date()
        model = FlowState(ask_contact=ask_contact, ask_icp=self._flows.icp_enabled)
        prepared = read_answers(flow, answers, today) if answers else {}
        for key, value in (contact or {}).items():
            if value and key in flow.by_id:
                record = flow.read(flow.by_id[key], value, today)
                if record is None:
                    raise InvalidInput(f"The {key} {value!r} does not look right.")
                model.answers[key] = record
                model.prefilled.append(key)
        with transaction(self._sessions) as session:
            claim_delivery(session, dedupe_key)
            lead = Lead(
                team_id=team_id,
                company=company or "(unknown company)",
                contact_name=(contact or {}).get("name"),
                contact_email=email_of(model),
                source=source,
                status="open",
                created_by=participant,
                framework=flow.framework.id,
                created_at=now,
                updated_at=now,
            )
            LeadRepository(session).add(lead)  # assigns lead.id
            conversation = Conversation(
                lead_id=lead.id,
                framework=flow.framework.id,
                framework_version=flow.framework.version,
                channel=channel,
                participant=participant,
                team_id=team_id,
                state=model.state,
                data={},
                locale=locale,
                created_at=now,
                updated_at=now,
                last_activity_at=now,
            )
            ConversationRepository(session).add(conversation)
            ctx = TurnContext(
                session,
                conversation,
                lead.company,
                flow,
                model,
                today,
                now,
                participant,
                loaded_lead=lead,
            )
            for key in model.prefilled:
                store_answer(ctx, key, model.answers[key])
            if on_start is not None:
                on_start(session, conversation, ctx.lead)
            turn = flow.begin(model, company=ctx.company, audience=ctx.audience)
            if prepared:
                turn = self._apply_answers(ctx, turn, prepared)
            result = self._commit_turn(ctx, turn, was_done=False)
        self._outbox_written(ctx)
        return result

    # --- turns ------------------------------------------------------------------------------

    def answer(
        self,
        conversation_id: int,
        text: str,
        *,
        by: str | None = None,
        dedupe_key: str | None = None,
        then: FollowUp | None = None,
        expected_question: str | None = None,
        refusal: str = ALREADY_ANSWERED,
    ) -> TurnResult:
        """A typed answer (or command word). `then` runs in the same transaction after the
        flow has taken the answer (see `FollowUp`). With `expected_question`, `Conflict`
        (`refusal`) unless the conversation is at that question."""
        guarded = expecting(expected_question, answer_action(text), refusal)
        return self._turn(
            conversation_id, followed_by(guarded, then), by, dedupe_key=dedupe_key
        )

    def answer_latest(
        self,
        channel: Channel,
        participant: str,
        text: str,
        *,
        team_id: str | None = None,
        by: str | None = None,
        dedupe_key: str | None = None,
    ) -> TurnResult:
        """An answer to the participant's most recently active open conversation (a rep's
        reply in the Slack DM), found in the same transaction as the turn; `NotFound` if the
        participant has none open (naming the latest paused one, which a typed "resume"
        continues)."""
        locate = latest_open(channel, participant, team_id, text=text)
        return self._turn(None, answer_action(text), by, dedupe_key=dedupe_key, locate=locate)

    def cancel_latest(
        self,
        channel: Channel,
        participant: str,
        *,
        team_id: str | None = None,
        by: str | None = None,
        dedupe_key: str | None = None,
    ) -> TurnResult:
        """Cancel the participant's most recently active open conversation."""
        locate = latest_open(channel, participant, team_id)
        return self._turn(
            None, lambda ctx: ctx.flow.cancel(ctx.model), by, dedupe_key=dedupe_key, locate=locate
        )

    def choose(
        self,
        conversation_id: int,
        value: str,
        *,
        by: str | None = None,
        expected_question: str | None = None,
        dedupe_key: str | None = None,
        then: FollowUp | None = None,
        refusal: str = ALREADY_ANSWERED,
    ) -> TurnResult:
        """A choice by button. `expected_question` guards against a stale or double click:
        a click on a question that is no longer the current one changes nothing (`Conflict`
        with `refusal`). `then`: as for `answer`."""

        def act(ctx: TurnContext) -> Turn:
            return ctx.flow.choose(
                ctx.model, value, today=ctx.today, company=ctx.company, audience=ctx.audience
            )

        guarded = expecting(expected_question, act, refusal)
        return self._turn(conversation_id, followed_by(guarded, then), by, dedupe_key=dedupe_key)

    def skip(
        self,
        conversation_id: int,
        *,
        by: str | None = None,
        expected_question: str | None = None,
        dedupe_key: str | None = None,
    ) -> TurnResult:
        """`expected_question`: as for `choose` (a button under an old question does nothing)."""

        def act(ctx: TurnContext) -> Turn:
            return ctx.flow.skip(
                ctx.model, today=ctx.today, company=ctx.company, audience=ctx.audience
            )

        return self._button(conversation_id, act, by, expected_question, dedupe_key)

    def back(
        self,
        conversation_id: int,
        *,
        by: str | None = None,
        expected_question: str | None = None,
        dedupe_key: str | None = None,
    ) -> TurnResult:
        def act(ctx: TurnContext) -> Turn:
            return ctx.flow.back(ctx.model, company=ctx.company, audience=ctx.audience)

        return self._button(conversation_id, act, by, expected_question, dedupe_key)

    def cancel(
        self,
        conversation_id: int,
        *,
        by: str | None = None,
        expected_question: str | None = None,
        dedupe_key: str | None = None,
    ) -> TurnResult:
        def act(ctx: TurnContext) -> Turn:
            return ctx.flow.cancel(ctx.model)

        return self._button(conversation_id, act, by, expected_question, dedupe_key)

    def restart(self, conversation_id: int, *, by: str | None = None) -> TurnResult:
        return self._turn(
            conversation_id,
            lambda ctx: ctx.flow.restart(ctx.model, company=ctx.company, audience=ctx.audience),
            by,
        )

    def resume(
        self,
        conversation_id: int,
        *,
        by: str | None = None,
        dedupe_key: str | None = None,
        listed_at_version: int | None = None,
        participant: str | None = None,
    ) -> TurnResult:
        """Continue a conversation: ask its current question again. With `listed_at_version`
        (the conversation's version when its Resume button was drawn), `Conflict` if a turn
        was taken since: a second click on that button (a double click) asks nothing twice.
        With `participant`, only that person's conversation: another's is `NotFound` (a
        button names a conversation by id: another rep's click must not continue it)."""

        def act(ctx: TurnContext) -> Turn:
            if participant is not None and ctx.conversation.participant != participant:
                raise NotFound(f"There is no conversation {conversation_id}.")
            if listed_at_version is not None and ctx.conversation.version != listed_at_version:
                raise Conflict(ALREADY_RESUMED)
            return ctx.flow.resume(ctx.model, company=ctx.company, audience=ctx.audience)

        return self._turn(conversation_id, act, by, dedupe_key=dedupe_key)

    def abandon(self, conversation_id: int) -> TurnResult:
        def act(ctx: TurnContext) -> Turn:
            ctx.flow.abandon(ctx.model)
            return Turn(())

        return self._turn(conversation_id, act, None)

    def decline_consent(
        self, conversation_id: int, *, by: str | None = None, erase: tuple[str, ...]
    ) -> TurnResult:
        """The person declined to have their details stored and be contacted: cancel the
        conversation and, in the same transaction, erase what they typed for `erase` (their
        name and email): the answers' text, the conversation's copy and the lead's contact
        fields. The one exception to append-only answers."""
        return self._turn(conversation_id, lambda ctx: decline(ctx, erase), by)

    # --- scoring ----------------------------------------------------------------------------

    def score(self, lead_id: int) -> ScoreResult:
        """Re-score a lead from its latest conversation's answers, as of today (answers age)."""
        now = self._clock()
        with self._sessions.begin() as session:
            lead = LeadRepository(session).get(lead_id)
            if lead is None:
                raise NotFound(f"There is no lead {lead_id}.")
            conversations = ConversationRepository(session).list_for_lead(lead_id)
            if not conversations:
                raise NotFound(f"Lead {lead_id} has no answers to score.")
            conversation = conversations[-1]
            flow = self._flows.get(conversation.framework)
            model = FlowState.from_data(conversation.state, conversation.data)
            return self._record_score(
                session, lead, conversation, flow, model, now, completed=False
            )

    def rescore_all(self, *, batch_size: int = 2000) -> RescoreSummary:
        """Re-score every lead with a completed qualification as of today (answers age), in
        bulk, from its latest completed conversation: one new score row per lead, the lead's
        score and verdict updated, and its status with them unless a rep decided it or it
        has an outcome; a lead whose verdict changes to one that is handed off (and whose
        status follows it) gets its notice, once per conversation. As `score` does.

        The server keeps working meanwhile: each batch is read outside any transaction and
        scored without a lock, then written in a short transaction of its own. (One
        transaction for the whole run held SQLite's write lock for ~8 s per 100,000 leads,
        and a turn waiting on it gives up at 15 s.) A run stopped half-way has re-scored the
        batches it wrote; running it again re-scores them all."""
        now = self._clock()
        summary = RescoreSummary(0, {}, 0)
        with _cyclic_gc_paused():
            with reading(self._sessions) as session:
                latest = ConversationRepository(session).latest_completed_ids()
            after_id = 0
            while True:
                with reading(self._sessions) as session:
                    rows = ConversationRepository(session).completed_rows_after(
                        after_id, batch_size)
                if not rows:
                    break
                after_id = rows[-1].id
                scored = [self._rescored(row, now) for row in rows if row.id in latest]
                for row, _, result, _ in scored:
                    if result.verdict != row.verdict:
                        moved = (row.verdict, result.verdict)
                        summary.changed[moved] = summary.changed.get(moved, 0) + 1
                with self._sessions.begin() as session:
                    handed_off = self._write_rescores(session, scored, now)
                summary.scored += len(scored)
                summary.handed_off += handed_off
                if handed_off and self._on_outbox is not None:
                    self._on_outbox()
        return summary

    def _rescored(
        self, row: Any, now: datetime
    ) -> tuple[Any, FlowState, ScoreResult, float | None]:
        """One completed conversation's row scored as of `now` (no database)."""
        flow = self._flows.get(row.framework)
        model = FlowState.from_data(DONE, row.data)
        result = self._flows.score(flow, model.answers, as_of=now.date())
        fit = self._flows.fit(model.answers) if model.ask_icp else None
        return row, model, result, fit

    def _write_rescores(
        self,
        session: Session,
        scored: list[tuple[Any, FlowState, ScoreResult, float | None]],
        now: datetime,
    ) -> int:
        """`rescore_all`'s writes for one batch (in the caller's transaction); returns how
        many notices it enqueued."""
        if not scored:
            return 0
        ScoreRepository(session).add_many(
            {
                "lead_id": row.lead_id,
                "conversation_id": row.id,
                "framework": result.framework,
                "framework_version": result.framework_version,
                "total": result.total,
                "verdict": result.verdict,
                "breakdown": result.to_dict(),
                "fit_score": fit,
                "created_at": now,
            }
            for row, _, result, fit in scored
        )
        LeadRepository(session).record_scores_many(
            {
                "lead_id": row.lead_id,
                "score_total": result.total,
                "verdict": result.verdict,
                "fit_score": fit,
                "updated_at": now,
            }
            for row, _, result, fit in scored
        )
        return sum(
            1
            for row, model, result, _ in scored
            if result.verdict != row.verdict
            and _status_follows_verdict(row.status, row.status_reason)
            and result.verdict in self._handoff_verdicts
            and self._hand_off_again(session, row, model, result)
        )

    def _hand_off_again(
        self, session: Session, row: Any, model: FlowState, result: ScoreResult
    ) -> bool:
        """Enqueue the notice of a lead that a bulk re-score made one to hand off; False if
        its conversation had one already (or no channel is configured)."""
        lead = LeadRepository(session).get(row.lead_id)
        conversation = ConversationRepository(session).get(row.id)
        if lead is None or conversation is None:
            return False
        return enqueue_handoff(session, lead, conversation, result, model.answers, self._router)

    # --- internals --------------------------------------------------------------------------

    def _turn(
        self,
        conversation_id: int | None,
        action: Callable[[TurnContext], Turn],
        by: str | None,
        *,
        dedupe_key: str | None = None,
        locate: Callable[[Session], Any] | None = None,
    ) -> TurnResult:
        """One turn in one transaction. `dedupe_key` is recorded in it (`AlreadyProcessed` if
        it was already); `locate` finds the conversation in it (instead of `conversation_id`)."""
        for attempt in range(MAX_CONFLICT_RETRIES):
            try:
                with transaction(self._sessions) as session:
                    claim_delivery(session, dedupe_key)
                    if locate is not None:
                        ctx = self._load(session, None, by, row=locate(session))
                    else:
                        ctx = self._load(session, conversation_id, by)
                    was_done = ctx.model.state == DONE
                    try:
                        turn = action(ctx)
                    except FlowError as exc:
                        raise InvalidInput(str(exc)) from exc
                    result = self._commit_turn(ctx, turn, was_done)
                self._outbox_written(ctx)
                return result
            except StaleDataError:
                log.info(
                    "conversation %s changed concurrently; retrying (attempt %d)",
                    conversation_id,
                    attempt + 1,
                )
        raise Conflict("This conversation is being updated from elsewhere; please try again.")

    def _button(
        self,
        conversation_id: int,
        action: Callable[[TurnContext], Turn],
        by: str | None,
        expected_question: str | None,
        dedupe_key: str | None,
    ) -> TurnResult:
        """A turn from a button under a question: refused if that question is not current."""
        return self._turn(
            conversation_id, expecting(expected_question, action), by, dedupe_key=dedupe_key
        )

    def _apply_answers(
        self, ctx: TurnContext, turn: Turn, prepared: dict[str, tuple[str, bool]]
    ) -> Turn:
        """Record answers given up front (checked by `read_answers`), in the flow's order:
        a question left empty before a later answer is skipped, and the conversation goes
        on at the first question after the last one answered (or ends with the summary).
        The reply says how many answers were noted and asks the next question."""
        order = {q.id: i for i, q in enumerate(ctx.flow.questions)}
        kwargs = {"today": ctx.today, "company": ctx.company, "audience": ctx.audience}
        noted = skipped = 0
        for _ in range(len(order)):
            question = ctx.flow.by_id.get(ctx.model.state)
            if question is None or not prepared:
                break
            here = order[question.id]
            try:
                if question.id in prepared:
                    text, is_choice = prepared.pop(question.id)
                    if is_choice:
                        turn = ctx.flow.choose(ctx.model, text, **kwargs)  # type: ignore[arg-type]
                    else:  # the form has its own fields for the follow-ups
                        turn = ctx.flow.answer(
                            ctx.model, text, details=False, **kwargs  # type: ignore[arg-type]
                        )
                elif question.skippable and answer_ahead(ctx, prepared, order, here):
                    turn = ctx.flow.skip(ctx.model, **kwargs)  # type: ignore[arg-type]
                else:
                    break
            except FlowError as exc:
                raise InvalidInput(str(exc)) from exc
            if turn.recorded is None:
                break
            store_answer(ctx, *turn.recorded)
            if turn.recorded[1]["status"] == "skipped":
                skipped += 1
            else:
                noted += 1
        if not noted:
            return turn
        text = f"Noted {noted} answer{'s' if noted != 1 else ''} from the form"
        text += f" ({skipped} left empty: skipped)." if skipped else "."
        rest = tuple(m for m in turn.messages if m.kind in ("question", "done", "hint"))
        return Turn((BotMessage("info", text), *rest))

    def _outbox_written(self, ctx: TurnContext) -> None:
        if self._on_outbox is not None and ctx.wrote_outbox:
            self._on_outbox()

    def _load(
        self, session: Session, conversation_id: int | None, by: str | None, *, row: Any = None
    ) -> TurnContext:
        """The turn's context, from the conversation's row (`row`: already loaded)."""
        conversation = (
            row
            if row is not None or conversation_id is None
            else ConversationRepository(session).load_for_turn(conversation_id)
        )
        if conversation is None:
            raise NotFound(f"There is no conversation {conversation_id}.")
        flow = self._flows.get(conversation.framework)
        model = FlowState.from_data(conversation.state, conversation.data)
        now = self._clock()
        return TurnContext(
            session, conversation, conversation.company, flow, model, now.date(), now, by
        )

    def _commit_turn(self, ctx: TurnContext, turn: Turn, was_done: bool) -> TurnResult:
        conversation, model = ctx.conversation, ctx.model
        completed_at = conversation.completed_at if model.state == DONE else None
        for question_id, record in turn.answers:
            store_answer(ctx, question_id, record)
            conversation = ctx.conversation  # a repeat visitor's email may move it to their lead
        messages = [m.to_dict() for m in turn.messages]
        score: ScoreResult | None = None
        if model.state == DONE and not was_done:
            completed_at = ctx.now
            score = self._record_score(
                ctx.session, ctx.lead, conversation, ctx.flow, model, ctx.now, completed=True
            )
            ctx.wrote_outbox = ctx.wrote_outbox or score.verdict in self._handoff_verdicts
            messages.append(
                {
                    "kind": "summary",
                    "text": "\n".join(score.summary_lines()),
                    "verdict": score.verdict,
                    "total": score.total,
                }
            )
        if conversation.channel in OUTBOX_CHANNELS and messages:
            ctx.wrote_outbox = True
            OutboxRepository(ctx.session).append(
                kind="reply",
                channel=conversation.channel,
                lane=f"dm:{conversation.participant}",
                payload={
                    "conversation_id": conversation.id,
                    "lead_id": conversation.lead_id,
                    "company": ctx.company,
                    "user": conversation.participant,
                    "team_id": conversation.team_id,
                    "messages": messages,
                },
            )
        # One version-checked UPDATE: raises StaleDataError if another turn won the race.
        ConversationRepository(ctx.session).save_turn(
            conversation,
            state=model.state,
            data=model.to_data(),
            updated_at=ctx.now,
            last_activity_at=ctx.now,
            completed_at=completed_at,
        )
        return TurnResult(
            conversation_id=conversation.id,
            public_id=str(conversation.public_id),
            lead_id=conversation.lead_id,
            company=ctx.company,
            framework=conversation.framework,
            state=model.state,
            messages=messages,
            done=model.state == DONE,
            score=score.to_dict() if score else None,
        )

    def _record_score(
        self,
        session: Session,
        lead: Lead,
        conversation: Any,
        flow: Flow,
        model: FlowState,
        now: datetime,
        *,
        completed: bool,
    ) -> ScoreResult:
        """Score the answers and record it. `completed`: a qualification just finished (not
        a re-score of stored answers)."""
        result = self._flows.score(flow, model.answers, as_of=now.date())
        fit = self._flows.fit(model.answers) if model.ask_icp else None
        ScoreRepository(session).append(
            lead_id=lead.id,
            conversation_id=conversation.id,
            framework=result.framework,
            framework_version=result.framework_version,
            total=result.total,
            verdict=result.verdict,
            breakdown=result.to_dict(),
            fit_score=fit,
            created_at=now,
        )
        # A rep's decision (nurture / disqualified, always with a reason) gives way only to
        # a new qualification, and then its reason goes with it; a re-score keeps it. An
        # outcome (won / lost) gives way to neither.
        replace = _status_follows_verdict(lead.status, lead.status_reason,
                                          new_qualification=completed)
        status = result.verdict if replace else lead.status
        if replace and lead.status_reason is not None:
            lead.status_reason = None
        LeadRepository(session).record_score(
            lead,
            score_total=result.total,
            verdict=result.verdict,
            fit_score=fit,
            status=status,
            updated_at=now,
        )
        # A re-score hands off only a lead whose status follows its verdict: a rep's decision
        # or an outcome stands through it, and a notice offering a claim would contradict it.
        if result.verdict in self._handoff_verdicts and (completed or replace):
            enqueue_handoff(session, lead, conversation, result, model.answers, self._router)
        return result



__all__ = ["QualibotError", "QualificationService", "RescoreSummary", "TurnResult"]
