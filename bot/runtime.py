"""Start-up: settings -> frameworks, database, flows and the service, built once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config import ConfigError, FileConfig, Settings
from bot.handoff.config import channel_id, never_matching
from bot.handoff.routing import HandoffRouter
from bot.leads import LeadQueries
from bot.registry import FlowRegistry
from bot.service import QualificationService
from flows.definitions import load_frameworks
from storage.db import check_connection, create_engine_for, make_session_factory
from storage.migrate import prepare_database


@dataclass
class Runtime:
    settings: Settings
    config: FileConfig
    engine: Engine
    sessions: sessionmaker[Session]
    flows: FlowRegistry
    service: QualificationService
    leads: LeadQueries
    #: Called after every commit that wrote outbox rows (the Slack dispatcher's `notify`).
    outbox_hooks: list[Callable[[], None]] = field(default_factory=list)

    def notify_outbox(self) -> None:
        for hook in self.outbox_hooks:
            hook()

    def close(self) -> None:
        self.engine.dispose()


def build_runtime(settings: Settings, *, check_schema: bool = True) -> Runtime:
    """Everything a command or the server needs. On the embedded SQLite default the database is
    created and migrated on first start; on PostgreSQL (shared by replicas) an unmigrated
    database is refused with a message saying to run `qualibot db upgrade`."""
    config = settings.load_file_config()
    frameworks = load_frameworks(config.framework_dirs, config.frameworks)
    problems = never_matching(config.handoff, frameworks=frameworks, icp=config.icp)
    if (settings.handoff_channel or "").strip():
        try:
            channel_id(str(settings.handoff_channel))
        except ValueError as exc:
            raise ConfigError(f"QUALIBOT_HANDOFF_CHANNEL: {exc}") from exc
    if problems:
        raise ConfigError(
            f"{settings.config_file}: [handoff] rules that can never match\n"
            + "\n".join(f"  {problem}" for problem in problems)
        )
    flows = FlowRegistry(frameworks, config.icp)
    engine = create_engine_for(settings.database_url)
    try:
        check_connection(engine)
        if check_schema:
            prepare_database(engine, auto_migrate=settings.is_sqlite)
    except Exception:
        engine.dispose()
        raise
    sessions = make_session_factory(engine)
    router = HandoffRouter(config.handoff, default_channel=settings.handoff_channel)
    outbox_hooks: list[Callable[[], None]] = []

    def notify_outbox() -> None:
        for hook in outbox_hooks:
            hook()

    service = QualificationService(
        sessions,
        flows,
        on_outbox=notify_outbox,
        handoff_verdicts=router.verdicts,
        router=router,
    )
    return Runtime(
        settings, config, engine, sessions, flows, service, LeadQueries(sessions), outbox_hooks
    )
