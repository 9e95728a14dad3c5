"""Buttons: answers and navigation under a question (DM), Resume (lists, Home), and the
handoff notice's Claim / Won / Lost / Nurture / Disqualify / Release / Re-open / View
answers; the framework menu of the /qualify modal.

Buttons under a question carry the conversation and the question in their block id, so a
click on an old question (stale message, double click) changes nothing. A notice's buttons
carry the lead and the notice's own `handoff` outbox row (`ids.lead_button_value`), so the
notice is repainted from what it was posted with, and its View answers shows the answers
and score it was posted with. Lost, Nurture, Disqualify and View answers open a modal,
which `views.open` must do with the click's `trigger_id` right away (it expires after 3 s);
everything else goes out through the outbox.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.errors import InvalidInput
from bot.handoff.actions import Notice
from bot.slack import ids, screens
from bot.slack.context import SlackServices, notice_of
from bot.slack.ids import ActionId, InputId


def register(app: App) -> None:
    app.action(ids.ANSWER_CHOICE_PATTERN)(choose)
    for step_action in (ActionId.SKIP, ActionId.BACK, ActionId.CANCEL):
        app.action(step_action)(step_button)
    app.action(ActionId.RESUME)(resume)
    app.action(ActionId.CLAIM)(handoff_button)
    app.action(ActionId.RELEASE)(handoff_button)
    app.action(ActionId.REOPEN)(handoff_button)
    app.action(ActionId.WON)(handoff_button)
    app.action(ActionId.LOST)(ask_lost_reason)
    app.action(ActionId.NURTURE)(ask_reason)
    app.action(ActionId.DISQUALIFY)(ask_reason)
    app.action(ActionId.VIEW_ANSWERS)(view_answers)
    app.action(ActionId.PICK_FRAMEWORK)(pick_framework)


def _step(action: dict[str, Any]) -> ids.Step:
    step = ids.parse_step_block_id(str(action.get("block_id", "")))
    if step is None or not step.conversation_id.isdigit():
        raise InvalidInput("That button is out of date.")
    return step


def _number(value: object) -> int:
    text = str(value or "")
    if not text.isdigit():
        raise InvalidInput("That button is out of date.")
    return int(text)


def choose(
    ack: Ack,
    action: dict[str, Any],
    context: BoltContext,
    services: SlackServices,
    dedupe_key: str | None,
) -> None:
    step = _step(action)
    value = ids.choice_value_of(action["action_id"]) or str(action.get("value", ""))
    services.service.choose(
        int(step.conversation_id),
        value,
        by=context.user_id,
        expected_question=step.question_id,
        dedupe_key=dedupe_key,
    )
    ack()


def step_button(
    ack: Ack,
    action: dict[str, Any],
    context: BoltContext,
    services: SlackServices,
    dedupe_key: str | None,
) -> None:
    """Skip, Back and Cancel under a question: the service method of the same name (the
    action id), guarded against a click under an old question."""
    step = _step(action)
    turn = getattr(services.service, ActionId(action["action_id"]).value)
    turn(
        int(step.conversation_id),
        by=context.user_id,
        expected_question=step.question_id,
        dedupe_key=dedupe_key,
    )
    ack()


def resume(
    ack: Ack,
    action: dict[str, Any],
    context: BoltContext,
    services: SlackServices,
    dedupe_key: str | None,
) -> None:
    # "<conversation id>:<version when listed>"; buttons posted before versions: the id only
    conversation_id, _, version = str(action.get("value") or "").partition(":")
    services.service.resume(
        _number(conversation_id),
        by=context.user_id,
        dedupe_key=dedupe_key,
        listed_at_version=_number(version) if version else None,
        participant=context.user_id,  # a rep resumes only their own qualification
    )
    ack()


def _lead_button(action: dict[str, Any]) -> tuple[int, int | None]:
    """`(lead id, notice id or None)` from a notice button's value."""
    lead_id, notice_id = ids.parse_lead_button_value(action.get("value"))
    return _number(lead_id), _number(notice_id) if notice_id is not None else None


