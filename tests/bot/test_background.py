"""Work the server repeats in the background: the SQLite checkpoint thread, and what every
periodic thread does (runs until stopped, survives a failing pass)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.background import PeriodicThread, WalCheckpoints
from storage import create_engine_for
from tests.storage.test_checkpoints import ROWS, rows_in_database_file, write_rows


@pytest.fixture
def file_engine(tmp_path: Path) -> Engine:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    return engine


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_checkpoints_run_in_the_background_while_writes_go_on(
    file_engine: Engine, tmp_path: Path
) -> None:
    checkpoints = WalCheckpoints(file_engine, interval=0.01)
    checkpoints.start()
    try:
        assert checkpoints.running
        for _ in range(5):
            write_rows(file_engine, ROWS // 5)
        wait_for(
            lambda: rows_in_database_file(tmp_path / "wal.db") == ROWS,
            "the background checkpoint never ran",
        )
    finally:
        checkpoints.stop()
        file_engine.dispose()
    assert not checkpoints.running


def test_stopping_leaves_everything_in_the_database_file_and_the_wal_empty(
    file_engine: Engine, tmp_path: Path
) -> None:
    checkpoints = WalCheckpoints(file_engine, interval=60)  # no periodic pass in this test
    checkpoints.start()
    try:
        write_rows(file_engine)
        assert rows_in_database_file(tmp_path / "wal.db") == 0

        checkpoints.stop()

        assert rows_in_database_file(tmp_path / "wal.db") == ROWS
        assert (tmp_path / "wal.db-wal").stat().st_size == 0
    finally:
        file_engine.dispose()


class Flaky(PeriodicThread):
    thread_name = "flaky"

    def __init__(self) -> None:
        super().__init__(interval=0.01)
        self.passes = 0
        self.stopped_after: int | None = None

    def run_once(self) -> None:
        self.passes += 1
        if self.passes == 1:
            raise RuntimeError("database went away")

    def stopped(self) -> None:
        self.stopped_after = self.passes


def test_a_failing_pass_is_logged_and_the_next_one_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flaky = Flaky()
    flaky.start()
    try:
        assert any(t.name == "flaky" for t in threading.enumerate())
        wait_for(lambda: flaky.passes >= 3, "the thread stopped after a failing pass")
    finally:
        flaky.stop()
    assert not flaky.running
    assert flaky.stopped_after == flaky.passes  # called once the thread had ended
    assert "flaky: a pass failed" in caplog.text
    assert "database went away" in caplog.text
