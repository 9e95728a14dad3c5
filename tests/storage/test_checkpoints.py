"""WAL checkpoints (SQLite): what a transaction commits stays in the WAL, not in the database
file, until a checkpoint; no COMMIT does one below the safety net. The thread that runs them
for the server is tested in tests/bot/test_background.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from storage import create_engine_for
from storage.checkpoints import checkpoint, uses_wal_file

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

    result = checkpoint(file_engine)

    assert result.wal_pages > 0
    assert result.copied_pages == result.wal_pages
    assert not result.busy
    assert rows_in_database_file(tmp_path / "wal.db") == ROWS


def test_a_truncate_checkpoint_empties_the_wal_file(file_engine: Engine, tmp_path: Path) -> None:
    write_rows(file_engine)
    assert (tmp_path / "wal.db-wal").stat().st_size > 0

    checkpoint(file_engine, "TRUNCATE")

    assert (tmp_path / "wal.db-wal").stat().st_size == 0
    assert rows_in_database_file(tmp_path / "wal.db") == ROWS


def test_only_sqlite_files_have_a_wal(tmp_path: Path) -> None:
    assert uses_wal_file(create_engine_for(f"sqlite:///{tmp_path / 'x.db'}"))
    assert not uses_wal_file(create_engine_for("sqlite://"))
    assert not uses_wal_file(create_engine_for("postgresql://nobody@127.0.0.1:1/x"))
