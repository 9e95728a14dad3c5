"""Modal submissions: the /qualify form (start a qualification, with any answers given) and
the reason for nurture / disqualify / lost. Field errors go back to the modal through the
error handler (`response_action: errors`)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.handoff.actions import Notice
from bot.slack.context import SlackServices, view_form
from bot.slack.ids import ActionId, CallbackId, InputId


def register(app: App) -> None:
    app.view(CallbackId.QUALIFY_MODAL, middleware=[view_form])(start_from_form)
    app.view(CallbackId.REASON_MODAL, middleware=[view_form])(record_reason)
    app.view(CallbackId.ANSWERS_MODAL)(close)


def start_from_form(
    ack: Ack,
    context: BoltContext,
    services: SlackServices,
    form: dict[str, str | None],
    dedupe_key: str | None,
) -> None:
    fields = {ActionId.PICK_FRAMEWORK.value, InputId.COMPANY.value}
    answers = {k: v for k, v in form.items() if k not in fields and v}
    services.service.start(
        framework=form.get(ActionId.PICK_FRAMEWORK) or "",
        company=form.get(InputId.COMPANY) or "",
        channel="slack",
        participant=str(context.user_id),
        team_id=context.team_id,
        answers=answers,
        dedupe_key=dedupe_key,
    )
    ack()


def record_reason(
    ack: Ack,
    context: BoltContext,
    services: SlackServices,
    form: dict[str, str | None],
    metadata: dict[str, Any],
    dedupe_key: str | None,
) -> None:
    channel, ts, source = metadata.get("channel"), metadata.get("ts"), metadata.get("notice")
    lead_id, status = int(metadata.get("lead") or 0), str(metadata.get("status"))
    reason, user = form.get(InputId.REASON) or "", str(context.user_id)
    notice = (
        Notice(channel, ts, source=source if isinstance(source, int) else None)
        if channel and ts
        else None
    )
    if status == "lost":
        services.handoff.lost(
            lead_id, reason, user, team_id=context.team_id, notice=notice,
            dedupe_key=dedupe_key,
        )
    else:
        services.handoff.decide(
            lead_id, status, reason, user, team_id=context.team_id, notice=notice,
            dedupe_key=dedupe_key,
        )
    ack()


def close(ack: Ack) -> None:
    """The answers modal has no inputs; submitting (or closing) it just closes it."""
    ack()
