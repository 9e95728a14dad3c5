"""The qualification service: the one entry point every channel (CLI, Slack, widget) calls.

Each public method is one unit of work: it loads the conversation, fires one event on the
framework's shared flow, stores the new state, the answer (append-only) and whatever must go
out (outbox), and commits. A concurrent update of the same conversation is detected by
optimistic locking (the conversation's `version`); the loser re-runs its turn on fresh data,
and gives up with `Conflict` only if that keeps happening.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from bot.errors import (
    AlreadyProcessed,
    Conflict,
    InvalidFields,
    InvalidInput,
    NotFound,
    QualibotError,
)
from bot.registry import FlowRegistry
from flows.answers import AnswerRecord
from flows.engine import (
    DONE,
    Audience,
    BotMessage,
    Flow,
    FlowError,
    FlowState,
    Turn,
    command_for,
)
from flows.scoring import ScoreResult
from storage.dedupe import ProcessedEventRepository
from storage.models import Conversation, Lead, OutboxMessage
from storage.repositories import (
    AnswerRepository,
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
MAX_COMPANY_LENGTH = 200
MAX_CONFLICT_RETRIES = 5
ERASED = "(erased: no consent)"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TurnResult:
    """What a channel needs after a turn: the bot's messages and where the conversation is."""

    conversation_id: int
    public_id: str
    lead_id: int
    company: str
    framework: str
    state: str
    messages: list[dict[str, Any]]
    done: bool
    score: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return "\n".join(m["text"] for m in self.messages)


@dataclass
class _TurnContext:
    """What an action may use and what it leaves for the commit step.

    `conversation` is the conversation's row as loaded for the turn (a Core row, or the new
    ORM object in `start`); the ORM `Lead` is loaded only when the turn changes the lead.
    """

    session: Session
    conversation: Any
    company: str
    flow: Flow
    model: FlowState
    today: date
    now: datetime
    by: str | None
    wrote_outbox: bool = False
    loaded_lead: Lead | None = None

    @property
    def lead(self) -> Lead:
        if self.loaded_lead is None:
            self.loaded_lead = self.session.get(Lead, self.conversation.lead_id)
            assert self.loaded_lead is not None  # guarded by the foreign key
        return self.loaded_lead

    @property
    def audience(self) -> Audience:
        return "prospect" if self.conversation.channel == "widget" else "rep"


class _Relinked:
    """A loaded conversation (row or object) seen as belonging to another lead."""

    def __init__(self, conversation: Any, lead_id: int) -> None:
        self._conversation = conversation
        self.lead_id = lead_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conversation, name)


@dataclass(frozen=True)
class HandoffContext:
    """What a handoff router sees: the turn's session (its transaction), the lead, the
    conversation (a loaded row or object), the score and the conversation's answers."""

    session: Session
    lead: Lead
    conversation: Any
    result: ScoreResult
    answers: Mapping[str, AnswerRecord]


