"""The messages the outbox dispatcher posts, rendered from an outbox row's payload alone.

- `render_reply(payload)` — the rep's DM after a turn (kind `reply`), `reply.json.j2`;
- `render_handoff(payload)` — the handoff notice in a sales channel (kind `handoff`),
  `handoff.json.j2`, from `bot.handoff.notice.handoff_payload(...)`;
- `render_notice_update(payload)` — the same notice re-rendered with a status line ("Claimed
  by <@U123>", "Marked won by <@U123> at <time>", "Released by <@U123> at <time>") and the
  buttons still useful in that state
  (kind `notice_update`).

Each returns `{"text", "blocks"}` checked with `render.check_limits` (raises `BlockKitError`;
`check=False` leaves the check to the caller).
Everything a person typed is escaped by the templates; the only markup added here is a
mention of a Slack user id that looks like one (`<@U123>`) and a date Slack shows in each
reader's own time zone (`<!date^...>`, from a timestamp we wrote).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.handoff.actions import DECISION_WORDS, OUTCOME_WORDS
from bot.leads import EventView, ScoreView
from bot.slack.render import (
    SlackText,
    check_limits,
    escape_mrkdwn,
    mrkdwn,
    number,
    render_blocks,
)

FRAMEWORK_NAMES: dict[str, str] = {
    "bant": "BANT",
    "champ": "CHAMP",
    "meddic": "MEDDIC",
    "gpctba": "GPCTBA/C&I",
}
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")

#: How a notice's status reads; `{by}` is a mention of whoever acted.
STATUS_PHRASES: dict[str, str] = {
    "claimed": "Claimed by {by}",
    "nurture": "Moved to nurture by {by}",
    "disqualified": "Disqualified by {by}",
    "won": "Marked won by {by}",
    "lost": "Marked lost by {by}",
    "released": "Released by {by}",
    "open": "Re-opened by {by}",
    "reopened": "Re-opened by {by}",
    "assigned": "Assigned by round-robin to {by}",
}
#: How a decision or an outcome reads after "it was ..." on a re-opened notice.
SETTLED_WORDS: dict[str, str] = {**DECISION_WORDS, **OUTCOME_WORDS}
#: Slack's errors for which a handoff notice goes elsewhere (the outbox dispatcher's
#: `_notice_refused`), in words.
CHANNEL_REFUSALS = {
    "not_in_channel": "the bot is not in that channel",
    "channel_not_found": "the channel does not exist, or is private and the bot is not in it",
    "is_archived": "the channel is archived",
}
#: Statuses after which nobody has decided the lead: the notice shows the unclaimed form,
#: or the claimed one when the lead has an owner.
UNDECIDED_STATUSES = frozenset({"open", "reopened", "qualified", "released"})
#: Statuses that step back (a claim released, a decision re-opened): said in a context line
#: with the time, under the notice's usual form, rather than as the notice's status.
STEP_BACK_STATUSES = frozenset({"released", "reopened", "open"})
#: The buttons of a notice nobody has claimed or decided.
UNCLAIMED_ACTIONS = ("claim", "nurture", "disqualify", "view_answers")
#: A claimed lead's owner records how it ended (Won / Lost, in the place of Claim); it may
#: still turn out to be one for nurture or not a fit, and its owner may give it back.
CLAIMED_ACTIONS = ("won", "lost", "nurture", "disqualify", "release", "view_answers")
#: The buttons of a decided lead, or one with an outcome: the answers, and a way back.
SETTLED_ACTIONS = ("view_answers", "reopen")
#: Outcomes of a claimed lead, recorded by its owner.
OUTCOME_STATUSES = frozenset({"won", "lost"})
#: The buttons a notice keeps once someone acted on it; any other status: View answers only.
ACTIONS_AFTER: dict[str, tuple[str, ...]] = {
    "claimed": CLAIMED_ACTIONS,
    "nurture": SETTLED_ACTIONS,
    "disqualified": SETTLED_ACTIONS,
    "won": SETTLED_ACTIONS,
    "lost": SETTLED_ACTIONS,
}


def framework_name(framework_id: object) -> str:
    text = str(framework_id or "")
    return FRAMEWORK_NAMES.get(text.lower(), text.upper())


def mention(user_id: object) -> SlackText:
    """`<@U123>` for a well-formed user id; anything else as escaped text."""
    text = str(user_id or "")
    return SlackText(f"<@{text}>") if USER_ID.match(text) else escape_mrkdwn(text)


def channel_mention(channel_id: object) -> SlackText:
    """`<#C123>` for a well-formed channel id; anything else as escaped text."""
    text = str(channel_id or "")
    return SlackText(f"<#{text}>") if CHANNEL_ID.match(text) else escape_mrkdwn(text)


def slack_date(when: object) -> SlackText | None:
    """`<!date^...>`: the time and day in each reader's own time zone (fallback: UTC), for a
    datetime or an ISO 8601 text; None for anything else."""
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            return None
    if not isinstance(when, datetime):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    fallback = f"{when:%H:%M} UTC, {when:%Y-%m-%d}"
    return SlackText(f"<!date^{int(when.timestamp())}^{{time}}, {{date_short_pretty}}|{fallback}>")


def status_line(
    status: str,
    by: str | None = None,
    reason: str | None = None,
    *,
    at: object = None,
    was: Mapping[str, Any] | None = None,
) -> SlackText:
    """"Claimed by <@U123>", "Moved to nurture by <@U123>: <reason, escaped>", "Released by
    <@U123> at <time>", "Re-opened by <@U123> at <time> (it was disqualified: <reason>)"."""
    phrase = STATUS_PHRASES.get(status)
    who = mention(by) if by else None
    if phrase is None:
        text = f"Status: {escape_mrkdwn(status.replace('_', ' '))}"
        if who:
            text += f" (by {who})"
    elif who:
        text = phrase.format(by=who)
    else:
        text = phrase.replace(" by {by}", "")
    date = slack_date(at)
    if date:
        text += f" at {date}"
    if reason and reason.strip():
        text += ": " + mrkdwn(reason.strip(), 1000)
    if isinstance(was, Mapping) and was.get("status"):
        before = str(was["status"])
        words = SETTLED_WORDS.get(before, before.replace("_", " "))
        text += f" (it was {escape_mrkdwn(words)}"
        if was.get("reason") and str(was["reason"]).strip():
            text += ": " + mrkdwn(str(was["reason"]).strip(), 1000)
        text += ")"
    return SlackText(text)


