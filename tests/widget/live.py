"""The real server on loopback for end-to-end tests: `bot.server.create_server` under uvicorn
in a thread, on a temporary SQLite file, configured through the environment like
`qualibot serve`.

    with live_server(tmp_path, monkeypatch) as live:
        page.goto(live.url + "/")
        ...
        with live.runtime.sessions() as db: ...

To also deliver the outbox to a fake Slack, pass its environment (`SLACK_API_URL`,
`SLACK_BOT_TOKEN`, ...) in `env` and the dispatcher in `background` (anything with
`start()`/`stop()`, run for the server's lifetime).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.runtime import Runtime, build_runtime
from bot.server import create_server
from tests.loopback import serve_in_thread

HANDOFF_CHANNEL = "C0WIDGETSALES"
SLACK_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
)


@dataclass
class LiveServer:
    url: str
    port: int
    runtime: Runtime
    database: Path


@contextmanager
def live_server(
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    env: dict[str, str] | None = None,
    widget_toml: str = "",
    background: Callable[[Runtime], Sequence[Any]] = lambda runtime: (),
) -> Iterator[LiveServer]:
    database = folder / "live.db"
    config = folder / "qualibot.toml"
    config.write_text(widget_toml, encoding="utf-8")
    for name in SLACK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("QUALIBOT_WIDGET_ORIGINS", raising=False)
    monkeypatch.setenv("QUALIBOT_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("QUALIBOT_HANDOFF_CHANNEL", HANDOFF_CHANNEL)
    monkeypatch.setenv("QUALIBOT_CONFIG", str(config))
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)

    runtime = build_runtime(Settings(_env_file=None))  # type: ignore[call-arg]
    app = create_server(runtime, background=background(runtime))
    try:
        with serve_in_thread(app) as (url, port):
            yield LiveServer(url, port, runtime, database)
    finally:
        runtime.close()
