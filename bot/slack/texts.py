"""Short texts for Slack (acks and notices): user text escaped, Slack's escaping undone.

Slack sends message and command text with `&`, `<`, `>` escaped and with its own markup for
links and mentions (`<https://acme.com|acme.com>`, `<@U123>`); `from_slack` turns that back
into what the person typed, so answers are stored as given. Everything that goes back to
Slack is escaped with `render.escape_mrkdwn`.
"""

from __future__ import annotations

import re

from bot.slack.render import escape_mrkdwn

_LABELLED = re.compile(r"<([^<>|]+)\|([^<>]*)>")
_BARE = re.compile(r"<([^<>|]+)>")


def from_slack(text: str | None) -> str:
    """Slack's text as typed: `<url|label>` -> label, `<url>` -> url, `<@U1>` -> `@U1`, and
    `&lt;` `&gt;` `&amp;` unescaped."""
    if not text:
        return ""
    text = _LABELLED.sub(lambda m: m.group(2) or m.group(1), text)
    text = _BARE.sub(lambda m: m.group(1).lstrip("!"), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def starting(framework_name: str, company: str) -> str:
    return (
        f"Starting {escape_mrkdwn(framework_name)} for *{escape_mrkdwn(company)}* in your DM."
    )


def started_from_form(framework_name: str, company: str) -> str:
    return (
        f"{escape_mrkdwn(framework_name)} for *{escape_mrkdwn(company)}*: "
        "continuing in your DM."
    )


def cancelled(framework_name: str, company: str) -> str:
    return (
        f"Cancelled the {escape_mrkdwn(framework_name)} qualification of "
        f"*{escape_mrkdwn(company)}*. Your answers are kept: resume it from `/qualify list`."
    )


def resumed(company: str) -> str:
    return f"Resuming *{escape_mrkdwn(company)}* in your DM."


def problem(message: str) -> str:
    """A domain error's message for the person who caused it."""
    return escape_mrkdwn(message)


def unexpected(ref: str) -> str:
    return f"Sorry, something went wrong on our side (reference {escape_mrkdwn(ref)})."


NOT_INSTALLED = (
    "Qualibot is not installed in this workspace (or its installation was removed). "
    "Ask an admin to install it again."
)
NOTHING_IN_PROGRESS_HINT = "Start one with `/qualify bant &lt;company&gt;`."
