"""Requests as Slack sends them to `POST /slack/events`, signed with the app's secret.

    slack = SlackRequests(signing_secret="s3cr3t")
    req = slack.command("/qualify", "bant Acme")          # form-encoded slash command
    req = slack.block_actions([button("skip", "42", block_id="question_nav|42|budget|1")])
    req = slack.view_submission(view, values={"company": {"company": "Acme"}})
    req = slack.message_im("50k", user_id="U0REP0001")    # Events API event_callback
    req.body, req.headers                                  # what goes over the wire
    req.resigned(secret="wrong"), req.resigned(age=600)    # bad signature / stale timestamp
    req.retried(1, "http_timeout")                         # Slack's redelivery of the same body

Signatures are Slack's `v0` scheme: `v0=` + HMAC-SHA256(secret, f"v0:{timestamp}:{body}"),
in `X-Slack-Signature`, with `X-Slack-Request-Timestamp`; `slack_sdk.signature.
SignatureVerifier` (and so Bolt) accepts them when the secret matches and the timestamp is
within five minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlencode

from tests.fakeslack import DEFAULT_WORKSPACE, FakeSlack, Workspace

SIGNING_SECRET = "8f742231b10e8888abcd99fe4c1a2b3c"
VERIFICATION_TOKEN = "fake-verification-token"  # the deprecated `token` field
DEFAULT_USER = "U0REP0001"
DEFAULT_USER_NAME = "riley.rep"
DEFAULT_CHANNEL = "C0SALES01"
DEFAULT_CHANNEL_NAME = "sales"
SLACK_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def sign(secret: str, timestamp: int | str, body: str) -> str:
    """Slack's `v0` request signature of `body` sent at `timestamp`."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignedRequest:
    """One request from Slack: the raw body and the headers, signed."""

    body: str
    headers: dict[str, str]
    signing_secret: str
    path: str = "/slack/events"
    method: str = "POST"
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    @property
    def content_type(self) -> str:
        return self.headers["Content-Type"]

    @property
    def timestamp(self) -> int:
        return int(self.headers["X-Slack-Request-Timestamp"])

    @property
    def data(self) -> dict[str, Any]:
        """The body parsed: the JSON envelope, the `payload` JSON, or the command's fields."""
        if self.content_type.startswith(JSON):
            parsed: dict[str, Any] = json.loads(self.body)
            return parsed
        form = {k: v[-1] for k, v in parse_qs(self.body, keep_blank_values=True).items()}
        if set(form) == {"payload"}:
            payload: dict[str, Any] = json.loads(form["payload"])
            return payload
        return form

    def resigned(
        self,
        *,
        secret: str | None = None,
        timestamp: int | None = None,
        age: float | None = None,
    ) -> SignedRequest:
        """The same body signed again: with another `secret` (a forged request), at an
        explicit `timestamp`, or `age` seconds ago (negative: in the future)."""
        if timestamp is None:
            timestamp = int(self.clock() - (age or 0))
        headers = dict(self.headers)
        headers["X-Slack-Request-Timestamp"] = str(timestamp)
        headers["X-Slack-Signature"] = sign(secret or self.signing_secret, timestamp, self.body)
        return replace(self, headers=headers)

    def retried(self, num: int = 1, reason: str = "http_timeout") -> SignedRequest:
        """Slack's redelivery: the same body, signed now, with `X-Slack-Retry-Num` and
        `X-Slack-Retry-Reason` (`http_timeout`, `http_error`, `too_many_connections`...)."""
        again = self.resigned()
        again.headers["X-Slack-Retry-Num"] = str(num)
        again.headers["X-Slack-Retry-Reason"] = reason
        return again

    def without_signature(self) -> SignedRequest:
        headers = {
            k: v for k, v in self.headers.items()
            if k not in ("X-Slack-Signature", "X-Slack-Request-Timestamp")
        }
        return replace(self, headers=headers)

    def bolt_request(self) -> Any:
        """This request as a `slack_bolt.BoltRequest` (for `App.dispatch`)."""
        from slack_bolt.request import BoltRequest

        return BoltRequest(body=self.body, headers=dict(self.headers))


def button(
    action_id: str,
    value: str | None = None,
    *,
    block_id: str = "actions",
    text: str = "Button",
) -> dict[str, Any]:
    """One entry of a block_actions payload's `actions`: a clicked button."""
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "type": "button",
        "action_ts": f"{time.time():.6f}",
    }
    if value is not None:
        action["value"] = value
    return action


