"""The Bolt app: a factory, and the Slack side of the server (app, outbox dispatcher, Socket
Mode) built together.

- `create_bolt_app(settings, runtime)` returns a fresh `slack_bolt.App`, or None when the
  settings do not turn Slack on. Nothing is read from the environment here: everything comes
  from `Settings` (Bolt's own fallbacks to `os.environ` are never reached for the values we
  pass).
  - One workspace: `SLACK_BOT_TOKEN` + `SLACK_SIGNING_SECRET`.
  - Several workspaces (OAuth): `SLACK_CLIENT_ID` + `SLACK_CLIENT_SECRET` +
    `SLACK_SIGNING_SECRET`; installations live in slack_sdk's SQLAlchemy stores on our
    database (tables made by our migrations), installs start at `/slack/install` and come
    back to `/slack/oauth_redirect`; each request is authorized with its own workspace's
    token, and a request from a workspace without an installation is dropped (200, nothing
    changed, nothing posted).
  - `SLACK_API_URL` is the base URL of every Web API client Bolt makes.
  - `process_before_response=True`: a listener runs before the HTTP response and does only
    fast work (one service call: parse, transition, store, enqueue); everything outgoing goes
    through the outbox, except `views.open`, which needs the request's `trigger_id` at once.
- `build_slack(runtime)` also makes the outbox dispatcher (woken by every commit that
  enqueues) and, for `--socket-mode`, the Socket Mode handler; `SlackStack.start()/stop()`
  run in the server's lifespan.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_bolt.listener.builtins import TokenRevocationListeners
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.handoff.actions import HandoffActions
from bot.slack.clients import (
    BOTS_TABLE,
    INSTALLATIONS_TABLE,
    inactive_workspaces,
    normalize_api_url,
)
from bot.slack.context import SlackServices, provide
from bot.slack.failures import RefuseInactive, UnknownWorkspace, handle_error
from bot.slack.listeners import register_listeners
from bot.slack.listeners.messages import DmAnswers
from bot.slack.outbox import SlackOutbox
from storage.dedupe import ProcessedEventRepository

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger("bot.slack")

Mode = Literal["single", "oauth"]

#: The bot scopes requested on install: exactly `oauth_config.scopes.bot` in manifest.yml.
BOT_SCOPES: tuple[str, ...] = (
    "commands", "chat:write", "im:history", "im:write", "users:read",
    "channels:history", "groups:history",
)
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
STATES_TABLE = "slack_oauth_states"
OAUTH_STATE_SECONDS = 600
API_TIMEOUT = 10
KEEP_DEDUPE_KEYS = timedelta(days=3)
PRUNE_EVERY = timedelta(hours=6)
TURN_ON = (
    "set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (one workspace), or SLACK_CLIENT_ID, "
    "SLACK_CLIENT_SECRET and SLACK_SIGNING_SECRET (installs in several workspaces)"
)


class _QuietTokenWarning(logging.Filter):
    """Bolt falls back to `SLACK_BOT_TOKEN` from the environment when no `token` is passed,
    then warns that the `client` we pass (which has the token and our base URL) wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


BOLT_LOGGER = logging.getLogger("slack_bolt.qualibot")
BOLT_LOGGER.addFilter(_QuietTokenWarning())


def slack_mode(settings: Settings, *, socket_mode: bool = False) -> Mode | None:
    """Which kind of Slack install the settings describe; None when Slack is off. Socket
    Mode needs no signing secret (nothing arrives over HTTP)."""
    signed = bool(settings.slack_signing_secret) or (socket_mode and bool(settings.slack_app_token))
    if settings.slack_client_id:
        return "oauth" if settings.slack_client_secret and signed else None
    if settings.slack_bot_token:
        return "single" if signed else None
    return None


