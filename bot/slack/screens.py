"""The Slack screens Qualibot shows (modals, Home tab, ephemeral lists), rendered from the
templates with data read through the services. Listeners call these; nothing here writes."""

from __future__ import annotations

import json
from typing import Any

from bot.errors import NotFound
from bot.handoff.actions import Notice
from bot.leads import LeadDetail
from bot.slack import present
from bot.slack.context import SlackServices
from bot.slack.render import check_limits, render_blocks

#: Rows of `/qualify list` (a message: at most 50 blocks) and of the Home tab (100 blocks):
#: qualifications in progress, the rep's recent leads, then other leads the rep owns (claimed
#: in a sales channel or assigned by round robin). Past the first, a line says how many more
#: are in progress.
LIST_LIMITS = (20, 10, 10)
HOME_LIMITS = (40, 20, 20)
#: At most this many of a rep's qualifications in progress are looked at (and counted).
IN_PROGRESS_SCAN = 1000


def _checked(payload: dict[str, Any]) -> dict[str, Any]:
    check_limits(payload)
    return payload


def help_message(services: SlackServices, problem: str | None = None) -> dict[str, Any]:
    frameworks = present.frameworks_menu(services.flows)
    return render_blocks("help.json.j2", frameworks=frameworks, problem=problem)


def qualify_modal(
    services: SlackServices,
    framework: str | None = None,
    *,
    metadata: dict[str, Any] | None = None,
    company: str | None = None,
) -> dict[str, Any]:
    """The /qualify modal with `framework`'s questions (default: the first framework), and
    `company` filled in if given."""
    menu = present.frameworks_menu(services.flows)
    selected = framework if framework in services.flows.flows else menu[0]["id"]
    return _checked(
        render_blocks(
            "qualify_modal.json.j2",
            frameworks=menu,
            selected=selected,
            questions=present.modal_questions(services.flows.get(selected)),
            private_metadata=json.dumps(metadata or {}),
            company=company or "",
        )
    )


def reason_modal(
    services: SlackServices,
    lead_id: int,
    status: str,
    *,
    team_id: str | None,
    metadata: dict[str, Any],
) -> dict[str, Any]:
    detail = services.leads.detail(lead_id, team_id=team_id)
    return _checked(
        render_blocks(
            "reason_modal.json.j2",
            lead={"id": lead_id, "company": detail.lead.company},
            status=status,
            private_metadata=json.dumps(metadata),
        )
    )


def answers_modal(
    services: SlackServices,
    lead_id: int,
    *,
    team_id: str | None,
    notice: Notice | None = None,
) -> dict[str, Any]:
    """View answers: on a handoff notice (`notice`), the answers and score it was posted
    with; otherwise, or when the notice's own data is not found, the lead's current ones."""
    detail = services.leads.detail(lead_id, team_id=team_id)
    posted = (
        services.handoff.posted(lead_id, notice, team_id=team_id) if notice is not None else None
    )
    lead = (
        present.notice_view(detail, posted, services.flows)
        if posted is not None
        else present.lead_view(detail, services.flows)
    )
    return _checked(render_blocks("answers_modal.json.j2", lead=lead))


def lead_show(
    services: SlackServices, ref: str, *, team_id: str | None, user: str
) -> dict[str, Any]:
    """`/qualify show <lead>`: `ref` is a lead number, or a company name (the rep's own most
    recent lead of that name first, then anyone's in the workspace)."""
    detail = _find_lead(services, ref, team_id=team_id, user=user)
    return _checked(
        render_blocks("lead_show.json.j2", lead=present.lead_view(detail, services.flows))
    )


def lead_list(services: SlackServices, *, team_id: str | None, user: str) -> dict[str, Any]:
    rows = _rows(services, team_id, user, *LIST_LIMITS)
    return _checked(render_blocks("lead_list.json.j2", **rows))


def home_view(services: SlackServices, *, team_id: str | None, user: str) -> dict[str, Any]:
    rows = _rows(services, team_id, user, *HOME_LIMITS)
    return _checked(render_blocks("home.json.j2", **rows))


def _rows(
    services: SlackServices,
    team_id: str | None,
    user: str,
    open_limit: int,
    recent_limit: int,
    owned_limit: int,
) -> dict[str, Any]:
    """The first `open_limit` qualifications in progress (most recently active first) and
    how many more there are; the first `recent_limit` of the rep's other leads (a lead with
    a qualification in progress is never listed as a result, shown or not); the first
    `owned_limit` leads the rep owns that neither list shows (widget leads they claimed,
    say)."""
    in_progress = services.leads.in_progress(
        "slack", user, team_id=team_id, limit=IN_PROGRESS_SCAN
    )
    open_leads = {item.lead_id for item in in_progress}
    recent = [
        lead
        for lead in services.leads.recent(
            recent_limit + len(open_leads), created_by=user, team_id=team_id
        )
        if lead.id not in open_leads
    ][:recent_limit]
    shown = open_leads | {lead.id for lead in recent}
    owned = [
        lead
        for lead in services.leads.recent(owned_limit + len(shown), owner=user, team_id=team_id)
        if lead.id not in shown
    ][:owned_limit]
    return {
        "in_progress": present.in_progress_rows(in_progress[:open_limit], services.flows),
        "more_in_progress": max(0, len(in_progress) - open_limit),
        "recent": present.recent_rows(recent, services.flows),
        "owned": present.recent_rows(owned, services.flows),
    }


def _find_lead(
    services: SlackServices, ref: str, *, team_id: str | None, user: str
) -> LeadDetail:
    ref = ref.strip()
    if ref.isascii() and ref.isdigit():  # not "²" or "٣", which isdigit() accepts
        return services.leads.detail(int(ref), team_id=team_id)
    wanted = ref.casefold()
    for created_by in (user, None):
        for lead in services.leads.recent(200, created_by=created_by, team_id=team_id):
            if lead.company.casefold() == wanted:
                return services.leads.detail(lead.id, team_id=team_id)
    raise NotFound(f"I found no lead called “{ref}”. Try its number from `/qualify list`.")
