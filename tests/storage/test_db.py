from __future__ import annotations

import ast
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

import storage
from storage import (
    DatabaseUnavailable,
    Lead,
    check_connection,
    create_engine_for,
    make_session_factory,
    prepare_database,
    upgrade,
)
from storage.db import (
    SQLITE_AUTOCHECKPOINT_PAGES,
    normalize_url,
    one_line,
    ping,
    reading,
    redact_url,
    sqlite_foreign_keys_off,
    transaction,
)
from storage.dedupe import ProcessedEventRepository
from storage.models import ProcessedEvent
from storage.repositories import LeadRepository
from storage.writer import FairGate

UNREACHABLE = "postgresql+psycopg://nobody:s3cret@127.0.0.1:1/x"


@pytest.fixture
def sqlite_file_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'pragmas.db'}")
    yield engine
    engine.dispose()


def test_sqlite_pragmas_are_set_on_every_connection(sqlite_file_engine: Engine) -> None:
    # Two different pooled connections: both were configured by the connect hook.
    with sqlite_file_engine.connect() as c1, sqlite_file_engine.connect() as c2:
        assert c1.connection.dbapi_connection is not c2.connection.dbapi_connection
        for connection in (c1, c2):
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert pragma("PRAGMA busy_timeout").scalar() == 15000
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            # the server checkpoints in the background; this is only the safety net
            assert pragma("PRAGMA wal_autocheckpoint").scalar() == SQLITE_AUTOCHECKPOINT_PAGES
            connection.rollback()  # BEGIN IMMEDIATE: end it before using the other one


def test_sqlite_foreign_keys_are_off_only_inside_the_block(sqlite_file_engine: Engine) -> None:
    # What the migrations run in (storage.migrate): a table rebuilt there is dropped without
    # its ON DELETE actions; after the block the pooled connection enforces them again, also
    # when the block failed.
    def enforced(connection: Connection) -> int:
        with connection.begin():
            return int(connection.exec_driver_sql("PRAGMA foreign_keys").scalar() or 0)

    with sqlite_file_engine.connect() as connection:
        with pytest.raises(ValueError), sqlite_foreign_keys_off(connection):
            assert enforced(connection) == 0
            raise ValueError("a migration failed")
        assert enforced(connection) == 1
        inside = pytest.raises(RuntimeError, match="inside a transaction")
        with connection.begin(), inside, sqlite_foreign_keys_off(connection):
            pass


