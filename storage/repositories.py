"""Repositories: small query helpers around a :class:`~sqlalchemy.orm.Session`.

They build ``select()`` statements and at most ``flush()`` (to get ids and surface constraint
errors early); they never commit or roll back. The caller owns the transaction::

    with session_factory.begin() as session:
        leads = LeadRepository(session)
        lead = leads.add(Lead(company="Acme", source="rep", framework="bant"))
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from itertools import islice
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Row,
    Table,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

from storage.models import (
    CLOSED_STATES,
    LEAD_EVENT_KINDS,
    PAUSED_STATES,
    SCORED_STATUSES,
    Answer,
    Base,
    Conversation,
    EngagementEvent,
    Lead,
    LeadEvent,
    OutboxMessage,
    Score,
    WidgetSession,
    fits_id,
    normalise_email,
    utcnow,
)
from storage.prepared import Prepared

_Model = TypeVar("_Model", bound=Base)

#: Rows per INSERT/UPDATE round trip in the bulk helpers.
BULK_CHUNK = 5000


def _insert_now(session: Session, obj: Base, statement: Prepared) -> None:
    """`session.add(obj)` and `flush()` for one new object, without the unit of work: its row
    is INSERTed with a prepared `statement` (`INSERT ... RETURNING` every column), and the
    object is attached as if loaded from that row (persistent, id and server-side values set,
    nothing pending). An object with related objects set goes through the unit of work,
    which cascades to them."""
    mapper = sa_inspect(type(obj))
    state = obj.__dict__
    if any(relation.key in state for relation in mapper.relationships):
        session.add(obj)
        session.flush()
        return
    values = {attr.key: state[attr.key] for attr in mapper.column_attrs if attr.key in state}
    _attach_loaded(session, obj, statement.first(session.connection(), values))


def _attach_loaded(session: Session, obj: _Model, row: Any) -> _Model:
    """`obj` (new, not in a session) given `row`'s values and attached to `session` as if
    loaded from it: persistent, nothing pending."""
    # straight into the instance dict (no attribute events: they are what the database
    # holds, and the next line commits them as the loaded state)
    obj.__dict__.update(row._asdict())
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


def _show_written(obj: Base, values: Mapping[str, Any]) -> None:
    """`obj` shows `values` as loaded (nothing pending): what an UPDATE just wrote to its row."""
    for key, value in values.items():
        set_committed_value(obj, key, value)


def _show_written_if_loaded(
    session: Session, model: type[Base], pk: int, values: Mapping[str, Any]
) -> None:
    """`_show_written` on the row's object, if `session` has it loaded."""
    loaded = session.identity_map.get(identity_key(model, pk))
    if loaded is not None:
        _show_written(loaded, values)


