"""Alembic environment.

Normally run through :mod:`storage.migrate`, which passes an open connection in
``config.attributes["connection"]``, in a transaction (on SQLite with foreign keys off).
Without one (plain ``alembic -c storage/alembic.ini ...``), the URL comes from ``-x url=...``,
the ``sqlalchemy.url`` option or ``QUALIBOT_DATABASE_URL``.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection

from storage.db import create_engine_for, sqlite_foreign_keys_off
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things: later migrations use batch mode there.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def _url() -> str:
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("QUALIBOT_DATABASE_URL")
    )
    if not url:
        raise RuntimeError(
            "no database URL: pass -x url=..., set sqlalchemy.url or QUALIBOT_DATABASE_URL"
        )
    return url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    engine = create_engine_for(_url())
    try:
        # as storage.migrate does: no ON DELETE actions when a migration rebuilds a table
        with engine.connect() as fresh, sqlite_foreign_keys_off(fresh):
            _configure(fresh)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
