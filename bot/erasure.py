"""Erasing a person's data on request (the GDPR "right to erasure"): `qualibot forget`.

`Erasure.erase` removes, in one transaction, the leads found by contact email (matched as
leads are matched: `storage.models.normalise_email`) or by id, with everything the database
cascades from them: conversations (with their answers and the copy of the answers in
`conversations.data`), answers, scores, widget sessions (token hash, resume code, IP, page,
consent record), engagement events and lead events. Then the copies made elsewhere:

* Outbox rows about the leads (handoff notices and their re-routed copies, notice updates,
  replies and DMs) keep their row, status, dedupe key and `result` (where a message went:
  the dispatcher's "never post one row twice" rests on the row), but their payload is
  replaced by `{"erased": true}` and the non-personal routing keys (`KEPT_KEYS`). Rows not
  delivered yet are failed instead, so they never are.
* Handoff notices already posted are deleted from Slack: one `api` outbox row per notice
  calls `chat.delete` with its channel and ts (nothing personal in it), delivered by the
  running server's dispatcher; a notice already gone counts as deleted.

Compare `bot.turns.decline`, the in-conversation erasure when a visitor refuses consent: it
keeps the conversation and overwrites what was typed, since the visitor is still there.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from bot.handoff.notice import handoff_key, refused_key
from storage.models import Answer, Conversation, Lead, OutboxMessage, Score
from storage.repositories import LeadRepository, OutboxRepository

log = logging.getLogger(__name__)

#: `last_error` of an outbox row about an erased lead that was never delivered.
NOT_DELIVERED = "erased on request (qualibot forget): not delivered"
#: Payload keys an erased outbox row keeps: where it went, never what it said.
KEPT_KEYS = ("team_id", "channel", "ts", "user", "method")


@dataclass(frozen=True)
class ErasedLead:
    """One lead found for erasure (or erased), and what goes with it."""

    id: int
    company: str
    source: str
    contact_name: str | None
    contact_email: str | None
    conversations: int
    answers: int
    scores: int
    #: Handoff notices posted in Slack (they are deleted through the outbox).
    notices: int
    #: Outbox messages about the lead not delivered yet (they never will be).
    undelivered: int
    #: Outbox messages about the lead already delivered or failed (their payload is erased).
    scrubbed: int


def is_erased(payload: Mapping[str, Any] | None) -> bool:
    """Whether an outbox row's payload was erased (`qualibot forget`)."""
    return bool(payload and payload.get("erased"))


def delete_message(
    outbox: OutboxRepository, team_id: str | None, channel: str, ts: str
) -> bool:
    """Enqueue `chat.delete` of the bot's message at `channel`/`ts` (once per message);
    True if a row was added."""
    return outbox.append_once(
        "api", "slack", channel,
        {"team_id": team_id, "method": "chat.delete", "args": {"channel": channel, "ts": ts}},
        dedupe_key=f"forget:{channel}:{ts}",
    )


class Erasure:
    """Finds and erases a person's leads (see the module docstring)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        on_outbox: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = session_factory
        self._on_outbox = on_outbox

    def find(self, *, email: str | None = None, lead_id: int | None = None) -> list[ErasedLead]:
        """What `erase` would erase now (reads only)."""
        with self._sessions() as session:
            return _Plan.make(session, _leads(session, email, lead_id, lock=False)).leads

    def erase(
        self, *, email: str | None = None, lead_id: int | None = None
    ) -> list[ErasedLead]:
        """Erase the leads with this contact email (or the lead `lead_id`) as they are
        found now, in one transaction; returns what was erased (empty: nothing found)."""
        with self._sessions.begin() as session:
            leads = _leads(session, email, lead_id, lock=True)
            if not leads:
                return []
            plan = _Plan.make(session, leads, lock=True)
            plan.carry_out(session)
        if plan.deletions and self._on_outbox is not None:
            self._on_outbox()
        log.info(
            "erased on request: leads %s (%d conversations, %d answers, %d scores); %d Slack "
            "notices to delete, %d outbox messages scrubbed, %d not delivered",
            ", ".join(str(lead.id) for lead in plan.leads),
            sum(lead.conversations for lead in plan.leads),
            sum(lead.answers for lead in plan.leads),
            sum(lead.scores for lead in plan.leads),
            plan.deletions,
            sum(lead.scrubbed for lead in plan.leads),
            sum(lead.undelivered for lead in plan.leads),
        )
        return plan.leads


def _leads(session: Session, email: str | None, lead_id: int | None, *, lock: bool) -> list[Lead]:
    if (email is None) == (lead_id is None):
        raise ValueError("give an email or a lead id")
    if email is not None:
        return LeadRepository(session).all_with_email(email, lock=lock)
    assert lead_id is not None
    lead = LeadRepository(session).get(lead_id, lock=lock)
    return [lead] if lead is not None else []


@dataclass
class _Plan:
    """The leads' rows and their outbox rows, as found in one session."""

    leads: list[ErasedLead]
    rows: list[OutboxMessage]
    deletions: int = 0

    @classmethod
    def make(cls, session: Session, leads: Sequence[Lead], *, lock: bool = False) -> _Plan:
        ids = [lead.id for lead in leads]
        if not ids:
            return cls([], [])
        # locking the conversations waits out the turns under way on them
        stmt = select(Conversation.id, Conversation.lead_id).where(Conversation.lead_id.in_(ids))
        conversations = {
            row.id: row.lead_id
            for row in session.execute(stmt.with_for_update() if lock else stmt)
        }
        answers = _count_by_lead(session, Answer.lead_id, ids)
        scores = _count_by_lead(session, Score.lead_id, ids)
        rows = _outbox_rows(session, ids, list(conversations), lock=lock)
        owners = _owners(rows, conversations, default=ids[0])
        per_lead = Counter(conversations.values())
        found = [
            ErasedLead(
                id=lead.id,
                company=lead.company,
                source=lead.source,
                contact_name=lead.contact_name,
                contact_email=lead.contact_email,
                conversations=per_lead[lead.id],
                answers=answers[lead.id],
                scores=scores[lead.id],
                notices=sum(1 for row in rows if owners[row.id] == lead.id and _posted(row)),
                undelivered=sum(
                    1 for row in rows if owners[row.id] == lead.id and row.status == "pending"
                ),
                scrubbed=sum(
                    1 for row in rows if owners[row.id] == lead.id and row.status != "pending"
                ),
            )
            for lead in leads
        ]
        return cls(found, rows)

    def carry_out(self, session: Session) -> None:
        outbox = OutboxRepository(session)
        for row in self.rows:
            posted = _posted(row)
            if posted is not None:
                team_id = row.payload.get("team_id") if isinstance(row.payload, dict) else None
                self.deletions += delete_message(outbox, team_id, *posted)
            row.payload = _scrubbed(row.payload)
            if row.status == "pending":
                row.status, row.last_error = "failed", NOT_DELIVERED
        ids = [lead.id for lead in self.leads]
        session.execute(
            delete(Lead).where(Lead.id.in_(ids)).execution_options(synchronize_session=False)
        )