def why_off(settings: Settings, *, socket_mode: bool = False) -> str:
    """One line saying that Slack is off, what is missing, and which variables turn it on."""
    missing = []
    if settings.slack_client_id and not settings.slack_client_secret:
        missing.append("SLACK_CLIENT_SECRET")
    if (settings.slack_client_id or settings.slack_bot_token) and not (
        settings.slack_signing_secret or (socket_mode and settings.slack_app_token)
    ):
        missing.append("SLACK_SIGNING_SECRET" + (" or SLACK_APP_TOKEN" if socket_mode else ""))
    problem = f" ({', '.join(missing)} missing)" if missing else ""
    return f"Slack is off{problem}: {TURN_ON}. The widget and /healthz are served."


class KnownWorkspaces(InstallationStoreAuthorize):
    """Bolt's installation-store authorize, except that a workspace without an installation
    raises `UnknownWorkspace` (handled by `failures.handle_error`: 200, nothing posted)
    instead of Bolt's default of answering the user through the `response_url`."""

    def __call__(self, **kwargs: Any) -> AuthorizeResult | None:
        result = super().__call__(**kwargs)
        if result is None:
            raise UnknownWorkspace(f"no installation for team {kwargs.get('team_id')}")
        return result


def create_bolt_app(
    settings: Settings,
    runtime: Runtime,
    *,
    socket_mode: bool = False,
    services: SlackServices | None = None,
) -> App | None:
    """A new Bolt app for these settings (None when Slack is off), its listeners registered."""
    mode = slack_mode(settings, socket_mode=socket_mode)
    if mode is None:
        return None
    # Bolt formats a debug line for each middleware of each request unless its logger's own
    # level, not the effective one, is above DEBUG: set it from the logging configured now
    BOLT_LOGGER.setLevel(logging.NOTSET)
    if not BOLT_LOGGER.isEnabledFor(logging.DEBUG):
        BOLT_LOGGER.setLevel(logging.INFO)
    client = WebClient(
        token=settings.slack_bot_token if mode == "single" else None,
        base_url=normalize_api_url(settings.slack_api_url),
        timeout=API_TIMEOUT,
    )
    common: dict[str, Any] = {
        "name": "qualibot",
        "logger": BOLT_LOGGER,
        "signing_secret": settings.slack_signing_secret or "",
        "client": client,
        "process_before_response": True,
        "request_verification_enabled": True,
        # Bolt's middleware for AI assistant threads (the `say_stream`, `set_status`,
        # `set_suggested_prompts`, ... arguments) and for workflow functions (a function
        # execution's token): Qualibot uses neither, and the first built those objects for
        # every DM event.
        "attaching_conversation_kwargs_enabled": False,
        "attaching_function_token_enabled": False,
    }
    store: SQLAlchemyInstallationStore | None = None
    if mode == "single":
        app = App(token_verification_enabled=False, **common)
    else:
        assert settings.slack_client_id and settings.slack_client_secret
        store = SQLAlchemyInstallationStore(
            client_id=settings.slack_client_id,
            engine=runtime.engine,
            bots_table_name=BOTS_TABLE,
            installations_table_name=INSTALLATIONS_TABLE,
        )
        states = SQLAlchemyOAuthStateStore(
            expiration_seconds=OAUTH_STATE_SECONDS, engine=runtime.engine, table_name=STATES_TABLE
        )
        oauth = OAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            scopes=list(BOT_SCOPES),
            user_scopes=[],
            installation_store=store,
            state_store=states,
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
        )
        authorize = KnownWorkspaces(
            logger=common["logger"],
            installation_store=store,
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            client=client,
            # auth.test once per token, not on every request: a Web API call on the ack path
            # costs the 3 s budget (a revoked token is caught by the inactive-workspace mark)
            cache_enabled=True,
        )
        # Bolt takes an `Authorize` instance here (its type hint only names callables)
        app = App(oauth_settings=oauth, authorize=authorize, **common)  # type: ignore[arg-type]
    if services is None:
        services = slack_services(runtime, store)
    app.use(provide(services))
    if services.workspaces is not None:
        app.use(RefuseInactive(services.workspaces))
    app.use(DmAnswers())  # the busiest request, answered without listener matching
    register_listeners(app)
    app.error(handle_error)
    return app


