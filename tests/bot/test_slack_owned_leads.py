"""A rep's lists (`/qualify list`, the Home tab) show the leads they own: widget leads they
claimed in a sales channel are theirs to follow up, though someone else qualified them."""

from __future__ import annotations

from bot.slack.render import check_limits
from tests.bot.slackapp import SALES_CHANNEL, SlackHarness, blocks_text

ALICE = "U0ALICE01"
ANSWERS = [
    "allocated",
    "about $80k a year",
    "I'm the CFO and I sign the contract",
    "Our reps lose 10 hours a week to manual reporting",
    "this quarter",
]


def qualify(slack: SlackHarness, company: str) -> None:
    """The default rep qualifies `company`; its notice reaches the sales channel."""
    slack.command(f"bant {company}")
    for answer in ANSWERS:
        slack.say(answer)
    slack.deliver()


def notice_of(slack: SlackHarness, company: str) -> dict:
    return next(m for m in slack.channel_messages(SALES_CHANNEL) if company in m["text"])


def section(blocks: list[dict], header: str) -> str:
    """The text of a list's section, from its header to the next header."""
    text = blocks_text(blocks)
    return text.split(f"list_header:{header}")[1].split("list_header:")[0]


def test_claimed_leads_are_listed_as_the_claimers_with_what_was_decided(
    slack: SlackHarness,
) -> None:
    qualify(slack, "Acme & Co")
    qualify(slack, "Globex")
    qualify(slack, "Initech")
    slack.click(notice_of(slack, "Acme"), "claim", channel=SALES_CHANNEL, user=ALICE)
    slack.click(notice_of(slack, "Globex"), "claim", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    claimed = notice_of(slack, "Globex")
    slack.click(claimed, "disqualify", channel=SALES_CHANNEL, user=ALICE)
    view = slack.fake.calls("views.open")[-1].response["view"]
    slack.send(slack.requests.view_submission(
        view, values={"reason": {"reason": "Student project"}}, user_id=ALICE))
    slack.deliver()

    listing = slack.ephemeral_response(slack.command("list", user_id=ALICE))
    check_limits({"blocks": listing["blocks"]})
    owned = section(listing["blocks"], "owned")
    assert "Acme &amp; Co" in owned and "Globex" in owned and "Initech" not in owned
    assert "qualified · disqualified" in owned  # Globex: the verdict, then the rep's decision
    assert "None yet." in section(listing["blocks"], "recent")  # Alice qualified nothing
    assert listing["text"].endswith("2 other leads you own")

    slack.send(slack.requests.app_home_opened(user_id=ALICE))
    slack.deliver()
    home = slack.fake.home_view(ALICE)
    assert home is not None
    check_limits({"blocks": home["blocks"]})
    assert "Acme &amp; Co" in section(home["blocks"], "owned")
    buttons = [b["accessory"]["action_id"] for b in home["blocks"] if b.get("accessory")]
    assert buttons == ["view_answers", "view_answers"]


def test_a_reps_own_lead_is_listed_once_and_a_rep_who_owns_none_is_told_how(
    slack: SlackHarness,
) -> None:
    qualify(slack, "Acme")
    slack.click(notice_of(slack, "Acme"), "claim", channel=SALES_CHANNEL)  # the rep who qualified
    slack.deliver()
    listing = slack.ephemeral_response(slack.command("list"))
    text = blocks_text(listing["blocks"])
    assert text.count("*Acme*") == 1  # among the rep's recent leads, not again as owned
    assert "Leads you claim in a sales channel, or are assigned, are listed here." in section(
        listing["blocks"], "owned")


def test_lists_say_which_leads_were_won_or_lost(slack: SlackHarness) -> None:
    qualify(slack, "Acme")
    qualify(slack, "Globex")
    qualify(slack, "Initech")
    for company in ("Acme", "Globex", "Initech"):
        slack.click(notice_of(slack, company), "claim", channel=SALES_CHANNEL, user=ALICE)
    slack.deliver()
    slack.click(notice_of(slack, "Acme"), "won", channel=SALES_CHANNEL, user=ALICE)
    slack.click(notice_of(slack, "Globex"), "lost", channel=SALES_CHANNEL, user=ALICE)
    view = slack.fake.calls("views.open")[-1].response["view"]
    slack.send(slack.requests.view_submission(
        view, values={"reason": {"reason": "Price"}}, user_id=ALICE))
    slack.deliver()

    def rows(blocks: list[dict]) -> dict[str, str]:
        return {company: next(b["text"]["text"] for b in blocks
                              if f"*{company}*" in (b.get("text") or {}).get("text", ""))
                for company in ("Acme", "Globex", "Initech")}

    listing = slack.ephemeral_response(slack.command("list", user_id=ALICE))  # as owned leads
    slack.send(slack.requests.app_home_opened(user_id=ALICE))
    slack.deliver()
    home = slack.fake.home_view(ALICE)
    assert home is not None
    mine = slack.ephemeral_response(slack.command("list"))  # the rep who qualified them
    for blocks in (listing["blocks"], home["blocks"], mine["blocks"]):
        check_limits({"blocks": blocks})
        shown = rows(blocks)
        assert " qualified · won · owner <@U0ALICE01>" in shown["Acme"]
        assert " qualified · lost · owner <@U0ALICE01>" in shown["Globex"]
        assert " qualified · owner <@U0ALICE01>" in shown["Initech"]  # claimed, no outcome
