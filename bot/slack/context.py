"""Middleware that prepares what listeners get as arguments.

- `provide(services)` (global): `services` (the Qualibot services a listener may call) and
  `dedupe_key` (the delivery's unique key: the event's `event_id`, an action's
  `action_ts` + user + action id, a view submission's view id + hash, a command's
  `trigger_id`), recorded by the service in the same transaction as the change.
- `view_form` (listener middleware for view submissions): `form` (the modal's values,
  flattened to `{action_id: value}`) and `metadata` (the view's `private_metadata`, parsed
  JSON, `{}` if none).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt import BoltContext, BoltRequest, BoltResponse
from slack_bolt.listener.builtins import TokenRevocationListeners
from slack_bolt.middleware import Middleware

from bot.handoff.actions import HandoffActions
from bot.leads import LeadQueries
from bot.registry import FlowRegistry
from bot.service import QualificationService
from bot.slack.clients import InactiveWorkspaces
from bot.slack.outbox import SlackOutbox


@dataclass(frozen=True)
class SlackServices:
    """What the listeners call (each listener calls one of these per request)."""

    service: QualificationService
    leads: LeadQueries
    flows: FlowRegistry
    handoff: HandoffActions
    outbox: SlackOutbox
    revocations: TokenRevocationListeners | None = None
    #: Workspaces whose token stopped working (marked by the dispatcher and the events).
    workspaces: InactiveWorkspaces | None = None


def delivery_key(body: Mapping[str, Any]) -> str | None:
    """The unique key of one delivery from Slack (the same on a retry or a second replica)."""
    kind = body.get("type")
    if kind == "event_callback" and body.get("event_id"):
        return f"event:{body['event_id']}"
    if kind == "block_actions":
        actions = body.get("actions") or [{}]
        action = actions[0]
        user = (body.get("user") or {}).get("id", "")
        team = (body.get("team") or {}).get("id", "")
        return f"action:{team}:{user}:{action.get('action_id', '')}:{action.get('action_ts', '')}"
    if kind == "view_submission":
        view = body.get("view") or {}
        return f"view:{view.get('id', '')}:{view.get('hash', '')}"
    if body.get("command") and body.get("trigger_id"):
        return f"command:{body['trigger_id']}"
    return None


class PrepareContext(Middleware):
    """The global middleware: `services` and `dedupe_key` into the context. A `Middleware`
    subclass rather than a function, so Bolt does not build keyword arguments for it on
    every request (the ack path counts)."""

    def __init__(self, services: SlackServices) -> None:
        self.services = services

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        if not well_formed(req.body):
            return BoltResponse(status=400, body="")
        req.context["services"] = self.services
        req.context["dedupe_key"] = delivery_key(req.body)
        return next()


def well_formed(body: Mapping[str, Any]) -> bool:
    """False for an interactivity payload that is not the shape Slack sends (a click whose
    `actions` are not objects, a view event whose `view` is not one or has no `type`):
    refused with 400 rather than failing in a listener and telling the person something
    went wrong."""
    kind = body.get("type")
    if kind == "block_actions":
        actions = body.get("actions")
        if actions is not None and not (
            isinstance(actions, list) and all(isinstance(a, Mapping) for a in actions)
        ):
            return False
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        if view is not None and not (
            isinstance(view, Mapping) and isinstance(view.get("type"), str)
        ):
            return False
    return True


def provide(services: SlackServices) -> PrepareContext:
    return PrepareContext(services)


def view_form(context: BoltContext, body: dict[str, Any], next: Callable[[], None]) -> None:
    view = body.get("view") or {}
    context["form"] = flatten_values(((view.get("state") or {}).get("values")) or {})
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        metadata = {}
    context["metadata"] = metadata if isinstance(metadata, dict) else {}
    next()


def flatten_values(values: Mapping[str, Mapping[str, Any]]) -> dict[str, str | None]:
    """`state.values` -> `{action_id: value}` for text inputs and single selects."""
    form: dict[str, str | None] = {}
    for actions in values.values():
        for action_id, state in actions.items():
            if "selected_option" in state:
                option = state.get("selected_option")
                form[action_id] = option.get("value") if option else None
            else:
                form[action_id] = state.get("value")
    return form


def notice_of(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """`(channel, ts)` of the message a button was clicked in (None in a modal or Home)."""
    container = body.get("container") or {}
    if container.get("type") != "message":
        return None
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
    return (channel, ts) if channel and ts else None