#: Picks the channel of a handoff notice (None: no notice). See `bot.handoff.routing`.
HandoffRouterFn = Callable[[HandoffContext], str | None]


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
        company = _clean(company)
        if not company and not ask_contact:
            raise InvalidInput("Please name the company you are qualifying.")
        if len(company) > MAX_COMPANY_LENGTH:
            raise InvalidInput(
                f"The company name is too long ({len(company)} characters; "
                f"the limit is {MAX_COMPANY_LENGTH})."
            )
        now = self._clock()
        today = now.date()
        model = FlowState(ask_contact=ask_contact, ask_icp=self._flows.icp_enabled)
        prepared = _read_answers(flow, answers, today) if answers else {}
        for key, value in (contact or {}).items():
            if value and key in flow.by_id:
                record = flow.read(flow.by_id[key], value, today)
                if record is None:
                    raise InvalidInput(f"The {key} {value!r} does not look right.")
                model.answers[key] = record
                model.prefilled.append(key)
        with self._sessions.begin() as session:
            _claim(session, dedupe_key)
            lead = Lead(
                team_id=team_id,
                company=company or "(unknown company)",
                contact_name=(contact or {}).get("name"),
                contact_email=_email_of(model),
                source=source,
                status="open",
                created_by=participant,
                framework=flow.framework.id,
                created_at=now,
                updated_at=now,
            )
            LeadRepository(session).add(lead)
            session.flush()  # assigns lead.id
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
            session.flush()
            ctx = _TurnContext(
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
                self._store_answer(ctx, key, model.answers[key])
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
    ) -> TurnResult:
        return self._turn(conversation_id, _answer_action(text), by, dedupe_key=dedupe_key)

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
        participant has none open."""
        locate = _latest_open(channel, participant, team_id)
        return self._turn(None, _answer_action(text), by, dedupe_key=dedupe_key, locate=locate)

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
        locate = _latest_open(channel, participant, team_id)
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
    ) -> TurnResult:
        """A choice by button. `expected_question` guards against a stale or double click:
        a click on a question that is no longer the current one changes nothing."""

        def act(ctx: _TurnContext) -> Turn:
            if expected_question is not None and ctx.model.state != expected_question:
                raise Conflict("That question has already been answered.")
            return ctx.flow.choose(
                ctx.model, value, today=ctx.today, company=ctx.company, audience=ctx.audience
            )

        return self._turn(conversation_id, act, by, dedupe_key=dedupe_key)

    def skip(
        self,
        conversation_id: int,
        *,
        by: str | None = None,
        expected_question: str | None = None,
        dedupe_key: str | None = None,
    ) -> TurnResult:
        """`expected_question`: as for `choose` (a button under an old question does nothing)."""
        return self._turn(
            conversation_id,
            _expecting(
                expected_question,
                lambda ctx: ctx.flow.skip(
                    ctx.model, today=ctx.today, company=ctx.company, audience=ctx.audience
                ),
            ),
            by,
            dedupe_key=dedupe_key,
        )

    def back(
        self,
        conversation_id: int,
        *,
        by: str | None = None,
        expected_question: str | None = None,
        dedupe_key: str | None = None,
    ) -> TurnResult:
        return self._turn(
            conversation_id,
            _expecting(
                expected_question,
                lambda ctx: ctx.flow.back(ctx.model, company=ctx.company, audience=ctx.audience),
            ),
            by,
            dedupe_key=dedupe_key,
        )

    def cancel(
        self,
        conversation_id: int,
        *,
        by: str | None = None,
        expected_question: str | None = None,
        dedupe_key: str | None = None,
    ) -> TurnResult:
        return self._turn(
            conversation_id,
            _expecting(expected_question, lambda ctx: ctx.flow.cancel(ctx.model)),
            by,
            dedupe_key=dedupe_key,
        )

    def restart(self, conversation_id: int, *, by: str | None = None) -> TurnResult:
        return self._turn(
            conversation_id,
            lambda ctx: ctx.flow.restart(ctx.model, company=ctx.company, audience=ctx.audience),
            by,
        )

    def resume(
        self, conversation_id: int, *, by: str | None = None, dedupe_key: str | None = None
    ) -> TurnResult:
        return self._turn(
            conversation_id,
            lambda ctx: ctx.flow.resume(ctx.model, company=ctx.company, audience=ctx.audience),
            by,
            dedupe_key=dedupe_key,
        )

    def abandon(self, conversation_id: int) -> TurnResult:
        def act(ctx: _TurnContext) -> Turn:
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

        def act(ctx: _TurnContext) -> Turn:
            turn = ctx.flow.cancel(ctx.model)
            AnswerRepository(ctx.session).erase(ctx.conversation.id, erase, ERASED)
            for question_id in erase:
                if question_id in ctx.model.answers:
                    ctx.model.answers[question_id] = AnswerRecord(
                        raw=ERASED, parsed={"erased": True}, status="skipped",
                        readback=ERASED, at=ctx.model.answers[question_id]["at"],
                    )
            if ctx.lead.source == "widget":
                if "name" in erase:
                    ctx.lead.contact_name = None
                if "email" in erase:
                    ctx.lead.contact_email = None
            return turn

        return self._turn(conversation_id, act, by)

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
            return self._record_score(session, lead, conversation, flow, model, now)

    def rescore_all(self, *, batch_size: int = 2000) -> int:
        """Re-score every completed conversation's lead as of today, in bulk: one new score row
        per lead and the lead's current score updated. Returns how many leads were scored."""
        now = self._clock()
        today = now.date()
        count = 0
        with self._sessions.begin() as session:
            conversations = ConversationRepository(session)
            scores, leads = ScoreRepository(session), LeadRepository(session)
            for batch in conversations.iter_completed_rows(batch_size):
                score_rows: list[dict[str, Any]] = []
                lead_rows: list[dict[str, Any]] = []
                for row in batch:
                    flow = self._flows.get(row.framework)
                    model = FlowState.from_data(DONE, row.data)
                    result = self._flows.score(flow, model.answers, as_of=today)
                    fit = self._flows.fit(model.answers) if model.ask_icp else None
                    score_rows.append(
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
                    )
                    lead_rows.append(
                        {
                            "id": row.lead_id,
                            "score_total": result.total,
                            "verdict": result.verdict,
                            "fit_score": fit,
                            "updated_at": now,
                        }
                    )
                if score_rows:
                    scores.add_many(score_rows)
                    leads.update_many(lead_rows)
                    count += len(score_rows)
        return count

    # --- internals --------------------------------------------------------------------------

    def _turn(
        self,
        conversation_id: int | None,
        action: Callable[[_TurnContext], Turn],
        by: str | None,
        *,
        dedupe_key: str | None = None,
        locate: Callable[[Session], Any] | None = None,
    ) -> TurnResult:
        """One turn in one transaction. `dedupe_key` is recorded in it (`AlreadyProcessed` if
        it was already); `locate` finds the conversation in it (instead of `conversation_id`)."""
        for attempt in range(MAX_CONFLICT_RETRIES):
            try:
                with self._sessions.begin() as session:
                    _claim(session, dedupe_key)
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

    def _apply_answers(
        self, ctx: _TurnContext, turn: Turn, prepared: dict[str, tuple[str, bool]]
    ) -> Turn:
        """Record answers given up front (checked by `_read_answers`), in the flow's order:
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
                    take = ctx.flow.choose if is_choice else ctx.flow.answer
                    turn = take(ctx.model, text, **kwargs)  # type: ignore[arg-type]
                elif question.skippable and _answer_ahead(ctx, prepared, order, here):
                    turn = ctx.flow.skip(ctx.model, **kwargs)  # type: ignore[arg-type]
                else:
                    break
            except FlowError as exc:
                raise InvalidInput(str(exc)) from exc
            if turn.recorded is None:
                break
            self._store_answer(ctx, *turn.recorded)
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

    def _outbox_written(self, ctx: _TurnContext) -> None:
        if self._on_outbox is not None and ctx.wrote_outbox:
            self._on_outbox()

    def _load(
        self, session: Session, conversation_id: int | None, by: str | None, *, row: Any = None
    ) -> _TurnContext:
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
        return _TurnContext(
            session, conversation, conversation.company, flow, model, now.date(), now, by
        )

    def _commit_turn(self, ctx: _TurnContext, turn: Turn, was_done: bool) -> TurnResult:
        conversation, model = ctx.conversation, ctx.model
        completed_at = conversation.completed_at if model.state == DONE else None
        if turn.recorded is not None:
            question_id, record = turn.recorded
            self._store_answer(ctx, question_id, record)
            conversation = ctx.conversation  # a repeat visitor's email may move it to their lead
        messages = [m.to_dict() for m in turn.messages]
        score: ScoreResult | None = None
        if model.state == DONE and not was_done:
            completed_at = ctx.now
            score = self._record_score(
                ctx.session, ctx.lead, conversation, ctx.flow, model, ctx.now
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
        ctx.session.flush()
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

    def _store_answer(self, ctx: _TurnContext, question_id: str, record: AnswerRecord) -> None:
        question = ctx.flow.by_id[question_id]
        AnswerRepository(ctx.session).append(
            conversation_id=ctx.conversation.id,
            lead_id=ctx.conversation.lead_id,
            question_id=question_id,
            criterion=question.criterion,
            raw_text=record["raw"],
            parsed=record["parsed"],
            status=record["status"],
            answered_by=ctx.by,
            created_at=ctx.now,
        )
        if question_id == "email" and record["status"] == "answered":
            if ctx.conversation.channel == "widget":
                self._link_by_email(ctx, record["parsed"]["email"])
            ctx.lead.contact_email = record["parsed"]["email"]
        elif question_id == "name" and record["status"] == "answered":
            ctx.lead.contact_name = record["raw"][:200]
        elif question_id == "company" and record["status"] == "answered":
            ctx.lead.company = ctx.company = record["raw"][:MAX_COMPANY_LENGTH]

    def _link_by_email(self, ctx: _TurnContext, email: str) -> None:
        """A widget visitor whose work email is already on a lead continues on that lead: the
        conversation, its answers, scores and engagement events move to it (no duplicate
        lead), and the lead created for this conversation is deleted once empty. Changing
        the email after such a match gives the conversation a lead of its own again."""
        session, conversation, current = ctx.session, ctx.conversation, ctx.lead
        leads = LeadRepository(session)
        owned = current.created_by == conversation.participant
        target = leads.find_by_email(email, conversation.team_id, exclude_id=current.id)
        if target is None:
            if owned or current.contact_email in (None, email.strip().lower()):
                return
            target = Lead(
                team_id=conversation.team_id,
                company="(unknown company)",
                source=current.source,
                status="open",
                created_by=conversation.participant,
                framework=conversation.framework,
                created_at=ctx.now,
                updated_at=ctx.now,
            )
            leads.add(target)
        for key, attribute, limit in (
            ("name", "contact_name", 200),
            ("company", "company", MAX_COMPANY_LENGTH),
        ):
            record = ctx.model.answers.get(key)
            if record is not None and record["status"] == "answered":
                setattr(target, attribute, record["raw"][:limit])
        target.framework = conversation.framework
        target.updated_at = ctx.now
        if owned:
            session.expunge(current)  # about to be deleted: nothing of it may be flushed
        session.flush()
        ConversationRepository(session).move_to_lead(conversation.id, target.id)
        if owned:
            leads.delete_if_unused(current.id)
        ctx.conversation = _Relinked(conversation, target.id)
        ctx.loaded_lead = target
        ctx.company = target.company
        log.info("conversation %s continues on lead %s (same email)", conversation.id, target.id)

    def _record_score(
        self,
        session: Session,
        lead: Lead,
        conversation: Any,
        flow: Flow,
        model: FlowState,
        now: datetime,
    ) -> ScoreResult:
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
        lead.score_total = result.total
        lead.verdict = result.verdict
        lead.fit_score = fit
        if lead.status in ("open", "qualified", "nurture", "disqualified"):
            lead.status = result.verdict
        lead.updated_at = now
        if result.verdict in self._handoff_verdicts:
            self._enqueue_handoff(session, lead, conversation, result, model.answers)
        return result

    def _enqueue_handoff(
        self,
        session: Session,
        lead: Lead,
        conversation: Any,
        result: ScoreResult,
        answers: Mapping[str, AnswerRecord],
    ) -> None:
        # One notice per conversation: a re-score never posts again, and a lead qualified
        # again later does so in a new conversation, which gets its own notice.
        dedupe_key = f"handoff:{conversation.id}"
        if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)):
            return  # already handed off (e.g. a re-score): route, assign and notify once
        lane = None
        if self._router is not None:
            lane = self._router(HandoffContext(session, lead, conversation, result, answers))
        if lane is None:
            log.info("lead %s is %s but no handoff channel is configured", lead.id, result.verdict)
            return
        OutboxRepository(session).enqueue(
            kind="handoff",
            channel="slack",
            lane=lane,
            payload=handoff_payload(lead, conversation, result, lane, answers),
            dedupe_key=dedupe_key,
        )


def handoff_payload(
    lead: Lead,
    conversation: Any,
    result: ScoreResult,
    channel: str,
    answers: Mapping[str, AnswerRecord],
) -> dict[str, Any]:
    """Everything the handoff notice shows, frozen at the moment of the verdict."""
    return {
        "channel": channel,
        "team_id": conversation.team_id,
        "lead": {
            "id": lead.id,
            "company": lead.company,
            "contact_name": lead.contact_name,
            "contact_email": lead.contact_email,
            "source": lead.source,
            "created_by": lead.created_by,
            "engagement_score": lead.engagement_score,
            "fit_score": lead.fit_score,
            "owner": lead.owner,
        },
        "conversation_id": conversation.id,
        "framework": conversation.framework,
        "answers": [
            {
                "question_id": qid,
                "raw": record["raw"],
                "readback": record["readback"],
                "status": record["status"],
            }
            for qid, record in answers.items()
        ],
        "score": result.to_dict(),
    }


def _claim(session: Session, dedupe_key: str | None) -> None:
    """Record a delivery's key in this transaction; `AlreadyProcessed` if it is there."""
    if dedupe_key is not None and not ProcessedEventRepository(session).claim(dedupe_key):
        raise AlreadyProcessed(dedupe_key)


