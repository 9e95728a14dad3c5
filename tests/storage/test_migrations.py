from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

import storage
from storage import (
    Base,
    DatabaseNotMigrated,
    current_revision,
    downgrade,
    head_revision,
    is_up_to_date,
    prepare_database,
    upgrade,
)
from storage.migrate import MIGRATIONS_DIR, alembic_config

TABLES = {"leads", "conversations", "answers", "scores", "outbox", "processed_events",
          "widget_sessions", "engagement_events", "round_robin", "slack_installations",
          "slack_bots", "slack_oauth_states", "slack_inactive_workspaces", "lead_events"}
REPO_ROOT = Path(__file__).resolve().parents[2]


def _tables(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(inspect(connection).get_table_names())


def _diff(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))


HEAD = "0005_sqlite_autoincrement"


def test_head_is_the_latest_revision() -> None:
    assert head_revision() == HEAD


def test_session_schema_is_at_head(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    assert is_up_to_date(engine)


def test_upgrade_from_empty(empty_engine: Engine) -> None:
    assert current_revision(empty_engine) is None
    assert not is_up_to_date(empty_engine)
    assert _tables(empty_engine) & TABLES == set()
    upgrade(empty_engine)
    assert current_revision(empty_engine) == HEAD
    assert _tables(empty_engine) >= TABLES
    upgrade(empty_engine)  # idempotent
    assert is_up_to_date(empty_engine)


def test_downgrade_to_base_and_up_again(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    downgrade(empty_engine, "base")
    assert current_revision(empty_engine) is None
    assert _tables(empty_engine) <= {"alembic_version"}
    upgrade(empty_engine)
    assert _tables(empty_engine) >= TABLES
    assert _diff(empty_engine) == []


def test_models_and_migrations_agree(engine: Engine) -> None:
    assert _diff(engine) == []


def test_constraint_names_follow_the_naming_convention(engine: Engine) -> None:
    with engine.connect() as connection:
        inspector = inspect(connection)
        assert inspector.get_pk_constraint("leads")["name"] in ("pk_leads", None)  # SQLite: None
        fks = {fk["name"] for fk in inspector.get_foreign_keys("answers")}
        uniques = {uq["name"] for uq in inspector.get_unique_constraints("outbox")}
        indexes = {ix["name"] for ix in inspector.get_indexes("conversations")}
    assert fks == {"fk_answers_conversation_id_conversations", "fk_answers_lead_id_leads"}
    assert uniques == {"uq_outbox_dedupe_key"}
    assert "ix_conversations_channel_participant_last_activity_at" in indexes


def test_prepare_database_refuses_an_unmigrated_database(empty_engine: Engine) -> None:
    with pytest.raises(DatabaseNotMigrated) as info:
        prepare_database(empty_engine, auto_migrate=False)
    message = str(info.value)
    assert "none (empty database)" in message
    assert HEAD in message
    assert "qualibot db upgrade" in message
    assert info.value.current is None
    assert info.value.expected == head_revision()
    assert _tables(empty_engine) & TABLES == set()


def test_prepare_database_auto_migrates(empty_engine: Engine) -> None:
    prepare_database(empty_engine, auto_migrate=True)
    assert is_up_to_date(empty_engine)
    prepare_database(empty_engine, auto_migrate=False)  # now fine


def test_prepare_database_refuses_an_unknown_revision(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    with empty_engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_future'")
    with pytest.raises(DatabaseNotMigrated, match=r"9999_future.*newer version"):
        prepare_database(empty_engine, auto_migrate=True)


def test_tables_made_without_migrations_are_refused_not_migrated(empty_engine: Engine) -> None:
    # e.g. `Base.metadata.create_all`: tables, but no alembic_version. Migrating from the
    # start failed with "table leads already exists" (a traceback); now it says what it is.
    Base.metadata.create_all(empty_engine)
    for auto_migrate in (True, False):
        unversioned = r"Qualibot's tables.*no migration revision"
        with pytest.raises(DatabaseNotMigrated, match=unversioned) as info:
            prepare_database(empty_engine, auto_migrate=auto_migrate)
        assert info.value.current is None
        assert "none (empty database)" not in str(info.value)
    with pytest.raises(DatabaseNotMigrated, match=r"not created by `qualibot db upgrade`"):
        upgrade(empty_engine)
    assert current_revision(empty_engine) is None


def test_migrations_do_not_depend_on_the_working_directory(
    empty_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = alembic_config()
    assert config.config_file_name is None
    assert Path(config.get_main_option("script_location") or "") == MIGRATIONS_DIR
    upgrade(empty_engine)
    assert is_up_to_date(empty_engine)


def test_packaging_ships_every_migration_file() -> None:
    """Every file Alembic needs is matched by the package-data globs in pyproject.toml."""
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["storage"]
    package_dir = Path(storage.__file__).parent
    needed = [
        path.relative_to(package_dir).as_posix()
        for path in MIGRATIONS_DIR.rglob("*")
        if path.is_file() and path.suffix in (".py", ".mako")
    ]
    shipped = {
        path.relative_to(package_dir).as_posix()
        for pattern in patterns
        for path in package_dir.glob(pattern)
    }
    missing = [f for f in needed if f not in shipped]
    assert "migrations/env.py" in needed
    assert missing == []
