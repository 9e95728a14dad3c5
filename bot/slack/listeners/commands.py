"""`/qualify` and its sub-commands. Everything is answered in the command's HTTP response
(ephemeral) except the modal, which `views.open` must open with the command's `trigger_id`
right away (it expires after 3 s): the one Web API call made while Slack waits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.slack import screens, texts
from bot.slack.command import QualifyCommand, parse_qualify
from bot.slack.context import SlackServices
from bot.slack.ids import Command
from bot.slack.present import framework_name


def register(app: App) -> None:
    app.command(Command.QUALIFY)(qualify)


def qualify(
    ack: Ack,
    command: dict[str, Any],
    context: BoltContext,
    client: WebClient,
    services: SlackServices,
    dedupe_key: str | None,
) -> None:
    request = parse_qualify(texts.from_slack(command.get("text")), services.flows.flows)
    HANDLERS[request.verb](request, _Call(ack, command, context, client, services, dedupe_key))


class _Call:
    """One /qualify invocation: what its handler needs."""

    def __init__(
        self,
        ack: Ack,
        command: dict[str, Any],
        context: BoltContext,
        client: WebClient,
        services: SlackServices,
        dedupe_key: str | None,
    ) -> None:
        self.ack, self.command, self.context = ack, command, context
        self.client, self.services, self.dedupe_key = client, services, dedupe_key
        self.user: str = command["user_id"]
        self.team_id: str | None = context.team_id


def start(request: QualifyCommand, call: _Call) -> None:
    result = call.services.service.start(
        framework=request.framework or "",
        company=request.company or "",
        channel="slack",
        participant=call.user,
        team_id=call.team_id,
        dedupe_key=call.dedupe_key,
    )
    name = framework_name(call.services.flows, result.framework)
    call.ack(text=texts.starting(name, result.company))


def open_form(request: QualifyCommand, call: _Call) -> None:
    view = screens.qualify_modal(
        call.services, request.framework, metadata={"channel": call.command.get("channel_id")}
    )
    call.client.views_open(trigger_id=call.command["trigger_id"], view=view)
    call.ack()


def show_help(request: QualifyCommand, call: _Call) -> None:
    call.ack(**screens.help_message(call.services, request.problem))


def list_leads(request: QualifyCommand, call: _Call) -> None:
    call.ack(**screens.lead_list(call.services, team_id=call.team_id, user=call.user))


def show_lead(request: QualifyCommand, call: _Call) -> None:
    ref = request.lead or ""
    call.ack(**screens.lead_show(call.services, ref, team_id=call.team_id, user=call.user))


def cancel(request: QualifyCommand, call: _Call) -> None:
    result = call.services.service.cancel_latest(
        "slack", call.user, team_id=call.team_id, by=call.user, dedupe_key=call.dedupe_key
    )
    name = framework_name(call.services.flows, result.framework)
    call.ack(text=texts.cancelled(name, result.company))


HANDLERS: dict[str, Callable[[QualifyCommand, _Call], None]] = {
    "start": start,
    "form": open_form,
    "help": show_help,
    "unknown": show_help,
    "list": list_leads,
    "show": show_lead,
    "cancel": cancel,
}
