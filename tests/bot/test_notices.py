"""What the dispatcher renders from outbox payloads: any user text stays text and within
Slack's limits."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.slack.notices import (
    mention,
    render_handoff,
    render_notice_update,
    render_reply,
    status_line,
)
from tests.bot.dispatchkit import HOSTILE, HOSTILE_ESCAPED, handoff_payload, mrkdwn_texts


def reply_payload(text: str, company: str, label: str) -> dict[str, Any]:
    return {
        "conversation_id": 3, "lead_id": 2, "company": company, "user": "U0REP0001",
        "team_id": "T0QUALI01",
        "messages": [
            {"kind": "readback", "text": f"Budget: {text}"},
            {"kind": "hint", "text": text},
            {"kind": "info", "text": text},
            {"kind": "question", "text": f"What about {text}?",
             "question": {"id": "budget", "criterion": "budget", "type": "choice",
                          "hint": text, "skippable": True,
                          "options": [{"label": label, "value": "yes"},
                                      {"label": "No", "value": "no"}]},
             "position": {"index": 2, "total": 5}},
            {"kind": "done", "text": text},
            {"kind": "summary", "text": f"BANT score 50/100: nurture\n• {text}",
             "verdict": "nurture", "total": 50.0},
        ],
    }


OUR_DATE = re.compile(r"<!date\^\d+\^\{time\}, \{date_short_pretty\}\|[0-9:, A-Z-]+>")


def assert_inert(message: dict[str, Any]) -> None:
    for text in mrkdwn_texts(message):
        for live in ("<!", "<@", "<#", "<http", "<mailto"):
            assert live not in OUR_DATE.sub("", text.replace("<@U0REP0002>", ""))
        assert re.sub(r"&(amp|lt|gt);", "", text).count("&") == 0


def test_status_lines() -> None:
    assert status_line("claimed", "U0REP0002") == "Claimed by <@U0REP0002>"
    assert status_line("disqualified", "U0REP0002", HOSTILE) == (
        f"Disqualified by <@U0REP0002>: {HOSTILE_ESCAPED}")
    assert status_line("nurture", None, "later") == "Moved to nurture: later"
    assert status_line("won", "U0REP0002") == "Marked won by <@U0REP0002>"
    assert status_line("lost", "U0REP0002", HOSTILE, at="2026-03-05T14:03:00+00:00") == (
        "Marked lost by <@U0REP0002> at <!date^1772719380^{time}, {date_short_pretty}"
        f"|14:03 UTC, 2026-03-05>: {HOSTILE_ESCAPED}")
    assert status_line("reopened", "U0REP0002", was={"status": "won", "reason": None}) == (
        "Re-opened by <@U0REP0002> (it was marked won)")
    assert status_line("on_hold", "U0REP0002") == "Status: on hold (by <@U0REP0002>)"
    assert status_line("released", "U0REP0002", at="2026-03-05T14:03:00+00:00") == (
        "Released by <@U0REP0002> at <!date^1772719380^{time}, {date_short_pretty}"
        "|14:03 UTC, 2026-03-05>")
    assert status_line("reopened", "U0REP0002",
                       was={"status": "nurture", "reason": HOSTILE}) == (
        f"Re-opened by <@U0REP0002> (it was moved to nurture: {HOSTILE_ESCAPED})")
    assert status_line("released", "U0REP0002", at="not a time") == "Released by <@U0REP0002>"
    assert mention("<!here>") == "&lt;!here&gt;"  # not a user id: text


def test_a_notice_without_a_stored_score_still_renders() -> None:
    payload = handoff_payload()
    payload["score"] = None
    message = render_notice_update({"team_id": "T", "channel": "C0S", "ts": "1.2",
                                    "handoff": payload, "status": "claimed",
                                    "by": "U0REP0002"})
    assert "Claimed by <@U0REP0002>" in message["text"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(), company=st.text(), label=st.text(), reason=st.text())
def test_any_user_text_renders_inert_and_within_limits(
    text: str, company: str, label: str, reason: str
) -> None:
    assert_inert(render_reply(reply_payload(text, company, label)))  # checks the limits too
    answers = [{"question_id": "budget", "raw": text, "readback": text, "status": "answered"},
               {"question_id": "budget_amount", "raw": reason, "readback": "",
                "status": "answered"}]
    payload = handoff_payload(company=company, answers=answers)
    payload["lead"]["contact_name"] = label
    assert_inert(render_handoff(payload))
    update = {"team_id": "T", "channel": "C0S", "ts": "1.2", "handoff": payload,
              "status": "nurture", "by": "U0REP0002", "reason": reason}
    assert_inert(render_notice_update(update))
    lost = {**update, "status": "lost", "owner": "U0REP0002", "at": "2026-03-05T14:03:00+00:00"}
    assert_inert(render_notice_update(lost))
    payload["lead"].update(status="lost", status_reason=reason)  # posted after a loss
    assert_inert(render_handoff(payload))
    for status in ("released", "reopened"):
        step_back = {"team_id": "T", "channel": "C0S", "ts": "1.2", "handoff": payload,
                     "notice_id": 4, "status": status, "by": "U0REP0002", "owner": None,
                     "at": "2026-03-05T14:03:00+00:00",
                     "was": {"status": "nurture", "reason": reason}}
        assert_inert(render_notice_update(step_back))
