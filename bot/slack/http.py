"""Slack over HTTP on the FastAPI app: `POST /slack/events` (and the OAuth routes).

Bolt's sync `App.dispatch` (signature check, listener, database work) runs in worker threads
(the events endpoint hands it to one, with an optional concurrency cap; the OAuth endpoints
are plain sync functions), so it never blocks the event loop, however slow the database is.
Reading the body is async, in a dependency that refuses bodies over `MAX_BODY_BYTES` with 413
before anything else happens.

Bolt verifies every request's signature (401 and nothing done on a bad or stale one);
requests no listener handles (event types we don't subscribe to, say) get 200, so Slack
does not retry them.
"""

from __future__ import annotations

import logging

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import Response
from slack_bolt import App, BoltRequest, BoltResponse

log = logging.getLogger("bot.slack")

#: Slack's payloads are a few KB; a modal with every answer filled in stays well under this.
MAX_BODY_BYTES = 1024 * 1024
EVENTS_PATH = "/slack/events"


async def _body(request: Request) -> bytes:
    """The request body, or 413 once it is over `MAX_BODY_BYTES` (by header or as read)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > MAX_BODY_BYTES:
                raise HTTPException(status_code=413, detail="Request body too large.")
        except ValueError:
            raise HTTPException(status_code=400, detail="Bad Content-Length.") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(status_code=413, detail="Request body too large.")
        chunks.append(chunk)
    return b"".join(chunks)


def _is_integer(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def to_bolt_request(request: Request, body: bytes) -> BoltRequest:
    return BoltRequest(
        body=body.decode("utf-8"),
        query=request.url.query,
        headers={k: v for k, v in request.headers.items()},
    )


def to_response(bolt: BoltResponse) -> Response:
    response = Response(
        status_code=bolt.status,
        content=bolt.body,
        headers=bolt.first_headers_without_set_cookie(),
    )
    for cookie in bolt.cookies():
        for name, morsel in cookie.items():
            response.set_cookie(
                key=name,
                value=morsel.value,
                max_age=morsel.get("max-age") or None,
                expires=morsel.get("expires") or None,
                path=morsel.get("path") or "/",
                domain=morsel.get("domain") or None,
                secure=True,
                httponly=True,
            )
    return response


def mount_slack(
    api: FastAPI, app: App, *, path: str = EVENTS_PATH, max_concurrency: int | None = None
) -> None:
    """Serve the Bolt `app` on `api`: `POST path`, and the OAuth install and redirect routes
    when the app has an OAuth flow.

    `max_concurrency` caps how many Slack requests are dispatched at once (None: the shared
    thread pool's 40). On SQLite, whose writes are serialized anyway, a few threads keep the
    ack latency down: 40 threads only fight over the GIL and the writer lock, and starve the
    event loop that reads the requests (measured: p99 of `/qualify` acks 60-90 ms -> ~45 ms
    at 16 connections, same throughput)."""
    limiter = anyio.CapacityLimiter(max_concurrency) if max_concurrency is not None else None

    @api.post(path, include_in_schema=False)
    async def slack_events(request: Request, body: bytes = Depends(_body)) -> Response:
        if not _is_integer(request.headers.get("x-slack-request-timestamp", "0")):
            # Bolt's verifier calls int() on it and raises: the error handler would answer
            # an unsigned request 200 and tell the user "something went wrong".
            return Response(status_code=401, content='{"error": "invalid request"}')
        try:
            bolt_request = to_bolt_request(request, body)
        except UnicodeDecodeError:
            return Response(status_code=400, content="Body is not UTF-8.")
        except (ValueError, AttributeError, TypeError):
            # Bolt parses the body before checking the signature and raises on a `payload=`
            # that is not JSON, or a body that is JSON but not an object.
            return Response(status_code=400, content="Malformed request body.")
        # Bolt's dispatch is sync (signature check, listener, database work): run it in a
        # worker thread so it never blocks the event loop.
        bolt_response = await anyio.to_thread.run_sync(app.dispatch, bolt_request, limiter=limiter)
        if bolt_response.status == 404:
            # Signed and well-formed, but nothing here handles it: say OK so Slack does not
            # retry (a 404 before the signature check is impossible: that is a 401).
            log.debug("unhandled Slack request: %s", bolt_request.body.get("type"))
            return Response(status_code=200)
        return to_response(bolt_response)

    flow = app.oauth_flow
    if flow is None:
        return

    @api.get(flow.install_path, include_in_schema=False)
    def slack_install(request: Request) -> Response:
        return to_response(flow.handle_installation(to_bolt_request(request, b"")))

    @api.get(flow.redirect_uri_path, include_in_schema=False)
    def slack_oauth_redirect(request: Request) -> Response:
        return to_response(flow.handle_callback(to_bolt_request(request, b"")))