def _notice(body: dict[str, Any], notice_id: int | None) -> Notice | None:
    where = notice_of(body)
    return Notice(*where, source=notice_id) if where else None


def handoff_button(
    ack: Ack,
    action: dict[str, Any],
    body: dict[str, Any],
    context: BoltContext,
    services: SlackServices,
    dedupe_key: str | None,
) -> None:
    """Claim, Release, Won and Re-open: the handoff action of the same name (the action
    id)."""
    lead_id, notice_id = _lead_button(action)
    act = {
        ActionId.CLAIM: services.handoff.claim,
        ActionId.RELEASE: services.handoff.release,
        ActionId.WON: services.handoff.won,
        ActionId.REOPEN: services.handoff.reopen,
    }[ActionId(action["action_id"])]
    act(
        lead_id,
        str(context.user_id),
        team_id=context.team_id,
        notice=_notice(body, notice_id),
        dedupe_key=dedupe_key,
    )
    ack()


def ask_lost_reason(
    ack: Ack,
    action: dict[str, Any],
    body: dict[str, Any],
    context: BoltContext,
    client: WebClient,
    services: SlackServices,
    dedupe_key: str | None,
) -> None:
    """Lost: only the lead's owner gets the reason form; anyone else (or a lead that is
    decided or already has an outcome) is told why not, as Won does."""
    lead_id, notice_id = _lead_button(action)
    if services.handoff.may_mark_lost(
        lead_id,
        str(context.user_id),
        team_id=context.team_id,
        notice=_notice(body, notice_id),
        dedupe_key=dedupe_key,
    ):
        _open_reason_modal(action, body, context, client, services, "lost")
    ack()


def ask_reason(
    ack: Ack,
    action: dict[str, Any],
    body: dict[str, Any],
    context: BoltContext,
    client: WebClient,
    services: SlackServices,
) -> None:
    status = "nurture" if action["action_id"] == ActionId.NURTURE else "disqualified"
    _open_reason_modal(action, body, context, client, services, status)
    ack()


def _open_reason_modal(
    action: dict[str, Any],
    body: dict[str, Any],
    context: BoltContext,
    client: WebClient,
    services: SlackServices,
    status: str,
) -> None:
    """The reason form for `status` (nurture, disqualified, lost); submitted to
    `views.record_reason`."""
    lead_id, notice_id = _lead_button(action)
    channel, ts = notice_of(body) or (None, None)
    metadata = {"lead": lead_id, "status": status, "channel": channel, "ts": ts,
                "notice": notice_id}
    view = screens.reason_modal(
        services, lead_id, status, team_id=context.team_id, metadata=metadata
    )
    client.views_open(trigger_id=body["trigger_id"], view=view)


def view_answers(
    ack: Ack,
    action: dict[str, Any],
    body: dict[str, Any],
    context: BoltContext,
    client: WebClient,
    services: SlackServices,
) -> None:
    """The answers and score: on a notice, those it was posted with; from a list (a button
    that names no notice), the lead's current ones."""
    lead_id, notice_id = _lead_button(action)
    view = screens.answers_modal(
        services, lead_id, team_id=context.team_id, notice=_notice(body, notice_id)
    )
    client.views_open(trigger_id=body["trigger_id"], view=view)
    ack()


def pick_framework(
    ack: Ack,
    action: dict[str, Any],
    body: dict[str, Any],
    context: BoltContext,
    services: SlackServices,
    dedupe_key: str | None,
) -> None:
    """The framework menu changed: show that framework's questions (views.update, via the
    outbox), keeping the company typed so far."""
    current = body.get("view") or {}
    values = (current.get("state") or {}).get("values") or {}
    company = next(
        (v.get("value") for block in values.values() for k, v in block.items()
         if k == InputId.COMPANY),
        None,
    )
    view = screens.qualify_modal(
        services,
        (action.get("selected_option") or {}).get("value"),
        metadata={"channel": None},
        company=company,
    )
    services.outbox.api(
        context.team_id,
        "views.update",
        {"view_id": current.get("id"), "view": view},
        lane=f"view:{current.get('id')}",
        dedupe_key=dedupe_key,
    )
    ack()
