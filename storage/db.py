"""Engine and session setup.

* :func:`create_engine_for` builds an engine for a database URL (SQLite or PostgreSQL).
* :func:`make_session_factory` returns the ``sessionmaker`` the service layer uses as
  ``with session_factory.begin() as session: ...`` (commit on success, rollback on error).
* :func:`transaction` is the same for the hot paths (a conversation's turn), at a third of
  the cost when the work is mostly prepared statements; :func:`reading` is for their reads
  outside any transaction (no SQLite writer lock).
* :func:`check_connection` raises :class:`DatabaseUnavailable` with a readable message when
  the database cannot be reached.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal

import orjson
from sqlalchemy import Connection, Engine, event, exc
from sqlalchemy import create_engine as _sa_create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from storage.prepared import driver_error
from storage.writer import FairGate, SharedWriter

#: WAL pages after which a COMMIT checkpoints (SQLite's default: 1,000). The server
#: checkpoints in the background (`storage.checkpoints`); this is the safety net.
SQLITE_AUTOCHECKPOINT_PAGES = 10_000

SQLITE_PRAGMAS: tuple[tuple[str, str], ...] = (
    ("journal_mode", "WAL"),
    ("synchronous", "NORMAL"),
    ("busy_timeout", "15000"),  # a turn waits out a lock (Slack is answered at 2 s anyway)
    ("foreign_keys", "ON"),
    ("wal_autocheckpoint", str(SQLITE_AUTOCHECKPOINT_PAGES)),
)

SQLiteBegin = Literal["DEFERRED", "IMMEDIATE"]


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached (wrong URL, server down, missing directory, ...)."""

    def __init__(self, url: str, error: str) -> None:
        self.url = url
        self.error = error
        super().__init__(f"Cannot connect to the database at {url}: {error}")


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``; bare ``postgresql://`` / ``postgres://`` URLs get the psycopg 3 driver."""
    if isinstance(url, str) and url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def redact_url(url: str | URL) -> str:
    """The URL as a string with the password replaced by ``***``."""
    try:
        return normalize_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "<invalid database URL>"


def create_engine_for(
    url: str | URL,
    *,
    echo: bool = False,
    sqlite_begin: SQLiteBegin = "IMMEDIATE",
    **engine_kwargs: Any,
) -> Engine:
    """Create an engine for ``url``.

    SQLite: every new connection gets ``journal_mode=WAL``, ``synchronous=NORMAL``,
    ``busy_timeout=15000``, ``foreign_keys=ON`` and ``wal_autocheckpoint=10000`` (the server
    checkpoints in the background: `storage.checkpoints`). Transactions are started by SQLAlchemy
    (``BEGIN IMMEDIATE`` by default, so concurrent writers queue on ``busy_timeout`` instead of
    failing with "database is locked" when upgrading a read to a write), which also makes
    SAVEPOINTs work correctly with pysqlite. ``sqlite://`` (in-memory) uses a single shared
    connection.

    PostgreSQL: ``pool_pre_ping``, a bounded pool, connections recycled after 30 minutes and a
    10 s connect timeout. ``postgresql://`` URLs use psycopg 3.

    Extra keyword arguments are passed to :func:`sqlalchemy.create_engine` and win over these
    defaults (``connect_args`` is merged).
    """
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    # orjson: JSON columns (conversation answers, score breakdowns) are read and written on
    # every turn and re-score; it is several times faster than the standard library.
    kwargs: dict[str, Any] = {
        "echo": echo,
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
    }

    if backend == "sqlite":
        if is_sqlite_in_memory(parsed.database):
            # one connection for every thread; no rollback when one thread hands it back to
            # the pool, which would end another thread's transaction on it (every transaction
            # is ended by its own Connection anyway)
            kwargs.update(
                poolclass=StaticPool,
                connect_args={"check_same_thread": False},
                pool_reset_on_return=None,
            )
        _merge(kwargs, engine_kwargs)
        engine = _sa_create_engine(parsed, **kwargs)
        _install_sqlite_hooks(engine, begin=sqlite_begin)
        return engine

    if backend == "postgresql":
        kwargs.update(
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=10,
            pool_timeout=30,
            pool_recycle=1800,
            connect_args={"connect_timeout": 10, "application_name": "qualibot"},
        )
    _merge(kwargs, engine_kwargs)
    return _sa_create_engine(parsed, **kwargs)


def is_sqlite_in_memory(database: str | None) -> bool:
    """True for the database part of an in-memory SQLite URL (``sqlite://``, ``:memory:``,
    ``file::memory:...``)."""
    database = database or ""
    return database in ("", ":memory:") or database.startswith("file::memory:")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _merge(kwargs: dict[str, Any], overrides: dict[str, Any]) -> None:
    """``kwargs.update(overrides)``, except that ``connect_args`` dicts are merged."""
    for key, value in overrides.items():
        if key == "connect_args" and isinstance(kwargs.get(key), dict):
            kwargs[key] = {**kwargs[key], **value}
        else:
            kwargs[key] = value