def _count_by_lead(session: Session, column: Any, ids: Iterable[int]) -> Counter[int]:
    stmt = select(column, func.count()).where(column.in_(list(ids))).group_by(column)
    return Counter({lead_id: n for lead_id, n in session.execute(stmt)})


def _outbox_rows(
    session: Session, lead_ids: list[int], conversation_ids: list[int], *, lock: bool
) -> list[OutboxMessage]:
    """The outbox rows about these leads: handoff notices (and their re-routed copies) and
    notice updates, which carry the lead; replies and DMs naming the lead or one of its
    conversations; and the DMs telling a rep that a notice could not be posted."""
    payload, kind = OutboxMessage.payload, OutboxMessage.kind
    about = or_(
        and_(kind == "handoff", payload[("lead", "id")].as_integer().in_(lead_ids)),
        and_(kind == "notice_update",
             payload[("handoff", "lead", "id")].as_integer().in_(lead_ids)),
        and_(kind.in_(("reply", "dm")), payload["lead_id"].as_integer().in_(lead_ids)),
        and_(kind.in_(("reply", "handoff")),
             payload["conversation_id"].as_integer().in_(conversation_ids)),
        OutboxMessage.dedupe_key.in_([handoff_key(c) for c in conversation_ids]),
    )
    stmt = select(OutboxMessage).where(about).order_by(OutboxMessage.id)
    rows = list(session.scalars(stmt.with_for_update() if lock else stmt))
    refused = [refused_key(row.id) for row in rows if row.kind == "handoff"]
    if refused:
        stmt = select(OutboxMessage).where(OutboxMessage.dedupe_key.in_(refused))
        seen = {row.id for row in rows}
        rows += [
            row for row in session.scalars(stmt.with_for_update() if lock else stmt)
            if row.id not in seen
        ]
    return rows


def _owners(
    rows: Sequence[OutboxMessage], conversations: Mapping[int, int], *, default: int
) -> dict[int, int]:
    """Outbox row id -> the lead it is about (by its payload, its conversation, or for a
    rep's DM about a refused notice, the notice's lead)."""
    owners: dict[int, int] = {}
    for row in rows:
        payload = row.payload if isinstance(row.payload, dict) else {}
        handoff = payload.get("handoff") if row.kind == "notice_update" else payload
        lead = (handoff or {}).get("lead") if isinstance(handoff, dict) else None
        lead_id = lead.get("id") if isinstance(lead, dict) else payload.get("lead_id")
        if not isinstance(lead_id, int):
            conversation_id = payload.get("conversation_id")
            lead_id = conversations.get(conversation_id, default) if isinstance(
                conversation_id, int) else default
        owners[row.id] = lead_id
    for row in rows:
        source = (row.dedupe_key or "").removeprefix(refused_key(""))
        if row.dedupe_key != source and source.isdigit() and int(source) in owners:
            owners[row.id] = owners[int(source)]
    return owners


def _posted(row: OutboxMessage) -> tuple[str, str] | None:
    """The channel and ts of the handoff notice `row` posted, if it did."""
    result = row.result or {}
    channel, ts = result.get("channel"), result.get("ts")
    if row.kind == "handoff" and row.status == "sent" and isinstance(channel, str) and ts:
        return channel, str(ts)
    return None


def _scrubbed(payload: Any) -> dict[str, Any]:
    kept = {k: payload[k] for k in KEPT_KEYS if k in payload} if isinstance(payload, dict) else {}
    return {"erased": True, **kept}


__all__ = ["NOT_DELIVERED", "ErasedLead", "Erasure", "delete_message", "is_erased"]