def history_line(item: ScoreView | EventView) -> SlackText:
    """One line of a lead's history: "Scored 82/100, qualified (BANT) at <time>",
    "Disqualified by <@U123> at <time>: <reason>", "Assigned by round-robin to <@U123> at
    <time>", "Re-opened by <@U123> at <time> (it was disqualified: <reason>)"."""
    if isinstance(item, ScoreView):
        return SlackText(
            f"Scored {number(item.total)}/100, {escape_mrkdwn(item.verdict)} "
            f"({escape_mrkdwn(framework_name(item.framework))}) at {slack_date(item.created_at)}"
        )
    if item.kind == "assigned":
        return status_line("assigned", str(item.detail.get("to") or ""), at=item.created_at)
    was = (
        {"status": item.detail.get("was"), "reason": item.detail.get("was_reason")}
        if item.kind == "reopened"
        else None
    )
    return status_line(item.kind, item.actor, item.reason, at=item.created_at, was=was)


def _humanize(question_id: str) -> str:
    return question_id.replace("_", " ").capitalize()


def handoff_context(
    payload: Mapping[str, Any], notice_id: object = None
) -> dict[str, Any]:
    """The `handoff.json.j2` context for a `handoff_payload(...)`: each criterion's answers
    as given (follow-up questions named), skipped ones said so; `notice_id` (the `handoff`
    outbox row the notice was posted from) goes into the buttons' values."""
    lead = dict(payload["lead"])
    score = payload.get("score") or {"total": None, "verdict": "not scored", "criteria": []}
    answers = {a["question_id"]: a for a in payload.get("answers") or []}
    criteria = []
    for criterion in score.get("criteria") or []:
        cid = criterion["criterion"]
        used = list(criterion.get("answers") or [])
        if not used and cid in answers:
            used = [cid]  # a skipped or unreadable main question: show what happened
        shown: list[dict[str, str]] = []
        for qid in used:
            answer = answers.get(qid)
            if answer is None:
                continue
            text = "(skipped)" if answer.get("status") == "skipped" else answer.get("raw", "")
            if qid != cid and any(item["text"] == text for item in shown):
                continue  # said in the same words as the main answer ("approved, about 80k")
            item = {"text": text}
            if qid != cid:
                item["question"] = _humanize(qid)
            shown.append(item)
        criteria.append({**criterion, "answers": shown})
    return {
        "lead": lead,
        "framework_name": framework_name(payload.get("framework") or score.get("framework")),
        "score": {
            "total": score.get("total"),
            "verdict": score.get("verdict"),
            "max_total": 100,
            "criteria": criteria,
        },
        "rerouted_text": _rerouted(payload.get("rerouted")),
        "engagement_score": _engagement(lead),
        "fit_score": lead.get("fit_score"),
        "owner_mention": mention(lead["owner"]) if lead.get("owner") else None,
        "notice_id": notice_id if isinstance(notice_id, int) else None,
    }


