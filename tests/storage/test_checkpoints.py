"""Background WAL checkpoints (SQLite): what a turn commits reaches the database file without
a COMMIT doing the checkpoint (the server runs the checkpointer: tests/bot/test_server.py)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from storage import create_engine_for
from storage.checkpoints import WalCheckpointer, uses_wal_file

ROWS = 500


@pytest.fixture
def file_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    yield engine
    engine.dispose()


def write_rows(engine: Engine, count: int = ROWS) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO notes (body) VALUES (?)", [("x" * 200,) for _ in range(count)]
        )


def rows_in_database_file(path: Path) -> int:
    """Rows as the database file alone has them: `immutable=1` reads no WAL."""
    reader = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        tables = reader.execute("SELECT count(*) FROM sqlite_master WHERE name = 'notes'")
        if tables.fetchone()[0] == 0:
            return 0
        return int(reader.execute("SELECT count(*) FROM notes").fetchone()[0])
    finally:
        reader.close()


def test_commits_stay_in_the_wal_until_a_checkpoint(file_engine: Engine, tmp_path: Path) -> None:
    write_rows(file_engine)
    # far below the safety net (10,000 pages): no COMMIT checkpointed
    assert rows_in_database_file(tmp_path / "wal.db") == 0

    result = WalCheckpointer(file_engine).checkpoint()

    assert result.wal_pages > 0
    assert result.copied_pages == result.wal_pages
    assert rows_in_database_file(tmp_path / "wal.db") == ROWS


def test_the_checkpointer_thread_checkpoints_while_writes_go_on(
    file_engine: Engine, tmp_path: Path
) -> None:
    checkpointer = WalCheckpointer(file_engine, interval=0.01)
    checkpointer.start()
    try:
        assert checkpointer.running
        for _ in range(5):
            write_rows(file_engine, ROWS // 5)
        deadline = time.monotonic() + 10
        while rows_in_database_file(tmp_path / "wal.db") < ROWS:
            assert time.monotonic() < deadline, "the background checkpoint never ran"
            time.sleep(0.02)
    finally:
        checkpointer.stop()
    assert not checkpointer.running


def test_stopping_leaves_everything_in_the_database_file_and_the_wal_empty(
    file_engine: Engine, tmp_path: Path
) -> None:
    checkpointer = WalCheckpointer(file_engine, interval=60)  # no periodic pass in this test
    checkpointer.start()
    write_rows(file_engine)
    assert rows_in_database_file(tmp_path / "wal.db") == 0

    checkpointer.stop()

    assert rows_in_database_file(tmp_path / "wal.db") == ROWS
    assert (tmp_path / "wal.db-wal").stat().st_size == 0


def test_only_sqlite_files_have_a_wal(tmp_path: Path) -> None:
    assert uses_wal_file(create_engine_for(f"sqlite:///{tmp_path / 'x.db'}"))
    assert not uses_wal_file(create_engine_for("sqlite://"))
    assert not uses_wal_file(create_engine_for("postgresql://nobody@127.0.0.1:1/x"))
