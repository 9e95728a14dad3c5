"""The conversation flow: one shared `transitions.Machine` per framework.

The machine is built once at start-up with `model=None` and `auto_transitions=False`. Per
turn the caller loads a conversation into a light `FlowState`, fires one event on the shared
machine for that model (`machine.events[name].trigger(state, ...)`), and stores the new state
string and data. No machine is built per conversation and no model is ever added to a
machine, so cost and memory do not grow with the number of conversations.

States are `start`, one per question (its id), and the end states `done`, `cancelled` and
`abandoned`. The question order is contact questions (website visitors), ICP pre-filter
questions (when configured), then the framework's questions. Conditional questions are
skipped by conditions on the generated transitions: for each question state, the `answer`
and `skip` events list every later question in order, guarded by "this one applies", and the
first transition whose conditions pass wins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, cast

from transitions import EventData, Machine
from transitions.core import MachineError

from flows.answers import AnswerRecord
from flows.definitions import Framework, Question
from flows.details import detail, yes_from_details
from flows.parsing import parse_answer, parse_text, readback
from flows.parsing._common import Parsed

START = "start"
DONE = "done"
CANCELLED = "cancelled"
ABANDONED = "abandoned"
END_STATES = frozenset({DONE, CANCELLED, ABANDONED})

MAX_REASKS = 2
COMMAND_WORDS = {
    "back": "back",
    "skip": "skip",
    "cancel": "cancel",
    "restart": "restart",
    "resume": "resume",
    "stop": "cancel",
    "start over": "restart",
}

Audience = Literal["rep", "prospect"]
UNKNOWN_NOTE = "I couldn't read that either, so I've noted it as unknown and moved on."
NOT_UNDERSTOOD_REASK = "Sorry, I didn't quite get that."
ASK_MORE = "Could you say a little more?"  # a text answer under the question's min_words
Group = Literal["contact", "icp", "framework"]


class FlowError(Exception):
    """A turn the flow cannot take (e.g. skipping a required question); the message says why."""


@dataclass
class FlowState:
    """The per-conversation model the shared machine runs on: plain data, stored as JSON."""

    state: str = START
    answers: dict[str, AnswerRecord] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    attempts: int = 0
    ask_contact: bool = False
    ask_icp: bool = False
    prefilled: list[str] = field(default_factory=list)
    resume_state: str | None = None

    @classmethod
    def from_data(cls, state: str, data: dict[str, Any]) -> FlowState:
        return cls(
            state=state,
            answers=dict(data.get("answers", {})),
            history=list(data.get("history", [])),
            attempts=int(data.get("attempts", 0)),
            ask_contact=bool(data.get("ask_contact", False)),
            ask_icp=bool(data.get("ask_icp", False)),
            prefilled=list(data.get("prefilled", [])),
            resume_state=data.get("resume_state"),
        )

    def to_data(self) -> dict[str, Any]:
        return {
            "answers": dict(self.answers),
            "history": list(self.history),
            "attempts": self.attempts,
            "ask_contact": self.ask_contact,
            "ask_icp": self.ask_icp,
            "prefilled": list(self.prefilled),
            "resume_state": self.resume_state,
        }


@dataclass(frozen=True)
class BotMessage:
    """One thing the bot says, channel-neutral. Channels render it (Block Kit, widget JSON)."""

    kind: Literal["question", "readback", "hint", "info", "done"]
    text: str
    question: Question | None = None
    position: tuple[int, int] | None = None  # (1-based index, total) for questions

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "text": self.text}
        if self.question is not None:
            q = self.question
            out["question"] = {
                "id": q.id,
                "criterion": q.criterion,
                "type": q.type,
                "hint": q.hint,
                "skippable": q.skippable,
                "options": [{"label": c.label, "value": c.value} for c in q.choices],
            }
        if self.position is not None:
            out["position"] = {"index": self.position[0], "total": self.position[1]}
        return out


@dataclass(frozen=True)
class Turn:
    """What one event did: the messages to send, and the answer it recorded, if any."""

    messages: tuple[BotMessage, ...]
    recorded: tuple[str, AnswerRecord] | None = None
    #: Follow-ups answered in the same message, after `recorded` (see `flows.details`).
    ahead: tuple[tuple[str, AnswerRecord], ...] = ()

    @property
    def answers(self) -> tuple[tuple[str, AnswerRecord], ...]:
        """Every answer this event recorded, in order."""
        return ((self.recorded,) if self.recorded is not None else ()) + self.ahead

    @property
    def text(self) -> str:
        return "\n".join(m.text for m in self.messages)


def _model(event: EventData) -> FlowState:
    """The conversation an event runs on (the shared machine passes it untyped)."""
    return cast(FlowState, event.model)


def _answered(question: Question, text: str, parsed: Parsed, today: date) -> AnswerRecord:
    """The record of `text` read as `parsed`, an answer to `question`."""
    return AnswerRecord(
        raw=text,
        parsed=parsed,
        status="answered",
        readback=readback(question.type, parsed, question.choices),
        at=today.isoformat(),
    )


def command_for(text: str) -> str | None:
    """The flow command a typed message stands for (`back`, `skip`, ...), if it is one."""
    return COMMAND_WORDS.get(text.strip().lower().strip(".!"))


class Flow:
    """The flow of one framework: its questions and its shared state machine."""

    def __init__(
        self,
        framework: Framework,
        contact_questions: Sequence[Question] = (),
        icp_questions: Sequence[Question] = (),
    ) -> None:
        self.framework = framework
        self.groups: dict[str, Group] = {}
        ordered: list[Question] = []
        for group, questions in (
            ("contact", contact_questions),
            ("icp", icp_questions),
            ("framework", framework.questions()),
        ):
            for q in questions:
                if q.id in self.groups or q.id in (START, *END_STATES):
                    raise ValueError(f"{framework.id}: question id {q.id!r} is used twice")
                self.groups[q.id] = group  # type: ignore[assignment]
                ordered.append(q)
        self.questions: tuple[Question, ...] = tuple(ordered)
        self.by_id = {q.id: q for q in ordered}
        self.machine = Machine(
            model=None,
            states=[START, *self.by_id, DONE, CANCELLED, ABANDONED],
            transitions=self._transitions(),
            initial=START,
            auto_transitions=False,
            send_event=True,
        )

    # --- the machine definition, generated from the questions ------------------------------

    def _transitions(self) -> list[dict[str, Any]]:
        ids = [q.id for q in self.questions]
        out: list[dict[str, Any]] = []

        def to_next(
            trigger: str, source: str, later: list[str], before: Callable[..., Any]
        ) -> None:
            for dest in later:
                out.append(
                    {
                        "trigger": trigger,
                        "source": source,
                        "dest": dest,
                        "conditions": [self._applies(dest)],
                        "before": before,
                    }
                )
            out.append({"trigger": trigger, "source": source, "dest": DONE, "before": before})

        to_next("begin", START, ids, self._noop)
        for i, qid in enumerate(ids):
            out.append(
                {
                    "trigger": "answer",
                    "source": qid,
                    "dest": None,
                    "conditions": [self._needs_reask],
                    "after": self._count_attempt,
                }
            )
            to_next("answer", qid, ids[i + 1 :], self._record)
            if self.by_id[qid].skippable:
                to_next("skip", qid, ids[i + 1 :], self._record)
            for previous in reversed(ids[:i]):
                out.append(
                    {
                        "trigger": "back",
                        "source": qid,
                        "dest": previous,
                        "conditions": [self._is_previous(previous)],
                        "before": self._pop,
                    }
                )
            out.append({"trigger": "resume", "source": qid, "dest": None})
        for end in (CANCELLED, ABANDONED):
            for qid in ids:
                out.append(
                    {
                        "trigger": "resume",
                        "source": end,
                        "dest": qid,
                        "conditions": [self._resumes_at(qid)],
                    }
                )
            # Cancelled before the first question: resume from the first one that applies.
            to_next("resume", end, ids, self._noop)
        questions_and_start = [START, *ids]
        out.append(
            {
                "trigger": "cancel",
                "source": questions_and_start,
                "dest": CANCELLED,
                "before": self._remember,
            }
        )
        out.append(
            {
                "trigger": "abandon",
                "source": questions_and_start,
                "dest": ABANDONED,
                "before": self._remember,
            }
        )
        out.append(
            {
                "trigger": "restart",
                "source": [*ids, DONE, CANCELLED, ABANDONED],
                "dest": START,
                "before": self._clear,
            }
        )
        return out

    # Conditions and callbacks. With `send_event=True` each gets the EventData; the pending
    # answer travels in `event.kwargs["record"]`.

    def _applies(self, question_id: str) -> Callable[[EventData], bool]:
        def applies(event: EventData) -> bool:
            return self.applies(question_id, _model(event), event.kwargs.get("record"))

        applies.__name__ = f"applies_{question_id}"
        return applies

    def _is_previous(self, question_id: str) -> Callable[[EventData], bool]:
        def is_previous(event: EventData) -> bool:
            history = _model(event).history
            return bool(history) and history[-1] == question_id

        return is_previous

    def _resumes_at(self, question_id: str) -> Callable[[EventData], bool]:
        def resumes_at(event: EventData) -> bool:
            return bool(_model(event).resume_state == question_id)

        return resumes_at

    @staticmethod
    def _needs_reask(event: EventData) -> bool:
        record = event.kwargs["record"]
        return bool(record is None and _model(event).attempts < MAX_REASKS)

    @staticmethod
    def _count_attempt(event: EventData) -> None:
        _model(event).attempts += 1

    def _record(self, event: EventData) -> None:
        model = _model(event)
        source = model.state  # `before` callbacks run while still in the source state
        record: AnswerRecord | None = event.kwargs.get("record")
        if record is None:  # out of re-asks: the answer is recorded as unknown
            record = event.kwargs["unknown_record"]
        model.answers[source] = record
        model.history.append(source)
        model.attempts = 0

    @staticmethod
    def _pop(event: EventData) -> None:
        _model(event).history.pop()
        _model(event).attempts = 0

    @staticmethod
    def _remember(event: EventData) -> None:
        state = _model(event).state
        _model(event).resume_state = None if state == START else state

    @staticmethod
    def _clear(event: EventData) -> None:
        model = _model(event)
        model.answers = {k: v for k, v in model.answers.items() if k in model.prefilled}
        model.history = []
        model.attempts = 0
        model.resume_state = None

    @staticmethod
    def _noop(event: EventData) -> None:
        return None

    # --- questions that apply -------------------------------------------------------------

    def applies(
        self, question_id: str, model: FlowState, pending: AnswerRecord | None = None
    ) -> bool:
        """Whether a question is asked in this conversation, given the answers so far."""
        group = self.groups[question_id]
        if group == "contact":
            return model.ask_contact and question_id not in model.prefilled
        if group == "icp" and not model.ask_icp:
            return False
        condition = self.by_id[question_id].ask_if
        if condition is None:
            return True
        earlier = model.answers.get(condition.question)
        if pending is not None and model.state == condition.question:
            earlier = pending
        if earlier is None or earlier["status"] != "answered":
            return False
        return condition.holds(str(earlier["parsed"].get("value")))

    def applicable_questions(self, model: FlowState) -> list[Question]:
        return [q for q in self.questions if self.applies(q.id, model)]

    def _may_be_asked(self, question: Question, model: FlowState) -> bool:
        """Applies, or is a follow-up whose condition is not decided yet (for "2 of 5")."""
        if self.applies(question.id, model):
            return True
        condition = question.ask_if
        return condition is not None and condition.question not in model.answers

    # --- turns ----------------------------------------------------------------------------

    def begin(self, model: FlowState, *, company: str, audience: Audience) -> Turn:
        self._fire("begin", model)
        return Turn(self._arrival(model, company, audience))

    def answer(
        self,
        model: FlowState,
        text: str,
        *,
        today: date,
        company: str,
        audience: Audience,
        details: bool = True,
    ) -> Turn:
        """A typed answer to the current question (command words like `back` included).
        With `details`, a choice typed with the details its follow-up asks for ("approved,
        about 80k a year") answers that follow-up too (`flows.details`)."""
        command = command_for(text)
        if command == "back":
            return self.back(model, company=company, audience=audience)
        if command == "skip":
            return self.skip(model, today=today, company=company, audience=audience)
        if command == "cancel":
            return self.cancel(model)
        if command == "restart":
            return self.restart(model, company=company, audience=audience)
        if command == "resume":
            return self.resume(model, company=company, audience=audience)
        question = self._current_question(model)
        limit = question.validation.max_length
        if len(text) > limit:
            return Turn(
                (
                    BotMessage(
                        "hint",
                        f"That answer is {len(text):,} characters long; please keep "
                        f"it under {limit:,}.",
                    ),
                    self._question_message(question, model, company, audience),
                )
            )
        # Out of re-asks, a short answer is kept as it is rather than noted as unreadable.
        last_chance = model.attempts >= MAX_REASKS
        record, too_short = self._read(question, text, today, short_ok=last_chance)
        known: tuple[Question, Parsed] | None = None  # a follow-up's details, read already
        if record is None and details and question.type == "choice":
            record, known = self._yes_from_details(question, text, today)
        opening = ASK_MORE if too_short else NOT_UNDERSTOOD_REASK
        turn = self._take(model, "answer", record, text, today, company, audience, opening)
        if details and record is not None and turn.recorded is not None:
            return self._details_ahead(
                model, question, text, turn, today, company, audience, known
            )
        return turn

    def choose(
        self, model: FlowState, value: str, *, today: date, company: str, audience: Audience
    ) -> Turn:
        """A choice picked by button or quick reply."""
        question = self._current_question(model)
        label = next((c.label for c in question.choices if c.value == value), None)
        if label is None:
            raise FlowError(f"{value!r} is not an option for this question")
        record = AnswerRecord(
            raw=label,
            parsed={"value": value},
            status="answered",
            readback=label,
            at=today.isoformat(),
        )
        return self._take(model, "answer", record, label, today, company, audience)

    def skip(self, model: FlowState, *, today: date, company: str, audience: Audience) -> Turn:
        question = self._current_question(model)
        if not question.skippable:
            raise FlowError(f"This question can't be skipped. {question.hint}")
        record = AnswerRecord(
            raw="",
            parsed={"unknown": True},
            status="skipped",
            readback="skipped",
            at=today.isoformat(),
        )
        self._fire("skip", model, record=record)
        return Turn(
            (BotMessage("info", "Skipped."), *self._arrival(model, company, audience)),
            recorded=(question.id, record),
        )

    def back(self, model: FlowState, *, company: str, audience: Audience) -> Turn:
        self._current_question(model)
        if not model.history:
            raise FlowError("This is the first question; there is nothing to go back to.")
        self._fire("back", model)
        return Turn(self._arrival(model, company, audience))

    def cancel(self, model: FlowState) -> Turn:
        if model.state in END_STATES:
            raise FlowError(f"This qualification is already {model.state}.")
        self._fire("cancel", model)
        return Turn(
            (
                BotMessage(
                    "info",
                    "Cancelled. Your answers are kept; you can resume this qualification later.",
                ),
            )
        )

    def abandon(self, model: FlowState) -> None:
        if model.state not in END_STATES:
            self._fire("abandon", model)

    def restart(self, model: FlowState, *, company: str, audience: Audience) -> Turn:
        if model.state == START:
            raise FlowError("This qualification has not started yet.")
        self._fire("restart", model)
        self._fire("begin", model)
        return Turn(
            (BotMessage("info", "Starting over."), *self._arrival(model, company, audience))
        )

    def resume(self, model: FlowState, *, company: str, audience: Audience) -> Turn:
        if model.state in (START, DONE):
            raise FlowError(
                "There is nothing to resume: this qualification is "
                f"{'not started' if model.state == START else 'complete'}."
            )
        self._fire("resume", model)
        model.resume_state = None
        return Turn(self._arrival(model, company, audience))

    def replay(
        self, model: FlowState, *, company: str, audience: Audience
    ) -> list[BotMessage | str]:
        """The conversation as it stands, for redrawing a chat (e.g. after a page refresh).

        For each question answered, in order: the question as asked (a `BotMessage`), what the
        person said (a `str`: the answer as typed, the label of a picked choice, or `skip`)
        and the bot's acknowledgement (an answer erased on request: its placeholder alone);
        then the current question, or the closing message when done. Re-asks, hints and
        answers undone with `back` are left out: this is the conversation's current content,
        not a log. Nothing is changed.
        """
        out: list[BotMessage | str] = []
        for question_id in model.history:
            question = self.by_id.get(question_id)
            record = model.answers.get(question_id)
            if question is None or record is None:
                continue
            out.append(self._question_message(question, model, company, audience))
            if record["parsed"].get("erased"):
                out.append(record["raw"])  # erased on request: the placeholder, not "skip"
            elif record["status"] == "skipped":
                out += ["skip", BotMessage("info", "Skipped.")]
            elif record["status"] == "unknown":
                out += [record["raw"], BotMessage("info", UNKNOWN_NOTE)]
            else:
                said = self._readback(question, record, audience)
                out += [record["raw"], BotMessage("readback", said)]
        if model.state == DONE or model.state in self.by_id:
            out.extend(self._arrival(model, company, audience))
        return out

    # --- helpers --------------------------------------------------------------------------

    def read(self, question: Question, text: str, today: date) -> AnswerRecord | None:
        """Parse an answer; None when it is not a valid answer to the question."""
        return self._read(question, text, today)[0]

    def _read(
        self, question: Question, text: str, today: date, *, short_ok: bool = False
    ) -> tuple[AnswerRecord | None, bool]:
        """(the answer's record or None, whether it was refused only for being too short)."""
        parsed = parse_answer(question.type, text, today=today, choices=question.choices)
        if parsed.get("unknown") and not (parsed.get("none") or parsed.get("unsure")):
            return None, False  # unreadable; an explicit "never" or "not sure" is an answer
        if (
            not short_ok
            and question.type == "text"
            and parsed.get("substantive")
            and parsed.get("words", 0) < question.validation.min_words
        ):
            return None, True  # too short to mean much; "none" or "not sure" is an answer
        return _answered(question, text, parsed, today), False

    def _take(
        self,
        model: FlowState,
        trigger: str,
        record: AnswerRecord | None,
        text: str,
        today: date,
        company: str,
        audience: Audience,
        reask: str = NOT_UNDERSTOOD_REASK,
    ) -> Turn:
        question = self._current_question(model)
        unknown = AnswerRecord(
            raw=text,
            parsed={"unknown": True},
            status="unknown",
            readback="not understood",
            at=today.isoformat(),
        )
        self._fire(trigger, model, record=record, unknown_record=unknown)
        if model.state == question.id:  # re-asked
            return Turn(
                (
                    BotMessage("hint", f"{reask} {question.hint}"),
                    self._question_message(question, model, company, audience),
                )
            )
        if record is None:
            first = BotMessage("info", UNKNOWN_NOTE)
            recorded = (question.id, unknown)
        else:
            first = BotMessage("readback", self._readback(question, record, audience))
            recorded = (question.id, record)
        return Turn((first, *self._arrival(model, company, audience)), recorded=recorded)

    def _yes_from_details(
        self, asked: Question, text: str, today: date
    ) -> tuple[AnswerRecord | None, tuple[Question, Parsed] | None]:
        """The "yes" choice of `asked` when the answer gives only what its follow-up asks
        ("50k" to "Does Acme have budget?"), with that follow-up and its details; see
        `flows.details.yes_from_details`."""
        follow_ups = [q for q in self.questions if q.follows(asked.id)]
        found = yes_from_details(asked, follow_ups, text, today)
        if found is None:
            return None, None
        value, follow_up, parsed = found
        return _answered(asked, text, {"value": value}, today), (follow_up, parsed)

    def _details_ahead(
        self,
        model: FlowState,
        asked: Question,
        text: str,
        turn: Turn,
        today: date,
        company: str,
        audience: Audience,
        known: tuple[Question, Parsed] | None = None,
    ) -> Turn:
        """`turn`, or, when the next question is a follow-up of the choice just answered and
        the answer already says what it asks, that follow-up answered too (`known`: what the
        answer says to a follow-up, read already)."""
        follow_up = self.by_id.get(model.state)
        if asked.type != "choice" or follow_up is None or not follow_up.follows(asked.id):
            return turn
        if known is not None and known[0] is follow_up:
            parsed: Parsed | None = known[1]
        else:
            parsed = detail(follow_up, asked, text, today)
        if parsed is None:
            return turn
        record = _answered(follow_up, text, parsed, today)
        self._fire("answer", model, record=record, unknown_record=record)
        said = BotMessage("readback", self._readback(follow_up, record, audience))
        return Turn(
            (turn.messages[0], said, *self._arrival(model, company, audience)),
            recorded=turn.recorded,
            ahead=((follow_up.id, record),),
        )

    def _arrival(
        self, model: FlowState, company: str, audience: Audience
    ) -> tuple[BotMessage, ...]:
        if model.state == DONE:
            return (BotMessage("done", "That's everything, thank you."),)
        if model.state in (CANCELLED, ABANDONED):
            return ()
        question = self.by_id[model.state]
        return (self._question_message(question, model, company, audience),)

    def _question_message(
        self, question: Question, model: FlowState, company: str, audience: Audience
    ) -> BotMessage:
        template = question.ask.rep if audience == "rep" else question.ask.prospect
        text = template.replace("{company}", company)
        ids = [q.id for q in self.questions if self._may_be_asked(q, model)]
        index = ids.index(question.id) + 1 if question.id in ids else len(model.history) + 1
        return BotMessage("question", text, question=question, position=(index, len(ids)))

    def label(self, question: Question, audience: Audience = "rep") -> str:
        """The question as named in read-backs: "Budget", "Budget (budget amount)" (for a
        prospect a follow-up is named by its criterion alone: "Budget")."""
        if self.groups[question.id] == "framework":
            label = self.framework.criterion(question.criterion).label
            if question.main or audience == "prospect":
                return label
            return f"{label} ({question.id.replace('_', ' ')})"
        return question.id.replace("_", " ").capitalize()

    def _readback(self, question: Question, record: AnswerRecord, audience: Audience) -> str:
        """ "Budget: USD 50,000 per year": what was understood, as the audience reads it (the
        stored read-back is the rep's; a visitor's authority answer is worded for them)."""
        said = record["readback"]
        if audience == "prospect" and question.type == "authority":
            said = readback(question.type, record["parsed"], for_prospect=True)
        if audience == "prospect" and question.type == "text" and "\n" in record["raw"]:
            # A visitor's answer of several lines is read back in its lines (the parsed text,
            # and the rep's read-back, have them as spaces); blank lines and blanks go.
            lines = [str(parse_text(line).get("text", "")) for line in record["raw"].splitlines()]
            lines = [line for line in lines if line]
            said = readback("text", {"text": "\n".join(lines)}) if lines else said
        return f"{self.label(question, audience)}: {said}"

    def _current_question(self, model: FlowState) -> Question:
        question = self.by_id.get(model.state)
        if question is None:
            if model.state == DONE:
                raise FlowError("This qualification is complete.")
            if model.state in (CANCELLED, ABANDONED):
                raise FlowError(f"This qualification is {model.state}; resume it first.")
            raise FlowError("This qualification has not started yet.")
        return question

    def _fire(self, trigger: str, model: FlowState, **kwargs: Any) -> None:
        try:
            fired = self.machine.events[trigger].trigger(model, **kwargs)
        except MachineError as exc:
            raise FlowError(f"Can't {trigger} from here.") from exc
        if not fired:
            raise FlowError(f"Can't {trigger} from here.")
