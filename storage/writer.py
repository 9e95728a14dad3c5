"""SQLite's one writer: the gate that queues write transactions, and the connection the hot
paths write on.

SQLite lets one transaction write at a time. In this process writers queue on a `FairGate`
(in arrival order, without SQLite's sleeping busy handler), and the hot paths' transactions
(`storage.db.transaction`: a DM answer, a widget message) all run on one connection, the
`SharedWriter`'s, taken from the pool once: a turn skips the pool's checkout and checkin and
the making of a `Connection` (~100 µs of a DM answer's ~1.7 ms on a slow host, measured
2026-12-07). Other transactions (`sessions.begin()`, the outbox dispatcher's) take pooled
connections behind the same gate.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Iterator

from sqlalchemy import Connection, Engine


class FairGate:
    """A re-entrant lock handed over in arrival order.

    `threading.RLock` is not fair: the thread that releases it, or any other, may take it
    again at once, so under steady load (request threads and the outbox dispatcher's all
    writing) an unlucky thread waited seconds while others went round and round. Here each
    waiter gets its own ticket and the releasing thread passes ownership to the oldest one.
    As with `RLock`, releasing a gate this thread does not hold raises `RuntimeError`."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._waiting: deque[tuple[int, threading.Lock]] = deque()

    def acquire(self) -> None:
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return
            if self._owner is None:
                self._owner, self._depth = me, 1
                return
            ticket = threading.Lock()
            ticket.acquire()
            self._waiting.append((me, ticket))
        ticket.acquire()  # released by the previous owner once it made us the owner

    def held(self) -> bool:
        """True when this thread holds the gate."""
        return self._owner == threading.get_ident()

    def release(self) -> None:
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("cannot release a gate this thread does not hold")
            self._depth -= 1
            if self._depth:
                return
            if self._waiting:
                self._owner, ticket = self._waiting.popleft()
                self._depth = 1
                ticket.release()
            else:
                self._owner = None


class SharedWriter:
    """The one connection that the hot paths' transactions run on. The gate is taken before
    the connection is touched, so it is one thread's from BEGIN to COMMIT or ROLLBACK."""

    def __init__(self, engine: Engine, gate: FairGate) -> None:
        self._engine = engine
        self._gate = gate
        self._connection: Connection | None = None

    def owns(self, connection: Connection) -> bool:
        """True for the writer's connection (its BEGIN takes no gate: the writer holds it)."""
        return connection is self._connection

    def usable(self) -> bool:
        """False inside a transaction this thread already holds the gate for (nested: that
        one has the connection); such a one takes a pooled connection, as before."""
        return not self._gate.held()

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction on the writer's connection: COMMIT on success, ROLLBACK on error."""
        self._gate.acquire()
        try:
            connection = self._connection
            if connection is None or connection.closed:
                connection = self._connection = self._engine.connect()
            with connection.begin():
                yield connection
        finally:
            self._gate.release()

    def close(self) -> None:
        """Give the connection back (`Engine.dispose`); the next transaction takes another."""
        self._gate.acquire()
        try:
            if self._connection is not None:
                # out of the pool first: `dispose` replaced it, and the old one keeps what
                # comes back to it open
                self._connection.detach()
                self._connection.close()
                self._connection = None
        finally:
            self._gate.release()