def _answer_action(text: str) -> Callable[[_TurnContext], Turn]:
    text = _clean(text)
    if not text:
        raise InvalidInput("The answer is empty.")

    def act(ctx: _TurnContext) -> Turn:
        return ctx.flow.answer(
            ctx.model, text, today=ctx.today, company=ctx.company, audience=ctx.audience
        )

    return act


def _expecting(
    expected_question: str | None, action: Callable[[_TurnContext], Turn]
) -> Callable[[_TurnContext], Turn]:
    """`action`, refused with `Conflict` unless the conversation is at `expected_question`."""
    if expected_question is None:
        return action

    def act(ctx: _TurnContext) -> Turn:
        if ctx.model.state != expected_question:
            raise Conflict("That button is out of date: this qualification has moved on.")
        return action(ctx)

    return act


def _latest_open(
    channel: str, participant: str, team_id: str | None
) -> Callable[[Session], Any]:
    """Finds and loads the participant's latest open conversation (one query)."""

    def locate(session: Session) -> Any:
        found = ConversationRepository(session).load_latest_open_for_turn(
            channel, participant, team_id
        )
        if found is None:
            raise NotFound("You have no qualification in progress.")
        return found

    return locate


def _answer_ahead(
    ctx: _TurnContext, prepared: Mapping[str, Any], order: Mapping[str, int], here: int
) -> bool:
    """Whether an answer given up front is for a question after position `here` that may
    still be asked (unconditional, or its condition's question answered or given)."""
    for question_id in prepared:
        if order.get(question_id, -1) <= here:
            continue
        condition = ctx.flow.by_id[question_id].ask_if
        if condition is None or condition.question in prepared:
            return True
        if condition.question in ctx.model.answers and ctx.flow.applies(question_id, ctx.model):
            return True
    return False