def _rerouted(rerouted: Any) -> SlackText | None:
    """"Meant for <#C1>, but the bot is not in that channel." for a notice posted to the
    default channel because its own refused it (`OutboxDispatcher._notice_refused`)."""
    if not isinstance(rerouted, Mapping):
        return None
    why = CHANNEL_REFUSALS.get(str(rerouted.get("error")), "Slack refused it there")
    return SlackText(
        f":warning: Meant for {channel_mention(rerouted.get('from'))}, but {escape_mrkdwn(why)}:"
        " invite the bot there or fix the routing rule."
    )


def _engagement(lead: Mapping[str, Any]) -> float | None:
    """The engagement score, for leads that have one: a visitor's (the widget tracks page
    views and events); a rep's lead shows none rather than a 0 that reads as a cold lead."""
    score = lead.get("engagement_score")
    if lead.get("source") == "widget" or score:
        return score
    return None


def render_handoff(
    payload: Mapping[str, Any], *, notice_id: int | None = None, check: bool = True
) -> dict[str, Any]:
    """The handoff notice for a `handoff` outbox row (`notice_id`: the row's id). A lead
    that already had an outcome (won / lost) when it qualified again keeps it, and its new
    notice says so ("Marked won") with View answers and Re-open rather than Claim."""
    context = handoff_context(payload, notice_id)
    lead = payload.get("lead") or {}
    if lead.get("status") in OUTCOME_STATUSES:
        context["status_text"] = status_line(str(lead["status"]), None, lead.get("status_reason"))
        context["actions"] = SETTLED_ACTIONS
    message = render_blocks("handoff.json.j2", **context)
    if check:
        check_limits(message)
    return message


def render_notice_update(payload: Mapping[str, Any], *, check: bool = True) -> dict[str, Any]:
    """The notice of a `notice_update` row: `{"handoff": <the handoff payload the notice was
    posted with>, "notice_id"?, "status", "by"?, "reason"?, "owner"?, "at"?, "was"?}` -> the
    notice with a status line and the buttons still useful: Won, Lost, Nurture, Disqualify,
    Release and View answers once claimed; View answers and Re-open once decided or marked
    won / lost; after a release or a re-open, the unclaimed form (or the claimed one, for a
    lead with an owner) with a context line saying who stepped back and when. `owner`
    (present, even None) is the lead's owner now; without it, a claim's `by` or the owner
    the notice was posted with."""
    status = str(payload.get("status") or "")
    context = handoff_context(payload["handoff"], payload.get("notice_id"))
    if "owner" in payload:
        owner = payload["owner"]
    elif status == "claimed" and payload.get("by"):
        owner = payload["by"]
    else:
        owner = (payload["handoff"].get("lead") or {}).get("owner")
    context["owner_mention"] = mention(owner) if owner else None
    if status:
        line = status_line(status, payload.get("by"), payload.get("reason"),
                           at=payload.get("at"), was=payload.get("was"))
        context["status_note" if status in STEP_BACK_STATUSES else "status_text"] = line
    if status in UNDECIDED_STATUSES:
        context["actions"] = CLAIMED_ACTIONS if owner else UNCLAIMED_ACTIONS
    elif status:
        context["actions"] = ACTIONS_AFTER.get(status, ("view_answers",))
    message = render_blocks("handoff.json.j2", **context)
    if check:
        check_limits(message)
    return message


def render_reply(payload: Mapping[str, Any], *, check: bool = True) -> dict[str, Any]:
    """The DM for a `reply` row: `{"conversation_id", "lead_id", "company", "user",
    "team_id", "messages": [...]}`."""
    lead = {"id": payload.get("lead_id"), "company": payload.get("company")}
    message = render_blocks(
        "reply.json.j2",
        lead=lead if lead["company"] else None,
        conversation_id=payload["conversation_id"],
        messages=list(payload["messages"]),
    )
    if check:
        check_limits(message)
    return message


__all__ = [
    "FRAMEWORK_NAMES",
    "STATUS_PHRASES",
    "channel_mention",
    "framework_name",
    "handoff_context",
    "mention",
    "render_handoff",
    "render_notice_update",
    "render_reply",
    "slack_date",
    "status_line",
]
