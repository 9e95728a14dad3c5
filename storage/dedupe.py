"""Dedupe of deliveries: a key per Slack event (`event_id`) or action, recorded in the same
transaction as the change it caused, so a retried event or a delivery to two replicas has
effect once."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import ProcessedEvent, utcnow
from storage.prepared import Prepared

MAX_KEY_LENGTH = 200


_TABLE = cast(Table, ProcessedEvent.__table__)
#: One prebuilt `INSERT ... ON CONFLICT DO NOTHING RETURNING key` per dialect.
_CLAIM = {
    name: Prepared(
        dialect_insert(_TABLE)
        .values(key=bindparam("key"), created_at=bindparam("created_at"))
        .on_conflict_do_nothing()
        .returning(_TABLE.c.key)
    )
    for name, dialect_insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
#: Whether a key is recorded (one prebuilt SELECT).
_SEEN = Prepared(select(_TABLE.c.key).where(_TABLE.c.key == bindparam("key")))


class ProcessedEventRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def claim(self, key: str, *, now: datetime | None = None) -> bool:
        """Record `key` in the caller's transaction; False if it is already recorded (by a
        committed transaction, or one that commits while we wait for its row lock).

        One `INSERT ... ON CONFLICT DO NOTHING RETURNING`, so the caller's transaction stays
        usable when the key exists (RETURNING, not rowcount: psycopg reports -1 for it).
        Keys longer than the column are cut (callers build them from ids)."""
        values = {"key": key[:MAX_KEY_LENGTH], "created_at": now or utcnow()}
        connection = self.session.connection()
        stmt = _CLAIM.get(connection.dialect.name)
        if stmt is None:  # pragma: no cover - other dialects: a plain INSERT in a savepoint
            try:
                with self.session.begin_nested():
                    self.session.execute(insert(_TABLE).values(values))
            except IntegrityError:
                return False
            return True
        return stmt.first(connection, values) is not None

    def seen(self, key: str) -> bool:
        """Whether `key` is recorded (by a committed transaction, or by the caller's)."""
        found = _SEEN.first(self.session.connection(), {"key": key[:MAX_KEY_LENGTH]})
        return found is not None

    def prune(self, before: datetime) -> int:
        """Forget keys recorded before `before` (Slack retries within an hour; keep a day or
        more). Returns how many were deleted."""
        stmt = delete(ProcessedEvent).where(ProcessedEvent.created_at < before)
        result = self.session.execute(stmt)
        return int(result.rowcount)  # type: ignore[attr-defined]
