"""A fake Slack Web API on loopback, for tests that run the real pipeline.

`FakeSlack` is a real HTTP server (stdlib `ThreadingHTTPServer` in a background thread, bound
to 127.0.0.1 on a free port) that answers `POST /api/<method>` the way Slack does, records
every call, keeps the state that later calls read back (messages per channel, views, DMs,
tokens), and can be scripted to fail.

    with FakeSlack() as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        client.chat_postMessage(channel="C0SALES", text="hi")
        [call] = slack.wait_for("chat.postMessage")

Point `slack_sdk` at it with `base_url=slack.api_url` (`http://127.0.0.1:<port>/api/`):
the client joins the method name onto `base_url` with `urljoin`, so the `/api/` part must be
in `base_url`; a base URL without it sends `/chat.postMessage` and gets a 404 here.

Scripting (each queues responses for the next calls of one method, first in, first out):

    slack.fail("chat.postMessage", "channel_not_found")        # {"ok": false, "error": ...}
    slack.rate_limit("chat.postMessage", retry_after=2)        # HTTP 429 + Retry-After
    slack.http_error("chat.postMessage", 503)                  # HTTP 5xx, non-JSON body
    slack.slow("chat.postMessage", 2.0)                        # answer (normally) after 2 s
    slack.drop_after_accept("chat.postMessage")                # post it, then reset the TCP
    slack.drop_before_accept("chat.postMessage")               # reset without doing anything
    slack.set_channel_error("C0OLD", "is_archived")            # sticky, until cleared
    slack.limit_channel_rate(1)      # 429 for a 2nd post into a channel within 1 s (sticky)

Mind that `slack_sdk.WebClient` retries a connection error once by default
(`ConnectionErrorRetryHandler`): a dropped `chat.postMessage` is then posted twice. Pass
`retry_handlers=[]` to see the error yourself.

Tokens: every method but `oauth.v2.access` needs a known token (`Authorization: Bearer` or a
`token` field); no token gets `not_authed`, an unknown one `invalid_auth`, a revoked one
`token_revoked`, and a token without the method's scope `missing_scope` (with `needed` and
`provided`, as Slack says it).

A `POST /response/<anything>` is recorded as a call of the pseudo-method `"response_url"`,
so tests can hand out `slack.response_url()` as the slash command's / action's response_url.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import itertools
import json
import re
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

BOT_SCOPES: tuple[str, ...] = (
    "commands", "chat:write", "im:history", "im:write", "users:read",
    "channels:history", "groups:history",
)
"""The bot scopes in `manifest.yml` (a test checks that the two agree)."""

SLACK_ERRORS = (
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_blocks",
    "token_revoked",
    "invalid_auth",
    "ratelimited",
)
"""The Slack errors tests are expected to inject (any other error string works too)."""

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
MESSAGE_MAX_TEXT = 40_000

_JSON_FIELDS = frozenset({"blocks", "attachments", "metadata", "view", "unfurls"})
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")

# Scope that a method needs (None: no scope needed). conversations.history depends on the
# kind of channel and is handled in `_needed_scope`.
_METHOD_SCOPES: dict[str, str | None] = {
    "api.test": None,
    "auth.test": None,
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "conversations.open": "im:write",
    "users.info": "users:read",
    "views.open": None,
    "views.push": None,
    "views.update": None,
    "views.publish": None,
}
_HISTORY_SCOPES = {"C": "channels:history", "G": "groups:history", "D": "im:history"}


# ---------------------------------------------------------------------------------------
# data


@dataclass(frozen=True)
class Workspace:
    """One Slack workspace with Qualibot installed: its ids and the bot token."""

    team_id: str = "T0QUALI01"
    team_name: str = "Qualibot Test"
    team_domain: str = "qualibot-test"
    enterprise_id: str | None = None
    bot_user_id: str = "U0QUALIBOT"
    bot_id: str = "B0QUALIBOT"
    app_id: str = "A0QUALIBOT"
    bot_token: str = "xoxb-1001-2002-qualibottesttoken"
    scopes: tuple[str, ...] = BOT_SCOPES

    @classmethod
    def for_team(cls, team_id: str, name: str | None = None, **overrides: Any) -> Workspace:
        """Another workspace with ids derived from `team_id` (same app id)."""
        suffix = team_id[1:]
        fields: dict[str, Any] = {
            "team_id": team_id,
            "team_name": name or f"Team {team_id}",
            "team_domain": f"team-{suffix.lower()}",
            "bot_user_id": f"U0BOT{suffix}",
            "bot_id": f"B0BOT{suffix}",
            "bot_token": f"xoxb-{suffix.lower()}-bot-token",
        }
        fields.update(overrides)
        return cls(**fields)


DEFAULT_WORKSPACE = Workspace()


@dataclass(frozen=True)
class TokenInfo:
    """What the fake knows about a token: whose it is and what it may do."""

    team_id: str
    user_id: str
    scopes: tuple[str, ...]
    bot_id: str | None = None
    enterprise_id: str | None = None
    kind: Literal["bot", "user"] = "bot"


@dataclass
class Call:
    """One request the fake received, and what it answered."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    token: str | None
    time: float  # time.time() when the request arrived
    team_id: str | None = None
    status: int = 0  # HTTP status answered; 0 when the connection was dropped
    response: dict[str, Any] | None = None  # the JSON answered (or, if dropped, computed)
    dropped: bool = False  # the client saw a connection reset instead of the response

    @property
    def ok(self) -> bool:
        return bool(self.response and self.response.get("ok")) and not self.dropped

    def header(self, name: str) -> str | None:
        """A request header, by case-insensitive name."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@dataclass(frozen=True)
class _Injection:
    status: int = 200
    body: dict[str, Any] | str | None = None  # None: handle the call normally
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: Literal["before", "after"] | None = None


class SlackError(Exception):
    """Raised inside a method handler to answer `{"ok": false, "error": ...}`."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


