"""Contact details in a conversation (name, work email, company): they update the lead, and a
widget visitor whose work email is already on a lead continues on that lead."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flows.answers import AnswerRecord
from storage.models import Lead
from storage.repositories import ConversationRepository, LeadRepository

if TYPE_CHECKING:
    from bot.turns import TurnContext

log = logging.getLogger(__name__)

CONTACT_QUESTIONS = frozenset({"name", "email", "company"})
MAX_NAME_LENGTH = 200
MAX_COMPANY_LENGTH = 200


class Relinked:
    """A loaded conversation (row or object) seen as belonging to another lead."""

    def __init__(self, conversation: Any, lead_id: int) -> None:
        self._conversation = conversation
        self.lead_id = lead_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conversation, name)


def note_contact(ctx: TurnContext, question_id: str, record: AnswerRecord) -> None:
    """An answered contact question: copy it onto the lead (the email may move the
    conversation to an existing lead first). One UPDATE of the lead, which is not loaded
    for it: these are three of a widget visitor's first messages."""
    leads = LeadRepository(ctx.session)
    if question_id == "email":
        email = record["parsed"]["email"]
        if ctx.conversation.channel == "widget":
            link_by_email(ctx, email)
        leads.set_contact(ctx.conversation.lead_id, "contact_email", email, ctx.now)
    elif question_id == "name":
        leads.set_contact(ctx.conversation.lead_id, "contact_name", name_of(record), ctx.now)
    elif question_id == "company":
        ctx.company = company_of(record)
        leads.set_contact(ctx.conversation.lead_id, "company", ctx.company, ctx.now)


def name_of(record: AnswerRecord) -> str:
    """The name as read ("Hi, I'm Dana Lee." is "Dana Lee"); as typed for an answer stored
    before names were read."""
    parsed = record["parsed"]
    name = parsed.get("name") if isinstance(parsed, dict) else None
    return (name if isinstance(name, str) and name else record["raw"])[:MAX_NAME_LENGTH]


def company_of(record: AnswerRecord) -> str:
    """The company as read ("I work at Acme Logistics." is "Acme Logistics"); as typed for an
    answer stored before companies were read."""
    parsed = record["parsed"]
    company = parsed.get("company") if isinstance(parsed, dict) else None
    return (company if isinstance(company, str) and company else record["raw"])[
        :MAX_COMPANY_LENGTH]


def link_by_email(ctx: TurnContext, email: str) -> None:
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
    name = ctx.model.answers.get("name")
    if name is not None and name["status"] == "answered":
        target.contact_name = name_of(name)
    company = ctx.model.answers.get("company")
    if company is not None and company["status"] == "answered":
        target.company = company_of(company)
    target.framework = conversation.framework
    target.updated_at = ctx.now
    if owned:
        session.expunge(current)  # about to be deleted: nothing of it may be flushed
    session.flush()
    ConversationRepository(session).move_to_lead(conversation.id, target.id)
    if owned:
        leads.delete_if_unused(current.id)
    ctx.conversation = Relinked(conversation, target.id)
    ctx.loaded_lead = target
    ctx.company = target.company
    log.info("conversation %s continues on lead %s (same email)", conversation.id, target.id)
