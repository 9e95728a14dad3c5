"""The HTTP server: one ASGI app with Slack, the widget and health routes (served by uvicorn)."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from bot.background import WalCheckpoints
from bot.runtime import Runtime
from bot.widget.api import create_widget_router
from bot.widget.pages import create_pages_router
from storage.checkpoints import uses_wal_file
from storage.db import one_line, ping

log = logging.getLogger(__name__)

#: Slack requests dispatched at once on SQLite (measured with benchmarks/bench_slack.py).
SQLITE_SLACK_THREADS = 4


def freeze_startup_heap() -> None:
    """Call once the server is built, before it serves. Everything built so far (modules, the
    app, SQLAlchemy's and Bolt's objects: ~150,000) lives as long as the process; freezing it
    keeps the garbage collector's full passes off it. Otherwise each full pass walks all of
    it: measured, a 50-100 ms pause every ~2,000 requests, the server's longest."""
    gc.collect()
    gc.freeze()


def create_server(
    runtime: Runtime, *, slack_app: Any = None, background: Sequence[Any] = ()
) -> FastAPI:
    """Build the ASGI app. `slack_app` is a Bolt `App` (None when Slack is not configured).
    `background`: things with `start()`/`stop()` run for the server's lifetime (the Slack
    outbox dispatcher, Socket Mode), started in the lifespan and stopped in reverse order.
    On a SQLite file the WAL checkpoints run in the background too (`WalCheckpoints`)."""
    if uses_wal_file(runtime.engine):
        background = [WalCheckpoints(runtime.engine), *background]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        started: list[Any] = []
        try:
            for item in background:
                item.start()
                started.append(item)
            yield
        finally:
            for item in reversed(started):
                item.stop()

    api = FastAPI(
        lifespan=lifespan,
        title="Qualibot",
        version="0.1.0",
        description="Lead qualification: Slack events and the website widget's JSON API.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    api.state.runtime = runtime

    @api.get("/healthz", tags=["health"], summary="Liveness and database reachability")
    def healthz() -> JSONResponse:
        try:
            ping(runtime.engine)  # no transaction: never waits for the SQLite writer
        except Exception as exc:
            log.warning("health check: database unreachable: %s", one_line(exc))
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse(
            {"status": "ok", "database": "ok", "slack": "on" if slack_app is not None else "off"}
        )

    if slack_app is not None:
        from bot.slack.http import mount_slack
        from bot.slack.outbox import SlackOutbox

        # SQLite serializes writers: a few dispatch threads are faster than many (see there).
        sqlite = runtime.engine.dialect.name == "sqlite"
        outbox = SlackOutbox(runtime.sessions, on_outbox=runtime.notify_outbox)
        mount_slack(
            api,
            slack_app,
            max_concurrency=SQLITE_SLACK_THREADS if sqlite else None,
            signing_secret=runtime.settings.slack_signing_secret or "",
            late_notice=outbox.dm,
        )
    else:

        @api.post("/slack/events", include_in_schema=False)
        def slack_off(request: Request) -> Response:
            return JSONResponse(
                {
                    "error": {
                        "code": "slack_not_configured",
                        "message": "Slack is off: set SLACK_BOT_TOKEN and "
                        "SLACK_SIGNING_SECRET (or SLACK_CLIENT_ID and "
                        "SLACK_CLIENT_SECRET) to turn it on.",
                    }
                },
                status_code=503,
            )

    api.include_router(create_widget_router(runtime))
    api.include_router(create_pages_router())
    return api
