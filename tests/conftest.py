"""Shared database fixtures.

The database is ``TEST_DATABASE_URL`` (default: a SQLite file in a pytest tmp dir). Its schema
is built once per test session by the real Alembic migrations; on PostgreSQL all existing tables
are dropped first so every run starts clean.

* ``engine``: the session-wide engine (schema at head). Use it directly only for tests that
  need real, committed transactions on several connections, and clean up after yourself.
* ``db_session``: a ``Session`` inside a transaction that is rolled back after the test;
  ``session.commit()`` only releases a savepoint.
* ``db_connection``: the connection under ``db_session``/``session_factory``.
* ``session_factory``: a ``sessionmaker`` bound to the same rolled-back connection, for
  service-level code that does ``with session_factory.begin() as session: ...``.
* ``empty_engine``: an engine on an empty database of the same kind (SQLite: a new file;
  PostgreSQL: a throw-away schema), for migration tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, MetaData
from sqlalchemy.orm import Session, sessionmaker

from storage.db import create_engine_for
from storage.migrate import upgrade

EMPTY_SCHEMA_PREFIX = "qb_test_"


def _drop_everything(engine: Engine) -> None:
    """PostgreSQL: drop all tables (and throw-away schemas left by crashed runs)."""
    with engine.begin() as connection:
        leftovers = connection.exec_driver_sql(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %(prefix)s)",
            {"prefix": EMPTY_SCHEMA_PREFIX},
        ).scalars()
        for schema in list(leftovers):
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        metadata = MetaData()
        metadata.reflect(connection)
        metadata.drop_all(connection)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    path: Path = tmp_path_factory.mktemp("db") / "qualibot-test.db"
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine_for(database_url)
    if engine.dialect.name != "sqlite":
        _drop_everything(engine)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in an outer transaction that is rolled back after the test."""
    with engine.connect() as connection:
        outer = connection.begin()
        try:
            yield connection
        finally:
            if outer.is_active:
                outer.rollback()


@pytest.fixture
def session_factory(db_connection: Connection) -> sessionmaker[Session]:
    return sessionmaker(
        bind=db_connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def db_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture
def empty_engine(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    if engine.dialect.name == "sqlite":
        empty = create_engine_for(f"sqlite:///{tmp_path / 'empty.db'}")
        try:
            yield empty
        finally:
            empty.dispose()
        return

    schema = f"{EMPTY_SCHEMA_PREFIX}{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    empty = create_engine_for(engine.url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield empty
    finally:
        empty.dispose()
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium, one per test module, started by its first browser test
    (the browser tests fail, never skip, without it: see `tests/browser.py`). Not one per
    run: Playwright's sync API keeps an event loop running on the main thread while it is
    open, and a later module's `asyncio.run` would fail."""
    from tests.browser import chromium

    with chromium() as launched:
        yield launched


@pytest.fixture()
def new_page(browser: Any) -> Iterator[Any]:
    """Factory: a page in a fresh browser context (its own localStorage, like another
    device); page errors and dialogs fail the test."""
    from tests.browser import page_factory

    with page_factory(browser) as make:
        yield make