Handler = Callable[[dict[str, Any], Call], dict[str, Any]]


# ---------------------------------------------------------------------------------------
# the server


class FakeSlack:
    """The fake Slack Web API. Use as a context manager, or `start()` / `stop()`."""

    def __init__(
        self,
        workspace: Workspace = DEFAULT_WORKSPACE,
        *,
        client_id: str = "1001.2002",
        client_secret: str = "fake-client-secret",
        validate_blocks: bool = True,
        enforce_scopes: bool = True,
    ) -> None:
        self.workspace = workspace
        self.client_id = client_id
        self.client_secret = client_secret
        self.validate_blocks = validate_blocks
        self.enforce_scopes = enforce_scopes

        self._cond = threading.Condition(threading.RLock())
        self._stopping = threading.Event()
        self._calls: list[Call] = []
        self._injections: dict[str, deque[_Injection]] = defaultdict(deque)
        self._handlers: dict[str, Handler] = {}
        self._channel_errors: dict[str, str] = {}
        self._messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._ephemeral: list[dict[str, Any]] = []
        self._views: dict[str, dict[str, Any]] = {}
        self._home_views: dict[str, str] = {}
        self._open_dms: set[str] = set()
        self._users: dict[str, dict[str, Any]] = {}
        self._workspaces: dict[str, Workspace] = {}
        self._oauth_codes: dict[str, dict[str, Any]] = {}
        self._revoked: set[str] = set()
        self._ids = itertools.count(1)
        self._last_ts_us = 0

        self.tokens: dict[str, TokenInfo] = {}
        self.add_workspace(workspace)
        #: Exceptions raised by the fake's own method handlers (answered with HTTP 500).
        self.internal_errors: list[Exception] = []
        #: Per-channel pacing (see `limit_channel_rate`): channel -> times of accepted posts.
        self._channel_rate: tuple[float, frozenset[str], int] | None = None
        self._channel_posts: dict[str, deque[float]] = defaultdict(deque)
        #: Calls answered 429 by the per-channel pacing.
        self.channel_rate_limited: list[Call] = []

        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeSlack:
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _RequestHandler)
        server.fake = self
        self._server = server
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05},
            name="fakeslack", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes up slow responses
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        """The `base_url` for `slack_sdk.WebClient` (and `SLACK_API_URL`): `<url>/api/`."""
        return f"{self.url}/api/"

    @property
    def bot_token(self) -> str:
        return self.workspace.bot_token

    def response_url(self, name: str = "1") -> str:
        """A response_url that records what is posted to it (method `"response_url"`)."""
        return f"{self.url}/response/{name}"

    # -- recorded calls -----------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """The calls received so far (of one method, or all), oldest first."""
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

    def wait_for(self, method: str | None, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until at least `count` calls of `method` (None: any) were handled; return them.

        Raises AssertionError on timeout, listing what was received instead."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self._calls if method is None or c.method == method]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [c.method for c in self._calls]
                    raise AssertionError(
                        f"expected {count} call(s) of {method or 'any method'} within "
                        f"{timeout}s, got {len(found)}; calls received: {seen}"
                    )
                self._cond.wait(remaining)

    def clear(self) -> None:
        """Forget the recorded calls (state and scripted responses stay)."""
        with self._cond:
            self._calls.clear()

    def reset(self) -> None:
        """Forget calls, scripted responses, sticky errors, messages and views."""
        with self._cond:
            self._calls.clear()
            self._injections.clear()
            self._channel_errors.clear()
            self._messages.clear()
            self._ephemeral.clear()
            self._views.clear()
            self._home_views.clear()
            self._open_dms.clear()

    # -- scripting ----------------------------------------------------------------------

    def fail(self, method: str, error: str, *, times: int = 1, **extra: Any) -> None:
        """The next `times` calls of `method` answer `{"ok": false, "error": error, **extra}`
        with HTTP 200 and change nothing."""
        self._inject(method, _Injection(body={"ok": False, "error": error, **extra}), times)

    def rate_limit(self, method: str, retry_after: int = 1, *, times: int = 1) -> None:
        """The next `times` calls get HTTP 429, `Retry-After: <retry_after>`,
        `{"ok": false, "error": "ratelimited"}`."""
        injection = _Injection(
            status=429,
            body={"ok": False, "error": "ratelimited"},
            headers={"Retry-After": str(retry_after)},
        )
        self._inject(method, injection, times)

    def http_error(
        self, method: str, status: int = 500, *, body: str | None = None, times: int = 1
    ) -> None:
        """The next `times` calls get HTTP `status` with a non-JSON body (as Slack's edge
        does when it is down) and change nothing."""
        text = body if body is not None else f"{status} {HTTPStatus(status).phrase}"
        self._inject(method, _Injection(status=status, body=text), times)

    def slow(self, method: str, seconds: float, *, times: int = 1) -> None:
        """The next `times` calls are handled normally, but only after `seconds`. A client
        that times out first still had its call applied (the post exists)."""
        self._inject(method, _Injection(delay=seconds), times)

    def drop_after_accept(self, method: str, *, times: int = 1) -> None:
        """The next `times` calls are handled normally (a message IS posted and recorded),
        then the connection is reset without an answer: the client sees a connection error."""
        self._inject(method, _Injection(drop="after"), times)

    def drop_before_accept(self, method: str, *, times: int = 1) -> None:
        """The next `times` calls are recorded but not applied; the connection is reset."""
        self._inject(method, _Injection(drop="before"), times)

    def respond(
        self,
        method: str,
        body: dict[str, Any],
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls get exactly this answer and change nothing."""
        self._inject(method, _Injection(status=status, body=body, headers=headers or {}), times)

    def pending(self, method: str | None = None) -> int:
        """How many scripted responses are still queued (for one method, or all)."""
        with self._cond:
            if method is not None:
                return len(self._injections.get(method, ()))
            return sum(len(q) for q in self._injections.values())

    def limit_channel_rate(
        self,
        per_second: float | None = 1.0,
        *,
        methods: Iterable[str] = ("chat.postMessage",),
        retry_after: int = 1,
    ) -> None:
        """Answer HTTP 429 (`Retry-After: <retry_after>`) to a post into a channel that
        already had `per_second` accepted posts within the last second, as Slack does for
        bursts. None switches it off. The 429s are listed in `channel_rate_limited`."""
        with self._cond:
            self._channel_posts.clear()
            self._channel_rate = (
                None if per_second is None
                else (float(per_second), frozenset(methods), retry_after)
            )

    def _paced_injection(self, method: str, args: Mapping[str, Any]) -> _Injection | None:
        """A 429 when `limit_channel_rate` is on and the channel is over its rate."""
        with self._cond:
            if self._channel_rate is None or method not in self._channel_rate[1]:
                return None
            per_second, _, retry_after = self._channel_rate
            channel = str(args.get("channel") or "")
            if channel[:1] in ("U", "W"):
                channel = self.dm_channel(channel)
            now = time.monotonic()
            posts = self._channel_posts[channel]
            while posts and now - posts[0] >= 1.0:
                posts.popleft()
            if len(posts) >= per_second:
                return _Injection(
                    status=429, body={"ok": False, "error": "ratelimited"},
                    headers={"Retry-After": str(retry_after)},
                )
            posts.append(now)
            return None

    def set_channel_error(self, channel: str, error: str | None) -> None:
        """From now on every post/update/history in `channel` fails with `error`
        (`is_archived`, `not_in_channel`, `channel_not_found`, ...); None clears it."""
        with self._cond:
            if error is None:
                self._channel_errors.pop(channel, None)
            else:
                self._channel_errors[channel] = error

    def set_handler(self, method: str, handler: Handler | None) -> None:
        """Handle `method` with `handler(args, call) -> response dict` (None: the default).
        Raise `SlackError` in the handler to answer an error."""
        with self._cond:
            if handler is None:
                self._handlers.pop(method, None)
            else:
                self._handlers[method] = handler

    def _inject(self, method: str, injection: _Injection, times: int) -> None:
        with self._cond:
            self._injections[method].extend(replace(injection) for _ in range(times))

    # -- state --------------------------------------------------------------------------

    def add_workspace(self, workspace: Workspace) -> None:
        """Install the app in another workspace (its bot token becomes valid)."""
        with self._cond:
            self._workspaces[workspace.team_id] = workspace
            self.tokens[workspace.bot_token] = TokenInfo(
                team_id=workspace.team_id,
                user_id=workspace.bot_user_id,
                scopes=workspace.scopes,
                bot_id=workspace.bot_id,
                enterprise_id=workspace.enterprise_id,
            )
            self._revoked.discard(workspace.bot_token)

    def revoke_token(self, token: str) -> None:
        """Calls with `token` now fail with `token_revoked`."""
        with self._cond:
            self._revoked.add(token)

    def add_user(
        self,
        user_id: str,
        *,
        real_name: str | None = None,
        display_name: str | None = None,
        email: str | None = None,
        team_id: str | None = None,
        tz: str = "Europe/Berlin",
        is_bot: bool = False,
    ) -> dict[str, Any]:
        """Make `users.info` answer this user (any other `U…` id gets a made-up profile)."""
        user = _user(user_id, team_id or self.workspace.team_id, real_name, display_name,
                     email, tz, is_bot)
        with self._cond:
            self._users[user_id] = user
        return copy.deepcopy(user)

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U0REP0001",
        ts: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Put a message in a channel's history as if a person had written it."""
        with self._cond:
            message = {
                "type": "message",
                "user": user,
                "text": text,
                "ts": ts or self._next_ts(),
                "team": self.workspace.team_id,
                **fields,
            }
            self._messages[channel].append(message)
            self._messages[channel].sort(key=lambda m: _ts_key(m["ts"]))
            return copy.deepcopy(message)

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages in a channel (or in all channels, each with its `channel`), oldest first."""
        with self._cond:
            if channel is not None:
                return copy.deepcopy(self._messages.get(channel, []))
            everything = [
                {**m, "channel": ch} for ch, msgs in self._messages.items() for m in msgs
            ]
        return sorted(copy.deepcopy(everything), key=lambda m: _ts_key(m["ts"]))

    def ephemeral_messages(self) -> list[dict[str, Any]]:
        with self._cond:
            return copy.deepcopy(self._ephemeral)

    def views(self) -> list[dict[str, Any]]:
        """Every view opened or published, in its latest version."""
        with self._cond:
            return copy.deepcopy(list(self._views.values()))

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        """The Home tab last published for a user."""
        with self._cond:
            view_id = self._home_views.get(user_id)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    @staticmethod
    def dm_channel(user_id: str) -> str:
        """The id of the bot's DM channel with a user (what conversations.open returns)."""
        return "D" + user_id[1:] if user_id[:1] in ("U", "W") else "D" + user_id

    def issue_oauth_code(
        self,
        workspace: Workspace,
        *,
        installer: str = "U0INSTALL1",
        user_scopes: Iterable[str] = (),
        redirect_uri: str | None = None,
    ) -> str:
        """A one-time `code` that `oauth.v2.access` exchanges for an install of `workspace`."""
        with self._cond:
            code = f"code-{next(self._ids)}-{workspace.team_id}"
            self._oauth_codes[code] = {
                "workspace": workspace,
                "installer": installer,
                "user_scopes": tuple(user_scopes),
                "redirect_uri": redirect_uri,
            }
            return code

    # -- request handling (called on server threads) ------------------------------------

    def _next_ts(self) -> str:
        with self._cond:
            now_us = time.time_ns() // 1000
            self._last_ts_us = max(now_us, self._last_ts_us + 1)
            return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):010d}"

    def _take_injection(self, method: str) -> _Injection | None:
        with self._cond:
            queue = self._injections.get(method)
            return queue.popleft() if queue else None

    def _record(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _handle(self, call: Call) -> dict[str, Any]:
        """Answer one call normally (the scripted cases are handled by the caller)."""
        method = call.method
        with self._cond:
            custom = self._handlers.get(method)
        try:
            if method == "response_url":
                return custom(call.args, call) if custom else {"ok": True}
            if method != "oauth.v2.access":
                self._authenticate(call)
            if custom is not None:
                return custom(call.args, call)
            handler = getattr(self, "_api_" + method.replace(".", "_"), None)
            if handler is None:
                raise SlackError("unknown_method")
            result: dict[str, Any] = handler(call.args, call)
            return result
        except SlackError as err:
            return {"ok": False, "error": err.error, **err.extra}

    def _authenticate(self, call: Call) -> TokenInfo:
        token = call.token
        if not token:
            raise SlackError("not_authed")
        with self._cond:
            if token in self._revoked:
                raise SlackError("token_revoked")
            info = self.tokens.get(token)
        if info is None:
            raise SlackError("invalid_auth")
        call.team_id = info.team_id
        needed = self._needed_scope(call)
        if self.enforce_scopes and needed is not None and needed not in info.scopes:
            raise SlackError("missing_scope", needed=needed, provided=",".join(info.scopes))
        return info

    def _needed_scope(self, call: Call) -> str | None:
        if call.method == "conversations.history":
            channel = str(call.args.get("channel", ""))
            return _HISTORY_SCOPES.get(channel[:1], "channels:history")
        if call.method == "conversations.open":
            users = _split_users(call.args.get("users"))
            return "mpim:write" if len(users) > 1 else "im:write"
        return _METHOD_SCOPES.get(call.method)

    def _info(self, call: Call) -> TokenInfo:
        assert call.token is not None
        return self.tokens[call.token]

    def _workspace_of(self, call: Call) -> Workspace:
        info = self._info(call)
        return self._workspaces.get(info.team_id, self.workspace)

    def _channel(self, args: Mapping[str, Any], *, allow_user: bool = True) -> str:
        channel = args.get("channel")
        if not channel or not isinstance(channel, str):
            raise SlackError("channel_not_found")
        if allow_user and channel[:1] in ("U", "W"):
            channel = self.dm_channel(channel)
        with self._cond:
            sticky = self._channel_errors.get(channel) or self._channel_errors.get(
                str(args.get("channel"))
            )
        if sticky:
            raise SlackError(sticky)
        return channel

    def _blocks(self, args: Mapping[str, Any], max_blocks: int) -> list[Any] | None:
        blocks = args.get("blocks")
        if blocks is None:
            return None
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except json.JSONDecodeError as exc:
                raise SlackError("invalid_blocks_format") from exc
        if not isinstance(blocks, list):
            raise SlackError("invalid_blocks_format")
        if self.validate_blocks:
            problems = _block_problems(blocks, max_blocks)
            if problems:
                raise SlackError(
                    "invalid_blocks",
                    errors=problems,
                    response_metadata={"messages": [f"[ERROR] {p}" for p in problems]},
                )
        return blocks

    # -- methods ------------------------------------------------------------------------

    def _api_api_test(self, args: dict[str, Any], call: Call) -> dict[str, Any]:
        return {"ok": True, "args": args}

    def _api_auth_test(self, args: dict[str, Any], call: Call) -> dict[str, Any]:
        info = self._info(call)
        ws = self._workspace_of(call)
        out: dict[str, Any] = {
            "ok": True,
            "url": f"https://{ws.team_domain}.slack.com/",
            "team": ws.team_name,
            "user": "qualibot" if info.kind == "bot" else info.user_id.lower(),
            "team_id": info.team_id,
            "user_id": info.user_id,
            "is_enterprise_install": False,
        }
        if info.bot_id:
            out["bot_id"] = info.bot_id
        if info.enterprise_id:
            out["enterprise_id"] = info.enterprise_id
        return out

    def _api_chat_postMessage(self, args: dict[str, Any], call: Call) -> dict[str, Any]:
        channel = self._channel(args)
        blocks = self._blocks(args, MESSAGE_MAX_BLOCKS)
        text = args.get("text")
        if not text and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        if text is not None and len(str(text)) > MESSAGE_MAX_TEXT:
            raise SlackError("msg_too_long")
        metadata = _metadata(args)
        info = self._info(call)
        ws = self._workspace_of(call)
        with self._cond:
            ts = self._next_ts()
            message: dict[str, Any] = {
                "type": "message",
                "subtype": "bot_message",
                "user": info.user_id,
                "bot_id": info.bot_id,
                "app_id": ws.app_id,
                "team": info.team_id,
                "text": "" if text is None else str(text),
                "ts": ts,
                "bot_profile": {
                    "id": info.bot_id,
                    "app_id": ws.app_id,
                    "name": "Qualibot",
                    "team_id": info.team_id,
                    "deleted": False,
                },
            }
            if blocks is not None:
                message["blocks"] = blocks
            if args.get("attachments"):
                message["attachments"] = args["attachments"]
            if metadata is not None:
                message["metadata"] = metadata
            if args.get("thread_ts"):
                message["thread_ts"] = str(args["thread_ts"])
            self._messages[channel].append(message)
            return {"ok": True, "channel": channel, "ts": ts, "message": copy.deepcopy(message)}

    def _api_chat_postEphemeral(self, args: dict[str, Any], call: Call) -> dict[str, Any]:
        channel = self._channel(args)
        if not args.get("user"):
            raise SlackError("user_not_in_channel")
        blocks = self._blocks(args, MESSAGE_MAX_BLOCKS)
        if not args.get("text") and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        with self._cond:
            ts = self._next_ts()
            self._ephemeral.append({
                "channel": channel, "user": args["user"], "text": args.get("text", ""),
                "blocks": blocks, "message_ts": ts,
            })
        return {"ok": True, "message_ts": ts}

    def _api_chat_update(self, args: dict[str, Any], call: Call) -> dict[str, Any]:
        channel = self._channel(args, allow_user=False)
        ts = args.get("ts")
        if not ts:
            raise SlackError("message_not_found")
        blocks = self._blocks(args, MESSAGE_MAX_BLOCKS)
        text = args.get("text")
        if text is not None and len(str(text)) > MESSAGE_MAX_TEXT:
            raise SlackError("msg_too_long")
        metadata = _metadata(args)
        info = self._info(call)
        with self._cond:
            message = next(
                (m for m in self._messages.get(channel, []) if m["ts"] == str(ts)), None
            )
            if message is None:
                raise SlackError("message_not_found")
            if message.get("bot_id") != info.bot_id:
                raise SlackError("cant_update_message")
            if text is not None:
                message["text"] = str(text)
            if blocks is not None:  # Slack keeps the old blocks unless blocks are given
                message["blocks"] = blocks
            if args.get("attachments") is not None:
                message["attachments"] = args["attachments"]
            if metadata is not None:
                message["metadata"] = metadata
            message["edited"] = {"user": info.user_id, "ts": self._next_ts()}
            return {
                "ok": True,
                "channel": channel,
                "ts": message["ts"],
                "text": message["text"],
                "message": copy.deepcopy(message),
            }

    def _api_chat_delete(self, args: dict[str, Any], call: Call) -> dict[str, Any]:
        """As Slack: the bot may delete its own messages; one that is not there (any more)
        is `message_not_found`."""
        channel = self._channel(args, allow_user=False)
        ts = str(args.get("ts") or "")
        info = self._info(call)
        with self._cond:
            messages = self._messages.get(channel, [])
            message = next((m for m in messages if m["ts"] == ts), None)
            if message is None:
                raise SlackError("message_not_found")
            if message.get("bot_id") != info.bot_id:
                raise SlackError("cant_delete_message")
            messages.remove(message)
            return {"ok": True, "channel": channel, "ts": ts}

    def _api_conversations_open(self, args: dict[str, Any], call: Call) -> dict[str, Any]:
        users = _split_users(args.get("users"))
        if not users and args.get("channel"):
            channel = str(args["channel"])
        elif not users:
            raise SlackError("users_list_not_supplied")
        elif len(users) == 1:
            channel = self.dm_channel(users[0])
        else:
            channel = "G" + "".join(u[1:4] for u in sorted(users))
        with self._cond:
            already = channel in self._open_dms
            self._open_dms.add(channel)
        out: dict[str, Any] = {"ok": True}
        if _truthy(args.get("return_im")):
            out["channel"] = {
                "id": channel,
                "created": int(time.time()),
                "is_im": len(users) == 1,
                "is_org_shared": False,
                "user": users[0] if len(users) == 1 else None,
                "last_read": "0000000000.000000",
                "latest": None,
                "unread_count": 0,
                "unread_count_display": 0,
                "is_open": True,
                "priority": 0,
            }
        else:
            out["channel"] = {"id": channel}
        if already:
            out["no_op"] = True
            out["already_open"] = True
        return out

    def _api_conversations_history(self, args: dict[str, Any], call: Call) -> dict[str, Any]:
        channel = self._channel(args, allow_user=False)
        include_metadata = _truthy(args.get("include_all_metadata"))
        limit = _int(args.get("limit"), 100) or 100
        limit = max(1, min(limit, 999))
        oldest = _ts_key(str(args.get("oldest") or "0"))
        latest = _ts_key(str(args["latest"])) if args.get("latest") else None
        inclusive = _truthy(args.get("inclusive"))
        offset = _int(args.get("cursor"), 0)
        with self._cond:
            history = copy.deepcopy(self._messages.get(channel, []))
        selected = []
        for message in reversed(history):  # newest first, like Slack
            if message.get("thread_ts") not in (None, message["ts"]):
                continue  # replies live in conversations.replies
            key = _ts_key(message["ts"])
            if key < oldest or (key == oldest and not inclusive and oldest > (0, 0)):
                continue
            if latest is not None and (key > latest or (key == latest and not inclusive)):
                continue
            if not include_metadata:
                message.pop("metadata", None)
            selected.append(message)
        page = selected[offset:offset + limit]
        has_more = offset + limit < len(selected)
        return {
            "ok": True,
            "messages": page,
            "has_more": has_more,
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": str(offset + limit) if has_more else ""},
        }

    def _api_users_info(self, args: dict[str, Any], call: Call) -> dict[str, Any]:
        user_id = str(args.get("user") or "")
        with self._cond:
            user = self._users.get(user_id)
        if user is None:
            if not _USER_ID.match(user_id):
                raise SlackError("user_not_found")
            ws = self._workspace_of(call)
            is_bot = user_id == ws.bot_user_id
            user = _user(user_id, ws.team_id, "Qualibot" if is_bot else None, None, None,
                         "Europe/Berlin", is_bot)
        return {"ok": True, "user": copy.deepcopy(user)}

    def _parse_view(self, args: Mapping[str, Any], *, home: bool = False) -> dict[str, Any]:
        view = args.get("view")
        if isinstance(view, str):
            try:
                view = json.loads(view)
            except json.JSONDecodeError as exc:
                raise SlackError("invalid_arguments") from exc
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise SlackError("invalid_arguments", response_metadata={"messages": [
                "[ERROR] must provide a view of type modal or home [json-pointer:/view/type]"
            ]})
        if home and view["type"] != "home":
            raise SlackError("invalid_arguments")
        if self.validate_blocks:
            problems = _block_problems(view.get("blocks") or [], VIEW_MAX_BLOCKS, "/view")
            try:
                View(**view).to_dict()
            except (SlackObjectFormationError, TypeError) as exc:
                problems.append(f"{exc} [json-pointer:/view]")
            if problems:
                raise SlackError("invalid_arguments", response_metadata={
                    "messages": [f"[ERROR] {p}" for p in problems]
                })
        return view

    def _store_view(
        self, view: dict[str, Any], call: Call, *, previous: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        ws = self._workspace_of(call)
        with self._cond:
            view_id = previous["id"] if previous else self._next_id("V")
            stored = {
                "id": view_id,
                "team_id": ws.team_id,
                "type": view["type"],
                "blocks": view.get("blocks", []),
                "private_metadata": view.get("private_metadata", ""),
                "callback_id": view.get("callback_id", ""),
                "state": {"values": {}},
                "hash": f"{int(time.time())}.{next(self._ids):08x}",
                "title": view.get("title"),
                "clear_on_close": bool(view.get("clear_on_close", False)),
                "notify_on_close": bool(view.get("notify_on_close", False)),
                "close": view.get("close"),
                "submit": view.get("submit"),
                "previous_view_id": previous.get("previous_view_id") if previous else None,
                "root_view_id": previous["root_view_id"] if previous else view_id,
                "app_id": ws.app_id,
                "external_id": view.get("external_id", ""),
                "app_installed_team_id": ws.team_id,
                "bot_id": ws.bot_id,
            }
            self._views[view_id] = stored
            return copy.deepcopy(stored)

    def _api_views_open(self, args: dict[str, Any], call: Call) -> dict[str, Any]:
        if not args.get("trigger_id") and not args.get("interactivity_pointer"):
            raise SlackError("invalid_arguments", response_metadata={
                "messages": ["[ERROR] missing required field: trigger_id"]
            })
        view = self._parse_view(args)
        return {"ok": True, "view": self._store_view(view, call)}

    _api_views_push = _api_views_open

    def _api_views_update(self, args: dict[str, Any], call: Call) -> dict[str, Any]:
        view = self._parse_view(args)
        with self._cond:
            if args.get("view_id"):
                previous = self._views.get(str(args["view_id"]))
            else:
                external = args.get("external_id")
                previous = next(
                    (v for v in self._views.values() if external and v["external_id"] == external),
                    None,
                )
            if previous is None:
                raise SlackError("not_found")
            if args.get("hash") and args["hash"] != previous["hash"]:
                raise SlackError("hash_conflict")
            return {"ok": True, "view": self._store_view(view, call, previous=previous)}

    def _api_views_publish(self, args: dict[str, Any], call: Call) -> dict[str, Any]:
        user_id = str(args.get("user_id") or "")
        if not _USER_ID.match(user_id):
            raise SlackError("invalid_arguments")
        view = self._parse_view(args, home=True)
        with self._cond:
            previous_id = self._home_views.get(user_id)
            previous = self._views.get(previous_id) if previous_id else None
            if previous and args.get("hash") and args["hash"] != previous["hash"]:
                raise SlackError("hash_conflict")
            stored = self._store_view(view, call, previous=previous)
            self._home_views[user_id] = stored["id"]
            return {"ok": True, "view": stored}

    def _api_oauth_v2_access(self, args: dict[str, Any], call: Call) -> dict[str, Any]:
        client_id, client_secret = args.get("client_id"), args.get("client_secret")
        auth = call.header("Authorization") or ""
        if auth.startswith("Basic "):
            try:
                client_id, _, client_secret = (
                    base64.b64decode(auth[6:]).decode("utf-8").partition(":")
                )
            except ValueError as exc:
                raise SlackError("invalid_client_id") from exc
        if client_id != self.client_id:
            raise SlackError("invalid_client_id")
        if client_secret != self.client_secret:
            raise SlackError("bad_client_secret")
        with self._cond:
            grant = self._oauth_codes.pop(str(args.get("code") or ""), None)
        if grant is None:
            raise SlackError("invalid_code")
        if grant["redirect_uri"] and args.get("redirect_uri") != grant["redirect_uri"]:
            raise SlackError("bad_redirect_uri")
        ws: Workspace = grant["workspace"]
        self.add_workspace(ws)
        authed_user: dict[str, Any] = {"id": grant["installer"]}
        if grant["user_scopes"]:
            user_token = f"xoxp-{ws.team_id.lower()}-{grant['installer'].lower()}-user"
            with self._cond:
                self.tokens[user_token] = TokenInfo(
                    team_id=ws.team_id, user_id=grant["installer"],
                    scopes=grant["user_scopes"], enterprise_id=ws.enterprise_id, kind="user",
                )
            authed_user.update(
                scope=",".join(grant["user_scopes"]), access_token=user_token, token_type="user"
            )
        return {
            "ok": True,
            "app_id": ws.app_id,
            "authed_user": authed_user,
            "scope": ",".join(ws.scopes),
            "token_type": "bot",
            "access_token": ws.bot_token,
            "bot_user_id": ws.bot_user_id,
            "team": {"id": ws.team_id, "name": ws.team_name},
            "enterprise": (
                {"id": ws.enterprise_id, "name": f"Enterprise {ws.enterprise_id}"}
                if ws.enterprise_id else None
            ),
            "is_enterprise_install": False,
        }


# ---------------------------------------------------------------------------------------
# HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    fake: FakeSlack

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away (timeout, reset) is part of the tests, not an error


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "FakeSlack/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        fake = self.server.fake
        path = urlsplit(self.path)
        if path.path.startswith("/api/") and len(path.path) > 5:
            method = path.path[5:]
        elif path.path.startswith("/response/"):
            method = "response_url"
        else:
            self._send(404, "Not Found", {})
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        args = _parse_args(self.headers.get("Content-Type", ""), raw, path.query)
        headers = dict(self.headers.items())
        token = _bearer(headers) or (args.get("token") if isinstance(args.get("token"), str)
                                      else None)
        call = Call(method=method, args=args, headers=headers, token=token, time=time.time())

        injection = fake._take_injection(method)
        paced = None if injection is not None else fake._paced_injection(method, args)
        if paced is not None:
            injection = paced
            with fake._cond:
                fake.channel_rate_limited.append(call)
        if injection is not None and injection.delay:
            fake._sleep(injection.delay)
        if injection is not None and injection.drop == "before":
            call.dropped = True
            fake._record(call)
            self._reset()
            return
        if injection is not None and injection.body is not None:
            status, body, extra_headers = injection.status, injection.body, injection.headers
        else:
            try:
                status, body, extra_headers = 200, fake._handle(call), {}
            except Exception as exc:  # a bug in the fake: say so instead of hanging up
                status, extra_headers = 500, {}
                body = {"ok": False, "error": "fake_slack_internal_error", "detail": repr(exc)}
                fake.internal_errors.append(exc)
        call.status = status
        call.response = body if isinstance(body, dict) else {"ok": False, "error": body}
        if injection is not None and injection.drop == "after":
            call.dropped = True
            call.status = 0
            fake._record(call)
            self._reset()
            return
        fake._record(call)
        self._send(status, body, extra_headers)

    def _send(self, status: int, body: dict[str, Any] | str, headers: Mapping[str, str]) -> None:
        if isinstance(body, dict):
            data = json.dumps(body).encode("utf-8")
            content_type = "application/json; charset=utf-8"
        else:
            data = body.encode("utf-8")
            content_type = "text/plain; charset=utf-8"
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Slack-Req-Id", f"fake-{time.monotonic_ns():x}")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (e.g. its timeout was shorter than a slow response)
        self.close_connection = True

    def _reset(self) -> None:
        """Close the connection with a TCP reset and no answer."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()


# ---------------------------------------------------------------------------------------
# helpers


def _parse_args(content_type: str, raw: bytes, query: str) -> dict[str, Any]:
    args: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if not raw:
        return args
    if content_type.startswith("application/json"):
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = {"_raw": raw.decode("utf-8", "replace")}
        if isinstance(body, dict):
            args.update(body)
        return args
    form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    for key, values in form.items():
        value: Any = values[-1]
        if key in _JSON_FIELDS and value[:1] in ("[", "{"):
            with contextlib.suppress(json.JSONDecodeError):  # else the method says so
                value = json.loads(value)
        args[key] = value
    return args


def _bearer(headers: Mapping[str, str]) -> str | None:
    for name, value in headers.items():
        if name.lower() == "authorization" and value.startswith("Bearer "):
            return value[7:].strip() or None
    return None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds or 0), int((micros or "0").ljust(6, "0")[:6])


def _split_users(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(u) for u in value if u]
    return [u.strip() for u in str(value or "").split(",") if u.strip()]


def _metadata(args: Mapping[str, Any]) -> dict[str, Any] | None:
    metadata = args.get("metadata")
    if metadata is None or metadata == "":
        return None
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except json.JSONDecodeError as exc:
            raise SlackError("invalid_metadata_format") from exc
    if (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("event_type"), str)
        or not isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_schema")
    return metadata


def _block_problems(blocks: list[Any], max_blocks: int, pointer: str = "") -> list[str]:
    """What Slack would reject in a list of blocks, in its own words (roughly)."""
    problems: list[str] = []
    if len(blocks) > max_blocks:
        problems.append(f"no more than {max_blocks} items allowed [json-pointer:{pointer}/blocks]")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"[json-pointer:{pointer}/blocks/{i}]"
        if not isinstance(block, dict) or "type" not in block:
            problems.append(f"must provide an object with a type {where}")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if block_id in block_ids:
                problems.append(f"duplicate block_id {block_id!r} {where}")
            block_ids.add(block_id)
        parsed = Block.parse(block)
        if parsed is None:
            problems.append(f"unknown block type {block['type']!r} {where}")
            continue
        try:
            parsed.to_dict()
        except (SlackObjectFormationError, TypeError, AttributeError) as exc:
            problems.append(f"{exc} {where}")
    return problems


def _user(
    user_id: str,
    team_id: str,
    real_name: str | None,
    display_name: str | None,
    email: str | None,
    tz: str,
    is_bot: bool,
) -> dict[str, Any]:
    name = real_name or f"User {user_id}"
    first, _, last = name.partition(" ")
    profile: dict[str, Any] = {
        "real_name": name,
        "real_name_normalized": name,
        "display_name": display_name if display_name is not None else first,
        "display_name_normalized": display_name if display_name is not None else first,
        "first_name": first,
        "last_name": last,
        "title": "",
        "team": team_id,
        "image_48": "https://a.slack-edge.com/80588/img/avatars/ava_0001-48.png",
    }
    if email:
        profile["email"] = email
    return {
        "id": user_id,
        "team_id": team_id,
        "name": (display_name or first).lower().replace(" ", "."),
        "deleted": False,
        "color": "9f69e7",
        "real_name": name,
        "tz": tz,
        "tz_label": "Central European Time",
        "tz_offset": 3600,
        "profile": profile,
        "is_admin": False,
        "is_owner": False,
        "is_bot": is_bot,
        "is_app_user": False,
        "updated": int(time.time()),
    }
