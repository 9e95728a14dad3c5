"""Slack over HTTP on the FastAPI app: `POST /slack/events` (and the OAuth routes).

Bolt's sync `App.dispatch` (signature check, listener, database work) runs in worker threads
(the events endpoint hands it to one, with an optional concurrency cap; the OAuth endpoints
are plain sync functions), so it never blocks the event loop, however slow the database is.
Reading the body is async, in a dependency that refuses bodies over `MAX_BODY_BYTES` with 413
before anything else happens.

Bolt verifies every request's signature (401 and nothing done on a bad or stale one);
requests no listener handles (event types we don't subscribe to, say) get 200, so Slack
does not retry them.

Slack gives up on a request after 3 s (and retries events). The dispatch therefore has a
deadline (`ACK_DEADLINE`, 2 s): when the database is locked or a Web API call made while
Slack waits (`views.open`) is slow, Slack gets its answer at the deadline anyway: 200 with an
empty body, or for a slash command a short ephemeral "Working on it". The dispatch is never
cancelled: it goes on in its worker thread, the state change commits when the lock frees
(with the delivery's dedupe key, so a Slack retry that arrives meanwhile has effect once),
and a slash command's late reply is sent to its `response_url`. A modal submission answered
at the deadline has closed; if its dispatch then finds field errors, the person gets them in
a DM (`late_notice`, through the outbox) instead of never hearing of them. The fast path adds
one task and one timer per request, no extra thread hop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import Response
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from bot.errors import AlreadyProcessed
from bot.slack.context import delivery_key
from bot.slack.failures import request_kind
from bot.slack.render import mrkdwn

log = logging.getLogger("bot.slack")

#: Slack's payloads are a few KB; a modal with every answer filled in stays well under this.
MAX_BODY_BYTES = 1024 * 1024
EVENTS_PATH = "/slack/events"
#: Seconds Bolt's dispatch may take before Slack is answered anyway (Slack waits 3 s).
ACK_DEADLINE = 2.0
#: The interim reply to a slash command whose work outlives the deadline.
WORKING_ON_IT = "Working on it… the answer will follow here in a moment."
#: Seconds a late slash-command reply may take to reach its response_url.
LATE_REPLY_TIMEOUT = 10
_JSON = {"content-type": "application/json;charset=utf-8"}
#: Dispatches that outlived their deadline (asyncio keeps only weak references to tasks).
_late: set[asyncio.Task[BoltResponse]] = set()

#: Sends a person a DM after Slack was answered: `(team_id, user, text, dedupe_key=...)`
#: (`SlackOutbox.dm`: blocking, a database write).
LateNotice = Callable[..., None]


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
    api: FastAPI,
    app: App,
    *,
    path: str = EVENTS_PATH,
    max_concurrency: int | None = None,
    ack_deadline: float = ACK_DEADLINE,
    signing_secret: str = "",
    late_notice: LateNotice | None = None,
) -> None:
    """Serve the Bolt `app` on `api`: `POST path`, and the OAuth install and redirect routes
    when the app has an OAuth flow.

    `max_concurrency` caps how many Slack requests are dispatched at once (None: the shared
    thread pool's 40). On SQLite, whose writes are serialized anyway, a few threads keep the
    ack latency down: 40 threads only fight over the GIL and the writer lock, and starve the
    event loop that reads the requests (measured: p99 of `/qualify` acks 60-90 ms -> ~45 ms
    at 16 connections, same throughput).

    `ack_deadline`: seconds after which Slack is answered even though the dispatch goes on
    (see the module docstring); the slow path checks the request with `signing_secret` (the
    one Bolt verifies with) before it answers; `late_notice` tells a person the field errors
    of a modal submission that were found after the deadline (None: they are only logged)."""
    limiter = anyio.CapacityLimiter(max_concurrency) if max_concurrency is not None else None
    # The slow path checks the signature itself before it answers 200 for a dispatch that
    # has not got that far yet (no secret: every such request is refused).
    verifier = SignatureVerifier(signing_secret)

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
        # worker thread so it never blocks the event loop, in a task that a missed deadline
        # does not cancel (the limiter may still be queueing it: it must run all the same).
        task = asyncio.ensure_future(
            anyio.to_thread.run_sync(app.dispatch, bolt_request, limiter=limiter)
        )
        try:
            bolt_response = await asyncio.wait_for(asyncio.shield(task), ack_deadline)
        except TimeoutError:
            if not signing_secret or not verifier.is_valid_request(body, dict(request.headers)):
                return Response(status_code=401, content='{"error": "invalid request"}')
            return _answer_in_time(task, bolt_request, ack_deadline, late_notice)
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


def _answer_in_time(
    task: asyncio.Task[BoltResponse],
    request: BoltRequest,
    deadline: float,
    late_notice: LateNotice | None = None,
) -> Response:
    """Slack's answer when the dispatch missed the deadline: the dispatch goes on, and what
    it says in the end is handled by `_after_deadline`.

    The caller has checked the request's signature (the dispatch may not have got that far:
    it can be queued behind other requests)."""
    _late.add(task)
    task.add_done_callback(partial(_after_deadline, request, late_notice))
    kind = request_kind(request.body)
    log.warning("Slack %s not done after %gs: answered now, finishing in the background",
                kind, deadline)
    if request.body.get("command"):
        reply = {"response_type": "ephemeral", "text": WORKING_ON_IT}
        return Response(status_code=200, content=json.dumps(reply), headers=_JSON)
    return Response(status_code=200)


def _after_deadline(
    request: BoltRequest, late_notice: LateNotice | None, task: asyncio.Task[BoltResponse]
) -> None:
    """A dispatch that outlived its deadline ended: log how, send a slash command's reply
    (the HTTP response is long gone) to its `response_url`, and DM a modal's field errors."""
    _late.discard(task)
    kind = request_kind(request.body)
    if task.cancelled():  # pragma: no cover - only at shutdown
        log.error("Slack %s: the late dispatch was cancelled", kind)
        return
    error = task.exception()
    if error is not None:
        log.error("Slack %s failed after the deadline", kind, exc_info=error)
        return
    response = task.result()
    log.info("Slack %s done after the deadline (status %s)", kind, response.status)
    if request.body.get("type") == "view_submission":
        _tell_late_view_errors(request, response, late_notice)
        return
    url = request.body.get("response_url")
    if not (request.body.get("command") and response.status == 200 and response.body and url):
        return
    try:
        reply = json.loads(response.body)
    except ValueError:
        reply = {"text": response.body}
    if not isinstance(reply, dict):
        return
    reply.setdefault("response_type", "ephemeral")
    reply["replace_original"] = True
    asyncio.get_running_loop().run_in_executor(None, _send_late_reply, str(url), reply, kind)


