"""SQLite never hands an id out twice: leads, conversations and widget sessions get
AUTOINCREMENT.

Revision ID: 0005_sqlite_autoincrement
Revises: 0004_lead_events
Create Date: 2026-12-07

An ``INTEGER PRIMARY KEY`` without AUTOINCREMENT gives a new row the highest id in the table
plus one. After `qualibot forget` erased the newest lead or conversation, the next one got its
id, and whatever still named the old id (an outbox dedupe key, a Slack button, a rep's DM
"lead 42", an export, a log line) named somebody else. With AUTOINCREMENT, SQLite keeps the
highest id ever used in `sqlite_sequence` and never goes below it. PostgreSQL's sequences
never hand an id out twice: there this revision does nothing.

Which tables, and why:

* ``leads``: their ids are what reps and admins see (``qualibot leads``, ``show``, ``forget
  --lead``, exports, notices, DMs) and what outbox payloads and Slack buttons carry.
* ``conversations``: named by outbox dedupe keys (``handoff:<id>``, ``assign:<id>:<version>``,
  ``requalified:<id>``) and Slack buttons (Resume).
* ``widget_sessions``: named by the dedupe key of each visitor message
  (``widget:<id>:<message id>`` in ``processed_events``, kept three days, also after the
  session is erased) and by the per-session rate limits. A client whose message ids are a
  counter ("1", "2", ...) would have had its messages taken for the erased visitor's.

Not: ``answers``, ``scores``, ``lead_events``, ``engagement_events`` (deleted only with their
lead, and nothing outside their own rows names their ids; a reused id still sorts after every
row there is), ``outbox`` (its ids are named, by ``handoff-rerouted:<id>`` keys and
``qualibot outbox retry``, but no outbox row is ever deleted: erasure scrubs the payload and
keeps the row, so its ids never come back; were rows ever pruned, it would need this too),
the tables keyed by text, and slack_sdk's tables (their ids are their own business).

The tables are rebuilt by Alembic's batch mode (a copy with AUTOINCREMENT, the rows copied
with their ids, the old table dropped, the copy renamed, its indexes made again). Foreign keys
must be off, or dropping ``leads`` would delete every conversation (ON DELETE CASCADE):
`storage.migrate` turns them off around the migration's transaction, and this revision refuses
to run with them on. Afterwards ``PRAGMA foreign_key_check`` must find nothing it did not find
before.

The next id is above the highest id still known: the highest in the table, and the highest
that the rows kept after an erasure name (outbox dedupe keys and payloads, widget message
keys). An id erased before this revision that nothing in the database names any more (only a
Slack message or a log line) cannot be known and may be handed out once more.

Downgrade rebuilds the three tables without AUTOINCREMENT (SQLite forgets their sequences).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_sqlite_autoincrement"
down_revision: str | None = "0004_lead_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("leads", "conversations", "widget_sessions")
#: The largest id the application looks up (`storage.models.MAX_INTEGER_ID`): a larger
#: number found somewhere names no row, and the sequence must not jump past it.
MAX_ID = 2**31 - 1

#: Outbox payload paths holding a lead id (handoff notices, notice updates, replies, DMs).
LEAD_PATHS = ("$.lead.id", "$.handoff.lead.id", "$.lead_id")
#: Outbox payload paths holding a conversation id.
CONVERSATION_PATHS = ("$.conversation_id", "$.handoff.conversation_id")
#: An outbox dedupe key naming a conversation id as erasure renamed it before this revision
#: (`erased:<outbox id>:handoff:<id>`; also `assign:<id>:<version>`, `requalified:<id>`).
RENAMED_KEY = re.compile(r"^erased:\d+:(?:handoff|assign|requalified):(\d+)(?::|$)")


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    _rebuild(autoincrement=True)
    named = {
        "leads": _highest_in_payloads(connection, LEAD_PATHS),
        "conversations": max(
            _highest_in_payloads(connection, CONVERSATION_PATHS),
            _highest_conversation_key(connection),
        ),
        "widget_sessions": _highest_widget_key(connection),
    }
    for table, highest in named.items():
        _seed_sequence(connection, table, highest)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild(autoincrement=False)


def _rebuild(*, autoincrement: bool) -> None:
    connection = op.get_bind()
    if connection.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "0005_sqlite_autoincrement rebuilds tables and must run with foreign keys off "
            "(dropping leads would delete their conversations): run it through "
            "`qualibot db upgrade` or storage.migrate"
        )
    before = _foreign_key_problems(connection)
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass
    broken = _foreign_key_problems(connection) - before
    if broken:
        raise RuntimeError(f"rebuilding {', '.join(TABLES)} broke foreign keys: {sorted(broken)}")


def _foreign_key_problems(connection: sa.Connection) -> set[tuple[str, int, str]]:
    """(table, rowid, referenced table) of each row whose foreign key names no row."""
    rows = connection.exec_driver_sql("PRAGMA foreign_key_check")
    return {(row[0], row[1], row[2]) for row in rows}


def _highest_in_payloads(connection: sa.Connection, paths: Sequence[str]) -> int:
    """The highest integer at any of `paths` in the outbox payloads (0: none)."""
    found = [
        f"max(CASE WHEN json_type(payload, '{path}') = 'integer' "
        f"THEN json_extract(payload, '{path}') END)"
        for path in paths
    ]
    row = connection.exec_driver_sql(f"SELECT {', '.join(found)} FROM outbox").one()
    return max((value or 0 for value in row), default=0)


def _highest_conversation_key(connection: sa.Connection) -> int:
    """The highest conversation id in outbox dedupe keys."""
    # CAST reads the digits after the first ':' up to the next one (`assign:<id>:<version>`)
    highest = connection.exec_driver_sql(
        "SELECT max(CAST(substr(dedupe_key, instr(dedupe_key, ':') + 1) AS INTEGER))"
        " FROM outbox WHERE dedupe_key LIKE 'handoff:%' OR dedupe_key LIKE 'assign:%'"
        " OR dedupe_key LIKE 'requalified:%'"
    ).scalar()
    renamed = connection.exec_driver_sql(
        "SELECT dedupe_key FROM outbox WHERE dedupe_key LIKE 'erased:%'"
    ).scalars()
    matches = (RENAMED_KEY.match(key) for key in renamed)
    return max([int(highest or 0), *(int(match.group(1)) for match in matches if match)])


def _highest_widget_key(connection: sa.Connection) -> int:
    """The highest widget session id in visitor message keys (`widget:<id>:<message id>`)."""
    # CAST reads the digits up to the ':' that follows them
    highest = connection.exec_driver_sql(
        "SELECT max(CAST(substr(key, 8) AS INTEGER)) FROM processed_events"
        " WHERE key LIKE 'widget:%'"
    ).scalar()
    return int(highest or 0)


def _seed_sequence(connection: sa.Connection, table: str, named: int) -> None:
    """The table's next id is above its highest id and `named`."""
    named = named if named <= MAX_ID else 0
    highest = connection.exec_driver_sql(f"SELECT max(id) FROM {table}").scalar() or 0
    seq = connection.exec_driver_sql(
        "SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)
    ).scalar() or 0
    wanted = max(highest, named, seq)
    if wanted == seq:
        return
    connection.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
    connection.exec_driver_sql(
        "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, wanted)
    )
