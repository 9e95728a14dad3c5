"""A rep's reply in the DM: the answer to their most recently active open qualification
(typed `back`, `skip`, `cancel`, `restart` work too). Messages by bots, edits, deletions and
other subtypes are acknowledged and ignored.

A DM answer is the request Qualibot gets most, so it is taken by `DmAnswers`, a global
middleware that runs after the others (`bot.slack.app`), rather than by a listener: Bolt
matches a listener by building every keyword argument it could pass (the payload in eight
shapes, `say`, `respond`, ...) once for the matcher and once for the listener, about a tenth
of the answer's own cost. Errors are raised as from a listener and reach the same handler
(`bot.slack.failures.handle_error`). Every other message event reaches the `message`
listener, which acknowledges it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware

from bot.slack import texts
from bot.slack.context import SlackServices
from bot.slack.ids import EventType


class DmAnswers(Middleware):
    """Answers a message typed by a person in the DM (see the module docstring); passes
    anything else on."""

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        event = typed_in_dm(req.body)
        if event is None:
            return next()
        context = req.context
        services: SlackServices = context["services"]
        user = event["user"]
        services.service.answer_latest(
            "slack",
            user,
            texts.from_slack(event.get("text")),
            team_id=context.team_id,
            by=user,
            dedupe_key=context["dedupe_key"],
        )
        return BoltResponse(status=200, body="")


def typed_in_dm(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The message event of `body` if a person typed it in a DM (not a bot's post, an edit,
    a deletion or a channel message), else None."""
    event = body.get("event")
    if (
        body.get("type") == "event_callback"
        and isinstance(event, Mapping)
        and event.get("type") == EventType.MESSAGE
        and event.get("channel_type") == "im"
        and not event.get("subtype")
        and not event.get("bot_id")
        and event.get("user")
    ):
        return event
    return None


def register(app: App) -> None:
    app.event(EventType.MESSAGE)(acknowledge)


def acknowledge() -> None:
    """A message event that `DmAnswers` passed on: nothing to do."""
