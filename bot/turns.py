"""What one turn is made of: its context, its result, and the small pieces the service's
public methods are built from (actions on the flow, finding the conversation, recording the
answer, the delivery's dedupe key).

The service (`bot.service`) runs each turn in one transaction; everything here runs inside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from bot import contacts
from bot.errors import AlreadyProcessed, Conflict, InvalidFields, InvalidInput, NotFound
from flows.answers import AnswerRecord
from flows.engine import Audience, Flow, FlowState, Turn, command_for
from storage.dedupe import ProcessedEventRepository
from storage.models import Lead
from storage.repositories import AnswerRepository, ConversationRepository, LeadRepository

ERASED = "(erased: no consent)"


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
class TurnContext:
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
            lead_id = self.conversation.lead_id
            self.loaded_lead = LeadRepository(self.session).get_for_turn(lead_id)
            assert self.loaded_lead is not None  # guarded by the foreign key
        return self.loaded_lead

    @property
    def audience(self) -> Audience:
        return "prospect" if self.conversation.channel == "widget" else "rep"


def store_answer(ctx: TurnContext, question_id: str, record: AnswerRecord) -> None:
    """Append the answer; a contact answer also updates the lead (see `bot.contacts`)."""
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
    if record["status"] == "answered" and question_id in contacts.CONTACT_QUESTIONS:
        contacts.note_contact(ctx, question_id, record)


def claim_delivery(session: Session, dedupe_key: str | None) -> None:
    """Record a delivery's key in this transaction; `AlreadyProcessed` if it is there."""
    if dedupe_key is not None and not ProcessedEventRepository(session).claim(dedupe_key):
        raise AlreadyProcessed(dedupe_key)


def answer_action(text: str) -> Callable[[TurnContext], Turn]:
    text = clean(text)
    if not text:
        raise InvalidInput("The answer is empty.")

    def act(ctx: TurnContext) -> Turn:
        return ctx.flow.answer(
            ctx.model, text, today=ctx.today, company=ctx.company, audience=ctx.audience
        )

    return act


def expecting(
    expected_question: str | None,
    action: Callable[[TurnContext], Turn],
    refusal: str = "That button is out of date: this qualification has moved on.",
) -> Callable[[TurnContext], Turn]:
    """`action`, refused with `Conflict(refusal)` unless the conversation is at
    `expected_question` (a stale or double click changes nothing)."""
    if expected_question is None:
        return action

    def act(ctx: TurnContext) -> Turn:
        if ctx.model.state != expected_question:
            raise Conflict(refusal)
        return action(ctx)

    return act


def latest_open(
    channel: str, participant: str, team_id: str | None, *, text: str | None = None
) -> Callable[[Session], Any]:
    """Finds and loads the participant's latest open conversation (one query). With none
    open, the message `text` "resume" finds the latest paused one; any other `NotFound`
    names the paused one, if there is one, and says how to continue it."""

    def locate(session: Session) -> Any:
        conversations = ConversationRepository(session)
        found = conversations.load_latest_open_for_turn(channel, participant, team_id)
        if found is not None:
            return found
        paused = conversations.load_latest_paused_for_turn(channel, participant, team_id)
        if paused is None:
            raise NotFound("You have no qualification in progress.")
        if text is not None and command_for(text) == "resume":
            return paused
        raise NotFound(
            f"You have no qualification in progress: {paused.company} is paused. "
            "Type `resume` to continue it."
        )

    return locate


def answer_ahead(
    ctx: TurnContext, prepared: Mapping[str, Any], order: Mapping[str, int], here: int
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


def read_answers(
    flow: Flow, answers: Mapping[str, str], today: date
) -> dict[str, tuple[str, bool]]:
    """Answers given up front, checked: question id -> (text or choice value, is a choice).
    Empty ones are left out; `InvalidFields` names every one that can't be read."""
    prepared: dict[str, tuple[str, bool]] = {}
    problems: dict[str, str] = {}
    for question_id, raw in answers.items():
        text = clean(raw or "")
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
    for question_id in prepared:
        problem = _unused_follow_up(flow, question_id, prepared, today)
        if problem:
            problems[question_id] = problem
    if problems:
        raise InvalidFields(problems)
    return prepared


def _unused_follow_up(
    flow: Flow, question_id: str, prepared: Mapping[str, tuple[str, bool]], today: date
) -> str | None:
    """Why an answer given up front to a follow-up would not be used (its question is asked
    only after some answer to an earlier one, which the form does not give), or None."""
    condition = flow.by_id[question_id].ask_if
    if condition is None or condition.question not in flow.by_id:
        return None
    earlier = flow.by_id[condition.question]
    label = flow.label(earlier)
    if condition.question not in prepared:
        return f"This is asked only after {label}: answer that too, or leave this empty."
    text, is_choice = prepared[condition.question]
    record = None if is_choice else flow.read(earlier, text, today)
    value = text if record is None else str(record["parsed"].get("value"))
    if condition.holds(value):
        return None
    return f"Not asked with that answer to {label}: leave this empty."


def clean(text: str) -> str:
    """Drop control characters (keeping newlines and tabs) and surrounding blanks."""
    if text.isprintable():  # most answers: nothing to drop
        return text.strip()
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable()).strip()


def email_of(model: FlowState) -> str | None:
    record = model.answers.get("email")
    return str(record["parsed"]["email"]) if record else None


#: Runs after the flow took a turn, in the same transaction: gets the context and the flow's
#: `Turn`, returns the turn to commit (e.g. the widget records consent, or stops on a "no",
#: atomically with the answer).
FollowUp = Callable[[TurnContext, Turn], Turn]


def followed_by(
    action: Callable[[TurnContext], Turn], then: FollowUp | None
) -> Callable[[TurnContext], Turn]:
    if then is None:
        return action
    return lambda ctx: then(ctx, action(ctx))


def decline(ctx: TurnContext, erase: tuple[str, ...]) -> Turn:
    """The person declined to have their details stored and be contacted: cancel the
    conversation and erase what they typed for `erase` (their name and email): the answers'
    text, the conversation's copy and the lead's contact fields. The one exception to
    append-only answers."""
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
