"""Schema migrations (Alembic), configured in code so they work from an installed package.

``qualibot db upgrade`` and application start-up use these functions; no ``alembic.ini`` in the
working directory is needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, inspect

from storage.db import check_connection, sqlite_foreign_keys_off
from storage.models import Base

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
UPGRADE_COMMAND = "qualibot db upgrade"


class DatabaseNotMigrated(RuntimeError):
    """The database schema is not at the revision this version of Qualibot expects."""

    def __init__(
        self,
        current: str | None,
        expected: str,
        *,
        unknown: bool = False,
        tables: Sequence[str] = (),
    ) -> None:
        self.current = current
        self.expected = expected
        shown = current if current is not None else "none (empty database)"
        if tables:
            named = ", ".join(tables[:3]) + (", ..." if len(tables) > 3 else "")
            message = (
                f"The database has {len(tables)} of Qualibot's tables ({named}) but no "
                f"migration revision: it was not created by `{UPGRADE_COMMAND}`, so which "
                "version's schema it has is unknown and it is neither migrated nor used. "
                f"Point QUALIBOT_DATABASE_URL at an empty database and run `{UPGRADE_COMMAND}`."
            )
        elif unknown:
            message = (
                f"The database schema is at revision {shown}, which this version of Qualibot "
                f"does not know (expected {expected}); was it migrated by a newer version?"
            )
        else:
            message = (
                f"The database schema is at revision {shown}, but this version of Qualibot "
                f"expects {expected}. Run `{UPGRADE_COMMAND}` to migrate it."
            )
        super().__init__(message)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextmanager
def _connected(bind: Engine | Connection) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.begin() as connection:
            yield connection


@contextmanager
def _migrating(bind: Engine | Connection) -> Iterator[Connection]:
    """A transaction to migrate in (a connection given is used as it is). On SQLite, foreign
    keys are off while it runs: a migration that rebuilds a table drops it, which would
    cascade to the rows referencing it (`storage.db.sqlite_foreign_keys_off`)."""
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.connect() as connection, sqlite_foreign_keys_off(connection), connection.begin():
        yield connection


def upgrade(engine: Engine | Connection, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (in one transaction when given an engine). Raises
    :class:`DatabaseNotMigrated` for tables made without the migrations."""
    with _migrating(engine) as connection:
        _refuse_unversioned_tables(connection)
        command.upgrade(alembic_config(connection), revision)


def _refuse_unversioned_tables(connection: Connection) -> None:
    """Qualibot's tables without a revision (made by `create_all` or by hand): migrating them
    from the start would fail half-way ("table leads already exists")."""
    if MigrationContext.configure(connection).get_current_revision() is not None:
        return
    found = sorted(set(inspect(connection).get_table_names()) & set(Base.metadata.tables))
    if found:
        raise DatabaseNotMigrated(None, head_revision(), tables=found)


def downgrade(engine: Engine | Connection, revision: str) -> None:
    """Downgrade the schema to ``revision`` (``"base"`` drops everything)."""
    with _migrating(engine) as connection:
        command.downgrade(alembic_config(connection), revision)


def current_revision(engine: Engine | Connection) -> str | None:
    """The revision the database is at, or ``None`` for an unmigrated database."""
    with _connected(engine) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision shipped with this version of Qualibot."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def is_up_to_date(engine: Engine | Connection) -> bool:
    return current_revision(engine) == head_revision()


def _is_known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def prepare_database(engine: Engine, *, auto_migrate: bool) -> None:
    """Make sure the database is reachable and its schema is current.

    With ``auto_migrate`` (the SQLite default) an empty or outdated database is upgraded to
    head. Otherwise :class:`DatabaseNotMigrated` says which revision the database is at, which
    one is expected and to run ``qualibot db upgrade``. Raises
    :class:`~storage.db.DatabaseUnavailable` when the database cannot be reached.
    """
    check_connection(engine)
    current = current_revision(engine)
    expected = head_revision()
    if current == expected:
        return
    if current is not None and not _is_known(current):
        raise DatabaseNotMigrated(current, expected, unknown=True)
    if current is None:
        with _connected(engine) as connection:
            _refuse_unversioned_tables(connection)
    if not auto_migrate:
        raise DatabaseNotMigrated(current, expected)
    upgrade(engine)