def _chunks(rows: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


# The per-turn statements, built once and prepared (`storage.prepared`): building a statement,
# and running it through `Connection.execute`, costs more than SQLite takes to run it, so the
# hot path only binds values.
_CONVERSATIONS = cast(Table, Conversation.__table__)
_INSERT_CONVERSATION = Prepared(insert(_CONVERSATIONS).returning(*_CONVERSATIONS.c))
#: The conversation's columns a turn reads: not the timestamps it only writes (each one
#: loaded is a text parsed into a datetime).
_TURN_COLUMNS = tuple(
    column for column in _CONVERSATIONS.c
    if column.name not in ("created_at", "updated_at", "last_activity_at")
)
_LOAD_TURN = Prepared(
    select(*_TURN_COLUMNS, Lead.company)
    .join(Lead, Lead.id == _CONVERSATIONS.c.lead_id)
    .where(_CONVERSATIONS.c.id == bindparam("conversation_id"))
)
_SAVE_TURN = Prepared(
    update(_CONVERSATIONS)
    .where(
        _CONVERSATIONS.c.id == bindparam("_id"),
        _CONVERSATIONS.c.version == bindparam("_version"),
    )
    .values(
        version=bindparam("_new_version", type_=_CONVERSATIONS.c.version.type),
        state=bindparam("_state", type_=_CONVERSATIONS.c.state.type),
        data=bindparam("_data", type_=_CONVERSATIONS.c.data.type),
        updated_at=bindparam("_updated_at", type_=_CONVERSATIONS.c.updated_at.type),
        last_activity_at=bindparam(
            "_last_activity_at", type_=_CONVERSATIONS.c.last_activity_at.type
        ),
        completed_at=bindparam("_completed_at", type_=_CONVERSATIONS.c.completed_at.type),
    )
)
def _latest_conversation(*, open_: bool) -> tuple[Prepared, Prepared]:
    """The participant's most recently active conversation on a channel, not completed, with
    its lead's company: open (`open_`) or paused (cancelled or abandoned). Prepared twice:
    in any workspace, and in the `team_id` given."""
    # Inline literals: an expanding IN parameter would be re-rendered on every execution
    # (SQLAlchemy's "postcompile" step, ~60 µs per query on this hot path).
    names: tuple[str, ...] = CLOSED_STATES if open_ else PAUSED_STATES
    states: list[Any] = [literal_column(f"'{name}'") for name in names]
    state = _CONVERSATIONS.c.state
    latest = (
        select(*_TURN_COLUMNS, Lead.company)
        .join(Lead, Lead.id == _CONVERSATIONS.c.lead_id)
        .where(
            _CONVERSATIONS.c.channel == bindparam("channel"),
            _CONVERSATIONS.c.participant == bindparam("participant"),
            _CONVERSATIONS.c.completed_at.is_(None),
            state.not_in(states) if open_ else state.in_(states),
        )
        .order_by(_CONVERSATIONS.c.last_activity_at.desc(), _CONVERSATIONS.c.id.desc())
        .limit(1)
    )
    in_team = latest.where(_CONVERSATIONS.c.team_id == bindparam("team_id"))
    return Prepared(latest), Prepared(in_team)


_LATEST_OPEN, _LATEST_OPEN_IN_TEAM = _latest_conversation(open_=True)
_LATEST_PAUSED, _LATEST_PAUSED_IN_TEAM = _latest_conversation(open_=False)
_INSERT_ANSWER = Prepared(insert(cast(Table, Answer.__table__)))
#: A lead worth listing: not from the widget, or with at least one answer.
_ANSWERED_OR_NOT_WIDGET = or_(
    Lead.source != "widget", exists().where(Answer.lead_id == Lead.id)
)
_LATEST_COMPLETED = Prepared(
    select(func.max(_CONVERSATIONS.c.id).label("id"))
    .where(_CONVERSATIONS.c.state == "done")
    .group_by(_CONVERSATIONS.c.lead_id)
)
_LEADS = cast(Table, Lead.__table__)
_COMPLETED_AFTER = Prepared(
    select(_CONVERSATIONS.c.id, _CONVERSATIONS.c.lead_id, _CONVERSATIONS.c.framework,
           _CONVERSATIONS.c.data, _LEADS.c.verdict, _LEADS.c.status, _LEADS.c.status_reason)
    .join(_LEADS, _LEADS.c.id == _CONVERSATIONS.c.lead_id)
    .where(_CONVERSATIONS.c.state == "done", _CONVERSATIONS.c.id > bindparam("after_id"))
    .order_by(_CONVERSATIONS.c.id)
    .limit(bindparam("limit"))
)
_OUTBOX = cast(Table, OutboxMessage.__table__)
_INSERT_OUTBOX = Prepared(insert(_OUTBOX))
_OUTBOX_ID_BY_KEY = Prepared(
    select(_OUTBOX.c.id).where(_OUTBOX.c.dedupe_key == bindparam("dedupe_key"))
)
#: `INSERT ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`, per dialect.
_INSERT_OUTBOX_ONCE = {
    name: Prepared(
        dialect_insert(_OUTBOX)
        .on_conflict_do_nothing(index_elements=[_OUTBOX.c.dedupe_key])
        .returning(_OUTBOX.c.id)
    )
    for name, dialect_insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_INSERT_SCORE = Prepared(insert(cast(Table, Score.__table__)))
_INSERT_LEAD = Prepared(insert(_LEADS).returning(*_LEADS.c))
_LOAD_LEAD = Prepared(select(*_LEADS.c).where(_LEADS.c.id == bindparam("id")))
_RECORD_LEAD_SCORE = Prepared(
    update(_LEADS)
    .where(_LEADS.c.id == bindparam("_id"))
    .values({
        name: bindparam(name, type_=_LEADS.c[name].type)
        for name in ("score_total", "verdict", "fit_score", "status", "updated_at")
    })
)

#: A lead's contact fields that a contact answer sets (with `updated_at`), one UPDATE each.
CONTACT_FIELDS = ("contact_name", "contact_email", "company")
_SET_LEAD_CONTACT = {
    name: Prepared(
        update(_LEADS)
        .where(_LEADS.c.id == bindparam("_id"))
        .values({
            name: bindparam(name, type_=_LEADS.c[name].type),
            "updated_at": bindparam("updated_at", type_=_LEADS.c.updated_at.type),
        })
    )
    for name in CONTACT_FIELDS
}


def _lead_id_by_email(*, in_team: bool, excluding: bool) -> Prepared:
    stmt = select(_LEADS.c.id).where(_LEADS.c.contact_email == bindparam("email"))
    if in_team:
        stmt = stmt.where(_LEADS.c.team_id == bindparam("team_id"))
    if excluding:
        stmt = stmt.where(_LEADS.c.id != bindparam("exclude_id"))
    return Prepared(stmt.order_by(_LEADS.c.created_at.desc(), _LEADS.c.id.desc()).limit(1))


#: The id of the most recent lead with a contact email: (in one team?, leaving one out?).
_LEAD_ID_BY_EMAIL = {
    (in_team, excluding): _lead_id_by_email(in_team=in_team, excluding=excluding)
    for in_team in (False, True)
    for excluding in (False, True)
}


class LeadRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, lead: Lead) -> Lead:
        """Add a new lead and INSERT it now (its `id` is set)."""
        _insert_now(self.session, lead, _INSERT_LEAD)
        return lead

    def get(self, lead_id: int, *, lock: bool = False) -> Lead | None:
        """The lead (None for an id no lead can have); `lock`: its row locked until the
        commit (`SELECT ... FOR UPDATE` on PostgreSQL)."""
        if not fits_id(lead_id):
            return None
        return self.session.get(Lead, lead_id, with_for_update=lock or None)

    def get_for_turn(self, lead_id: int) -> Lead | None:
        """`get`, for the hot path (a turn that changes the lead): one prepared SELECT, and
        the ORM object built from its row and attached as if loaded (`Session.get` costs
        several times more). One already in the session is returned as it is."""
        if not fits_id(lead_id):
            return None
        existing = self.session.identity_map.get(identity_key(Lead, lead_id))
        if existing is not None:
            return existing
        row = _LOAD_LEAD.first(self.session.connection(), {"id": lead_id})
        return None if row is None else _attach_loaded(self.session, Lead(), row)

    def set_contact(self, lead_id: int, field: str, value: str | None, now: datetime) -> None:
        """Set one of a lead's `CONTACT_FIELDS` (and `updated_at`) with one prepared UPDATE:
        a contact answer in a turn, without loading the lead. A lead object already in the
        session shows the new values without a flush. An email is stored normalised, as
        the model's validator stores it."""
        if field == "contact_email":
            value = normalise_email(value)
        values = {field: value, "updated_at": now}
        _SET_LEAD_CONTACT[field].run(self.session.connection(), {"_id": lead_id, **values})
        _show_written_if_loaded(self.session, Lead, lead_id, values)

    def record_score(self, lead: Lead, **values: Any) -> None:
        """Set score columns (`score_total`, `verdict`, `fit_score`, `status`, `updated_at`)
        of a loaded lead with one prepared UPDATE; the object shows them without a flush."""
        _RECORD_LEAD_SCORE.run(self.session.connection(), {"_id": lead.id, **values})
        _show_written(lead, values)

    def list_recent(
        self,
        limit: int = 50,
        owner: str | None = None,
        created_by: str | None = None,
        team_id: str | None = None,
        *,
        unanswered_widget: bool = True,
        status: str | None = None,
        unowned: bool = False,
    ) -> list[Lead]:
        """Newest first. Each filter given (not ``None``) must match; `unowned`: nobody
        claimed the lead or was assigned it. Without `unanswered_widget`, leave out widget
        leads with no answer yet (a visitor who only opened the chat)."""
        stmt = select(Lead).order_by(Lead.created_at.desc(), Lead.id.desc()).limit(limit)
        if not unanswered_widget:
            stmt = stmt.where(_ANSWERED_OR_NOT_WIDGET)
        if status is not None:
            stmt = stmt.where(Lead.status == status)
        if unowned:
            stmt = stmt.where(Lead.owner.is_(None))
        if owner is not None:
            stmt = stmt.where(Lead.owner == owner)
        if created_by is not None:
            stmt = stmt.where(Lead.created_by == created_by)
        if team_id is not None:
            stmt = stmt.where(Lead.team_id == team_id)
        return list(self.session.scalars(stmt))

    def record_scores_many(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Bulk `record_score`, a Core executemany in chunks (100,000 leads in about a second
        on SQLite): each row has `lead_id`, `score_total`, `verdict`, `fit_score` and
        `updated_at`. The status follows the verdict where nobody decided otherwise (one of
        `SCORED_STATUSES`, without a reason); a rep's decision and an outcome stand. ORM
        objects of these leads already loaded in the session are not refreshed."""
        table = Base.metadata.tables[Lead.__tablename__]
        # the statuses written into the SQL (executemany takes no list parameter)
        scored: list[ColumnElement[str]] = [
            literal_column(f"'{status}'") for status in sorted(SCORED_STATUSES)
        ]
        follows = and_(table.c.status.in_(scored), table.c.status_reason.is_(None))
        stmt = (
            update(table)
            .where(table.c.id == bindparam("lead_id"))
            .values(
                score_total=bindparam("score_total"),
                verdict=bindparam("verdict"),
                fit_score=bindparam("fit_score"),
                updated_at=bindparam("updated_at"),
                status=case((follows, bindparam("verdict")), else_=table.c.status),
            )
        )
        for chunk in _chunks(rows, BULK_CHUNK):
            self.session.connection().execute(stmt, chunk)

    def iter_export(
        self, *, since: datetime | None = None, unanswered_widget: bool = False,
        batch_size: int = 1000,
    ) -> Iterator[list[Lead]]:
        """Every lead, oldest first, `batch_size` per query (keyset pagination: a large
        table is never held in memory at once, the session keeping no unchanged object
        alive); `since`: created at or after; without `unanswered_widget`, no widget lead
        with no answer yet."""
        last_id = 0
        while True:
            stmt = select(Lead).where(Lead.id > last_id).order_by(Lead.id).limit(batch_size)
            if since is not None:
                stmt = stmt.where(Lead.created_at >= since)
            if not unanswered_widget:
                stmt = stmt.where(_ANSWERED_OR_NOT_WIDGET)
            batch = list(self.session.scalars(stmt))
            if not batch:
                return
            yield batch
            last_id = batch[-1].id

    def count_unanswered_widget(self) -> int:
        """Widget leads with no answer yet (visitors who only opened the chat)."""
        stmt = select(func.count()).select_from(Lead).where(~_ANSWERED_OR_NOT_WIDGET)
        return int(self.session.scalar(stmt) or 0)

    def find_by_email(
        self, email: str, team_id: str | None = None, *, exclude_id: int | None = None
    ) -> Lead | None:
        """The most recent lead with this contact e-mail (case-insensitive), or ``None``.

        With ``team_id`` only that workspace's leads are considered; without, all leads.
        ``exclude_id`` leaves one lead out (e.g. the lead being compared with the others).
        """
        normalised = normalise_email(email)
        if normalised is None:
            return None
        params: dict[str, Any] = {"email": normalised}
        if team_id is not None:
            params["team_id"] = team_id
        if exclude_id is not None:
            params["exclude_id"] = exclude_id
        # a widget visitor's email in a turn: a prepared SELECT of the id, then the lead as
        # `get_for_turn` loads it (an ORM query costs several times more)
        stmt = _LEAD_ID_BY_EMAIL[(team_id is not None, exclude_id is not None)]
        found = stmt.first(self.session.connection(), params)
        return None if found is None else self.get_for_turn(found.id)

    def all_with_email(self, email: str, *, lock: bool = False) -> list[Lead]:
        """Every lead with this contact e-mail (matched as `find_by_email` matches), in any
        workspace, oldest first; `lock`: their rows locked (``FOR UPDATE`` on PostgreSQL)."""
        normalised = normalise_email(email)
        if normalised is None:
            return []
        stmt = select(Lead).where(Lead.contact_email == normalised).order_by(Lead.id)
        return list(self.session.scalars(stmt.with_for_update() if lock else stmt))

    def delete_if_unused(self, lead_id: int) -> bool:
        """Delete a lead that no conversation belongs to any more (Core DELETE; expunge a
        loaded copy first). Returns whether it was deleted."""
        in_use = select(Conversation.id).where(Conversation.lead_id == lead_id).exists()
        stmt = delete(Lead).where(Lead.id == lead_id, ~in_use)
        return bool(self.session.execute(stmt).rowcount)  # type: ignore[attr-defined]


class ConversationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, conversation: Conversation) -> Conversation:
        """Add a new conversation and INSERT it now (its `id` is set; version 1)."""
        if conversation.version is None:
            conversation.version = 1  # what the mapper's version counter starts at
        _insert_now(self.session, conversation, _INSERT_CONVERSATION)
        return conversation

    def save_turn(
        self,
        conversation: Conversation | Row[Any],
        *,
        state: str,
        data: dict[str, Any],
        updated_at: datetime,
        last_activity_at: datetime,
        completed_at: datetime | None,
    ) -> None:
        """UPDATE a loaded conversation with optimistic locking, as one Core statement: the
        row must still be at the version that was loaded, and its version goes up by one.
        Raises `StaleDataError` when another transaction changed it first. The loaded object
        is not updated (the caller is done with it)."""
        params = {
            "_id": conversation.id,
            "_version": conversation.version,
            "_new_version": conversation.version + 1,
            "_state": state,
            "_data": data,
            "_updated_at": updated_at,
            "_last_activity_at": last_activity_at,
            "_completed_at": completed_at,
        }
        if _SAVE_TURN.rowcount(self.session.connection(), params) != 1:
            raise StaleDataError(
                f"conversation {conversation.id} changed since version {conversation.version}"
            )

    def load_for_turn(self, conversation_id: int) -> Row[Any] | None:
        """What one turn needs, in one Core query: the conversation's columns (same names as
        the model's) less the timestamps, and its lead's `company`. No ORM objects are built
        on this hot path."""
        if not fits_id(conversation_id):
            return None
        return cast(
            "Row[Any] | None",
            _LOAD_TURN.first(self.session.connection(), {"conversation_id": conversation_id}),
        )

    def get(self, conversation_id: int) -> Conversation | None:
        if not fits_id(conversation_id):
            return None
        return self.session.get(Conversation, conversation_id)

    def load_latest_open_for_turn(
        self, channel: str, participant: str, team_id: str | None = None
    ) -> Row[Any] | None:
        """What `load_for_turn` loads, for the conversation `latest_open_for` finds: one
        prebuilt Core query (the hot path of a Slack DM answer)."""
        return self._load_latest(_LATEST_OPEN, _LATEST_OPEN_IN_TEAM, channel, participant, team_id)

    def load_latest_paused_for_turn(
        self, channel: str, participant: str, team_id: str | None = None
    ) -> Row[Any] | None:
        """Like `load_latest_open_for_turn`, for the participant's most recently active
        paused conversation (cancelled or abandoned, not completed): one that can be
        resumed."""
        return self._load_latest(
            _LATEST_PAUSED, _LATEST_PAUSED_IN_TEAM, channel, participant, team_id
        )

    def _load_latest(
        self,
        anywhere: Prepared,
        in_team: Prepared,
        channel: str,
        participant: str,
        team_id: str | None,
    ) -> Row[Any] | None:
        params = {"channel": channel, "participant": participant}
        stmt = anywhere
        if team_id is not None:
            stmt, params["team_id"] = in_team, team_id
        return cast("Row[Any] | None", stmt.first(self.session.connection(), params))

    def move_to_lead(self, conversation_id: int, lead_id: int) -> None:
        """Move a conversation and everything recorded in it (answers, scores, engagement
        events) to another lead, as Core UPDATEs (the conversation's version is not bumped;
        a loaded copy keeps its old ``lead_id``). Flush pending ORM rows of it first."""
        for model in (Answer, Score, EngagementEvent):
            self.session.execute(
                update(model)
                .where(model.conversation_id == conversation_id)
                .values(lead_id=lead_id)
                .execution_options(synchronize_session=False)
            )
        self.session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(lead_id=lead_id)
            .execution_options(synchronize_session=False)
        )

    def get_by_public_id(self, public_id: uuid.UUID | str) -> Conversation | None:
        """By the public UUID (as ``UUID`` or string); ``None`` for unknown or malformed ids."""
        if isinstance(public_id, str):
            try:
                public_id = uuid.UUID(public_id)
            except ValueError:
                return None
        stmt = select(Conversation).where(Conversation.public_id == public_id)
        return self.session.scalars(stmt).first()

    def latest_open_for(
        self, channel: str, participant: str, team_id: str | None = None
    ) -> Conversation | None:
        """The participant's most recently active open conversation on ``channel``.

        Open means ``completed_at IS NULL`` and state not in ``done``/``cancelled``/
        ``abandoned``. With ``team_id`` only that workspace's conversations are considered.
        """
        stmt = (
            select(Conversation)
            .where(
                Conversation.channel == channel,
                Conversation.participant == participant,
                Conversation.completed_at.is_(None),
                Conversation.state.not_in(CLOSED_STATES),
            )
            .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
            .limit(1)
        )
        if team_id is not None:
            stmt = stmt.where(Conversation.team_id == team_id)
        return self.session.scalars(stmt).first()

    def list_for_participant(
        self, channel: str, participant: str, limit: int = 20
    ) -> list[Conversation]:
        """Most recently active first, open and closed."""
        stmt = (
            select(Conversation)
            .where(Conversation.channel == channel, Conversation.participant == participant)
            .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
            .limit(limit)
        )
        return list(self.session.scalars(stmt))

    def list_for_lead(self, lead_id: int) -> list[Conversation]:
        """Oldest first."""
        stmt = (
            select(Conversation)
            .where(Conversation.lead_id == lead_id)
            .order_by(Conversation.created_at, Conversation.id)
        )
        return list(self.session.scalars(stmt))

    def iter_batches(self, batch_size: int = 1000) -> Iterator[list[Conversation]]:
        """All conversations in id order, ``batch_size`` per query (keyset pagination).

        Memory stays flat: the session's identity map holds unmodified objects weakly, so
        processed batches are garbage-collected once the caller drops them. Rows inserted
        during the iteration with a higher id are included.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        last_id: int | None = None
        while True:
            stmt = select(Conversation).order_by(Conversation.id).limit(batch_size)
            if last_id is not None:
                stmt = stmt.where(Conversation.id > last_id)
            batch = list(self.session.scalars(stmt))
            if not batch:
                return
            yield batch
            if len(batch) < batch_size:
                return
            last_id = batch[-1].id

    def latest_completed_ids(self) -> set[int]:
        """The id of each lead's latest completed conversation (prepared: it can run outside
        any transaction, `storage.db.reading`)."""
        return {row.id for row in _LATEST_COMPLETED.all(self.session.connection(), {})}

    def completed_rows_after(self, after_id: int, limit: int) -> list[Any]:
        """Up to `limit` completed conversations with an id above `after_id`, in id order, as
        plain rows (`id`, `lead_id`, `framework`, `data`, and the lead's `verdict`, `status`
        and `status_reason` now): keyset pages for bulk re-scoring without ORM objects
        (prepared: they can be read outside any transaction)."""
        return _COMPLETED_AFTER.all(self.session.connection(),
                                    {"after_id": after_id, "limit": limit})

    def iter_all(self, batch_size: int = 1000) -> Iterator[Conversation]:
        """Stream all conversations in id order (see :meth:`iter_batches`)."""
        for batch in self.iter_batches(batch_size):
            yield from batch


class AnswerRepository:
    """Answers are append-only: a correction is a new row."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, answer: Answer, *, flush: bool = True) -> Answer:
        """Add an answer. `flush=False` leaves the INSERT to the caller's next flush (one
        round trip per turn on the hot path)."""
        self.session.add(answer)
        if flush:
            self.session.flush()
        return answer

    def append(self, **values: Any) -> None:
        """INSERT one answer from column values, without building an ORM object (the per-turn
        hot path; the row is part of the caller's transaction)."""
        _INSERT_ANSWER.run(self.session.connection(), values)

    def erase(self, conversation_id: int, question_ids: Iterable[str], marker: str) -> int:
        """Replace what was typed for these questions with `marker` (erasure on request; the
        only change ever made to stored answers). Returns how many rows were erased."""
        stmt = (
            update(Answer)
            .where(Answer.conversation_id == conversation_id,
                   Answer.question_id.in_(list(question_ids)))
            .values(raw_text=marker, parsed={"erased": True})
            .execution_options(synchronize_session=False)
        )
        return int(self.session.execute(stmt).rowcount)  # type: ignore[attr-defined]

    def list_for_lead(self, lead_id: int) -> list[Answer]:
        """Oldest first (the latest answer to a question is the last one)."""
        stmt = select(Answer).where(Answer.lead_id == lead_id).order_by(Answer.id)
        return list(self.session.scalars(stmt))

    def latest_for_leads(self, lead_ids: Iterable[int]) -> dict[int, dict[str, Answer]]:
        """Per lead, the latest answer to each question (in the order first asked)."""
        found: dict[int, dict[str, Answer]] = {}
        stmt = select(Answer).where(Answer.lead_id.in_(list(lead_ids))).order_by(Answer.id)
        for answer in self.session.scalars(stmt):
            latest = found.setdefault(answer.lead_id, {})
            latest.pop(answer.question_id, None)
            latest[answer.question_id] = answer
        return found

    def list_for_conversation(self, conversation_id: int) -> list[Answer]:
        """Oldest first."""
        stmt = select(Answer).where(Answer.conversation_id == conversation_id).order_by(Answer.id)
        return list(self.session.scalars(stmt))


class LeadEventRepository:
    """What reps (and routing rules) did with a lead, in order: the lead's history beside
    its scores."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def record(
        self,
        lead_id: int,
        kind: str,
        actor: str | None,
        *,
        reason: str | None = None,
        detail: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> None:
        """Add one event (written with the session's transaction)."""
        if kind not in LEAD_EVENT_KINDS:
            raise ValueError(f"unknown lead event {kind!r}")
        self.session.add(
            LeadEvent(
                lead_id=lead_id,
                kind=kind,
                actor=actor,
                reason=reason,
                detail=dict(detail or {}),
                created_at=at or utcnow(),
            )
        )

    def history(self, lead_id: int) -> list[LeadEvent]:
        """Oldest first."""
        stmt = select(LeadEvent).where(LeadEvent.lead_id == lead_id).order_by(LeadEvent.id)
        return list(self.session.scalars(stmt))


class ScoreRepository:
    """Score history: every scoring is a new row; the latest one is current."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, score: Score) -> Score:
        self.session.add(score)
        self.session.flush()
        return score

    def append(self, **values: Any) -> None:
        """INSERT one score row from column values, without building an ORM object."""
        _INSERT_SCORE.run(self.session.connection(), values)

    def add_many(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Bulk INSERT score rows given as dicts of column values: ``lead_id``, ``framework``,
        ``framework_version``, ``total``, ``verdict``, ``breakdown``, optionally
        ``conversation_id``, ``fit_score`` (default ``None``) and ``created_at`` (default now;
        give it in all rows or none). A Core executemany in chunks: no ORM objects are created
        (100k rows take ~1.5 s on SQLite). Returns the number of rows inserted."""
        table = Base.metadata.tables[Score.__tablename__]
        count = 0
        for chunk in _chunks(rows, BULK_CHUNK):
            params = [{"conversation_id": None, "fit_score": None, **row} for row in chunk]
            self.session.execute(insert(table), params)
            count += len(chunk)
        return count

    def history(self, lead_id: int) -> list[Score]:
        """Oldest first."""
        stmt = select(Score).where(Score.lead_id == lead_id).order_by(Score.id)
        return list(self.session.scalars(stmt))

    def latest(self, lead_id: int) -> Score | None:
        stmt = select(Score).where(Score.lead_id == lead_id).order_by(Score.id.desc()).limit(1)
        return self.session.scalars(stmt).first()


def _pending(kind: str, channel: str, lane: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A new outbox row's values for a Core INSERT, due now."""
    now = utcnow()
    return {
        "kind": kind,
        "channel": channel,
        "lane": lane,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


class OutboxRepository:
    """The transactional outbox.

    ``enqueue`` in the same transaction as the change that causes the message; the dispatcher
    ``claim_due``s messages in its own transaction, delivers them and records the outcome with
    ``mark_sent`` / ``retry_later`` / ``mark_failed`` before committing. ``attempts`` counts
    delivery attempts (each of those three adds one).

    On PostgreSQL claimed rows stay locked (``FOR UPDATE SKIP LOCKED``) until the dispatcher's
    transaction ends, so several dispatchers never get the same row. SQLite has no row locks:
    run a single dispatcher there.
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def enqueue(
        self,
        kind: str,
        channel: str,
        lane: str,
        payload: dict[str, Any],
        dedupe_key: str | None = None,
        *,
        not_before: datetime | None = None,
        flush: bool = True,
    ) -> OutboxMessage:
        """Add a pending message, due at ``not_before`` (default: now).

        With a ``dedupe_key`` that is already in the outbox (in any status), no row is added
        and the existing message is returned. This never breaks the caller's transaction:
        it uses ``INSERT ... ON CONFLICT DO NOTHING`` (PostgreSQL, SQLite) or a savepoint.
        """
        values: dict[str, Any] = {
            "kind": kind,
            "channel": channel,
            "lane": lane,
            "payload": payload,
            "dedupe_key": dedupe_key,
            "next_attempt_at": not_before or utcnow(),
        }
        if dedupe_key is None:
            message = OutboxMessage(**values)
            self.session.add(message)
            if flush:
                self.session.flush()
            return message

        # Insert first and look up only on a conflict: the common case is one statement.
        dialect = self.session.get_bind().dialect
        if dialect.name in ("postgresql", "sqlite") and dialect.insert_returning:
            insert_ = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
            stmt = (
                insert_(OutboxMessage)
                .values(**values)
                .on_conflict_do_nothing(index_elements=[OutboxMessage.dedupe_key])
                .returning(OutboxMessage)
            )
            inserted = self.session.scalars(stmt).first()
            if inserted is not None:
                return inserted
        else:  # pragma: no cover - other dialects, SQLite < 3.35: savepoint, catch the duplicate
            try:
                with self.session.begin_nested():
                    message = OutboxMessage(**values)
                    self.session.add(message)
                return message
            except IntegrityError:
                pass

        existing = self._by_dedupe_key(dedupe_key)
        if existing is None:  # pragma: no cover - conflicting row invisible (e.g. SERIALIZABLE)
            raise RuntimeError(f"outbox dedupe_key {dedupe_key!r} conflicts but is not visible")
        return existing

    def append(self, kind: str, channel: str, lane: str, payload: dict[str, Any]) -> None:
        """INSERT a pending message without building an ORM object (the per-turn hot path)."""
        _INSERT_OUTBOX.run(self.session.connection(), _pending(kind, channel, lane, payload))

    def has(self, dedupe_key: str) -> bool:
        """Whether a message with this dedupe key was ever enqueued (one indexed lookup)."""
        connection = self.session.connection()
        return _OUTBOX_ID_BY_KEY.first(connection, {"dedupe_key": dedupe_key}) is not None

    def append_once(
        self, kind: str, channel: str, lane: str, payload: dict[str, Any], dedupe_key: str
    ) -> bool:
        """`enqueue` with a dedupe key, as one Core statement (no ORM object): True if the
        row was added, False if the key was already there."""
        connection = self.session.connection()
        stmt = _INSERT_OUTBOX_ONCE.get(connection.dialect.name)
        if stmt is None:  # pragma: no cover - other dialects
            before = self.has(dedupe_key)
            self.enqueue(kind, channel, lane, payload, dedupe_key)
            return not before
        values = {**_pending(kind, channel, lane, payload), "dedupe_key": dedupe_key}
        return stmt.first(connection, values) is not None

    def by_dedupe_keys(self, dedupe_keys: Iterable[str]) -> list[OutboxMessage]:
        """The messages with these dedupe keys (unique, indexed), oldest first."""
        keys = list(dedupe_keys)
        if not keys:
            return []
        stmt = (
            select(OutboxMessage)
            .where(OutboxMessage.dedupe_key.in_(keys))
            .order_by(OutboxMessage.id)
        )
        return list(self.session.scalars(stmt))

    def _by_dedupe_key(self, dedupe_key: str) -> OutboxMessage | None:
        stmt = select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
        return self.session.scalars(stmt).first()

    def get(self, message_id: int) -> OutboxMessage | None:
        if not fits_id(message_id, bigint=True):
            return None
        return self.session.get(OutboxMessage, message_id)

    def claim_due(self, now: datetime, limit: int = 50) -> list[OutboxMessage]:
        """Pending messages with ``next_attempt_at <= now``, oldest due first, at most
        ``limit``. On PostgreSQL they are locked ``FOR UPDATE SKIP LOCKED`` until the end of
        the caller's transaction (rows locked by another dispatcher are skipped)."""
        stmt = (
            select(OutboxMessage)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        return list(self.session.scalars(stmt))

    def claim_lane_heads(
        self,
        now: datetime,
        limit: int = 50,
        *,
        channel: str | None = None,
        exclude_lanes: Iterable[str] = (),
    ) -> list[OutboxMessage]:
        """Like :meth:`claim_due`, but only the head of each lane: a due pending message is
        returned only if no older (lower id) message of its lane is still pending, so the
        messages of a lane go out one at a time and in id order (a retry that is waiting
        holds back the lane behind it). ``channel`` (e.g. ``"slack"``) and ``exclude_lanes``
        narrow the search. Locked ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, as in
        :meth:`claim_due`."""
        older = aliased(OutboxMessage)
        held_back = (
            select(older.id)
            .where(
                older.lane == OutboxMessage.lane,
                older.status == "pending",
                older.id < OutboxMessage.id,
            )
            .exists()
        )
        stmt = (
            select(OutboxMessage)
            .where(
                OutboxMessage.status == "pending",
                OutboxMessage.next_attempt_at <= now,
                ~held_back,
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        if channel is not None:
            stmt = stmt.where(OutboxMessage.channel == channel)
        excluded = list(exclude_lanes)
        if excluded:
            stmt = stmt.where(OutboxMessage.lane.not_in(excluded))
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=OutboxMessage)
        return list(self.session.scalars(stmt))

    def mark_sent(self, message: OutboxMessage, result: dict[str, Any] | None = None) -> None:
        message.status = "sent"
        message.attempts += 1
        message.sent_at = utcnow()
        message.result = result
        message.last_error = None
        self.session.flush()

    def retry_later(self, message: OutboxMessage, when: datetime, error: str) -> None:
        message.status = "pending"
        message.attempts += 1
        message.next_attempt_at = when
        message.last_error = error
        self.session.flush()

    def mark_failed(self, message: OutboxMessage, error: str) -> None:
        """Give up on the message (it stays in the outbox for ``list_failed``/``requeue``)."""
        message.status = "failed"
        message.attempts += 1
        message.last_error = error
        self.session.flush()

    def list_failed(self, limit: int = 100) -> list[OutboxMessage]:
        """Failed messages, most recent first."""
        stmt = (
            select(OutboxMessage)
            .where(OutboxMessage.status == "failed")
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
            .limit(limit)
        )
        return list(self.session.scalars(stmt))

    def requeue(self, message_id: int) -> OutboxMessage | None:
        """Make a failed (or pending) message due now with ``attempts`` reset to 0; the last
        error is kept. ``None`` if there is no such message; ``ValueError`` if it was sent."""
        message = self.session.get(OutboxMessage, message_id)
        if message is None:
            return None
        if message.status == "sent":
            raise ValueError(f"outbox message {message_id} was already sent")
        message.status = "pending"
        message.attempts = 0
        message.next_attempt_at = utcnow()
        self.session.flush()
        return message

    def count_by_status(self) -> dict[str, int]:
        """``{"pending": n, "sent": n, "failed": n}`` (statuses without rows are 0)."""
        stmt = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        counts = {"pending": 0, "sent": 0, "failed": 0}
        for status, n in self.session.execute(stmt):
            counts[status] = n
        return counts


# The widget's per-request statements, built once (see the per-turn statements above).
_WIDGET_SESSIONS = cast(Table, WidgetSession.__table__)
_LOAD_WIDGET_REQUEST = Prepared(
    select(
        _WIDGET_SESSIONS.c.id,
        _WIDGET_SESSIONS.c.token_hash,
        _WIDGET_SESSIONS.c.last_seen_at,
        _WIDGET_SESSIONS.c.resume_code,
        _CONVERSATIONS.c.id.label("conversation_id"),
        _CONVERSATIONS.c.public_id,
        _CONVERSATIONS.c.state,
        _CONVERSATIONS.c.framework,
        _CONVERSATIONS.c.lead_id,
        _CONVERSATIONS.c.participant,
    )
    .join(_CONVERSATIONS, _CONVERSATIONS.c.id == _WIDGET_SESSIONS.c.conversation_id)
    .where(
        _CONVERSATIONS.c.public_id
        == bindparam("public_id", type_=_CONVERSATIONS.c.public_id.type)
    )
)
_TOUCH_WIDGET_SESSION = Prepared(
    update(_WIDGET_SESSIONS)
    .where(_WIDGET_SESSIONS.c.id == bindparam("_id"))
    .values(last_seen_at=bindparam("_seen", type_=_WIDGET_SESSIONS.c.last_seen_at.type))
)

_SET_WIDGET_CONSENT = Prepared(
    update(_WIDGET_SESSIONS)
    .where(_WIDGET_SESSIONS.c.id == bindparam("_id"))
    .values(
        consent_text=bindparam("consent_text", type_=_WIDGET_SESSIONS.c.consent_text.type),
        consent_at=bindparam("consent_at", type_=_WIDGET_SESSIONS.c.consent_at.type),
    )
)


class WidgetSessionRepository:
    """Website visitors' chat sessions (one per widget conversation)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def load_for_request(self, public_id: uuid.UUID | str) -> Row[Any] | None:
        """What a widget request needs, in one Core query: the session's `id`, `token_hash`,
        `last_seen_at` and `resume_code`, and its conversation's `conversation_id`,
        `public_id`, `state`, `framework`, `lead_id` and `participant`. ``None`` for unknown
        or malformed ids."""
        if isinstance(public_id, str):
            try:
                public_id = uuid.UUID(public_id)
            except ValueError:
                return None
        connection = self.session.connection()
        return cast(
            "Row[Any] | None", _LOAD_WIDGET_REQUEST.first(connection, {"public_id": public_id})
        )

    def touch(self, session_id: int, seen_at: datetime) -> None:
        """Record the visitor's latest activity (one Core UPDATE)."""
        params = {"_id": session_id, "_seen": seen_at}
        _TOUCH_WIDGET_SESSION.run(self.session.connection(), params)

    def record_consent(self, session_id: int, text: str | None, at: datetime | None) -> None:
        """The consent the visitor gave (its text and time), or None for none (one Core
        UPDATE). A widget session object already in the session shows it without a flush."""
        values = {"consent_text": text, "consent_at": at}
        _SET_WIDGET_CONSENT.run(self.session.connection(), {"_id": session_id, **values})
        _show_written_if_loaded(self.session, WidgetSession, session_id, values)

    def add(self, widget_session: WidgetSession) -> WidgetSession:
        self.session.add(widget_session)
        self.session.flush()
        return widget_session

    def get_by_public_id(
        self, public_id: uuid.UUID | str
    ) -> tuple[WidgetSession, Conversation] | None:
        """The session of the conversation with this public id, and the conversation;
        ``None`` for unknown or malformed ids."""
        if isinstance(public_id, str):
            try:
                public_id = uuid.UUID(public_id)
            except ValueError:
                return None
        stmt = (
            select(WidgetSession, Conversation)
            .join(Conversation, WidgetSession.conversation_id == Conversation.id)
            .where(Conversation.public_id == public_id)
        )
        row = self.session.execute(stmt).first()
        return (row[0], row[1]) if row else None

    def get_by_resume_code(self, code: str) -> tuple[WidgetSession, Conversation] | None:
        stmt = (
            select(WidgetSession, Conversation)
            .join(Conversation, WidgetSession.conversation_id == Conversation.id)
            .where(WidgetSession.resume_code == code)
        )
        row = self.session.execute(stmt).first()
        return (row[0], row[1]) if row else None

    def resume_code_taken(self, code: str) -> bool:
        stmt = select(WidgetSession.id).where(WidgetSession.resume_code == code).limit(1)
        return self.session.scalars(stmt).first() is not None

    def idle_open_conversations(self, seen_before: datetime, limit: int = 500) -> list[int]:
        """Ids of open widget conversations whose visitor was last seen before
        ``seen_before``, longest idle first."""
        stmt = (
            select(Conversation.id)
            .join(WidgetSession, WidgetSession.conversation_id == Conversation.id)
            .where(
                WidgetSession.last_seen_at < seen_before,
                Conversation.completed_at.is_(None),
                Conversation.state.not_in(CLOSED_STATES),
            )
            .order_by(WidgetSession.last_seen_at)
            .limit(limit)
        )
        return list(self.session.scalars(stmt))


class EngagementRepository:
    """Behaviour events on the website (append-only)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def append(
        self,
        lead_id: int,
        conversation_id: int | None,
        event: str,
        props: dict[str, Any],
        created_at: datetime | None = None,
    ) -> None:
        self.session.execute(
            insert(EngagementEvent),
            [
                {
                    "lead_id": lead_id,
                    "conversation_id": conversation_id,
                    "event": event,
                    "props": props,
                    "created_at": created_at or utcnow(),
                }
            ],
        )

    def counts_for_lead(self, lead_id: int) -> dict[str, int]:
        """How many times each event happened for the lead: ``{"page_view": 3, ...}``."""
        stmt = (
            select(EngagementEvent.event, func.count())
            .where(EngagementEvent.lead_id == lead_id)
            .group_by(EngagementEvent.event)
        )
        return {event: n for event, n in self.session.execute(stmt)}


__all__ = [
    "AnswerRepository",
    "ConversationRepository",
    "EngagementRepository",
    "LeadRepository",
    "OutboxRepository",
    "ScoreRepository",
    "WidgetSessionRepository",
]