def test_sqlite_write_transactions_queue_instead_of_failing(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE + busy_timeout: a second writer waits for the first one to commit."""
    engine = create_engine_for(f"sqlite:///{tmp_path / 'queue.db'}")
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        errors: list[BaseException] = []

        def writer(name: str) -> None:
            try:
                with factory.begin() as session:
                    count = len(session.scalars(select(Lead.id)).all())  # read ...
                    time.sleep(0.2)
                    session.add(Lead(company=f"{name}{count}", source="rep", framework="b"))
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=writer, args=(n,)) for n in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with factory() as session:
            companies = sorted(session.scalars(select(Lead.company)))
        assert companies in (["a0", "b1"], ["a1", "b0"])  # serialised, no lost update
    finally:
        engine.dispose()


def test_sqlite_begin_that_times_out_raises_operational_error_and_frees_the_gate(
    sqlite_file_engine: Engine, tmp_path: Path
) -> None:
    """Another process holds the write lock past busy_timeout: SQLAlchemy's error, and the
    next transaction in this process is not stuck behind the writer gate."""
    other = sqlite3.connect(tmp_path / "pragmas.db", isolation_level=None)
    try:
        with sqlite_file_engine.connect() as connection:
            connection.connection.dbapi_connection.execute("PRAGMA busy_timeout=50")
            other.execute("BEGIN EXCLUSIVE")
            with pytest.raises(OperationalError, match="database is locked"):
                connection.begin()
            other.execute("COMMIT")
            with connection.begin():
                assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        other.close()


def test_sqlite_savepoints_work(sqlite_file_engine: Engine) -> None:
    upgrade(sqlite_file_engine)
    factory = make_session_factory(sqlite_file_engine)
    with factory.begin() as session:
        session.add(Lead(company="kept", source="rep", framework="bant"))
        nested = session.begin_nested()
        session.add(Lead(company="rolled back", source="rep", framework="bant"))
        session.flush()
        nested.rollback()
    with factory() as session:
        assert session.scalars(select(Lead.company)).all() == ["kept"]


def test_sqlite_in_memory_database_is_shared() -> None:
    engine = create_engine_for("sqlite://")
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        with factory.begin() as session:
            session.add(Lead(company="mem", source="rep", framework="bant"))
        with factory() as session:
            assert session.scalars(select(Lead.company)).all() == ["mem"]
    finally:
        engine.dispose()


def test_session_factory_keeps_objects_usable_after_commit(engine: Engine) -> None:
    factory = make_session_factory(engine)
    assert factory.kw["expire_on_commit"] is False
    assert factory.kw["bind"] is engine


@pytest.fixture
def team(engine: Engine) -> Iterator[str]:
    """A team id of the test's own; its leads are deleted afterwards (the database is shared
    with every other test, which may count leads)."""
    team_id = f"T{uuid.uuid4().hex[:10]}"
    yield team_id
    with engine.begin() as connection:
        connection.execute(delete(Lead).where(Lead.team_id == team_id))


def _companies(engine: Engine, team_id: str) -> list[str]:
    """The companies of the leads of `team_id` (the test's own, in a shared database)."""
    with make_session_factory(engine)() as session:
        return sorted(session.scalars(select(Lead.company).where(Lead.team_id == team_id)))


def _lead(company: str, team_id: str) -> Lead:
    return Lead(company=company, source="rep", framework="bant", team_id=team_id)


def test_transaction_commits_prepared_and_orm_work_together(engine: Engine, team: str) -> None:
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        added = LeadRepository(session).add(_lead("Prepared", team))
        session.add(_lead("Unit of work", team))  # flushed at the end
        # the ORM runs on the transaction's connection: it sees the prepared INSERT
        assert session.get(Lead, added.id) is added
        assert session.connection() is session.connection()
    assert _companies(engine, team) == ["Prepared", "Unit of work"]
    assert added.company == "Prepared"  # still usable after the commit


def test_transaction_rolls_back_everything_on_error(engine: Engine, team: str) -> None:
    sessions = make_session_factory(engine)
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        LeadRepository(session).add(_lead("Prepared", team))
        session.add(_lead("Unit of work", team))
        session.flush()
        raise RuntimeError("the turn failed")
    assert _companies(engine, team) == []


def test_transaction_whose_flush_fails_writes_nothing_and_frees_the_database(
    engine: Engine, team: str
) -> None:
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        assert ProcessedEventRepository(session).claim(f"Ev-{team}")
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        LeadRepository(session).add(_lead("Lost", team))
        session.add(ProcessedEvent(key=f"Ev-{team}"))  # a duplicate key: the final flush fails
    # nothing of the failed transaction is kept, and the next one runs (SQLite's writer
    # gate was given back)
    with transaction(sessions) as session:
        LeadRepository(session).add(_lead("Next", team))
    assert _companies(engine, team) == ["Next"]


def test_reading_sees_committed_data_and_writes_nothing(engine: Engine) -> None:
    sessions, key = make_session_factory(engine), f"Ev-{uuid.uuid4().hex}"
    with reading(sessions) as session:
        assert not ProcessedEventRepository(session).seen(key)
    with transaction(sessions) as session:
        assert ProcessedEventRepository(session).claim(key)
        assert ProcessedEventRepository(session).seen(key)  # the caller's own write
    with reading(sessions) as session:
        assert ProcessedEventRepository(session).seen(key)
        # nothing here is committed: a write made in a read is gone with it
        session.add(ProcessedEvent(key=key + "-lost"))
        session.flush()
    with reading(sessions) as session:
        assert not ProcessedEventRepository(session).seen(key + "-lost")


def test_reading_does_not_wait_for_a_writer(sqlite_file_engine: Engine) -> None:
    # The widget authenticates a message with `reading`: it must not queue behind the
    # writer (SQLite's lock and the in-process writer gate), only the turn itself does.
    upgrade(sqlite_file_engine)
    sessions, key = make_session_factory(sqlite_file_engine), "Ev-read-during-write"
    with transaction(sessions) as session:
        ProcessedEventRepository(session).claim(key)
    writing, release = threading.Event(), threading.Event()

    def long_write() -> None:
        with transaction(sessions) as session:
            ProcessedEventRepository(session).claim("Ev-being-written")
            writing.set()
            release.wait(10)

    writer = threading.Thread(target=long_write)
    writer.start()
    try:
        assert writing.wait(10)
        with reading(sessions) as session:
            seen = ProcessedEventRepository(session).seen(key)
            unseen = ProcessedEventRepository(session).seen("Ev-being-written")
        still_writing = writer.is_alive()  # read during the write, not after it
    finally:
        release.set()
        writer.join()
    assert seen and not unseen  # the committed key; the open write is not visible yet
    assert still_writing


@pytest.mark.parametrize("read", ["reading", "ping"])
def test_reads_on_in_memory_sqlite_never_undo_another_threads_transaction(read: str) -> None:
    # In-memory SQLite has one connection for every thread: a read outside a transaction
    # would hand it back to the pool, which rolls back whatever transaction is open on it
    # (another thread's), and that thread's COMMIT then saves nothing, without an error.
    engine = create_engine_for("sqlite://")
    try:
        upgrade(engine)
        sessions = make_session_factory(engine)
        in_transaction, finish = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def write() -> None:
            try:
                with transaction(sessions) as session:
                    ProcessedEventRepository(session).claim("Ev-kept")
                    in_transaction.set()
                    finish.wait(10)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        def read_once() -> None:
            if read == "reading":
                with reading(sessions) as session:
                    ProcessedEventRepository(session).seen("Ev-kept")
            else:
                ping(engine)

        writer = threading.Thread(target=write)
        writer.start()
        assert in_transaction.wait(10)
        reader = threading.Thread(target=read_once)
        reader.start()
        reader.join(0.5)  # it waits for the writer (the gate), or is done at once (the bug)
        finish.set()
        writer.join(10)
        reader.join(10)
        assert not errors
        with reading(sessions) as session:
            assert ProcessedEventRepository(session).seen("Ev-kept")
    finally:
        engine.dispose()


def test_threads_take_turns_on_in_memory_sqlite() -> None:
    # One connection shared by every thread: the writer gate must still be handed from one
    # transaction to the next (it once stayed with a thread that had finished).
    engine = create_engine_for("sqlite://")
    try:
        upgrade(engine)
        sessions = make_session_factory(engine)

        def work(n: int) -> None:
            for i in range(50):
                with transaction(sessions) as session:
                    ProcessedEventRepository(session).claim(f"Ev-{n}-{i}")
                with reading(sessions) as session:
                    assert ProcessedEventRepository(session).seen(f"Ev-{n}-{i}")

        threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads)
        with reading(sessions) as session:
            count = session.connection().exec_driver_sql("SELECT count(*) FROM processed_events")
            assert count.scalar() == 150
    finally:
        engine.dispose()


