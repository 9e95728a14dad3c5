"""The HTTP server's own routes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from bot.runtime import Runtime, build_runtime
from bot.server import create_server
from tests.bot.slackapp import slack_settings

SLACK_OFF = {name: None for name in (
    "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET",
    "SLACK_APP_TOKEN", "SLACK_API_URL",
)}


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """A runtime on its own SQLite file (`tmp_path / "server.db"`), Slack off."""
    settings = slack_settings(
        monkeypatch, f"sqlite:///{tmp_path / 'server.db'}", tmp_path, **SLACK_OFF
    )
    runtime = build_runtime(settings)
    yield runtime
    runtime.close()


def test_the_server_checkpoints_sqlite_in_the_background_while_it_runs(
    runtime: Runtime,
) -> None:
    def checkpointing() -> bool:
        return any(t.name == "sqlite-checkpoint" and t.is_alive() for t in threading.enumerate())

    with TestClient(create_server(runtime)) as http:
        assert http.get("/healthz").status_code == 200
        assert checkpointing()
    assert not checkpointing()


def test_healthz_answers_while_a_writer_holds_the_database(runtime: Runtime) -> None:
    # A load balancer's probe must not queue behind a long write (a migration, a locked
    # SQLite file): the probe reads without a write transaction.
    writing, release, written = threading.Event(), threading.Event(), threading.Event()

    def long_write() -> None:
        with runtime.engine.begin() as connection:  # BEGIN IMMEDIATE: the writer's lock
            connection.execute(text("SELECT 1"))
            writing.set()
            release.wait(10)
        written.set()

    writer = threading.Thread(target=long_write)
    try:
        writer.start()
        assert writing.wait(10)
        with TestClient(create_server(runtime)) as http:
            health = http.get("/healthz")
            still_writing = not written.is_set()
        assert health.status_code == 200
        assert health.json()["database"] == "ok"
        assert still_writing  # answered during the write, not after it
    finally:
        release.set()
        writer.join()


def test_healthz_says_when_the_database_is_unreachable(
    runtime: Runtime, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(create_server(runtime)) as http:
        (tmp_path / "server.db").unlink()
        (tmp_path / "server.db").mkdir()  # the file is now a directory: unopenable
        runtime.engine.dispose()
        health = http.get("/healthz")
    assert health.status_code == 503
    assert health.json() == {"status": "error", "database": "unreachable"}
    # one log line per probe (the balancer probes every few seconds), the driver's reason
    [warning] = [r.getMessage() for r in caplog.records if "health check" in r.getMessage()]
    assert "unable to open database file" in warning
    assert "\n" not in warning and "sqlalche.me" not in warning
