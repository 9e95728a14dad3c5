"""Block Kit rendering: Jinja2 templates that produce JSON, and Slack's limits.

Templates live in `bot/slack/templates/*.json.j2` and render one JSON document: a message
(`{"text": <fallback>, "blocks": [...]}`) or a view (`{"type": "modal" | "home", ...}`).
Every value goes in through filters:

- `mrkdwn` — text a person typed, going into a `mrkdwn` text object or the fallback `text`:
  `&`, `<`, `>` become `&amp;`, `&lt;`, `&gt;`, once (applying it twice is a no-op), so
  `<!channel>`, `<@U123>` and `<http://evil|click>` show as typed instead of pinging or
  linking. `mrkdwn(n)` also truncates to `n` characters (after escaping).
- `plain(n)` — text going into a `plain_text` object (header, button, modal title): Slack
  shows it verbatim, so nothing is escaped, but it is truncated to `n` characters.
- `truncate_to(n)` — visible truncation ending in "…"; never cuts an entity in half.
- `json` — JSON-encodes a value; every value is written into the template through it.
- `number` — 3.0 -> "3", 2.5 -> "2.5".
- `blank_as(placeholder)` — the placeholder when a value is None, empty or only blanks
  (Slack rejects empty text objects).

Both `mrkdwn` and `plain` also replace characters Slack cannot take (control characters
other than newline and tab, lone surrogates). The enums of `bot.slack.ids`, its helpers and
`LIMITS` are template globals.

`check_limits(payload)` validates a rendered payload with `slack_sdk.models` and with
Slack's limits, and raises `BlockKitError` naming the block and the limit.

Post messages with `POST_DEFAULTS` (no unfurling, no `link_names`): escaping stops user text
from becoming markup, but Slack clients still auto-link a bare URL, and only these flags stop
it from unfurling.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import jinja2
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.slack import ids

ELLIPSIS = "…"

#: Arguments for every chat.postMessage / chat.postEphemeral that carries rendered text.
POST_DEFAULTS: dict[str, Any] = {"unfurl_links": False, "unfurl_media": False}

#: Slack's published limits (characters / items), and ours where we are stricter.
LIMITS: dict[str, int] = {
    "message_blocks": 50,
    "view_blocks": 100,
    "fallback_text": 3_000,  # ours; Slack truncates `text` at 40,000
    "fallback_text_slack": 40_000,
    "section_text": 3_000,
    "section_fields": 10,
    "section_field_text": 2_000,
    "header_text": 150,
    "context_elements": 10,
    "actions_elements": 25,
    "button_text": 75,
    "button_value": 2_000,
    "action_id": 255,
    "block_id": 255,
    "callback_id": 255,
    "view_title": 24,
    "view_submit": 24,
    "view_close": 24,
    "private_metadata": 3_000,
    "input_label": 2_000,
    "field_error": 150,  # a modal field's error (`response_action: errors`)
}

#: A lead's source in words, as the handoff notice states it (public contract).
SOURCE_WORDS: dict[str, str] = {"rep": "Slack (rep)", "widget": "website widget"}

_TEXT_TYPES = ("plain_text", "mrkdwn")
_ENTITIES = ("&amp;", "&lt;", "&gt;")


class BlockKitError(ValueError):
    """A rendered payload breaks a Block Kit rule or one of Slack's limits."""


class SlackText(str):
    """Text already escaped for mrkdwn. `mrkdwn` leaves it alone, so escaping happens once."""

    __slots__ = ()


# ---------------------------------------------------------------------------------------
# filters