def test_postgres_urls_use_psycopg3() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"
    assert redact_url("postgresql://u:pw@h/db") == "postgresql+psycopg://u:***@h/db"


def test_postgres_engine_settings() -> None:
    engine = create_engine_for("postgresql://u:pw@127.0.0.1/db", pool_size=2)
    try:
        assert engine.pool._pre_ping is True
        assert engine.pool.size() == 2  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_unreachable_database_raises_database_unavailable() -> None:
    engine = create_engine_for(UNREACHABLE)
    try:
        with pytest.raises(DatabaseUnavailable) as info:
            check_connection(engine)
    finally:
        engine.dispose()
    message = str(info.value)
    assert "postgresql+psycopg://nobody:***@127.0.0.1:1/x" in message
    assert "s3cret" not in message
    assert "\n" not in message
    assert info.value.error  # the driver's error, e.g. "connection failed: ... refused"
    assert info.value.url == "postgresql+psycopg://nobody:***@127.0.0.1:1/x"


def test_prepare_database_reports_unreachable_database() -> None:
    engine = create_engine_for(UNREACHABLE)
    try:
        with pytest.raises(DatabaseUnavailable):
            prepare_database(engine, auto_migrate=True)
    finally:
        engine.dispose()


def test_sqlite_in_missing_directory_is_unavailable(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'missing' / 'q.db'}")
    try:
        with pytest.raises(DatabaseUnavailable, match="unable to open database file"):
            check_connection(engine)
    finally:
        engine.dispose()


def test_check_connection_succeeds(engine: Engine) -> None:
    check_connection(engine)


def test_one_line_collapses_whitespace() -> None:
    assert one_line(RuntimeError("a\n\tb   c\n")) == "a b c"
    assert one_line(RuntimeError()) == "RuntimeError"


def test_storage_does_not_import_bot_or_flows() -> None:
    root = Path(storage.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [
                f"{path.relative_to(root)}: {name}"
                for name in names
                if name.split(".")[0] in ("bot", "flows")
            ]
    assert offenders == []


def test_db_session_fixture_uses_the_rolled_back_connection(
    db_session: Session, db_connection: Connection
) -> None:
    assert db_session.connection() is db_connection
    assert db_connection.in_transaction()


def test_the_sqlite_writer_gate_is_handed_over_in_arrival_order() -> None:
    """Under steady load every writer gets its turn: waiters are served first come, first
    served (an unfair lock let some requests wait seconds while others went round)."""
    gate = FairGate()
    gate.acquire()
    gate.acquire()  # re-entrant
    order: list[int] = []

    def writer(n: int) -> None:
        gate.acquire()
        order.append(n)
        gate.release()

    threads = []
    for n in range(5):
        thread = threading.Thread(target=writer, args=(n,))
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + 5
        while len(gate._waiting) < n + 1 and time.monotonic() < deadline:  # queued in order
            time.sleep(0.001)
    gate.release()
    assert order == []  # still held once
    gate.release()
    for thread in threads:
        thread.join(5)
    assert order == [0, 1, 2, 3, 4]
    with pytest.raises(RuntimeError):
        gate.release()  # not held: as with threading.RLock