def _read_answers(
    flow: Flow, answers: Mapping[str, str], today: date
) -> dict[str, tuple[str, bool]]:
    """Answers given up front, checked: question id -> (text or choice value, is a choice).
    Empty ones are left out; `InvalidFields` names every one that can't be read."""
    prepared: dict[str, tuple[str, bool]] = {}
    problems: dict[str, str] = {}
    for question_id, raw in answers.items():
        text = _clean(raw or "")
        if not text:
            continue
        question = flow.by_id.get(question_id)
        if question is None:
            problems[question_id] = "This is not a question of this framework."
        elif command_for(text):
            problems[question_id] = "Leave the field empty to skip the question."
        elif len(text) > question.validation.max_length:
            problems[question_id] = (
                f"Please keep it under {question.validation.max_length:,} characters."
            )
        elif any(c.value == text for c in question.choices):
            prepared[question_id] = (text, True)
        elif flow.read(question, text, today) is None:
            problems[question_id] = f"Sorry, I can't read that. {question.hint}"
        else:
            prepared[question_id] = (text, False)
    if problems:
        raise InvalidFields(problems)
    return prepared


def _clean(text: str) -> str:
    """Drop control characters (keeping newlines and tabs) and surrounding blanks."""
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable()).strip()


def _email_of(model: FlowState) -> str | None:
    record = model.answers.get("email")
    return str(record["parsed"]["email"]) if record else None


__all__ = ["QualibotError", "QualificationService", "TurnResult"]