def _send_late_reply(url: str, reply: dict[str, Any], kind: str) -> None:
    try:
        sent = WebhookClient(url, timeout=LATE_REPLY_TIMEOUT).send_dict(reply)
    except Exception:
        log.exception("Slack %s: could not send the late reply to its response_url", kind)
        return
    if sent.status_code != 200:
        log.error("Slack %s: the response_url refused the late reply (%s %s)", kind,
                  sent.status_code, sent.body)


def late_view_errors(body: Mapping[str, Any], response: BoltResponse) -> str | None:
    """The message for a person whose modal submission got `response_action: errors` after
    Slack had been answered (so the modal closed without them): each field's label and
    problem, escaped for mrkdwn. None when the response has no errors."""
    try:
        reply = json.loads(response.body) if response.status == 200 and response.body else None
    except ValueError:
        return None
    if not isinstance(reply, dict) or reply.get("response_action") != "errors":
        return None
    errors = reply.get("errors")
    if not isinstance(errors, dict) or not errors:
        return None
    view = body.get("view") or {}
    labels = {
        block.get("block_id"): (block.get("label") or {}).get("text")
        for block in view.get("blocks") or []
        if isinstance(block, dict) and block.get("type") == "input"
    }
    title = (view.get("title") or {}).get("text") or "form"
    lines = [
        f"• *{mrkdwn(labels.get(block_id) or block_id, 100)}*: {mrkdwn(problem, 300)}"
        for block_id, problem in errors.items()
    ]
    return (
        f"Your “{mrkdwn(title, 30)}” form was not saved: checking it took too long, and it "
        "closed before I could show you what to fix.\n" + "\n".join(lines[:20])
        + "\nPlease open it again and correct this."
    )


def _tell_late_view_errors(
    request: BoltRequest, response: BoltResponse, late_notice: LateNotice | None
) -> None:
    text = late_view_errors(request.body, response)
    if text is None:
        return
    user, team = request.context.user_id, request.context.team_id
    if late_notice is None or not user:
        log.error("a late modal submission's errors could not be told to %s: %s", user, text)
        return
    key = f"late-errors:{delivery_key(request.body)}"
    asyncio.get_running_loop().run_in_executor(
        None, partial(_send_late_notice, late_notice, team, user, text, key)
    )


def _send_late_notice(
    late_notice: LateNotice, team: str | None, user: str, text: str, key: str
) -> None:
    try:
        late_notice(team, user, text, dedupe_key=key)
    except AlreadyProcessed:
        pass  # told once already (the same submission handled twice)
    except Exception:
        log.exception("could not tell %s about a late modal submission's errors", user)
