"""Slack Web API clients, one per workspace.

`SlackClients.for_team(team_id)` gives the `slack_sdk.WebClient` that posts into a workspace,
or `None` when Qualibot is not installed there (the caller fails the message visibly; it is
never posted into another workspace).

- Single workspace (`SLACK_BOT_TOKEN`): one client. A message for another `team_id` than the
  token's own (learnt once with `auth.test`) gets `None`; a message without a `team_id` uses
  the one workspace.
- Multi-workspace (`SLACK_CLIENT_ID` / `SLACK_CLIENT_SECRET`): the bot token is looked up in
  slack_sdk's `SQLAlchemyInstallationStore` on our database (tables `slack_installations` and
  `slack_bots`, created by our Alembic migration 0002: the store is never asked to create
  them). Tokens are cached for `cache_seconds`; `invalidate(team_id)` drops one after an
  `invalid_auth` / `token_revoked`.

Every client: `base_url` from `SLACK_API_URL` (normalised to end in `/api/`), a timeout, and
`retry_handlers=[]`: slack_sdk's default handler re-sends a request after a dropped
connection, which posts a message twice when Slack had accepted it. The outbox dispatcher
retries instead, after checking whether the first attempt arrived.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bot.config import Settings

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"
#: Seconds a Web API call may take before it counts as timed out (Slack answers in well under
#: a second; a post that times out is checked with `conversations.history` before a retry).
DEFAULT_TIMEOUT = 10
INSTALLATIONS_TABLE = "slack_installations"
BOTS_TABLE = "slack_bots"


def normalize_api_url(url: str | None) -> str:
    """The Web API base URL ending in `/api/` (slack_sdk joins method names onto it).

    `None`/empty -> Slack's own; `http://127.0.0.1:8080` -> `http://127.0.0.1:8080/api/`;
    `.../api` -> `.../api/`."""
    if not url or not url.strip():
        return DEFAULT_API_URL
    url = url.strip().rstrip("/")
    if not url.endswith("/api"):
        url += "/api"
    return url + "/"


class SlackClients:
    """A `WebClient` per workspace (see the module docstring)."""

    def __init__(
        self,
        *,
        bot_token: str | None = None,
        installation_store: SQLAlchemyInstallationStore | None = None,
        base_url: str | None = None,
        timeout: int = DEFAULT_TIMEOUT,
        cache_seconds: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = normalize_api_url(base_url)
        self.timeout = timeout
        self._bot_token = bot_token
        self._store = installation_store
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._team_lock = threading.Lock()
        self._cache: dict[str | None, tuple[float, WebClient]] = {}
        self._single: WebClient | None = None
        self._single_team: str | None = None
        self._warned_unconfigured = False

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine) -> SlackClients:
        """Multi-workspace when `SLACK_CLIENT_ID` is set, else single-workspace with
        `SLACK_BOT_TOKEN` (else no Slack at all: every `for_team` is None)."""
        store = None
        if settings.slack_client_id:
            store = SQLAlchemyInstallationStore(
                client_id=settings.slack_client_id,
                engine=engine,
                bots_table_name=BOTS_TABLE,
                installations_table_name=INSTALLATIONS_TABLE,
            )
        return cls(
            bot_token=None if store is not None else settings.slack_bot_token,
            installation_store=store,
            base_url=settings.slack_api_url,
        )

    @property
    def mode(self) -> str:
        """`"multi"`, `"single"` or `"none"`."""
        if self._store is not None:
            return "multi"
        return "single" if self._bot_token else "none"

    def client(self, token: str) -> WebClient:
        """A client for `token` with our base URL, timeout and no automatic retries."""
        return WebClient(
            token=token, base_url=self.base_url, timeout=self.timeout, retry_handlers=[]
        )

    def for_team(self, team_id: str | None) -> WebClient | None:
        """The client for a workspace, or None if Qualibot is not installed there.

        May raise what slack_sdk raises (network errors) when the single-workspace token's
        team has to be learnt with `auth.test`: the caller retries later."""
        if self._store is not None:
            return self._from_store(team_id)
        if not self._bot_token:
            if not self._warned_unconfigured:
                self._warned_unconfigured = True
                log.error("no SLACK_BOT_TOKEN or SLACK_CLIENT_ID: cannot post to Slack")
            return None
        with self._lock:
            if self._single is None:
                self._single = self.client(self._bot_token)
            client = self._single
        if team_id is None:
            return client
        if self._single_team is None:
            with self._team_lock:  # one auth.test, however many deliveries ask at once
                if self._single_team is None:
                    self._single_team = str(client.auth_test()["team_id"])
        return client if self._single_team == team_id else None

    def invalidate(self, team_id: str | None) -> None:
        """Forget a workspace's cached token (after `invalid_auth`, `token_revoked`, ...)."""
        with self._lock:
            self._cache.pop(team_id, None)

    def _from_store(self, team_id: str | None) -> WebClient | None:
        if not team_id:
            return None
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(team_id)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        assert self._store is not None
        bot = self._store.find_bot(enterprise_id=None, team_id=team_id)
        if bot is None or not bot.bot_token:
            return None  # not cached: a workspace that installs now is found at once
        client = self.client(bot.bot_token)
        with self._lock:
            self._cache[team_id] = (now, client)
        return client


__all__ = ["DEFAULT_API_URL", "SlackClients", "normalize_api_url"]
