"""SQLite's WAL checkpoints in a background thread, off the request path.

In WAL mode every commit appends the pages it changed to the `-wal` file; a *checkpoint*
copies them back into the database file and fsyncs it. By default SQLite runs one inside
whichever COMMIT takes the WAL past 1,000 pages: under load that is one turn in ~70, which
then holds the writer for several milliseconds (the fsync) while every other turn queues
behind it, and it costs every turn CPU on average.

The server runs them here instead:

    checkpointer = WalCheckpointer(engine)
    checkpointer.start()     # in the server's lifespan
    ...
    checkpointer.stop()      # a last checkpoint, and the WAL emptied

Every `interval` seconds it runs `PRAGMA wal_checkpoint(PASSIVE)` on a connection of its own:
it copies what it can without waiting for readers or writers and without the writer gate,
and the driver releases the GIL while SQLite works. Request connections keep an automatic
checkpoint only as a safety net, at `storage.db.SQLITE_AUTOCHECKPOINT_PAGES` (for commands
run without a server, and should this thread fall behind). SQLite itself checkpoints and
removes the WAL when the last connection closes.
"""

from __future__ import annotations

import logging
import threading
from typing import NamedTuple

from sqlalchemy import Engine

log = logging.getLogger(__name__)

#: Seconds between background checkpoints.
CHECKPOINT_INTERVAL = 0.25


class CheckpointResult(NamedTuple):
    """What `PRAGMA wal_checkpoint` reports."""

    busy: bool  #: a TRUNCATE/RESTART/FULL checkpoint could not finish (PASSIVE: always False)
    wal_pages: int  #: pages in the WAL
    copied_pages: int  #: pages of the WAL now in the database file


def uses_wal_file(engine: Engine) -> bool:
    """True for a SQLite database in a file (in-memory databases have no WAL)."""
    if engine.dialect.name != "sqlite":
        return False
    database = engine.url.database or ""
    return database not in ("", ":memory:") and not database.startswith("file::memory:")


class WalCheckpointer:
    def __init__(self, engine: Engine, interval: float = CHECKPOINT_INTERVAL) -> None:
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def checkpoint(self, mode: str = "PASSIVE") -> CheckpointResult:
        """One checkpoint, now (`mode`: PASSIVE, FULL, RESTART or TRUNCATE)."""
        connection = self.engine.raw_connection()  # outside any transaction: no writer gate
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(f"PRAGMA wal_checkpoint({mode})")
                row = cursor.fetchone()
                assert row is not None  # the pragma always returns its one row
                busy, wal_pages, copied_pages = row
            finally:
                cursor.close()
        finally:
            connection.close()
        return CheckpointResult(bool(busy), wal_pages, copied_pages)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread, then checkpoint everything and empty the WAL (TRUNCATE), so that
        a stopped server leaves the whole database in its file."""
        self._stop.set()
        if self._thread is None:
            return
        self._thread.join(timeout)
        self._thread = None
        try:
            self.checkpoint("TRUNCATE")
        except Exception:  # the data is safe in the WAL; SQLite replays it on the next open
            log.warning("SQLite: the final checkpoint failed", exc_info=True)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.checkpoint()
            except Exception:  # a locked or vanished file: the safety net still checkpoints
                log.exception("SQLite checkpoint failed; trying again shortly")
