"""A lead's history: every claim, release, decision, outcome, re-open and round-robin
assignment is recorded (who, when, why), and shown with the lead (`/qualify show`, View
answers, `qualibot show`), so a re-open or a re-qualification no longer loses what was
decided before."""

from __future__ import annotations

import re
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import main
from storage.models import LeadEvent
from tests.bot.slackapp import SALES_CHANNEL, ConfiguredSlack, SlackHarness, blocks_text
from tests.bot.test_slack_handoff import (
    ALICE,
    ASSIGN_TO_BOB,
    BOB,
    give_reason,
    lead,
    open_lost_form,
    qualified_notice,
    submit,
)

DATE = re.compile(r"<!date\^\d+\^\{time\}, \{date_short_pretty\}\|[^>]+>")


def events(slack: SlackHarness) -> list[tuple[str, str | None, str | None, dict[str, Any]]]:
    with slack.runtime.sessions() as session:
        rows = session.scalars(select(LeadEvent).order_by(LeadEvent.id)).all()
        return [(e.kind, e.actor, e.reason, dict(e.detail)) for e in rows]


def history_of(shown: dict[str, Any]) -> list[str]:
    """The lines of the History section of a lead shown in Slack, dates as <date>."""
    [section] = [b for b in shown["blocks"] if "text" in b
                 and b["text"]["text"].startswith("*History*")]
    lines = section["text"]["text"].split("\n")[1:]
    return [DATE.sub("<date>", line) for line in lines]


def click(slack: SlackHarness, action: str, user: str) -> None:
    slack.click(slack.channel_messages(SALES_CHANNEL)[0], action, channel=SALES_CHANNEL,
                user=user)
    slack.deliver()


def test_every_step_is_recorded_and_shown_with_the_lead(slack: SlackHarness) -> None:
    qualified_notice(slack)
    click(slack, "claim", ALICE)
    click(slack, "release", ALICE)
    click(slack, "claim", BOB)
    give_reason(slack, slack.channel_messages(SALES_CHANNEL)[0], "disqualify", BOB,
                "Student project <!channel>")
    click(slack, "reopen", ALICE)
    submit(slack, open_lost_form(slack, slack.channel_messages(SALES_CHANNEL)[0], BOB),
           "Went with a competitor", BOB)

    assert events(slack) == [
        ("claimed", ALICE, None, {}),
        ("released", ALICE, None, {}),
        ("claimed", BOB, None, {}),
        ("disqualified", BOB, "Student project <!channel>", {}),
        ("reopened", ALICE, None,
         {"was": "disqualified", "was_reason": "Student project <!channel>"}),
        ("lost", BOB, "Went with a competitor", {}),
    ]
    assert lead(slack).status_reason == "Went with a competitor"

    shown = slack.ephemeral_response(slack.command(f"show {lead(slack).id}"))
    assert history_of(shown) == [
        "• Scored 100/100, qualified (BANT) at <date>",
        f"• Claimed by <@{ALICE}> at <date>",
        f"• Released by <@{ALICE}> at <date>",
        f"• Claimed by <@{BOB}> at <date>",
        f"• Disqualified by <@{BOB}> at <date>: Student project &lt;!channel&gt;",
        f"• Re-opened by <@{ALICE}> at <date> (it was disqualified: "
        "Student project &lt;!channel&gt;)",
        f"• Marked lost by <@{BOB}> at <date>: Went with a competitor",
    ]
    # View answers on the notice shows it too
    slack.click(slack.channel_messages(SALES_CHANNEL)[0], "view_answers",
                channel=SALES_CHANNEL, user=ALICE)
    modal = slack.fake.calls("views.open")[-1].response["view"]
    assert "Re-opened by" in blocks_text(modal) and "&lt;!channel&gt;" in blocks_text(modal)


def test_refused_and_repeated_clicks_record_nothing(slack: SlackHarness) -> None:
    unclaimed = qualified_notice(slack)
    click(slack, "claim", ALICE)
    claimed = slack.channel_messages(SALES_CHANNEL)[0]
    for user in (BOB, ALICE):  # refused (Alice owns it), then the owner again
        slack.click(unclaimed, "claim", channel=SALES_CHANNEL, user=user)
        slack.deliver()
    click(slack, "release", BOB)  # refused: not the owner
    click(slack, "won", BOB)  # refused: not the owner
    click(slack, "won", ALICE)
    slack.click(claimed, "won", channel=SALES_CHANNEL, user=ALICE)  # a double click
    slack.deliver()
    won = slack.channel_messages(SALES_CHANNEL)[0]
    click(slack, "reopen", BOB)
    slack.click(won, "reopen", channel=SALES_CHANNEL, user=ALICE)  # re-opened already
    slack.deliver()
    assert [(kind, actor) for kind, actor, _, _ in events(slack)] == [
        ("claimed", ALICE), ("won", ALICE), ("reopened", BOB)]


def test_a_round_robin_assignment_is_recorded(slack_with_config: ConfiguredSlack) -> None:
    for slack in slack_with_config(ASSIGN_TO_BOB):
        qualified_notice(slack)
        assert events(slack) == [("assigned", None, None, {"to": BOB})]
        shown = slack.ephemeral_response(slack.command(f"show {lead(slack).id}"))
        assert history_of(shown)[-1] == f"• Assigned by round-robin to <@{BOB}> at <date>"


def test_a_long_history_shows_its_latest_lines_and_says_how_many_are_not(
    slack: SlackHarness,
) -> None:
    qualified_notice(slack)
    for _ in range(6):
        click(slack, "claim", ALICE)
        click(slack, "release", ALICE)
    shown = slack.ephemeral_response(slack.command(f"show {lead(slack).id}"))
    section = next(b for b in shown["blocks"] if "text" in b
                   and b["text"]["text"].startswith("*History*"))
    assert section["text"]["text"].startswith("*History* (the latest 10; 3 earlier not shown)")
    assert history_of(shown)[-1] == f"• Released by <@{ALICE}> at <date>"


def test_qualibot_show_prints_the_history(slack: SlackHarness) -> None:
    qualified_notice(slack)
    click(slack, "claim", BOB)
    give_reason(slack, slack.channel_messages(SALES_CHANNEL)[0], "nurture", BOB,
                "Budget only next year")
    result = CliRunner().invoke(main, ["show", str(lead(slack).id)])
    assert result.exit_code == 0, result.output
    history = result.output.split("History (UTC):\n", 1)[1].splitlines()
    assert [line[20:] for line in history] == [
        "scored 100.0/100, qualified (BANT)",
        f"claimed by {BOB}",
        f"moved to nurture by {BOB}: Budget only next year",
    ]
    assert all(re.match(r"  \d{4}-\d\d-\d\d \d\d:\d\d  ", line) for line in history)
