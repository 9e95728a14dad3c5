"""A rep's reply in the DM: the answer to their most recently active open qualification
(typed `back`, `skip`, `cancel`, `restart` work too). Messages by bots, edits, deletions and
other subtypes are acknowledged and ignored."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext

from bot.slack import texts
from bot.slack.context import SlackServices
from bot.slack.ids import EventType


def register(app: App) -> None:
    app.event(EventType.MESSAGE)(answer)


def typed_by_a_person_in_dm(event: dict[str, Any]) -> bool:
    return (
        event.get("channel_type") == "im"
        and not event.get("subtype")
        and not event.get("bot_id")
        and bool(event.get("user"))
    )


def answer(
    event: dict[str, Any], context: BoltContext, services: SlackServices, dedupe_key: str | None
) -> None:
    if not typed_by_a_person_in_dm(event):
        return  # the bot's own posts, edits, deletions, channel messages: nothing to do
    user = event["user"]
    services.service.answer_latest(
        "slack",
        user,
        texts.from_slack(event.get("text")),
        team_id=context.team_id,
        by=user,
        dedupe_key=dedupe_key,
    )
