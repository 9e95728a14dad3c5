"""Object builders for storage tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from storage import Conversation, Lead
from storage.models import WidgetSession


def make_lead(session: Session, **overrides: Any) -> Lead:
    values: dict[str, Any] = {
        "company": "Acme Corp",
        "source": "rep",
        "framework": "bant",
        "team_id": "T1",
    }
    values.update(overrides)
    lead = Lead(**values)
    session.add(lead)
    session.flush()
    return lead


def make_conversation(
    session: Session, lead: Lead, *, last_activity_at: datetime | None = None, **overrides: Any
) -> Conversation:
    values: dict[str, Any] = {
        "lead_id": lead.id,
        "framework": lead.framework,
        "framework_version": 1,
        "channel": "slack",
        "participant": "U1",
        "team_id": lead.team_id,
        "state": "ask_budget",
    }
    if last_activity_at is not None:
        values["last_activity_at"] = last_activity_at
    values.update(overrides)
    conversation = Conversation(**values)
    session.add(conversation)
    session.flush()
    return conversation


def make_widget_session(
    session: Session, conversation: Conversation, **overrides: Any
) -> WidgetSession:
    values: dict[str, Any] = {
        "conversation_id": conversation.id,
        "token_hash": "a" * 64,
        "resume_code": f"R{conversation.id:07d}",
    }
    values.update(overrides)
    widget = WidgetSession(**values)
    session.add(widget)
    session.flush()
    return widget