def actions_from(message_blocks: Iterable[Mapping[str, Any]], action_id: str) -> dict[str, Any]:
    """The `actions` entry Slack sends when the button `action_id` in these blocks is
    clicked (block id, value and text taken from the blocks as rendered)."""
    for block in message_blocks:
        for element in block.get("elements", []) or [block.get("accessory") or {}]:
            if element.get("action_id") == action_id:
                return button(
                    action_id,
                    element.get("value"),
                    block_id=block.get("block_id", "actions"),
                    text=element.get("text", {}).get("text", ""),
                )
    raise KeyError(f"no element with action_id {action_id!r} in the blocks")


@dataclass
class SlackRequests:
    """Builds signed requests as Slack would send them for one workspace and app."""

    signing_secret: str = SIGNING_SECRET
    workspace: Workspace = DEFAULT_WORKSPACE
    user_id: str = DEFAULT_USER
    user_name: str = DEFAULT_USER_NAME
    channel_id: str = DEFAULT_CHANNEL
    channel_name: str = DEFAULT_CHANNEL_NAME
    response_url_base: str = "https://hooks.slack.com/actions/T0QUALI01/1/"
    path: str = "/slack/events"
    clock: Callable[[], float] = time.time
    _seq: Iterator[int] = field(default_factory=lambda: itertools.count(1), init=False,
                                repr=False)

    # -- signing ------------------------------------------------------------------------

    def signed(
        self,
        body: str,
        content_type: str,
        *,
        secret: str | None = None,
        timestamp: int | None = None,
        age: float | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> SignedRequest:
        """`body` with the headers Slack sends, signed (see `SignedRequest.resigned`)."""
        if timestamp is None:
            timestamp = int(self.clock() - (age or 0))
        headers = {
            "Content-Type": content_type,
            "User-Agent": SLACK_USER_AGENT,
            "Accept": "application/json,*/*",
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": sign(secret or self.signing_secret, timestamp, body),
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        return SignedRequest(
            body=body, headers=headers, signing_secret=self.signing_secret, path=self.path,
            clock=self.clock,
        )

    def _next(self) -> int:
        return next(self._seq)

    def trigger_id(self) -> str:
        n = self._next()
        return f"{n}{int(self.clock())}.{self.workspace.team_id[1:]}.{uuid.uuid4().hex}"

    def response_url(self) -> str:
        return f"{self.response_url_base}{self._next()}"

    def _user(self, user_id: str | None) -> dict[str, Any]:
        uid = user_id or self.user_id
        name = self.user_name if uid == self.user_id else uid.lower()
        return {"id": uid, "username": name, "name": name, "team_id": self.workspace.team_id}

    def _team(self) -> dict[str, Any]:
        return {"id": self.workspace.team_id, "domain": self.workspace.team_domain}

    def _enterprise(self) -> dict[str, Any] | None:
        ent = self.workspace.enterprise_id
        return {"id": ent, "name": f"Enterprise {ent}"} if ent else None

    # -- slash commands -----------------------------------------------------------------

    def command(
        self,
        command: str = "/qualify",
        text: str = "",
        *,
        user_id: str | None = None,
        user_name: str | None = None,
        channel_id: str | None = None,
        channel_name: str | None = None,
        response_url: str | None = None,
        trigger_id: str | None = None,
        **sign_options: Any,
    ) -> SignedRequest:
        """A slash command invocation (form-encoded, field order as Slack sends it)."""
        channel = channel_id or self.channel_id
        if channel_name is None:
            channel_name = "directmessage" if channel.startswith("D") else self.channel_name
        uid = user_id or self.user_id
        fields: list[tuple[str, str]] = [
            ("token", VERIFICATION_TOKEN),
            ("team_id", self.workspace.team_id),
            ("team_domain", self.workspace.team_domain),
        ]
        if self.workspace.enterprise_id:
            fields += [
                ("enterprise_id", self.workspace.enterprise_id),
                ("enterprise_name", f"Enterprise {self.workspace.enterprise_id}"),
            ]
        fields += [
            ("channel_id", channel),
            ("channel_name", channel_name),
            ("user_id", uid),
            ("user_name", user_name or (self.user_name if uid == self.user_id else uid.lower())),
            ("command", command),
            ("text", text),
            ("api_app_id", self.workspace.app_id),
            ("is_enterprise_install", "false"),
            ("response_url", response_url or self.response_url()),
            ("trigger_id", trigger_id or self.trigger_id()),
        ]
        return self.signed(urlencode(fields), FORM, **sign_options)

    # -- interactivity ------------------------------------------------------------------

    def interactive(self, payload: Mapping[str, Any], **sign_options: Any) -> SignedRequest:
        """Any interactivity payload, form-encoded as `payload=<json>`."""
        body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))})
        return self.signed(body, FORM, **sign_options)

    def block_actions(
        self,
        actions: list[dict[str, Any]],
        *,
        user_id: str | None = None,
        channel_id: str | None = None,
        message: Mapping[str, Any] | None = None,
        view: Mapping[str, Any] | None = None,
        state_values: Mapping[str, Any] | None = None,
        trigger_id: str | None = None,
        response_url: str | None = None,
        **sign_options: Any,
    ) -> SignedRequest:
        """A click in a message (give the `message` as posted: its `ts`, `blocks`, ...) or,
        with `view`, in a modal or the Home tab."""
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.workspace.app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": trigger_id or self.trigger_id(),
            "team": self._team(),
            "enterprise": self._enterprise(),
            "is_enterprise_install": False,
        }
        if view is not None:
            payload["container"] = {"type": "view", "view_id": view.get("id", "V0000000001")}
            payload["view"] = dict(view)
        else:
            channel = channel_id or self.channel_id
            msg = dict(message or {})
            msg.setdefault("type", "message")
            msg.setdefault("ts", f"{int(self.clock())}.{self._next():06d}")
            msg.setdefault("user", self.workspace.bot_user_id)
            msg.setdefault("bot_id", self.workspace.bot_id)
            msg.setdefault("app_id", self.workspace.app_id)
            msg.setdefault("team", self.workspace.team_id)
            msg.setdefault("text", "")
            payload["container"] = {
                "type": "message",
                "message_ts": msg["ts"],
                "channel_id": channel,
                "is_ephemeral": False,
            }
            payload["channel"] = {
                "id": channel,
                "name": "directmessage" if channel.startswith("D") else self.channel_name,
            }
            payload["message"] = msg
            payload["response_url"] = response_url or self.response_url()
        payload["state"] = {"values": dict(state_values or {})}
        payload["actions"] = actions
        return self.interactive(payload, **sign_options)

    def view(
        self,
        *,
        callback_id: str,
        blocks: list[dict[str, Any]] | None = None,
        private_metadata: str = "",
        state_values: Mapping[str, Any] | None = None,
        view_id: str = "V0000000001",
        title: str = "Qualify a lead",
    ) -> dict[str, Any]:
        """A modal as Slack includes it in view payloads."""
        return {
            "id": view_id,
            "team_id": self.workspace.team_id,
            "type": "modal",
            "blocks": blocks or [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": dict(state_values or {})},
            "hash": f"{int(self.clock())}.abcdef01",
            "title": {"type": "plain_text", "text": title, "emoji": True},
            "clear_on_close": False,
            "notify_on_close": True,
            "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
            "submit": {"type": "plain_text", "text": "Start", "emoji": True},
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": self.workspace.app_id,
            "external_id": "",
            "app_installed_team_id": self.workspace.team_id,
            "bot_id": self.workspace.bot_id,
        }

    def view_submission(
        self,
        view: Mapping[str, Any] | None = None,
        *,
        callback_id: str | None = None,
        values: Mapping[str, Mapping[str, Any]] | None = None,
        private_metadata: str | None = None,
        user_id: str | None = None,
        **sign_options: Any,
    ) -> SignedRequest:
        """A modal submitted. `values` is `{block_id: {action_id: value}}`; a plain string
        value becomes a `plain_text_input`'s state, a dict is used as the state as is."""
        view = dict(view) if view is not None else self.view(callback_id=callback_id or "")
        if callback_id is not None:
            view["callback_id"] = callback_id
        if private_metadata is not None:
            view["private_metadata"] = private_metadata
        if values is not None:
            view["state"] = {"values": state_values(values)}
        payload = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.workspace.app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self.trigger_id(),
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": self._enterprise(),
        }
        return self.interactive(payload, **sign_options)

    def view_closed(
        self,
        view: Mapping[str, Any] | None = None,
        *,
        callback_id: str | None = None,
        is_cleared: bool = False,
        user_id: str | None = None,
        **sign_options: Any,
    ) -> SignedRequest:
        """A modal closed with Cancel / the X (sent when the view has `notify_on_close`)."""
        view = dict(view) if view is not None else self.view(callback_id=callback_id or "")
        if callback_id is not None:
            view["callback_id"] = callback_id
        payload = {
            "type": "view_closed",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.workspace.app_id,
            "token": VERIFICATION_TOKEN,
            "view": view,
            "is_cleared": is_cleared,
            "is_enterprise_install": False,
            "enterprise": self._enterprise(),
        }
        return self.interactive(payload, **sign_options)

    # -- Events API ---------------------------------------------------------------------

    def event_callback(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        event_time: int | None = None,
        **sign_options: Any,
    ) -> SignedRequest:
        """An `event_callback` envelope around `event` (JSON). Give the same `event_id` (or
        use `SignedRequest.retried`) to model a redelivery."""
        ws = self.workspace
        envelope = {
            "token": VERIFICATION_TOKEN,
            "team_id": ws.team_id,
            "context_team_id": ws.team_id,
            "context_enterprise_id": ws.enterprise_id,
            "api_app_id": ws.app_id,
            "event": dict(event),
            "type": "event_callback",
            "event_id": event_id or f"Ev{self._next():08d}{uuid.uuid4().hex[:6].upper()}",
            "event_time": event_time or int(self.clock()),
            "authorizations": [
                {
                    "enterprise_id": ws.enterprise_id,
                    "team_id": ws.team_id,
                    "user_id": ws.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{uuid.uuid4().hex}",
        }
        return self.signed(json.dumps(envelope, separators=(",", ":")), JSON, **sign_options)

    def message_im(
        self,
        text: str,
        *,
        user_id: str | None = None,
        channel_id: str | None = None,
        ts: str | None = None,
        bot_id: str | None = None,
        subtype: str | None = None,
        event_id: str | None = None,
        **sign_options: Any,
    ) -> SignedRequest:
        """A `message` event in the bot's DM with a user (`channel_type: im`). With
        `bot_id`, a message the bot posted itself (Slack sends those too)."""
        uid = user_id or self.user_id
        ts = ts or f"{self.clock():.6f}"
        event: dict[str, Any] = {
            "type": "message",
            "channel": channel_id or dm_channel(uid),
            "user": uid,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "channel_type": "im",
            "team": self.workspace.team_id,
        }
        if bot_id is not None:
            event.update(bot_id=bot_id, app_id=self.workspace.app_id, subtype="bot_message")
            event["user"] = self.workspace.bot_user_id
        else:
            event["client_msg_id"] = str(uuid.uuid4())
            event["blocks"] = [
                {
                    "type": "rich_text",
                    "block_id": uuid.uuid4().hex[:5],
                    "elements": [
                        {
                            "type": "rich_text_section",
                            "elements": [{"type": "text", "text": text}],
                        }
                    ],
                }
            ]
        if subtype is not None:
            event["subtype"] = subtype
        return self.event_callback(event, event_id=event_id, **sign_options)

    def app_home_opened(
        self,
        *,
        user_id: str | None = None,
        tab: str = "home",
        view: Mapping[str, Any] | None = None,
        event_id: str | None = None,
        **sign_options: Any,
    ) -> SignedRequest:
        """The user opened the app's Home (`tab="home"`) or Messages (`"messages"`) tab."""
        uid = user_id or self.user_id
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": uid,
            "channel": dm_channel(uid),
            "tab": tab,
            "event_ts": f"{self.clock():.6f}",
        }
        if view is not None:
            event["view"] = dict(view)
        return self.event_callback(event, event_id=event_id, **sign_options)

    def app_uninstalled(self, **sign_options: Any) -> SignedRequest:
        return self.event_callback(
            {"type": "app_uninstalled", "event_ts": f"{self.clock():.6f}"}, **sign_options
        )

    def tokens_revoked(
        self, *, bot: Iterable[str] = (), oauth: Iterable[str] = (), **sign_options: Any
    ) -> SignedRequest:
        """Tokens revoked: `bot` and `oauth` are the user ids whose tokens went."""
        event = {
            "type": "tokens_revoked",
            "tokens": {"oauth": list(oauth), "bot": list(bot) or [self.workspace.bot_user_id]},
            "event_ts": f"{self.clock():.6f}",
        }
        return self.event_callback(event, **sign_options)

    def url_verification(self, challenge: str | None = None, **sign_options: Any) -> SignedRequest:
        """The handshake Slack sends when the Events request URL is saved."""
        body = {
            "token": VERIFICATION_TOKEN,
            "challenge": challenge or uuid.uuid4().hex,
            "type": "url_verification",
        }
        return self.signed(json.dumps(body, separators=(",", ":")), JSON, **sign_options)


def state_values(values: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """`{block_id: {action_id: value}}` as a view's `state.values`: a string becomes a
    `plain_text_input` value, a dict is kept as the element's state."""
    out: dict[str, dict[str, Any]] = {}
    for block_id, actions in values.items():
        out[block_id] = {}
        for action_id, value in actions.items():
            if isinstance(value, str) or value is None:
                out[block_id][action_id] = {"type": "plain_text_input", "value": value}
            else:
                out[block_id][action_id] = dict(value)
    return out


dm_channel = FakeSlack.dm_channel
"""The bot's DM channel with a user, as the fake's `conversations.open` names it."""