def _sanitize(text: str) -> str:
    """Drop control characters (but newline and tab) and replace lone surrogates."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cc" and ch not in "\n\t":
            continue
        out.append("\ufffd" if category == "Cs" else ch)
    return "".join(out)


def escape_mrkdwn(value: object) -> SlackText:
    """`&`, `<`, `>` escaped once, Slack's rule for text in mrkdwn and the fallback `text`."""
    if isinstance(value, SlackText):
        return value
    text = _sanitize("" if value is None else str(value))
    return SlackText(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def truncate_to(value: object, limit: int) -> str:
    """`value` cut to at most `limit` characters, ending in "…" when it was cut.

    Never ends inside an `&amp;` / `&lt;` / `&gt;` entity, so it is safe after `mrkdwn`
    (and keeps the result marked as escaped)."""
    if limit < 1:
        raise ValueError(f"truncate_to needs a limit of at least 1, not {limit}")
    text = "" if value is None else str(value)
    if len(text) <= limit:
        return value if isinstance(value, str) else text
    cut = limit - len(ELLIPSIS)
    head = text[:cut]
    start = text.rfind("&", max(0, cut - 4), cut)
    if start != -1 and any(
        text.startswith(entity, start) and start + len(entity) > cut for entity in _ENTITIES
    ):
        head = text[:start]
    result = head.rstrip() + ELLIPSIS
    return SlackText(result) if isinstance(value, SlackText) else result


def mrkdwn(value: object, limit: int | None = None) -> SlackText:
    """User text for a mrkdwn object or fallback `text`: escaped once, optionally truncated."""
    escaped = escape_mrkdwn(value)
    return SlackText(truncate_to(escaped, limit)) if limit is not None else escaped


def plain(value: object, limit: int) -> str:
    """Text for a `plain_text` object: shown verbatim by Slack, so only truncated."""
    return truncate_to(_sanitize("" if value is None else str(value)), limit)


def to_json(value: object) -> str:
    """A value as JSON, for writing into a `.json.j2` template."""
    return json.dumps(value, ensure_ascii=False)


def number(value: object) -> str:
    """A score for people: 3.0 -> "3", 2.456 -> "2.5"; anything else as text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def blank_as(value: object, placeholder: str = "—") -> object:
    """`placeholder` when `value` is None, empty or only blanks; `value` otherwise."""
    if value is None or (isinstance(value, str) and not _sanitize(value).strip()):
        return placeholder
    return value


# ---------------------------------------------------------------------------------------
# rendering


@cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment for the Block Kit templates (built once)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.slack", "templates"),
        autoescape=False,  # the output is JSON; values go in through `json` and `mrkdwn`
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # packaged templates: don't stat the file on every render
    )
    env.filters.update(
        mrkdwn=mrkdwn,
        plain=plain,
        json=to_json,
        truncate_to=truncate_to,
        number=number,
        blank_as=blank_as,
    )
    env.globals.update(
        ActionId=ids.ActionId,
        BlockId=ids.BlockId,
        CallbackId=ids.CallbackId,
        InputId=ids.InputId,
        question_block_id=ids.question_block_id,
        choice_action_id=ids.choice_action_id,
        step_block_id=ids.step_block_id,
        lead_button_value=ids.lead_button_value,
        LIMITS=LIMITS,
        SOURCE_WORDS=SOURCE_WORDS,
    )
    return env


def render_json(template_name: str, **context: Any) -> str:
    """The JSON text a template renders to (`template_name` without its folder)."""
    return environment().get_template(template_name).render(**context)


def render_blocks(template_name: str, **context: Any) -> dict[str, Any]:
    """A template rendered and parsed: a message `{"text", "blocks"}` or a view dict."""
    text = render_json(template_name, **context)
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BlockKitError(
            f"{template_name} rendered invalid JSON ({exc.msg} at line {exc.lineno} "
            f"column {exc.colno}); is a value missing its `| json` filter?"
        ) from exc
    if not isinstance(payload, dict):
        raise BlockKitError(f"{template_name} must render a JSON object, not {type(payload)}")
    return payload


# ---------------------------------------------------------------------------------------
# limits


def check_limits(payload: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
    """Validate a message (`{"text"?, "blocks"}`), a view (`{"type": "modal" | "home", ...}`)
    or a bare list of blocks against Slack's rules; raise `BlockKitError` on the first problem.

    Checks Slack's limits itself (so the error names the block, the field and the numbers),
    then parses every block into `slack_sdk.models.blocks` and runs its validators, and
    rejects keys `slack_sdk` does not know (a typo such as `acton_id` would otherwise be
    dropped silently by the model and rejected by Slack).
    """
    if isinstance(payload, Sequence):
        _check_blocks(list(payload), LIMITS["message_blocks"], where="message")
        return
    if not isinstance(payload, Mapping):
        raise BlockKitError(f"payload must be a dict or a list of blocks, not {type(payload)}")
    if payload.get("type") in ("modal", "home"):
        _check_view(payload)
        return
    blocks = payload.get("blocks")
    text = payload.get("text")
    if not blocks and not (isinstance(text, str) and text.strip()):
        raise BlockKitError("message: needs a non-empty `text` or `blocks`")
    if text is not None:
        if not isinstance(text, str):
            raise BlockKitError("message: `text` must be a string")
        _max(len(text), LIMITS["fallback_text"], "message: fallback `text`")
    if blocks is not None:
        if not isinstance(blocks, list):
            raise BlockKitError("message: `blocks` must be a list")
        _check_blocks(blocks, LIMITS["message_blocks"], where="message")


def _check_view(view: Mapping[str, Any]) -> None:
    where = f"{view['type']} view"
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        raise BlockKitError(f"{where}: `blocks` must be a non-empty list")
    if view["type"] == "modal":
        _text_object(view.get("title"), f"{where}: title", LIMITS["view_title"], plain_only=True)
    for key in ("submit", "close"):
        if view.get(key) is not None:
            _text_object(view[key], f"{where}: {key}", LIMITS[f"view_{key}"], plain_only=True)
    _id(view.get("callback_id"), f"{where}: callback_id", LIMITS["callback_id"])
    metadata = view.get("private_metadata")
    if metadata is not None:
        _max(len(str(metadata)), LIMITS["private_metadata"], f"{where}: private_metadata")
    _check_blocks(blocks, LIMITS["view_blocks"], where=where)
    try:
        View(**dict(view)).to_dict()  # slack_sdk's own view rules (type, title, submit, ...)
    except SlackObjectFormationError as exc:
        raise BlockKitError(f"{where}: {exc}") from exc


def _check_blocks(blocks: list[Any], max_blocks: int, *, where: str) -> None:
    _max(len(blocks), max_blocks, f"{where}: number of blocks")
    seen_block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        if not isinstance(block, Mapping) or not isinstance(block.get("type"), str):
            raise BlockKitError(f"{where}: blocks[{index}] is not a block (a dict with a type)")
        name = f"blocks[{index}] {block['type']}"
        if block.get("block_id") is not None:
            name += f" {block['block_id']!r}"
            _id(block["block_id"], f"{name}: block_id", LIMITS["block_id"])
            if block["block_id"] in seen_block_ids:
                raise BlockKitError(f"{name}: block_id is used twice in the same {where}")
            seen_block_ids.add(block["block_id"])
        _check_block(block, name)
        _check_with_slack_sdk(block, name)


def _check_block(block: Mapping[str, Any], name: str) -> None:
    kind = block["type"]
    if kind == "section":
        if block.get("text") is None and not block.get("fields"):
            raise BlockKitError(f"{name}: needs `text` or `fields`")
        if block.get("text") is not None:
            _text_object(block["text"], f"{name}: text", LIMITS["section_text"])
        fields = block.get("fields") or []
        _max(len(fields), LIMITS["section_fields"], f"{name}: number of fields")
        for i, field in enumerate(fields):
            _text_object(field, f"{name}: fields[{i}]", LIMITS["section_field_text"])
        if block.get("accessory") is not None:
            _element(block["accessory"], f"{name}: accessory", set())
    elif kind == "header":
        _text_object(block.get("text"), f"{name}: text", LIMITS["header_text"], plain_only=True)
    elif kind == "context":
        elements = block.get("elements") or []
        if not elements:
            raise BlockKitError(f"{name}: needs at least one element")
        _max(len(elements), LIMITS["context_elements"], f"{name}: number of elements")
        for i, element in enumerate(elements):
            if isinstance(element, Mapping) and element.get("type") in _TEXT_TYPES:
                _text_object(element, f"{name}: elements[{i}]", LIMITS["section_text"])
    elif kind == "actions":
        elements = block.get("elements") or []
        if not elements:
            raise BlockKitError(f"{name}: needs at least one element")
        _max(len(elements), LIMITS["actions_elements"], f"{name}: number of elements")
        action_ids: set[str] = set()
        for i, element in enumerate(elements):
            _element(element, f"{name}: elements[{i}]", action_ids)
    elif kind == "input":
        _text_object(block.get("label"), f"{name}: label", LIMITS["input_label"], plain_only=True)
        if block.get("element") is not None:
            _element(block["element"], f"{name}: element", set())


def _element(element: Any, name: str, action_ids: set[str]) -> None:
    if not isinstance(element, Mapping) or not isinstance(element.get("type"), str):
        raise BlockKitError(f"{name}: is not an element (a dict with a type)")
    name = f"{name} {element['type']}"
    action_id = element.get("action_id")
    if action_id is not None:
        name += f" {action_id!r}"
        _id(action_id, f"{name}: action_id", LIMITS["action_id"])
        if action_id in action_ids:
            raise BlockKitError(f"{name}: action_id is used twice in the same block")
        action_ids.add(action_id)
    if element["type"] == "button":
        _text_object(element.get("text"), f"{name}: text", LIMITS["button_text"], plain_only=True)
        if element.get("value") is not None:
            _max(len(str(element["value"])), LIMITS["button_value"], f"{name}: value")


def _text_object(obj: Any, name: str, limit: int, *, plain_only: bool = False) -> None:
    if not isinstance(obj, Mapping) or obj.get("type") not in _TEXT_TYPES:
        raise BlockKitError(f"{name}: must be a text object (plain_text or mrkdwn)")
    if plain_only and obj["type"] != "plain_text":
        raise BlockKitError(f"{name}: must be plain_text, not {obj['type']}")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        raise BlockKitError(f"{name}: text must be a non-empty string")
    _max(len(text), limit, name)


def _id(value: Any, name: str, limit: int) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value:
        raise BlockKitError(f"{name}: must be a non-empty string")
    _max(len(value), limit, name)


def _max(size: int, limit: int, name: str) -> None:
    if size > limit:
        raise BlockKitError(f"{name} is {size} long; Slack's limit is {limit}")


def _check_with_slack_sdk(block: Mapping[str, Any], name: str) -> None:
    parsed = Block.parse(dict(block))
    if parsed is None:
        raise BlockKitError(f"{name}: slack_sdk does not know the block type {block['type']!r}")
    try:
        as_dict = parsed.to_dict()  # runs the validators of the block and everything in it
    except SlackObjectFormationError as exc:
        raise BlockKitError(f"{name}: {exc}") from exc
    unknown = _dropped_keys(block, as_dict)
    if unknown:
        raise BlockKitError(
            f"{name}: slack_sdk dropped {', '.join(unknown)} — not a Block Kit field (typo?)"
        )


def _dropped_keys(original: Any, parsed: Any, path: str = "") -> list[str]:
    """Keys in `original` that did not survive a round trip through the slack_sdk models."""
    missing: list[str] = []
    if isinstance(original, Mapping) and isinstance(parsed, Mapping):
        for key, value in original.items():
            if key not in parsed:
                if value not in (None, [], {}):
                    missing.append(f"{path}{key}")
            else:
                missing += _dropped_keys(value, parsed[key], f"{path}{key}.")
    elif isinstance(original, list) and isinstance(parsed, list) and len(original) == len(parsed):
        for i, (a, b) in enumerate(zip(original, parsed, strict=True)):
            missing += _dropped_keys(a, b, f"{path}{i}.")
    return missing