def slack_services(
    runtime: Runtime, installation_store: SQLAlchemyInstallationStore | None = None
) -> SlackServices:
    return SlackServices(
        service=runtime.service,
        leads=runtime.leads,
        flows=runtime.flows,
        handoff=HandoffActions(runtime.sessions, on_outbox=runtime.notify_outbox),
        outbox=SlackOutbox(runtime.sessions, on_outbox=runtime.notify_outbox),
        revocations=(
            TokenRevocationListeners(installation_store) if installation_store is not None else None
        ),
        workspaces=inactive_workspaces(runtime.sessions, installation_store),
    )


@dataclass
class SlackStack:
    """The Slack side of a running server: the Bolt app, the outbox dispatcher, the pruning
    of old dedupe keys and, in Socket Mode, the connection to Slack. `start`/`stop` in the
    server's lifespan."""

    app: App
    dispatcher: Any
    socket_mode: Any = None
    serve_http: bool = True
    sessions: sessionmaker[Session] | None = None
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    _pruner: threading.Thread | None = field(default=None, repr=False)
    _started: bool = field(default=False, repr=False)

    def start(self) -> None:
        self.dispatcher.start()
        if self.sessions is not None:
            self._stopping.clear()
            self._pruner = threading.Thread(
                target=self._prune_forever, name="qualibot-dedupe-prune", daemon=True
            )
            self._pruner.start()
        if self.socket_mode is not None:
            self.socket_mode.connect()
        self._started = True

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self.socket_mode is not None:
            self.socket_mode.close()
        self._stopping.set()
        self.dispatcher.stop()

    def _prune_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                prune_dedupe_keys(self.sessions)  # type: ignore[arg-type]
            except Exception:
                log.exception("pruning old dedupe keys failed; trying again later")
            self._stopping.wait(PRUNE_EVERY.total_seconds())


def prune_dedupe_keys(sessions: sessionmaker[Session]) -> int:
    """Forget delivery keys older than `KEEP_DEDUPE_KEYS` (Slack retries for an hour at
    most; a double click is seconds apart)."""
    with sessions.begin() as session:
        return ProcessedEventRepository(session).prune(datetime.now(UTC) - KEEP_DEDUPE_KEYS)


def build_slack(runtime: Runtime, *, socket_mode: bool = False) -> SlackStack | None:
    """The Bolt app, the dispatcher (woken by the service after each commit that enqueues)
    and the Socket Mode handler; None (and one log line saying so) when Slack is off."""
    settings = runtime.settings
    if socket_mode and not settings.slack_app_token:
        log.warning("--socket-mode needs SLACK_APP_TOKEN (an app-level token, xapp-...)")
        socket_mode = False
    app = create_bolt_app(settings, runtime, socket_mode=socket_mode)
    if app is None:
        log.warning(why_off(settings, socket_mode=socket_mode))
        return None
    from bot.slack.clients import SlackClients
    from bot.slack.dispatch import OutboxDispatcher

    clients = SlackClients.from_settings(settings, runtime.engine)
    dispatcher = OutboxDispatcher(
        runtime.sessions,
        clients,
        lease_seconds=settings.outbox_lease_seconds,
        fallback_channel=settings.handoff_channel,
    )
    runtime.outbox_hooks.append(dispatcher.notify)
    handler = None
    if socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        handler = SocketModeHandler(app, settings.slack_app_token)
    log.info(
        "Slack is on (%s%s)",
        "one workspace" if settings.slack_bot_token and not settings.slack_client_id
        else "OAuth, several workspaces",
        ", Socket Mode" if socket_mode else "",
    )
    return SlackStack(
        app=app,
        dispatcher=dispatcher,
        socket_mode=handler,
        serve_http=bool(settings.slack_signing_secret),
        sessions=runtime.sessions,
    )
