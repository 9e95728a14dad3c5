"""What a website visitor sees: the service's channel-neutral messages in the widget's shape.

A widget message is `{"from": "bot" | "visitor", "text", "question"?, "links"?}`, where a
question is `{"criterion", "type", "options"?: [{"label", "value"}]}` and links are
`[{"label", "url"}]` whose URLs stand in the text (the nurture closing's resources). Text is
plain text (the embed script renders it with `textContent`, making only those URLs links);
nothing here is markup.

The service's rep-facing summary (verdict, score, reasons) is never shown: a finished
conversation ends with a closing message that fits the verdict instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.widget.config import WidgetConfig
from flows.engine import BotMessage

Message = dict[str, Any]

#: Quick replies for yes/no questions (e.g. consent), sent back as `{"choice": "yes"}`.
YES_NO_OPTIONS: tuple[dict[str, str], ...] = (
    {"label": "Yes", "value": "yes"},
    {"label": "No", "value": "no"},
)
INTRO = "Hi! Just a few quick questions so we can point you to the right person."
EXPIRED = "This conversation has expired. Start a new one whenever you like."
UNCLEAR_CONSENT = "To go on we need a clear yes or no to this."


def bot(text: str, question: Mapping[str, Any] | None = None) -> Message:
    message: Message = {"from": "bot", "text": text}
    if question is not None:
        message["question"] = question_payload(question)
    return message


def visitor(text: str) -> Message:
    return {"from": "visitor", "text": text}


def question_payload(question: Mapping[str, Any]) -> dict[str, Any]:
    """`{"id", "criterion", "type", "skippable", "options"?}` from a `BotMessage.to_dict()`
    question."""
    out: dict[str, Any] = {
        "id": question["id"],
        "criterion": question["criterion"],
        "type": question["type"],
        "skippable": bool(question.get("skippable", True)),
    }
    options = [{"label": o["label"], "value": o["value"]} for o in question.get("options") or ()]
    if not options and question["type"] == "yesno":
        options = [dict(o) for o in YES_NO_OPTIONS]
    if options:
        out["options"] = options
    return out


def closing_text(verdict: str | None, config: WidgetConfig) -> str:
    """The last message of a finished conversation, for its verdict."""
    texts = config.closing
    if verdict == "qualified":
        return texts.qualified
    if verdict == "nurture":
        lines = [texts.nurture, *(f"• {r.label}: {r.url}" for r in config.resources)]
        return "\n".join(lines)
    return texts.disqualified


def closing_message(verdict: str | None, config: WidgetConfig) -> Message:
    """The closing message for a verdict; under a nurture one the resources' URLs are also
    `links`, so that the widget can make them links (the text stays plain text)."""
    message = bot(closing_text(verdict, config))
    if verdict == "nurture" and config.resources:
        message["links"] = [{"label": r.label, "url": r.url} for r in config.resources]
    return message


def from_service(
    messages: Iterable[Mapping[str, Any]], closing: Message | None
) -> list[Message]:
    """Turn messages (`TurnResult.messages`) for a visitor: the rep's summary is dropped and
    the generic "that's everything" is replaced by `closing` (when given)."""
    out: list[Message] = []
    for message in messages:
        kind = message.get("kind")
        if kind == "summary":
            continue
        if kind == "done":
            if closing:
                out.append(dict(closing))
            continue
        if kind == "question" and message.get("question"):
            out.append(bot(str(message["text"]), message["question"]))
        else:
            out.append(bot(str(message["text"])))
    return out


def from_replay(items: Iterable[BotMessage | str], closing: Message | None) -> list[Message]:
    """A conversation redrawn from `Flow.replay` (strings are what the visitor said)."""
    out: list[Message] = []
    for item in items:
        if isinstance(item, str):
            out.append(visitor(item))
        else:
            out.extend(from_service([item.to_dict()], closing))
    return out
