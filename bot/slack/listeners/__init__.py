"""Every Bolt listener, registered in one place: one module per surface, each with a
`register(app)`. A listener parses the payload, calls one service method and responds; the
services, the delivery's dedupe key and (for modals) the form values arrive as arguments,
prepared by middleware (`bot.slack.context`). Errors are raised, and turned into messages by
the one error handler (`bot.slack.failures`)."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners import actions, commands, events, messages, views


def register_listeners(app: App) -> None:
    # Bolt checks listeners in this order: messages first, the events Slack sends most (DM
    # answers themselves are taken before, by `messages.DmAnswers`).
    messages.register(app)
    commands.register(app)
    actions.register(app)
    views.register(app)
    events.register(app)


__all__ = ["register_listeners"]
