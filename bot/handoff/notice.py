"""Handing a qualified lead to sales: the handoff notice's outbox row, written in the turn's
transaction once per conversation.

The router (see `bot.handoff.routing.HandoffRouter`) picks the channel; `handoff_payload`
freezes what the notice shows at the moment of the verdict, so the dispatcher can render it
from the row alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from flows.answers import AnswerRecord
from flows.scoring import ScoreResult
from storage.models import Lead
from storage.repositories import OutboxRepository

log = logging.getLogger(__name__)


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


def enqueue_handoff(
    session: Session,
    lead: Lead,
    conversation: Any,
    result: ScoreResult,
    answers: Mapping[str, AnswerRecord],
    router: HandoffRouterFn | None,
) -> bool:
    """Route the lead and enqueue its notice, unless this conversation was handed off already
    (or no channel is configured); True if it was enqueued."""
    # One notice per conversation: a re-score never posts again, and a lead qualified
    # again later does so in a new conversation, which gets its own notice.
    dedupe_key = handoff_key(conversation.id)
    outbox = OutboxRepository(session)
    if outbox.has(dedupe_key):
        return False  # already handed off (e.g. a re-score): route, assign and notify once
    lane = router(HandoffContext(session, lead, conversation, result, answers)) if router else None
    if lane is None:
        log.info("lead %s is %s but no handoff channel is configured", lead.id, result.verdict)
        return False
    return outbox.append_once(
        kind="handoff",
        channel="slack",
        lane=lane,
        payload=handoff_payload(lead, conversation, result, lane, answers),
        dedupe_key=dedupe_key,
    )


def handoff_key(conversation_id: object) -> str:
    """The dedupe key of a conversation's handoff notice (its `handoff` outbox row)."""
    return f"handoff:{conversation_id}"


def rerouted_key(outbox_id: object) -> str:
    """The dedupe key of the notice posted to the default channel instead of the `handoff`
    row `outbox_id`, whose channel refused it (see `bot.slack.dispatch`)."""
    return f"handoff-rerouted:{outbox_id}"


def refused_key(outbox_id: object) -> str:
    """The dedupe key of the DM telling the rep that the `handoff` row `outbox_id` could not
    be posted anywhere (see `bot.slack.dispatch`)."""
    return f"handoff-refused:{outbox_id}"


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
            # a won / lost lead keeps its outcome when it qualifies again: its new notice
            # says so (`bot.slack.notices.render_handoff`)
            "status": lead.status,
            "status_reason": lead.status_reason,
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
