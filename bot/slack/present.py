"""What the Slack templates show, as plain data: frameworks for the menu, the questions of the
/qualify modal, a lead's answers and score, a rep's qualifications. No Block Kit here (that is
in `templates/`) and no escaping (the templates' filters do it; a lead's history lines come
escaped from `bot.slack.notices.history_line`); only choosing and naming."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.handoff.actions import DECISION_WORDS
from bot.leads import InProgress, LeadDetail, LeadSummary
from bot.registry import FlowRegistry
from bot.slack.notices import history_line
from flows.engine import Flow

COMPANY_PLACEHOLDER = "the company"
#: How much of a lead's history is shown with it in Slack: the latest entries, whole lines
#: only (a line cut short could end inside a mention or a date), in one section block.
HISTORY_SHOWN = 10
HISTORY_CHARS = 2800
STATE_WORDS = {"cancelled": "paused", "abandoned": "paused", "start": "not started"}


def framework_name(flows: FlowRegistry, framework_id: str) -> str:
    flow = flows.flows.get(framework_id)
    return flow.framework.name if flow is not None else framework_id.upper()


def frameworks_menu(flows: FlowRegistry) -> list[dict[str, str]]:
    """`[{"id": "bant", "name": "BANT"}, ...]` in a stable order."""
    return [
        {"id": fid, "name": flow.framework.name} for fid, flow in sorted(flows.flows.items())
    ]


def modal_questions(flow: Flow) -> list[dict[str, Any]]:
    """The framework's questions for the /qualify modal, follow-ups included (each says when
    it applies). Main questions have the block id `question:<criterion>`, follow-ups
    `question:<criterion>:<question id>`."""
    out = []
    for q in flow.questions:
        if flow.groups[q.id] != "framework":
            continue
        hint = q.hint
        if q.ask_if is not None:
            earlier = flow.by_id.get(q.ask_if.question)
            labels = {c.value: c.label for c in earlier.choices} if earlier else {}
            if q.ask_if.is_in is not None:
                wanted = " or ".join(f"“{labels.get(v, v)}”" for v in q.ask_if.is_in)
                hint = f"Only if the answer above is {wanted}. {hint}"
            else:
                hint = f"Only if it applies to the answer above. {hint}"
        out.append(
            {
                "id": q.id,
                "criterion": q.criterion,
                "block_id": (
                    f"question:{q.criterion}" if q.main else f"question:{q.criterion}:{q.id}"
                ),
                "label": question_label(flow, q.id),
                "text": q.ask.rep.replace("{company}", COMPANY_PLACEHOLDER),
                "hint": hint,
                "type": q.type,
                "max_length": min(q.validation.max_length, 3000),
                "options": [{"label": c.label, "value": c.value} for c in q.choices],
            }
        )
    return out


def question_label(flow: Flow | None, question_id: str) -> str:
    if flow is None or question_id not in flow.by_id:
        return question_id.replace("_", " ").capitalize()
    question = flow.by_id[question_id]
    if flow.groups[question_id] == "framework":
        label = flow.framework.criterion(question.criterion).label
        return label if question.main else f"{label} ({question_id.replace('_', ' ')})"
    return question_id.replace("_", " ").capitalize()


def lead_view(detail: LeadDetail, flows: FlowRegistry) -> dict[str, Any]:
    """A lead with its answers as given (the latest answer to each question, in the order they
    were first asked), its latest score, and its history (the latest `HISTORY_SHOWN` scores
    and reps' actions, oldest first; `history_hidden`: how many earlier ones are not)."""
    lead = detail.lead
    flow = flows.flows.get(lead.framework)
    latest: dict[str, Any] = {}
    for answer in detail.answers:  # oldest first: later answers replace earlier ones
        latest.pop(answer.question_id, None)
        latest[answer.question_id] = answer
    answers = [
        {
            "question": question_label(flow, qid),
            "text": a.raw_text if a.status != "skipped" else None,
            "status": a.status,
        }
        for qid, a in latest.items()
    ]
    score = detail.scores[-1] if detail.scores else None
    history = detail.history()
    shown = _latest_lines([history_line(item) for item in history], HISTORY_SHOWN,
                          HISTORY_CHARS)
    return {
        "id": lead.id,
        "company": lead.company,
        "framework_name": framework_name(flows, lead.framework),
        "source": lead.source,
        "status": lead.status,
        "status_reason": detail.status_reason,
        "owner": lead.owner,
        "contact": [x for x in (detail.contact_name, detail.contact_email) if x],
        "answers": answers,
        "history": shown,
        "history_hidden": len(history) - len(shown),
        "score": (
            {
                "total": score.total,
                "verdict": score.verdict,
                "criteria": list(score.breakdown.get("criteria", [])),
                "gates": [g for g in score.breakdown.get("gates", []) if not g.get("passed")],
            }
            if score is not None
            else None
        ),
    }


def _latest_lines(lines: list[str], count: int, chars: int) -> list[str]:
    """The last `count` lines, fewer if they would not fit in `chars` (one line at least)."""
    shown: list[str] = []
    used = 0
    for line in reversed(lines[-count:]):
        used += len(line) + 3  # "• " and the newline
        if shown and used > chars:
            break
        shown.append(line)
    return shown[::-1]


def notice_view(
    detail: LeadDetail, posted: Mapping[str, Any], flows: FlowRegistry
) -> dict[str, Any]:
    """`lead_view` for the View answers of a handoff notice: the lead as it is now (status,
    owner, contact), with the answers and score of the qualification the notice was posted
    for (`posted`: its `handoff` outbox row's payload), and a note when the lead has been
    qualified again since."""
    view = lead_view(detail, flows)
    framework = str(posted.get("framework") or detail.lead.framework)
    flow = flows.flows.get(framework)
    view["framework_name"] = framework_name(flows, framework)
    view["answers"] = [
        {
            "question": question_label(flow, str(a.get("question_id"))),
            "text": a.get("raw") if a.get("status") != "skipped" else None,
            "status": a.get("status"),
        }
        for a in posted.get("answers") or []
        if isinstance(a, Mapping)
    ]
    score = posted.get("score")
    view["score"] = (
        {
            "total": score.get("total"),
            "verdict": score.get("verdict"),
            "criteria": list(score.get("criteria") or []),
            "gates": [g for g in score.get("gates") or [] if not g.get("passed")],
        }
        if isinstance(score, Mapping) and score.get("total") is not None
        else None
    )
    latest = detail.scores[-1] if detail.scores else None
    if latest is not None and latest.conversation_id != posted.get("conversation_id"):
        view["note"] = (
            "The answers and score this notice was posted with. The lead has qualified "
            f"again since: `/qualify show {detail.lead.id}` shows the latest."
        )
    return view


def in_progress_rows(items: Iterable[InProgress], flows: FlowRegistry) -> list[dict[str, Any]]:
    rows = []
    for item in items:
        flow = flows.flows.get(item.framework)
        at = (
            STATE_WORDS.get(item.state)
            or f"at {question_label(flow, item.state).lower()}"
        )
        rows.append(
            {
                "conversation_id": item.conversation_id,
                "lead_id": item.lead_id,
                "company": item.company,
                "framework_name": framework_name(flows, item.framework),
                "where": at,
                "paused": item.paused,
                "version": item.version,
            }
        )
    return rows


def recent_rows(items: Iterable[LeadSummary], flows: FlowRegistry) -> list[dict[str, Any]]:
    return [
        {
            "lead_id": lead.id,
            "company": lead.company,
            "framework_name": framework_name(flows, lead.framework),
            "status": lead.status,
            "verdict": lead.verdict,
            "score": lead.score_total,
            "decision": _decision(lead),
            "owner": lead.owner,
        }
        for lead in items
    ]


def _decision(lead: LeadSummary) -> str | None:
    """What a rep decided about the lead since its verdict, in words, if anything: a lead
    moved to nurture or disqualified in its notice, or marked won or lost."""
    if lead.status in ("won", "lost"):
        return lead.status
    if lead.status_reason is not None and lead.status in DECISION_WORDS:
        return DECISION_WORDS[lead.status]
    return None