def _install_sqlite_hooks(engine: Engine, *, begin: SQLiteBegin) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions start (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for name, value in SQLITE_PRAGMAS:
                cursor.execute(f"PRAGMA {name}={value}")
        finally:
            cursor.close()

    # One writer at a time, queued in this process. SQLite lets one transaction write; a
    # second `BEGIN IMMEDIATE` gets SQLITE_BUSY and its busy handler *sleeps* (1, 2, 5, 10 ...
    # up to 100 ms) before trying again, so under concurrency (16 Slack requests at once)
    # waits pile up to a second. Taking this gate before BEGIN and releasing it right after
    # COMMIT/ROLLBACK hands the database from one thread to the next without sleeping, in
    # arrival order; `busy_timeout` still covers other processes. Re-entrant: a thread that
    # opens a second connection inside a transaction gets what it got before (SQLite's busy
    # wait).
    gate = FairGate()
    begin_sql = f"BEGIN {begin}"
    # the hot paths' transactions share one connection (storage.writer)
    writer = None if isinstance(engine.pool, StaticPool) else SharedWriter(engine, gate)
    # (DBAPI connection, thread) of each transaction holding the gate: by thread too, since
    # on in-memory SQLite every thread's transaction is on the one connection
    holders: set[tuple[int, int]] = set()

    def _run_begin(connection: Any, dbapi_connection: Any) -> None:
        try:
            # on the DBAPI connection: `exec_driver_sql` costs ~90 µs more, on every turn
            dbapi_connection.execute(begin_sql)
        except connection.dialect.loaded_dbapi.Error as error:
            raise driver_error(connection, error, begin_sql, ()) from error

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        dbapi_connection = connection.connection.dbapi_connection
        if writer is not None and writer.owns(connection):
            _run_begin(connection, dbapi_connection)  # the writer took the gate already
            return
        gate.acquire()
        try:
            _run_begin(connection, dbapi_connection)
        except BaseException:
            gate.release()
            raise
        holders.add((id(dbapi_connection), threading.get_ident()))

    def _release(connection: Any) -> None:
        # the pool's events pass the DBAPI connection; do_commit/do_rollback its proxy
        dbapi_connection = getattr(connection, "dbapi_connection", connection)
        key = (id(dbapi_connection), threading.get_ident())
        if key in holders:
            holders.discard(key)
            with contextlib.suppress(RuntimeError):  # defensive: the key names this thread
                gate.release()

    dialect = engine.dialect  # this engine's own instance

    def _ending(end: Callable[[Any], None]) -> Callable[[Any], None]:
        def end_then_release(dbapi_connection: Any) -> None:
            try:
                end(dbapi_connection)
            finally:
                _release(dbapi_connection)

        return end_then_release

    dialect.do_commit = _ending(dialect.do_commit)  # type: ignore[method-assign,assignment]
    dialect.do_rollback = _ending(dialect.do_rollback)  # type: ignore[method-assign,assignment]

    # Safety nets: a connection that goes back to the pool, is invalidated or closed with its
    # transaction never ended gives the gate up too.
    for pool_event in ("checkin", "invalidate", "close"):
        event.listen(engine, pool_event, lambda dbapi_connection, *_: _release(dbapi_connection))

    if writer is not None:
        setattr(engine, _WRITER, writer)
        event.listen(engine, "engine_disposed", lambda _engine: writer.close())


#: The engine attribute that holds a SQLite file database's `SharedWriter`.
_WRITER = "_qualibot_writer"


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (``expire_on_commit=False``)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


class _JoinedSession(Session):
    """A session on a Core connection that is already in a transaction (SQLAlchemy's "join
    an external transaction"): ORM work, if any, runs in that transaction, and commit or
    rollback is the connection's. `connection()` returns the connection as it is, without
    starting the session's own transaction, which most turns never need."""

    def __init__(self, connection: Connection, **options: Any) -> None:
        super().__init__(bind=connection, join_transaction_mode="rollback_only", **options)
        self._joined = connection

    def connection(
        self,
        bind_arguments: Any = None,
        execution_options: Any = None,
    ) -> Connection:
        if bind_arguments is None and execution_options is None:
            return self._joined
        return super().connection(bind_arguments, execution_options)


def _joined_options(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """The factory's session options, less those a `_JoinedSession` sets itself."""
    return {
        name: value
        for name, value in sessions.kw.items()
        if name not in ("bind", "join_transaction_mode")
    }


@contextlib.contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """``with transaction(sessions) as session:`` does what ``sessions.begin()`` does:
    commit on success (pending ORM changes flushed first), rollback on error.

    It is for the hot paths, whose statements are prepared (`storage.prepared`) and run on
    ``session.connection()``: the transaction is a Core connection's, and the ORM session
    joins it only when ORM work is done. Measured: ~40 µs per transaction against ~100 µs
    for ``sessions.begin()`` with the same statements."""
    options = _joined_options(sessions)
    with _begin(sessions.kw["bind"]) as connection:
        session = _JoinedSession(connection, **options)
        try:
            yield session
            session.flush()
        finally:
            session.close()


@contextlib.contextmanager
def reading(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """``with reading(sessions) as session:`` for a hot path's reads (prepared SELECTs on
    ``session.connection()``) outside any transaction: no BEGIN, so on SQLite no writer lock
    and no queueing behind writers; each statement sees what is committed when it runs.
    Nothing is committed here: write in a `transaction`. On a connection given as the bind
    (the tests' connection in an outer transaction), the reads run in that transaction."""
    bind = sessions.kw["bind"]
    with contextlib.ExitStack() as stack:
        if isinstance(bind, Connection):
            connection = bind
        else:
            connection = stack.enter_context(_outside_transaction(bind))
        session = _JoinedSession(connection, **_joined_options(sessions))
        try:
            yield session
        finally:
            session.close()


@contextlib.contextmanager
def _begin(bind: Engine | Connection) -> Iterator[Connection]:
    """A transaction on a new connection, or on a SQLite file database the shared writer's
    (`storage.writer.SharedWriter`); on a connection given as the bind (the tests' connection
    in an outer transaction, rolled back after each test), a SAVEPOINT."""
    if isinstance(bind, Connection):
        with bind.begin_nested():
            yield bind
        return
    writer: SharedWriter | None = getattr(bind, _WRITER, None)
    if writer is not None and writer.usable():
        with writer.begin() as connection:
            yield connection
    else:
        with bind.begin() as connection:
            yield connection


@contextlib.contextmanager
def sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """On SQLite, `connection` without foreign key enforcement until the block ends (for the
    migrations: rebuilding a table drops it, and with foreign keys on that DROP deletes or
    nulls every row referencing it, by their ON DELETE actions). Enter it before the
    transaction begins and leave it after it ended: the pragma does nothing inside one.
    Elsewhere, nothing is changed."""
    if connection.dialect.name != "sqlite":
        yield
        return
    if connection.in_transaction():
        raise RuntimeError("foreign keys cannot be turned off inside a transaction")
    # on the DBAPI cursor: a statement through `connection` would begin a transaction
    cursor = connection.connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=OFF")
        yield
    finally:
        cursor.execute("PRAGMA foreign_keys=ON")  # the pool hands the connection out again
        cursor.close()


def one_line(error: BaseException) -> str:
    """The driver's error message on one line (for ``DBAPIError``, the original error)."""
    original = getattr(error, "orig", None)
    source = original if original is not None else error
    text = " ".join(str(source).split())
    return text or type(source).__name__


def shares_one_connection(engine: Engine) -> bool:
    """True for in-memory SQLite, where every thread uses the one DBAPI connection
    (`StaticPool`). Work outside a transaction would run inside another thread's open one,
    and handing the connection back to the pool rolls that transaction back, silently."""
    return isinstance(engine.pool, StaticPool)


@contextlib.contextmanager
def _outside_transaction(engine: Engine) -> Iterator[Connection]:
    """A pooled connection for statements run on its DBAPI cursor outside any transaction:
    on SQLite no lock (no `BEGIN IMMEDIATE`, no writer gate), so they never queue behind
    writers. On in-memory SQLite (`shares_one_connection`) they run in a transaction after
    all, rolled back, which takes the writer gate like any other."""
    with engine.connect() as connection:
        if not shares_one_connection(engine):
            yield connection  # back to the pool after, which rolls back what the driver began
            return
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


def fetch_outside_transaction(engine: Engine, sql: str) -> Any:
    """The first row of `sql` (or None), run outside any transaction (`_outside_transaction`:
    never queues behind writers). Raises the driver's error."""
    with _outside_transaction(engine) as connection:
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(sql)
            return cursor.fetchone()
        finally:
            cursor.close()


def ping(engine: Engine) -> None:
    """`SELECT 1` outside any transaction (a health probe never queues behind writers).
    Raises the driver's error when the database cannot be reached."""
    fetch_outside_transaction(engine, "SELECT 1")


def check_connection(engine: Engine) -> None:
    """:func:`ping` the database; raise :class:`DatabaseUnavailable` on failure."""
    try:
        ping(engine)
    except (engine.dialect.loaded_dbapi.Error, exc.DBAPIError, OSError) as error:
        raise DatabaseUnavailable(redact_url(engine.url), one_line(error)) from error
