"""Every action id, block id and callback id Qualibot uses in Slack, in one place.

Templates (`bot/slack/templates/*.json.j2`, which receive these enums as globals) and
listeners both use these names; no listener or template spells an id as a literal.

Ids that carry data:

- a question's section block is `question:<criterion>` (public contract, see DESIGN.md);
- a choice button's action id is `answer_choice:<value>` (action ids must be unique within a
  block, and choice values are short `[a-z0-9_]` ids); its `value` is the choice value;
- the actions blocks under a question are `<BlockId>|<conversation_id>|<question_id>|<index>`
  (`step_block_id`), so a listener knows which conversation and which question a click was
  for, and can tell a click on an old question (double click, stale message) from a fresh one;
- a handoff notice's buttons have the value `<lead id>:<notice id>` (`lead_button_value`), the
  notice id being the `handoff` outbox row the notice was posted from, so a click repaints
  the notice from what it was posted with; buttons posted before notice ids (and the lists'
  View answers) carry the lead id alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class ActionId(StrEnum):
    ANSWER_CHOICE = "answer_choice"
    SKIP = "skip"
    BACK = "back"
    CANCEL = "cancel"
    RESUME = "resume"
    CLAIM = "claim"
    RELEASE = "release"  # the owner gives a claimed lead back
    NURTURE = "nurture"
    DISQUALIFY = "disqualify"
    VIEW_ANSWERS = "view_answers"
    REOPEN = "reopen"  # undo a nurture / disqualify decision, or a won / lost outcome
    WON = "won"  # the owner of a claimed lead records that it was won
    LOST = "lost"  # ... or lost (the reason form opens)
    PICK_FRAMEWORK = "pick_framework"  # the framework menu in the /qualify modal


class BlockId(StrEnum):
    QUESTION = "question"
    QUESTION_CONTEXT = "question_context"
    ANSWER_CHOICES = "answer_choices"
    QUESTION_NAV = "question_nav"
    HANDOFF_HEADER = "handoff_header"
    HANDOFF_REROUTED = "handoff_rerouted"  # why a notice is in the default channel
    HANDOFF_SUMMARY = "handoff_summary"
    HANDOFF_CRITERION = "handoff_criterion"
    HANDOFF_SOURCE = "handoff_source"
    HANDOFF_ACTIONS = "handoff_actions"
    HANDOFF_STATUS = "handoff_status"  # the status line of a notice someone acted on
    REPLY_SUMMARY = "reply_summary"  # verdict and score at the end of a DM reply
    # the /qualify modal, the reason modal, lists (/qualify list, App Home)
    QUALIFY_FRAMEWORK = "qualify_framework"
    QUALIFY_COMPANY = "qualify_company"
    QUALIFY_INTRO = "qualify_intro"
    REASON = "reason"
    LEAD_ROW = "lead_row"
    LIST_HEADER = "list_header"


class CallbackId(StrEnum):
    QUALIFY_MODAL = "qualify_modal"
    ANSWERS_MODAL = "answers_modal"
    REASON_MODAL = "reason_modal"


class Command(StrEnum):
    """Slash commands (declared in `manifest.yml`)."""

    QUALIFY = "/qualify"


class EventType(StrEnum):
    """Events API event types Qualibot listens to (`manifest.yml` subscribes to them;
    `message` arrives for the `message.im` subscription)."""

    APP_HOME_OPENED = "app_home_opened"
    MESSAGE = "message"
    APP_UNINSTALLED = "app_uninstalled"
    TOKENS_REVOKED = "tokens_revoked"


class InputId(StrEnum):
    """Action ids of modal inputs that no listener handles (their values arrive with the
    submission). The answers in the /qualify modal use the question id as action id."""

    COMPANY = "company"
    REASON = "reason"


_SEP = "|"

#: Matches every choice button's action id; register the listener with this pattern.
ANSWER_CHOICE_PATTERN = re.compile(rf"^{ActionId.ANSWER_CHOICE.value}:[a-z0-9_]+$")


def question_block_id(criterion: str) -> str:
    """The block id of the section that asks a question: `question:<criterion>`."""
    return f"{BlockId.QUESTION.value}:{criterion}"


def choice_action_id(value: str) -> str:
    """The action id of the button for one choice: `answer_choice:<value>`."""
    return f"{ActionId.ANSWER_CHOICE.value}:{value}"


def choice_value_of(action_id: str) -> str | None:
    """The choice value in a choice button's action id, or None if it is not one."""
    prefix = f"{ActionId.ANSWER_CHOICE.value}:"
    return action_id[len(prefix):] if action_id.startswith(prefix) else None


def lead_button_value(lead_id: object, notice_id: object = None) -> str:
    """A handoff notice button's value: `<lead id>:<notice id>`, or the lead id alone."""
    return f"{lead_id}:{notice_id}" if notice_id is not None else str(lead_id)


def parse_lead_button_value(value: object) -> tuple[str, str | None]:
    """`(lead id, notice id or None)` as text, from a `lead_button_value` or a bare lead id."""
    lead_id, sep, notice_id = str(value or "").partition(":")
    return lead_id, notice_id if sep else None


@dataclass(frozen=True)
class Step:
    """Which conversation and question an actions block under a question belongs to."""

    kind: BlockId
    conversation_id: str
    question_id: str
    index: int


def step_block_id(kind: BlockId, conversation_id: object, question_id: str, index: int) -> str:
    """`<kind>|<conversation_id>|<question_id>|<index>` for an actions block under a question."""
    return _SEP.join((kind.value, str(conversation_id), question_id, str(index)))


def parse_step_block_id(block_id: str) -> Step | None:
    """The inverse of `step_block_id`; None when `block_id` is not a step block id."""
    parts = block_id.split(_SEP)
    if len(parts) != 4:
        return None
    kind, conversation_id, question_id, index = parts
    try:
        return Step(BlockId(kind), conversation_id, question_id, int(index))
    except ValueError:
        return None
