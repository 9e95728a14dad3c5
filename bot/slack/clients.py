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

A workspace whose token stopped working (`invalid_auth`, `token_revoked`, `account_inactive`,
... from any call, or Slack's `tokens_revoked` / `app_uninstalled` events) is marked inactive
in the database (`InactiveWorkspaces`, table `slack_inactive_workspaces`: reason and time,
shared by replicas, logged at ERROR once): `for_team` then raises `WorkspaceInactive`
without calling Slack, so its messages fail at once with a message saying to reinstall, and
its requests are refused (`bot.slack.failures.RefuseInactive`). The mark is cleared when the
workspace is installed again (an installation newer than the mark) or, with one workspace,
when the server starts with a token that works (`recheck`, run by the dispatcher).

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
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from storage.db import one_line
from storage.models import InactiveWorkspace, utcnow

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
#: The key of the single-workspace install (`SLACK_BOT_TOKEN`) in `slack_inactive_workspaces`.
SINGLE_WORKSPACE = "(SLACK_BOT_TOKEN)"
#: Slack errors that mean the workspace's token is no good any more.
TOKEN_ERRORS = frozenset(
    {"invalid_auth", "token_revoked", "account_inactive", "not_authed", "token_expired",
     "team_access_not_granted", "app_uninstalled", "tokens_revoked"}
)


def workspace_label(key: str) -> str:
    """How logs name a workspace (its key in `slack_inactive_workspaces`)."""
    if key == SINGLE_WORKSPACE:
        return "the workspace of SLACK_BOT_TOKEN"
    return f"workspace {key}"


@dataclass(frozen=True)
class Inactive:
    """Why and since when a workspace is inactive."""

    team_id: str
    reason: str
    since: datetime

    @property
    def who(self) -> str:
        return workspace_label(self.team_id)

    @property
    def remedy(self) -> str:
        if self.team_id == SINGLE_WORKSPACE:
            return "set a SLACK_BOT_TOKEN that works and restart Qualibot"
        return "reinstall Qualibot in that workspace (/slack/install)"

    def describe(self) -> str:
        return (
            f"{self.who} is inactive since {self.since:%Y-%m-%d %H:%M} UTC ({self.reason}): "
            f"{self.remedy}"
        )


class WorkspaceInactive(Exception):
    """Raised by `SlackClients.for_team` for a workspace marked inactive: nothing is sent."""

    def __init__(self, mark: Inactive) -> None:
        super().__init__(
            f"not posted: {mark.describe()}, then send it again with: qualibot outbox retry ID"
        )
        self.mark = mark


class InactiveWorkspaces:
    """The inactive marks, in the database (shared by replicas). Reads are cached for
    `cache_seconds` (the request path asks on every request: a dict lookup, and one query
    per `cache_seconds`); changes made in this process are seen at once by every instance
    (a process-wide generation counter), other replicas' within `cache_seconds`.

    `single`: the single-workspace install, where every team id maps to `SINGLE_WORKSPACE`.
    `installed_at(team_id)`: when the workspace's current installation was made (OAuth), so a
    reinstall after the mark clears it."""

    #: Bumped by every mark/clear in this process: every instance reloads on its next read.
    _generation = 0

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        single: bool,
        installed_at: Callable[[str], float | None] | None = None,
        cache_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self.single = single
        self._installed_at = installed_at
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._marks: dict[str, Inactive] = {}
        self._loaded_at: float | None = None
        self._seen = -1

    def key(self, team_id: str | None) -> str | None:
        return SINGLE_WORKSPACE if self.single else team_id

    def get(self, team_id: str | None) -> Inactive | None:
        """The mark of this workspace, or None when it is active (a reinstall since the mark
        clears it)."""
        key = self.key(team_id)
        if key is None:
            return None
        now = self._monotonic()
        loaded = self._loaded_at
        if (
            loaded is None
            or now - loaded >= self._cache_seconds
            or self._seen != InactiveWorkspaces._generation
        ):
            self._reload(now)
        mark = self._marks.get(key)
        if mark is None or self._installed_at is None:
            return mark
        installed = self._installed_at(key)
        if installed is not None and installed > mark.since.timestamp():
            self.clear(key, why="it was installed again")
            return None
        return mark

    def all(self) -> list[Inactive]:
        self._reload(self._monotonic())
        return sorted(self._marks.values(), key=lambda m: m.since)

    def mark(self, team_id: str | None, reason: str) -> bool:
        """Mark the workspace inactive; True when it was not yet (then logged at ERROR)."""
        key = self.key(team_id)
        if key is None:
            return False
        try:
            with self._sessions.begin() as session:
                if session.get(InactiveWorkspace, key) is not None:
                    return False
                row = InactiveWorkspace(team_id=key, reason=reason[:500], since=utcnow())
                session.add(row)
                session.flush()
                mark = Inactive(key, row.reason, row.since)
        except IntegrityError:  # another replica marked it at the same moment
            return False
        with self._lock:
            self._marks[key] = mark
        InactiveWorkspaces._generation += 1
        log.error(
            "Slack: %s: its token no longer works (%s). Nothing is posted there and its "
            "requests are refused until you %s. Messages that could not be sent: "
            "qualibot outbox --failed", mark.who, reason, mark.remedy,
        )
        return True

    def clear(self, team_id: str | None, *, why: str) -> bool:
        key = self.key(team_id)
        if key is None:
            return False
        with self._sessions.begin() as session:
            cleared = session.execute(
                delete(InactiveWorkspace).where(InactiveWorkspace.team_id == key)
            ).rowcount  # type: ignore[attr-defined]
        with self._lock:
            self._marks.pop(key, None)
        InactiveWorkspaces._generation += 1
        if cleared:
            log.warning("Slack: %s is active again: %s", workspace_label(key), why)
        return bool(cleared)

    def _reload(self, now: float) -> None:
        generation = InactiveWorkspaces._generation
        with self._sessions() as session:
            rows = session.scalars(select(InactiveWorkspace)).all()
            marks = {r.team_id: Inactive(r.team_id, r.reason, r.since) for r in rows}
        with self._lock:
            self._marks = marks
            self._loaded_at = now
            self._seen = generation


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
        inactive: InactiveWorkspaces | None = None,
    ) -> None:
        """`inactive`: where workspaces whose token stopped working are marked (None: not
        tracked; a token error only fails the message at hand)."""
        self.base_url = normalize_api_url(base_url)
        self.inactive = inactive
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
        from storage.db import make_session_factory

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
            inactive=inactive_workspaces(make_session_factory(engine), store),
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

        Raises `WorkspaceInactive` for a workspace marked inactive (no call to Slack). May
        raise what slack_sdk raises (network errors) when the single-workspace token's
        team has to be learnt with `auth.test`: the caller retries later."""
        if self.inactive is not None:
            mark = self.inactive.get(team_id)
            if mark is not None:
                raise WorkspaceInactive(mark)
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

    def token_failed(self, team_id: str | None, error: str) -> None:
        """Slack refused the workspace's token (`error` is one of `TOKEN_ERRORS`): forget it
        and mark the workspace inactive."""
        self.invalidate(team_id)
        if self.inactive is not None and (team_id or self.mode == "single"):
            self.inactive.mark(team_id, error)

    def recheck(self) -> None:
        """At start-up, with one workspace: clear its inactive mark if the token works now
        (`auth.test`). Errors are logged, never raised: the outbox dispatcher's thread calls
        this first, and must not die of a database that is down at that moment."""
        if self.inactive is None or self.mode != "single":
            return
        try:
            if self.inactive.get(None) is None:
                return
        except SQLAlchemyError as exc:
            log.warning("Slack: could not read the inactive-workspace mark at start-up: %s",
                        one_line(exc))
            return
        try:
            client = self.client(str(self._bot_token))
            team = client.auth_test().get("team_id")
        except SlackApiError as exc:
            log.error("Slack: SLACK_BOT_TOKEN still does not work (%s); nothing is posted",
                      exc.response.get("error"))
            return
        except Exception as exc:  # network: keep the mark, say why
            log.warning("Slack: could not check SLACK_BOT_TOKEN at start-up: %r", exc)
            return
        try:
            self.inactive.clear(None, why=f"SLACK_BOT_TOKEN works (team {team})")
        except SQLAlchemyError as exc:
            log.warning("Slack: could not clear the inactive-workspace mark: %s", one_line(exc))

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


def inactive_workspaces(
    sessions: sessionmaker[Session], store: SQLAlchemyInstallationStore | None
) -> InactiveWorkspaces:
    """The inactive marks of a deployment: single-workspace without an installation store;
    with one, a workspace installed again after its mark is active again."""
    if store is None:
        return InactiveWorkspaces(sessions, single=True)

    def installed_at(team_id: str) -> float | None:
        bot = store.find_bot(enterprise_id=None, team_id=team_id)
        return float(bot.installed_at) if bot is not None and bot.installed_at else None

    return InactiveWorkspaces(sessions, single=False, installed_at=installed_at)


__all__ = [
    "DEFAULT_API_URL", "SINGLE_WORKSPACE", "TOKEN_ERRORS", "Inactive", "InactiveWorkspaces",
    "SlackClients", "WorkspaceInactive", "inactive_workspaces", "normalize_api_url",
]
