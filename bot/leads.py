"""Read-only views of leads for listings (`qualibot leads`, `/qualify list`) and detail pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import NotFound
from storage.models import CLOSED_STATES, Conversation, Lead
from storage.repositories import (
    AnswerRepository,
    ConversationRepository,
    LeadEventRepository,
    LeadRepository,
    ScoreRepository,
)

DONE_STATE = "done"


@dataclass(frozen=True)
class LeadSummary:
    id: int
    company: str
    framework: str
    source: str
    status: str
    score_total: float | None
    verdict: str | None
    owner: str | None
    updated_at: datetime
    #: Why a rep moved the lead to nurture or disqualified it (None: the verdict's status).
    status_reason: str | None = None


@dataclass(frozen=True)
class AnswerView:
    question_id: str
    criterion: str
    raw_text: str
    parsed: dict[str, Any]
    status: str
    answered_by: str | None
    created_at: datetime


@dataclass(frozen=True)
class ScoreView:
    total: float
    verdict: str
    framework: str
    framework_version: int
    breakdown: dict[str, Any]
    fit_score: float | None
    created_at: datetime
    #: The qualification scored (None: the conversation is gone).
    conversation_id: int | None = None


@dataclass(frozen=True)
class EventView:
    """Something a rep (or a routing rule: `actor` None) did with the lead; see
    `storage.models.LeadEvent`."""

    kind: str
    actor: str | None
    reason: str | None
    detail: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class ConversationView:
    id: int
    public_id: str
    framework: str
    channel: str
    participant: str
    state: str
    updated_at: datetime


@dataclass(frozen=True)
class LeadDetail:
    lead: LeadSummary
    contact_name: str | None
    contact_email: str | None
    conversations: list[ConversationView]
    answers: list[AnswerView]
    scores: list[ScoreView]
    status_reason: str | None = None
    events: list[EventView] = field(default_factory=list)

    def history(self) -> list[ScoreView | EventView]:
        """The lead's scores and what reps did with it, oldest first."""
        return sorted([*self.scores, *self.events], key=lambda item: item.created_at)


class LeadQueries:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def recent(
        self,
        limit: int = 50,
        *,
        created_by: str | None = None,
        owner: str | None = None,
        team_id: str | None = None,
        unanswered_widget: bool = True,
        status: str | None = None,
        unowned: bool = False,
    ) -> list[LeadSummary]:
        """Newest first; each filter given must match (`owner`: who claimed the lead or was
        assigned it; `unowned`: nobody); without `unanswered_widget`, no widget lead with no
        answer yet."""
        with self._sessions() as session:
            leads = LeadRepository(session).list_recent(
                limit=limit,
                created_by=created_by,
                owner=owner,
                team_id=team_id,
                unanswered_widget=unanswered_widget,
                status=status,
                unowned=unowned,
            )
            return [_summary(lead) for lead in leads]

    def count_unanswered_widget(self) -> int:
        """Widget leads with no answer yet: visitors who only opened the chat."""
        with self._sessions() as session:
            return LeadRepository(session).count_unanswered_widget()

    def open_conversations(
        self, channel: str, participant: str, limit: int = 20
    ) -> list[ConversationView]:
        with self._sessions() as session:
            rows = ConversationRepository(session).list_for_participant(channel, participant, limit)
            return [_conversation(c) for c in rows]

    def detail(self, lead_id: int, *, team_id: str | None = None) -> LeadDetail:
        """With `team_id`, a lead of another workspace is `NotFound` too."""
        with self._sessions() as session:
            lead = LeadRepository(session).get(lead_id)
            if lead is None or (team_id is not None and lead.team_id not in (None, team_id)):
                raise NotFound(f"There is no lead {lead_id}.")
            conversations = ConversationRepository(session).list_for_lead(lead_id)
            answers = AnswerRepository(session).list_for_lead(lead_id)
            scores = ScoreRepository(session).history(lead_id)
            events = LeadEventRepository(session).history(lead_id)
            return LeadDetail(
                lead=_summary(lead),
                contact_name=lead.contact_name,
                contact_email=lead.contact_email,
                conversations=[_conversation(c) for c in conversations],
                answers=[
                    AnswerView(
                        a.question_id,
                        a.criterion,
                        a.raw_text,
                        a.parsed,
                        a.status,
                        a.answered_by,
                        a.created_at,
                    )
                    for a in answers
                ],
                scores=[
                    ScoreView(
                        s.total,
                        s.verdict,
                        s.framework,
                        s.framework_version,
                        s.breakdown,
                        s.fit_score,
                        s.created_at,
                        s.conversation_id,
                    )
                    for s in scores
                ],
                status_reason=lead.status_reason,
                events=[
                    EventView(e.kind, e.actor, e.reason, dict(e.detail or {}), e.created_at)
                    for e in events
                ],
            )


    def in_progress(
        self, channel: str, participant: str, *, team_id: str | None = None, limit: int = 10
    ) -> list[InProgress]:
        """The participant's qualifications not yet complete (open, cancelled or abandoned:
        all can be resumed), most recently active first, with their lead's company."""
        stmt = (
            select(Conversation, Lead.company)
            .join(Lead, Lead.id == Conversation.lead_id)
            .where(
                Conversation.channel == channel,
                Conversation.participant == participant,
                Conversation.completed_at.is_(None),
                Conversation.state != DONE_STATE,
            )
            .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
            .limit(limit)
        )
        if team_id is not None:
            stmt = stmt.where(Conversation.team_id == team_id)
        with self._sessions() as session:
            return [
                InProgress(
                    conversation_id=c.id,
                    lead_id=c.lead_id,
                    company=company,
                    framework=c.framework,
                    state=c.state,
                    paused=c.state in CLOSED_STATES,
                    last_activity_at=c.last_activity_at,
                    version=c.version,
                )
                for c, company in session.execute(stmt)
            ]


@dataclass(frozen=True)
class InProgress:
    """A qualification a rep has started and not completed (`paused`: cancelled/abandoned)."""

    conversation_id: int
    lead_id: int
    company: str
    framework: str
    state: str
    paused: bool
    last_activity_at: datetime
    #: The conversation's version when listed (every turn raises it by one).
    version: int = 1


def _summary(lead: Any) -> LeadSummary:
    return LeadSummary(
        lead.id,
        lead.company,
        lead.framework,
        lead.source,
        lead.status,
        lead.score_total,
        lead.verdict,
        lead.owner,
        lead.updated_at,
        lead.status_reason,
    )


def _conversation(c: Any) -> ConversationView:
    return ConversationView(
        c.id, str(c.public_id), c.framework, c.channel, c.participant, c.state, c.updated_at
    )
