"""The widget's back end without HTTP: visitor sessions on top of the qualification service.

A widget session opens one conversation (`channel="widget"`, `source="widget"`). The visitor
holds a random bearer token, stored only as its SHA-256 hash and compared in constant time;
a short resume code (`ABCD-1234`) opens the same conversation on another device and issues a
new token (the old one stops working: the conversation moves to the new device).

Every method here is synchronous database work; the HTTP layer runs it on its database
threads. Errors are `WidgetError`s carrying the HTTP status, a code and a message meant for
the visitor.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import string
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import AlreadyProcessed, Conflict, InvalidInput, NotFound, QualibotError
from bot.registry import FlowRegistry
from bot.service import QualificationService, TurnResult
from bot.turns import FollowUp, TurnContext, decline
from bot.widget import messages as msg
from bot.widget.config import WidgetConfig
from bot.widget.engagement import refresh_engagement
from bot.widget.limits import RateLimiter
from flows.contact import CONSENT_TEXT
from flows.engine import ABANDONED, CANCELLED, DONE, END_STATES, BotMessage, FlowState, Turn
from storage.db import reading, transaction
from storage.dedupe import ProcessedEventRepository
from storage.models import Conversation, Lead, Score, WidgetSession
from storage.repositories import EngagementRepository, WidgetSessionRepository

log = logging.getLogger(__name__)

CODE_LETTERS = "".join(c for c in string.ascii_uppercase if c not in "IO")
CODE_DIGITS = string.digits
_CODE_INPUT = re.compile(r"^([A-Z]{4})-?([0-9]{4})$")
_LOCALE = re.compile(r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$")
_DUMMY_HASH = hashlib.sha256(b"no such session").hexdigest()
MAX_PAGE_CHARS = 2000
#: A visitor message's idempotency key (`message_id`): what embed.js sends (a UUID) fits.
MESSAGE_ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,64}$"
TOUCH_EVERY_SECONDS = 15.0
#: A message for a question the conversation has left (answered in another tab, say).
MOVED_ON = "This conversation has moved on (in another window or on another device)."


class WidgetError(Exception):
    """A request the widget API refuses: HTTP status, a stable code, a message for people."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.headers = dict(headers or {})


def utcnow() -> datetime:
    return datetime.now(UTC)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_resume_code() -> str:
    letters = "".join(secrets.choice(CODE_LETTERS) for _ in range(4))
    digits = "".join(secrets.choice(CODE_DIGITS) for _ in range(4))
    return f"{letters}-{digits}"


def normalize_resume_code(text: str) -> str | None:
    """`abcd 1234`, ` ABCD-1234 `, `abcd1234` -> `ABCD-1234`; None if it cannot be a code."""
    compact = re.sub(r"[\s\-_.]", "", text).upper()
    match = _CODE_INPUT.match(compact)
    return f"{match.group(1)}-{match.group(2)}" if match else None


def normalize_locale(locale: str | None) -> str:
    if locale and len(locale) <= 16 and _LOCALE.match(locale):
        return locale
    return "en"


@dataclass(frozen=True)
class NewSession:
    """What a visitor's browser asks for when it opens the chat."""

    ip: str
    framework: str | None = None
    locale: str | None = None
    page: str | None = None
    contact: Mapping[str, str] = field(default_factory=dict)
    consent: bool = False
    honeypot: bool = False


@dataclass(frozen=True)
class _Opened:
    """A widget session that passed authentication, as read in its transaction."""

    session_pk: int
    conversation_id: int
    public_id: str
    state: str
    framework: str
    lead_id: int
    participant: str
    #: The request's `message_id` was already handled (a re-sent message).
    seen: bool = False


class _Expired(Exception):
    def __init__(self, conversation_id: int, state: str) -> None:
        self.conversation_id = conversation_id
        self.state = state


