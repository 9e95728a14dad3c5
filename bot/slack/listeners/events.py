"""Events: the App Home tab (published through the outbox with `views.publish`), and
uninstalls / revoked tokens (OAuth installs are removed from the installation store)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltContext

from bot.slack import screens
from bot.slack.context import SlackServices
from bot.slack.ids import EventType

log = logging.getLogger("bot.slack")


def register(app: App) -> None:
    app.event(EventType.APP_HOME_OPENED)(publish_home)
    app.event(EventType.APP_UNINSTALLED)(uninstalled)
    app.event(EventType.TOKENS_REVOKED)(tokens_revoked)


def publish_home(
    event: dict[str, Any], context: BoltContext, services: SlackServices, dedupe_key: str | None
) -> None:
    if event.get("tab") != "home":
        return
    user = event["user"]
    view = screens.home_view(services, team_id=context.team_id, user=user)
    services.outbox.api(
        context.team_id,
        "views.publish",
        {"user_id": user, "view": view},
        lane=f"home:{user}",
        dedupe_key=dedupe_key,
    )


def uninstalled(context: BoltContext, services: SlackServices) -> None:
    log.warning("Qualibot was uninstalled from workspace %s", context.team_id)
    if services.workspaces is not None:
        services.workspaces.mark(context.team_id, "app_uninstalled")
    if services.revocations is not None:
        services.revocations.handle_app_uninstalled_events(context)


def tokens_revoked(event: dict[str, Any], context: BoltContext, services: SlackServices) -> None:
    log.warning("tokens revoked in workspace %s: %s", context.team_id, event.get("tokens"))
    if services.workspaces is not None and (event.get("tokens") or {}).get("bot"):
        services.workspaces.mark(context.team_id, "tokens_revoked")
    if services.revocations is not None:
        services.revocations.handle_tokens_revoked_events(event, context)
