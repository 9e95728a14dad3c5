"""SQLite WAL checkpoints, for running them off the request path.

In WAL mode every commit appends the pages it changed to the `-wal` file; a *checkpoint*
copies them back into the database file and fsyncs it. By default SQLite runs one inside
whichever COMMIT takes the WAL past 1,000 pages: under load that is one turn in ~70, which
then holds the writer for several milliseconds (the fsync) while every other turn queues
behind it, and it costs every turn CPU on average.

The server runs them in a background thread instead (`bot.background.WalCheckpoints`, every
0.25 s): `checkpoint(engine)` runs `PRAGMA wal_checkpoint(PASSIVE)` on a pooled connection
outside any transaction, so it copies what it can without waiting for readers or writers and
without the writer gate, and the driver releases the GIL while SQLite works. Request
connections keep an automatic checkpoint only as a safety net, at
`storage.db.SQLITE_AUTOCHECKPOINT_PAGES` (for commands run without a server, and should the
thread fall behind).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from sqlalchemy import Engine

from storage.db import fetch_outside_transaction, is_sqlite_in_memory

CheckpointMode = Literal["PASSIVE", "FULL", "RESTART", "TRUNCATE"]


class CheckpointResult(NamedTuple):
    """What `PRAGMA wal_checkpoint` reports."""

    busy: bool  #: a FULL/RESTART/TRUNCATE checkpoint could not finish (PASSIVE: False)
    wal_pages: int  #: pages in the WAL
    copied_pages: int  #: pages of the WAL now in the database file


def uses_wal_file(engine: Engine) -> bool:
    """True for a SQLite database in a file (in-memory databases have no WAL)."""
    return engine.dialect.name == "sqlite" and not is_sqlite_in_memory(engine.url.database)


def checkpoint(engine: Engine, mode: CheckpointMode = "PASSIVE") -> CheckpointResult:
    """One checkpoint of `engine`'s SQLite database, now (outside any transaction: no writer
    gate)."""
    busy, wal_pages, copied_pages = fetch_outside_transaction(
        engine, f"PRAGMA wal_checkpoint({mode})"
    )
    return CheckpointResult(bool(busy), wal_pages, copied_pages)
