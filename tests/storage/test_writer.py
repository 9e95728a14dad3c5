"""The hot paths' transactions on a SQLite file database share one connection
(`storage.writer.SharedWriter`): one thread's at a time, from BEGIN to COMMIT or ROLLBACK, and
given back when the engine is disposed."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import OperationalError

from storage import create_engine_for, make_session_factory, upgrade
from storage.db import transaction
from storage.models import Lead


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'writer.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _dbapi_connection(session: object) -> object:
    return session.connection().connection.dbapi_connection  # type: ignore[attr-defined]


def _add_lead(engine: Engine, company: str) -> int:
    with transaction(make_session_factory(engine)) as session:
        lead = Lead(company=company, source="rep", framework="bant")
        session.add(lead)
        session.flush()
        return lead.id


def _company(engine: Engine, lead_id: int) -> str | None:
    with make_session_factory(engine)() as session:
        return session.scalar(select(Lead.company).where(Lead.id == lead_id))


def test_transactions_in_every_thread_run_on_one_connection(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    seen: list[object] = []

    def turn() -> None:
        with transaction(sessions) as session:
            seen.append(_dbapi_connection(session))

    threads = [threading.Thread(target=turn) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    turn()
    assert len(seen) == 4 and all(connection is seen[0] for connection in seen)
    # other work still gets pooled connections of its own
    with engine.connect() as other:
        assert other.connection.dbapi_connection is not seen[0]


def test_concurrent_transactions_on_the_shared_connection_never_interleave(
    engine: Engine,
) -> None:
    """Read, think, write back, from 8 threads at once: no update is lost (each transaction
    has the connection to itself until it commits)."""
    lead_id = _add_lead(engine, "0")
    sessions = make_session_factory(engine)
    errors: list[BaseException] = []

    def increment() -> None:
        try:
            for _ in range(25):
                with transaction(sessions) as session:
                    connection = session.connection()
                    company = connection.scalar(select(Lead.company).where(Lead.id == lead_id))
                    count = int(str(company))
                    threading.Event().wait(0.0005)  # another thread gets the GIL meanwhile
                    connection.execute(
                        update(Lead).where(Lead.id == lead_id).values(company=str(count + 1))
                    )
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=increment) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert _company(engine, lead_id) == "200"


def test_a_failed_transaction_on_the_shared_connection_leaves_nothing_behind(
    engine: Engine,
) -> None:
    sessions = make_session_factory(engine)
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        session.add(Lead(company="Lost", source="rep", framework="bant"))
        session.flush()
        raise RuntimeError("the turn failed")
    kept = _add_lead(engine, "Kept")  # the connection is usable: nothing left open on it
    with make_session_factory(engine)() as session:
        assert list(session.scalars(select(Lead.company))) == ["Kept"]
    assert _company(engine, kept) == "Kept"


def test_a_lost_shared_connection_is_replaced(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        lost = _dbapi_connection(session)
        session.connection().invalidate()
        raise RuntimeError("the connection broke")
    with transaction(sessions) as session:
        assert _dbapi_connection(session) is not lost
    assert _company(engine, _add_lead(engine, "After")) == "After"


def test_disposing_the_engine_closes_the_shared_connection(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        shared = _dbapi_connection(session)
    engine.dispose()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        shared.execute("SELECT 1")  # type: ignore[attr-defined]
    assert _company(engine, _add_lead(engine, "Again")) == "Again"  # a new one is taken


def test_a_transaction_nested_in_one_waits_on_sqlites_lock_as_before(engine: Engine) -> None:
    """A second transaction opened inside one, in the same thread, takes a pooled connection
    (the shared one is busy) and meets SQLite's write lock: "database is locked" once its
    busy timeout runs out, and the outer transaction carries on."""
    sessions = make_session_factory(engine)
    with transaction(sessions) as outer:
        outer.add(Lead(company="Outer", source="rep", framework="bant"))
        outer.flush()
        with engine.connect() as inner:
            inner.connection.dbapi_connection.execute("PRAGMA busy_timeout=50")  # type: ignore[union-attr]
            with pytest.raises(OperationalError, match="database is locked"):
                inner.begin()
    with make_session_factory(engine)() as session:
        assert list(session.scalars(select(Lead.company))) == ["Outer"]
