"""The one error handler of the Bolt app (`app.error`).

Domain errors (`QualibotError`) become a message that fits where the person is:

- a slash command: an ephemeral reply in the command's HTTP response;
- a modal submission: `response_action: errors` on the field concerned (so the modal stays
  open), or on the first input when the error is not about one field;
- a button in a message: an ephemeral message to the clicker in that channel (outbox);
- a button in a modal or the Home tab, or a DM answer: a DM (outbox).

`AlreadyProcessed` (a retried or duplicated delivery) is answered 200 with nothing said.
`UnknownWorkspace` (OAuth: a workspace without an installation) is answered 200 and nothing
is changed or posted. Anything else is logged with a correlation id, which the person is
told; a delivery whose error could not even be reported gets a 500 so Slack retries it (at
most 3 times: Slack never retries for ever, and a retry that finds its dedupe key recorded
changes nothing).

`RefuseInactive` (middleware): a request from a workspace marked inactive (its token stopped
working, see `bot.slack.clients`) changes nothing: a slash command is told, in its own HTTP
response, that Qualibot lost access and must be reinstalled; anything else gets 200.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from slack_bolt import BoltContext, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware

from bot.errors import AlreadyProcessed, InvalidFields, NotFound, QualibotError
from bot.slack import texts
from bot.slack.clients import InactiveWorkspaces
from bot.slack.context import SlackServices, notice_of
from bot.slack.render import LIMITS, truncate_to

log = logging.getLogger("bot.slack")
JSON_HEADERS: dict[str, str | Sequence[str]] = {"content-type": "application/json;charset=utf-8"}


class UnknownWorkspace(Exception):
    """A request from a workspace Qualibot has no installation for (OAuth mode)."""


#: Events that must reach their listeners even from an inactive workspace.
_ALWAYS = frozenset({"app_uninstalled", "tokens_revoked"})


class RefuseInactive(Middleware):
    """Requests from a workspace marked inactive change nothing (see the module docstring).
    On the ack path: one cached dict lookup per request."""

    def __init__(self, workspaces: InactiveWorkspaces) -> None:
        self.workspaces = workspaces

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        mark = self.workspaces.get(req.context.team_id)
        if mark is None or (req.body.get("event") or {}).get("type") in _ALWAYS:
            return next()
        log.info("refused a Slack request: %s", mark.describe())
        if req.body.get("command"):
            return _json({
                "response_type": "ephemeral",
                "text": f"Qualibot has lost access to this workspace ({mark.reason}, since "
                f"{mark.since:%Y-%m-%d %H:%M} UTC), so nothing was done. Please ask a Slack "
                "admin to reinstall it.",
            })
        return BoltResponse(status=200, body="")


def handle_error(
    error: Exception, body: dict[str, Any], context: BoltContext
) -> BoltResponse:
    if isinstance(error, AlreadyProcessed):
        log.info("duplicate delivery %s: already handled", error)
        return BoltResponse(status=200, body="")
    if isinstance(error, UnknownWorkspace):
        log.warning("refused a request from workspace %s: %s", context.team_id, error)
        return BoltResponse(status=200, body="")
    if isinstance(error, QualibotError):
        message = texts.problem(str(error))
        if isinstance(error, NotFound) and "in progress" in str(error):
            message += " " + texts.NOTHING_IN_PROGRESS_HINT
    else:
        ref = uuid.uuid4().hex[:10]
        log.error(
            "error handling a Slack %s (ref %s, team %s, user %s)",
            request_kind(body), ref, context.team_id, context.user_id, exc_info=error,
        )
        message = texts.unexpected(ref)

    if body.get("command"):
        return _json({"response_type": "ephemeral", "text": message})
    if body.get("type") == "view_submission":
        # a form's errors are plain text, which Slack shows as it is (escaped, a "<" would
        # read "&lt;"), and which notifies nobody
        plain = str(error) if isinstance(error, QualibotError) else message
        return _json({"response_action": "errors", "errors": _field_errors(error, body, plain)})
    return _notify(body, context, message)


def request_kind(body: Mapping[str, Any]) -> str:
    """What a Slack request is, for logs: "command /qualify", "event message", "block_actions"."""
    if body.get("command"):
        return f"command {body['command']}"
    if body.get("type") == "event_callback":
        return f"event {(body.get('event') or {}).get('type')}"
    return str(body.get("type") or "request")


def _json(payload: dict[str, Any]) -> BoltResponse:
    return BoltResponse(status=200, body=json.dumps(payload), headers=JSON_HEADERS)


def _field_errors(error: Exception, body: Mapping[str, Any], message: str) -> dict[str, str]:
    """`{block_id: message}`: each field of `InvalidFields` on the input block holding it,
    anything else on the first input block."""
    blocks = [b for b in (body.get("view") or {}).get("blocks", []) if b.get("type") == "input"]
    by_action = {(b.get("element") or {}).get("action_id"): b.get("block_id") for b in blocks}
    errors: dict[str, str] = {}
    if isinstance(error, InvalidFields):
        for field, problem in error.fields.items():
            block_id = by_action.get(field) or (blocks[0].get("block_id") if blocks else field)
            errors[str(block_id)] = truncate_to(problem, LIMITS["field_error"])
    if not errors and blocks:
        errors[str(blocks[0].get("block_id"))] = truncate_to(message, LIMITS["field_error"])
    return errors


def _notify(body: Mapping[str, Any], context: BoltContext, message: str) -> BoltResponse:
    """Tell the person through the outbox; 500 (Slack retries) if even that fails."""
    services: SlackServices | None = context.get("services")
    user = context.user_id
    if services is None or not user:
        return BoltResponse(status=200, body="")
    key = context.get("dedupe_key")
    notice_key = f"notice:{key}" if key else None
    try:
        where = notice_of(body) if body.get("type") == "block_actions" else None
        if where is not None:
            services.outbox.ephemeral(
                context.team_id, where[0], user, message, dedupe_key=notice_key
            )
        elif _is_dm_answer(body) or body.get("type") == "block_actions":
            services.outbox.dm(context.team_id, user, message, dedupe_key=notice_key)
    except AlreadyProcessed:
        pass
    except Exception:
        log.exception("could not tell %s about an error", user)
        return BoltResponse(status=500, body="")
    return BoltResponse(status=200, body="")


def _is_dm_answer(body: Mapping[str, Any]) -> bool:
    event = body.get("event") or {}
    return event.get("type") == "message" and event.get("channel_type") == "im"