class WidgetBackend:
    def __init__(
        self,
        service: QualificationService,
        session_factory: sessionmaker[Session],
        flows: FlowRegistry,
        config: WidgetConfig,
        *,
        clock: Callable[[], datetime] = utcnow,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.service = service
        self.sessions = session_factory
        self.flows = flows
        self.config = config
        self.clock = clock
        self.limiter = limiter or RateLimiter()

    # --- sessions -------------------------------------------------------------------------

    def create(self, request: NewSession) -> dict[str, Any]:
        """Open a conversation; its first messages come back with the token and resume code."""
        config = self.config
        self._limit("sessions", request.ip, config.sessions_per_hour, 3600.0, "new conversations")
        flow = self._flow(request.framework or config.default_framework)
        if request.honeypot:
            log.info("widget: honeypot filled in from %s; nothing stored", request.ip)
            return self._decoy(flow.framework.id)
        contact = {k: v for k, v in request.contact.items() if v}
        if request.consent:
            contact["consent"] = "yes"
        now = self.clock()
        token = new_token()
        codes: list[str] = []

        def on_start(session: Session, conversation: Conversation, lead: Lead) -> None:
            repo = WidgetSessionRepository(session)
            code = new_resume_code()
            while repo.resume_code_taken(code):  # pragma: no cover - 1 in billions
                code = new_resume_code()
            repo.add(
                WidgetSession(
                    conversation_id=conversation.id,
                    token_hash=hash_token(token),
                    resume_code=code,
                    visitor_ip=request.ip[:64],
                    page=(request.page or None) and request.page[:MAX_PAGE_CHARS],
                    consent_text=CONSENT_TEXT if request.consent else None,
                    consent_at=now if request.consent else None,
                    created_at=now,
                    last_seen_at=now,
                )
            )
            codes.append(code)

        try:
            result = self.service.start(
                framework=flow.framework.id,
                company=contact.get("company", ""),
                channel="widget",
                participant=f"visitor:{secrets.token_hex(8)}",
                source="widget",
                contact=contact,
                ask_contact=True,
                locale=normalize_locale(request.locale),
                on_start=on_start,
            )
        except InvalidInput as exc:
            raise WidgetError(422, "invalid_input", str(exc)) from exc
        intro = [msg.bot(msg.INTRO)] if "name" in contact else []
        return {
            "session_id": result.public_id,
            "token": token,
            "resume_code": codes[0],
            "messages": intro + msg.from_service(result.messages, None),
            "max_message_chars": config.max_message_chars,
        }

    def opening(self, framework: str | None) -> dict[str, Any]:
        """What a new conversation opens with (as `create` without contact details), without
        starting one: nothing is stored. The widget shows it until the visitor's first
        answer starts the session, so a visitor who only looks, or resumes a conversation
        from another device, leaves no empty conversation behind."""
        flow = self._flow(framework or self.config.default_framework)
        model = FlowState(ask_contact=True, ask_icp=self.flows.icp_enabled)
        turn = flow.begin(model, company="", audience="prospect")
        return {
            "messages": msg.from_service([m.to_dict() for m in turn.messages], None),
            "max_message_chars": self.config.max_message_chars,
        }

    def _decoy(self, framework: str) -> dict[str, Any]:
        """A convincing answer for a bot that filled in the honeypot: nothing is stored."""
        return {
            "session_id": str(uuid.uuid4()),
            "token": new_token(),
            "resume_code": new_resume_code(),
            **self.opening(framework),
        }

    def resume(self, code: str, ip: str) -> dict[str, Any]:
        """The conversation of a resume code, with a new token (the old one stops working)."""
        self._limit("resume", ip, self.config.resumes_per_hour, 3600.0, "resume attempts")
        normalized = normalize_resume_code(code)
        not_found = WidgetError(
            404, "not_found", "We couldn't find a conversation with that code."
        )
        if normalized is None:
            raise not_found
        now = self.clock()
        token = new_token()
        try:
            with self.sessions.begin() as session:
                found = WidgetSessionRepository(session).get_by_resume_code(normalized)
                if found is None:
                    raise not_found
                widget_session, conversation = found
                self._check_idle(
                    widget_session.last_seen_at, conversation.state, conversation.id, now
                )
                widget_session.token_hash = hash_token(token)
                widget_session.last_seen_at = now
                out = self._state(session, conversation, widget_session.resume_code)
        except _Expired as expired:
            raise self._expire(expired) from None
        out["token"] = token
        return out

    def history(self, public_id: str, token: str | None) -> dict[str, Any]:
        """Everything shown so far and where the conversation stands (to redraw the chat)."""
        now = self.clock()
        try:
            with self.sessions.begin() as session:
                row = self._authenticate(session, public_id, token, now)
                self._touch(session, row, now)
                conversation = session.get(Conversation, row.conversation_id)
                if conversation is None:  # pragma: no cover - guarded by the foreign key
                    raise WidgetError(404, "not_found", "There is no such conversation.")
                return self._state(session, conversation, row.resume_code)
        except _Expired as expired:
            raise self._expire(expired) from None

    # --- turns ----------------------------------------------------------------------------

    def post_message(
        self,
        public_id: str,
        token: str | None,
        *,
        text: str | None = None,
        choice: str | None = None,
        honeypot: bool = False,
        message_id: str | None = None,
        question: str | None = None,
    ) -> dict[str, Any]:
        """One visitor message (typed text, command words included, or a quick reply).

        `question`: the id of the question the visitor saw; if the conversation is at
        another one (it moved on in another tab or on another device), 409 and no change.

        `message_id` (the browser's idempotency key) is recorded in the turn's transaction:
        the same message sent again (its response was lost) changes nothing and gets the
        conversation's current prompt (the question now asked, or the closing message)."""
        opened = self._open(
            public_id, token, "messages", self.config.messages_per_minute, message_id=message_id
        )
        if opened.seen:
            return self._current_prompt(opened)
        if opened.state in END_STATES:
            if opened.state == ABANDONED:
                raise self._expire(_Expired(opened.conversation_id, opened.state))
            raise WidgetError(
                409,
                "conversation_closed",
                "This conversation is finished. Start a new one to continue.",
            )
        if honeypot:
            log.info("widget: honeypot filled in on %s; message dropped", opened.public_id)
            return {"messages": [], "done": False}
        consent_step = (
            _ConsentStep(opened.session_pk, self.config.closing.no_consent)
            if opened.state == "consent"
            else None
        )
        try:
            key = _message_key(opened, message_id)
            result = self._turn(opened, text, choice, key, consent_step, expected=question)
        except AlreadyProcessed:  # the same message, handled meanwhile by another request
            return self._current_prompt(opened)
        state = result.state
        shown = msg.from_service(result.messages, None)
        if result.done:
            verdict = (result.score or {}).get("verdict")
            shown = msg.from_service(result.messages, msg.closing_message(verdict, self.config))
        elif state == CANCELLED and not (consent_step and consent_step.declined):
            # "stop" / "cancel": the rep's "resume later" does not apply
            shown = [msg.bot(self.config.closing.stopped)]
        if result.lead_id != opened.lead_id:  # a repeat visitor: now on their existing lead
            self._refresh_engagement(result.lead_id, opened.lead_id)
        return {"messages": shown, "done": state in END_STATES}

    def _turn(
        self,
        opened: _Opened,
        text: str | None,
        choice: str | None,
        key: str | None = None,
        then: FollowUp | None = None,
        *,
        expected: str | None = None,
    ) -> TurnResult:
        who = opened.participant
        try:
            if choice is None:
                return self.service.answer(
                    opened.conversation_id, text or "", by=who, dedupe_key=key, then=then,
                    expected_question=expected, refusal=MOVED_ON,
                )
            question = self._flow(opened.framework).by_id.get(opened.state)
            if question is not None and question.type == "yesno" and not question.choices:
                labels = {o["value"]: o["label"] for o in msg.YES_NO_OPTIONS}
                if choice not in labels:
                    raise WidgetError(422, "invalid_choice", "Please answer yes or no.")
                return self.service.answer(
                    opened.conversation_id, labels[choice], by=who, dedupe_key=key, then=then,
                    expected_question=expected or opened.state, refusal=MOVED_ON,
                )
            return self.service.choose(
                opened.conversation_id,
                choice,
                by=who,
                expected_question=expected or opened.state,
                dedupe_key=key,
                then=then,
                refusal=MOVED_ON,
            )
        except InvalidInput as exc:
            raise WidgetError(422, "invalid_input", str(exc)) from exc
        except Conflict as exc:
            raise WidgetError(409, "conflict", str(exc)) from exc
        except NotFound as exc:  # pragma: no cover - deleted between the two transactions
            raise WidgetError(404, "not_found", "There is no such conversation.") from exc

    # --- behaviour ------------------------------------------------------------------------

    def record_event(
        self, public_id: str, token: str | None, event: str, props: dict[str, Any]
    ) -> None:
        """Store an engagement event on the conversation's lead and re-score its engagement."""
        config = self.config
        now = self.clock()
        try:
            with self.sessions.begin() as session:
                row = self._authenticate(session, public_id, token, now)
                self._limit("events", str(row.id), config.events_per_minute, 60.0, "events")
                self._touch(session, row, now)
                EngagementRepository(session).append(
                    row.lead_id, row.conversation_id, event, props, now
                )
                refresh_engagement(
                    session, row.lead_id, config.engagement_weights, config.engagement_repeat_cap
                )
        except _Expired as expired:
            raise self._expire(expired) from None

    def _refresh_engagement(self, *lead_ids: int) -> None:
        config = self.config
        with self.sessions.begin() as session:
            for lead_id in lead_ids:
                refresh_engagement(
                    session, lead_id, config.engagement_weights, config.engagement_repeat_cap
                )

    # --- idle expiry ----------------------------------------------------------------------

    def expire_idle(self, limit: int = 500) -> int:
        """Mark open widget conversations idle for longer than the idle timeout abandoned
        (their answers are kept). Returns how many were abandoned."""
        cutoff = self.clock() - timedelta(seconds=self.config.idle_timeout_seconds)
        with self.sessions.begin() as session:
            ids = WidgetSessionRepository(session).idle_open_conversations(cutoff, limit)
        count = 0
        for conversation_id in ids:
            try:
                self.service.abandon(conversation_id)
                count += 1
            except QualibotError as exc:
                log.warning("widget: could not abandon conversation %s: %s", conversation_id, exc)
        if count:
            log.info("widget: %d idle conversation(s) abandoned", count)
        return count

    # --- internals ------------------------------------------------------------------------

    def _flow(self, framework: str) -> Any:
        try:
            return self.flows.get(framework)
        except InvalidInput as exc:
            raise WidgetError(422, "unknown_framework", str(exc)) from exc

    def _limit(self, bucket: str, key: str, limit: int, period: float, what: str) -> None:
        wait = self.limiter.hit(bucket, key, limit, period)
        if wait > 0:
            raise WidgetError(
                429,
                "rate_limited",
                f"Too many {what}; please wait a little and try again.",
                retry_after=wait,
            )

    def _authenticate(
        self, session: Session, public_id: str, token: str | None, now: datetime
    ) -> Row[Any]:
        """The session for this id and token (`WidgetSessionRepository.load_for_request`).
        An unknown id and a wrong token get the same 404 (nobody learns whether someone
        else's conversation exists); a missing token 401; an idle one raises `_Expired`."""
        if not token:
            raise WidgetError(
                401,
                "unauthorized",
                "This request needs the conversation's token (Authorization: Bearer ...).",
                headers={"WWW-Authenticate": "Bearer"},
            )
        row = WidgetSessionRepository(session).load_for_request(public_id)
        expected = row.token_hash if row is not None else _DUMMY_HASH
        if not hmac.compare_digest(hash_token(token), expected) or row is None:
            raise WidgetError(
                404, "not_found", "There is no such conversation, or this token is not for it."
            )
        self._check_idle(row.last_seen_at, row.state, row.conversation_id, now)
        return row

    def _check_idle(
        self, last_seen_at: datetime, state: str, conversation_id: int, now: datetime
    ) -> None:
        idle = timedelta(seconds=self.config.idle_timeout_seconds)
        if now - last_seen_at > idle or state == ABANDONED:
            raise _Expired(conversation_id, state)

    def _touch_due(self, row: Row[Any], now: datetime) -> bool:
        """Whether to note the visitor's activity now: at most every few seconds (a write
        saved per message when they type fast; idle expiry counts in minutes)."""
        every = min(TOUCH_EVERY_SECONDS, self.config.idle_timeout_seconds / 4)
        seen_at: datetime = row.last_seen_at
        return (now - seen_at).total_seconds() >= every

    def _touch(self, session: Session, row: Row[Any], now: datetime) -> None:
        if self._touch_due(row, now):
            WidgetSessionRepository(session).touch(row.id, now)

    def _open(
        self,
        public_id: str,
        token: str | None,
        bucket: str,
        limit: int,
        *,
        message_id: str | None = None,
    ) -> _Opened:
        """Authenticate, count the request against the session's limit, mark it seen, and
        say whether `message_id` was already handled.

        The reads run outside any transaction (`reading`: on SQLite no writer lock, so a
        message queues for the database once, for its turn, not twice); the rare write (the
        visitor's "last seen", at most every few seconds) gets a short transaction of its
        own. A message id recorded between this check and the turn is caught by the turn
        itself (`AlreadyProcessed`)."""
        now = self.clock()
        try:
            with reading(self.sessions) as session:
                row = self._authenticate(session, public_id, token, now)
                self._limit(bucket, str(row.id), limit, 60.0, "messages")
                seen = message_id is not None and ProcessedEventRepository(session).seen(
                    _key(row.id, message_id)
                )
        except _Expired as expired:
            raise self._expire(expired) from None
        if self._touch_due(row, now):
            with transaction(self.sessions) as session:
                WidgetSessionRepository(session).touch(row.id, now)
        return _Opened(
            row.id,
            row.conversation_id,
            str(row.public_id),
            row.state,
            row.framework,
            row.lead_id,
            row.participant,
            seen,
        )

    def _current_prompt(self, opened: _Opened) -> dict[str, Any]:
        """What the bot says last in the conversation as it stands (the current question
        with its acknowledgement, or the closing message): the answer to a re-sent message."""
        with self.sessions.begin() as session:
            conversation = session.get(Conversation, opened.conversation_id)
            if conversation is None:  # pragma: no cover - guarded by the foreign key
                raise WidgetError(404, "not_found", "There is no such conversation.")
            state = self._state(session, conversation, "")
        shown: list[msg.Message] = []
        for message in reversed(state["messages"]):
            if message["from"] != "bot":
                break
            shown.insert(0, message)
        return {"messages": shown, "done": state["done"]}

    def _expire(self, expired: _Expired) -> WidgetError:
        """Abandon an idle conversation (answers kept) and say so."""
        if expired.state not in END_STATES:
            try:
                self.service.abandon(expired.conversation_id)
            except QualibotError as exc:  # pragma: no cover - the sweeper got there first
                log.info("widget: abandon %s: %s", expired.conversation_id, exc)
        minutes = self.config.idle_timeout_minutes
        span = f"{minutes:g} minute{'s' if minutes != 1 else ''}"
        return WidgetError(
            410,
            "session_expired",
            f"This conversation expired after {span} without activity. Your answers are "
            "saved; start a new conversation to continue.",
        )

    def _state(
        self, session: Session, conversation: Conversation, resume_code: str
    ) -> dict[str, Any]:
        """The session as the widget redraws it: history, state and resume code."""
        flow = self._flow(conversation.framework)
        model = FlowState.from_data(conversation.state, conversation.data)
        lead = session.get(Lead, conversation.lead_id)
        company = lead.company if lead is not None else ""
        closing: msg.Message | None = None
        if conversation.state == DONE:
            verdict = session.scalars(
                select(Score.verdict)
                .where(Score.conversation_id == conversation.id)
                .order_by(Score.id.desc())
                .limit(1)
            ).first()
            closing = msg.closing_message(verdict, self.config)
        shown = [msg.bot(msg.INTRO)] if "name" in model.prefilled else []
        shown += msg.from_replay(flow.replay(model, company=company, audience="prospect"), closing)
        if conversation.state == CANCELLED:
            consent = model.answers.get("consent")
            refused = consent is not None and consent["parsed"].get("value") is False
            closing_texts = self.config.closing
            shown.append(msg.bot(closing_texts.no_consent if refused else closing_texts.stopped))
        elif conversation.state == ABANDONED:
            shown.append(msg.bot(msg.EXPIRED))
        return {
            "session_id": str(conversation.public_id),
            "messages": shown,
            "done": conversation.state in END_STATES,
            "state": conversation.state,
            "resume_code": resume_code,
            "max_message_chars": self.config.max_message_chars,
        }


def _key(session_pk: int, message_id: str) -> str:
    """The dedupe key of a visitor message: per widget session, so ids never collide."""
    return f"widget:{session_pk}:{message_id}"


def _message_key(opened: _Opened, message_id: str | None) -> str | None:
    return _key(opened.session_pk, message_id) if message_id is not None else None


class _ConsentStep:
    """The follow-up of the turn that answers the consent question, in its transaction (so a
    crash cannot leave it half done): a yes is recorded with its text and time on the widget
    session; a no stops the conversation and erases the name and email (nobody will contact
    them); anything unclear asks again."""

    def __init__(self, session_pk: int, no_consent_text: str) -> None:
        self.session_pk = session_pk
        self.no_consent_text = no_consent_text
        self.declined = False

    def __call__(self, ctx: TurnContext, turn: Turn) -> Turn:
        if turn.recorded is None or turn.recorded[0] != "consent":
            return turn  # re-asked with a hint, or a command word
        value = turn.recorded[1]["parsed"].get("value")
        WidgetSessionRepository(ctx.session).record_consent(
            self.session_pk,
            CONSENT_TEXT if value is True else None,
            ctx.now if value is True else None,
        )
        if value is True:
            return turn
        if value is False:
            decline(ctx, ("name", "email"))
            self.declined = True
            readback = tuple(m for m in turn.messages if m.kind != "question")[:1]
            return Turn((*readback, BotMessage("info", self.no_consent_text)), turn.recorded)
        again = ctx.flow.back(ctx.model, company=ctx.company, audience=ctx.audience)
        return Turn((BotMessage("info", msg.UNCLEAR_CONSENT), *again.messages), turn.recorded)
