"""The `qualibot` command, run as a user would (click's runner, real database files)."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from bot.cli import main


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory with the default SQLite database and no Slack settings."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("QUALIBOT_", "SLACK_")):
            monkeypatch.delenv(name)
    return tmp_path


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.output


def test_parse_prints_json(workdir: Path) -> None:
    code, out = run("parse", "money", "between 20 and 30k per month")
    assert code == 0
    assert json.loads(out) == {"min": 20000, "max": 30000, "currency": None, "period": "month"}
    code, out = run("parse", "timeframe", "Q3", "--today", "2026-11-22")
    assert json.loads(out) == {"earliest": "2027-07-01", "latest": "2027-09-30"}


def test_parse_reads_lines_from_stdin(workdir: Path) -> None:
    code, out = run("parse", "money", "-", input="50k\n$1.2M\nno idea at all\n")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["amount"] == 50000
    assert lines[1] == {"amount": 1200000, "currency": "USD", "period": None}
    assert lines[2]["unknown"] is True


def test_parse_reads_names_and_companies(workdir: Path) -> None:
    # the widget's contact answers (these types were refused: exit 2)
    code, out = run("parse", "name", "Hi, I'm Dana Lee.")
    assert code == 0
    assert json.loads(out) == {"name": "Dana Lee"}
    code, out = run("parse", "company", "-", input="I work at Acme Logistics.\nstudent\n")
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [
        {"company": "Acme Logistics"}, {"unknown": True}]


def test_chat_picks_a_listed_option_by_its_number(workdir: Path) -> None:
    # The options are printed numbered; "1" picks the first (for any choice question, head
    # count bands included, where the parser reads a bare number as a head count).
    answers = "\n".join(["1", "about $80k a year"])
    code, out = run("chat", "-f", "bant", "-c", "Acme", input=answers)
    assert code == 0, out
    assert "   1. Yes – budget is allocated" in out
    assert "✓ Budget: Yes – budget is allocated" in out
    assert "✓ Budget (budget amount): USD 80,000 per year" in out


def test_parse_rejects_an_unknown_type(workdir: Path) -> None:
    code, out = run("parse", "colour", "blue")
    assert code == 2
    assert all(kind in out for kind in ("money", "timeframe", "authority", "yesno", "name",
                                         "company"))


def test_chat_runs_a_qualification_to_its_verdict(workdir: Path) -> None:
    answers = "\n".join(["allocated", "about $80k a year", "I'm the CFO",
                         "Our reps lose 10 hours a week to manual reporting", "this quarter"])
    code, out = run("chat", "-f", "bant", "-c", "Acme <Corp>", "--as", "jane", input=answers)
    assert code == 0, out
    assert "Qualifying Acme <Corp> with BANT" in out
    assert "USD 80,000 per year" in out  # read back as understood
    assert "qualified" in out
    assert (workdir / "qualibot.db").exists()  # created and migrated on first start

    code, out = run("leads")
    assert "Acme <Corp>" in out and "qualified" in out
    code, out = run("show", "1")
    assert code == 0
    assert "about $80k a year" in out  # the answer as given
    assert "Budget" in out and "History (UTC):" in out


def test_leads_leaves_out_visitors_who_only_opened_the_chat(workdir: Path) -> None:
    from bot.config import Settings
    from bot.runtime import build_runtime

    runtime = build_runtime(Settings(_env_file=None))  # type: ignore[call-arg]
    try:
        for visitor in ("v1", "v2", "v3"):  # as the widget does when the chat is opened
            runtime.service.start(framework="bant", company="", channel="widget",
                                  participant=visitor, source="widget", ask_contact=True)
        answered = runtime.service.start(framework="bant", company="", channel="widget",
                                         participant="v4", source="widget", ask_contact=True)
        runtime.service.answer(answered.conversation_id, "Dana Lee")
    finally:
        runtime.close()
    code, out = run("leads")
    assert code == 0
    assert out.count("widget") == 1  # the visitor who answered
    assert "not listed: 3 website visitors who started a chat but answered nothing" in out
    code, out = run("leads", "--all")
    assert out.count("widget") == 4 and "not listed" not in out


def test_leads_and_show_say_what_came_of_a_lead(workdir: Path) -> None:
    from bot.config import Settings
    from bot.handoff.actions import HandoffActions
    from bot.runtime import build_runtime

    answers = ["allocated", "about $80k a year", "I'm the CFO",
               "Our reps lose 10 hours a week to manual reporting", "this quarter"]
    runtime = build_runtime(Settings(_env_file=None))  # type: ignore[call-arg]
    try:
        actions = HandoffActions(runtime.sessions)
        for company, outcome in (("Acme", "won"), ("Globex", "lost"), ("Initech", None)):
            result = runtime.service.start(framework="bant", company=company, channel="cli",
                                           participant="jane")
            for answer in answers:
                result = runtime.service.answer(result.conversation_id, answer)
            lead_id = result.lead_id
            if outcome is not None:
                actions.claim(lead_id, "U0ALICE01", team_id=None, notice=None)
            if outcome == "won":
                actions.won(lead_id, "U0ALICE01", team_id=None, notice=None)
            elif outcome == "lost":
                actions.lost(lead_id, "Went with a competitor", "U0ALICE01", team_id=None,
                             notice=None)
    finally:
        runtime.close()
    code, out = run("leads")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split()[-3:] == ["VERDICT", "STATUS", "OWNER"]
    status = {row.split()[1]: row.split()[-3:] for row in rows}
    assert status == {"Acme": ["qualified", "won", "U0ALICE01"],
                      "Globex": ["qualified", "lost", "U0ALICE01"],
                      "Initech": ["qualified", "qualified", "-"]}
    # the qualified leads nobody has taken yet
    code, out = run("leads", "--status", "qualified", "--unclaimed")
    assert code == 0 and [row.split()[1] for row in out.splitlines()[1:]] == ["Initech"]
    assert [row.split()[1] for row in run("leads", "--status", "won")[1].splitlines()[1:]] == [
        "Acme"]
    assert run("leads", "--status", "nurture")[1] == "No leads match.\n"
    code, out = run("show", "2")
    assert code == 0
    assert "Status: lost   Owner: U0ALICE01" in out
    assert "Reason: Went with a competitor" in out
    code, out = run("show", "1")
    assert "Status: won" in out and "Reason:" not in out


def test_chat_can_be_paused_and_resumed(workdir: Path) -> None:
    code, out = run("chat", "-f", "bant", "-c", "Acme", input="allocated\n")
    assert "Paused. Continue with: qualibot chat --resume 1" in out
    code, out = run("chat", "--resume", "1", input="50k\n")  # the framework is the conversation's
    assert code == 0, out
    assert "Qualifying Acme with BANT" in out
    assert "USD 50,000" in out or "50,000" in out
    code, out = run("chat", "-f", "bant", "--resume", "1", input="")  # as the old hint said
    assert code == 0, out


def test_chat_takes_framework_and_company_as_words_like_slash_qualify(workdir: Path) -> None:
    code, out = run("chat", "meddic", "Acme", "Corp", input="")
    assert code == 0, out
    assert "Qualifying Acme Corp with MEDDIC" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Which framework? e.g. qualibot chat meddic"),
        (("bant",), "Which company? e.g. qualibot chat bant"),
        (("-f", "bant"), "Which company? e.g. qualibot chat bant"),
        (("bant", "Acme", "-c", "Globex"), "either as words"),
        (("bant", "Acme", "--resume", "1"), "give no framework or company"),
    ],
)
def test_chat_says_what_is_missing(workdir: Path, args: tuple[str, ...], message: str) -> None:
    code, out = run("chat", *args)
    assert code == 2
    assert message in out
    assert not (workdir / "qualibot.db").exists()  # refused before anything was created


def test_chat_with_an_unknown_framework(workdir: Path) -> None:
    code, out = run("chat", "-f", "spiced", "-c", "Acme")
    assert code == 1
    assert "Unknown framework 'spiced'" in out and "bant" in out


def test_show_an_unknown_lead(workdir: Path) -> None:
    code, out = run("show", "42")
    assert code == 1
    assert "There is no lead 42" in out
    code, out = run("show", "99999999999999999999999")  # past the id column's range
    assert code == 1
    assert "There is no lead 99999999999999999999999" in out


def test_frameworks_lists_builtins_and_a_teams_own(workdir: Path) -> None:
    own = workdir / "frameworks"
    own.mkdir()
    bant = (Path(__file__).parents[2] / "flows" / "frameworks" / "bant.yaml").read_text()
    (own / "spiced.yaml").write_text(bant.replace("id: bant", "id: spiced")
                                     .replace("name: BANT", "name: SPICED-lite"))
    (workdir / "qualibot.toml").write_text('framework_dirs = ["frameworks"]\n')
    code, out = run("frameworks")
    assert code == 0
    assert "bant" in out and "meddic" in out and "SPICED-lite" in out


def test_a_malformed_definition_names_file_field_and_problem(workdir: Path) -> None:
    own = workdir / "frameworks"
    own.mkdir()
    (own / "broken.yaml").write_text(
        "id: broken\nname: Broken\nversion: 1\ncriteria:\n"
        "  - {id: need, label: Need, weight: -5, type: text, hint: h,\n"
        "     ask: {rep: r, prospect: p}}\n")
    (workdir / "qualibot.toml").write_text('framework_dirs = ["frameworks"]\n')
    code, out = run("chat", "-f", "bant", "-c", "Acme")
    assert code == 1
    assert "broken.yaml" in out and "criteria.0.weight" in out and "greater than 0" in out
    assert not (workdir / "qualibot.db").exists()  # nothing was started


def test_an_invalid_config_file_is_reported(workdir: Path) -> None:
    (workdir / "qualibot.toml").write_text("[frameworks.bant]\nweights = { bugdet = 10 }\n")
    code, out = run("chat", "-f", "bant", "-c", "Acme")
    assert code == 1
    assert "bugdet" in out and "budget" in out


def test_a_database_that_does_not_connect(workdir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUALIBOT_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/x")
    code, out = run("leads")
    assert code == 1
    assert "127.0.0.1:1" in out and "Traceback" not in out


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A throw-away PostgreSQL database (skipped where no server listens: the SQLite run)."""
    admin_url = os.environ.get("TEST_DATABASE_URL", "")
    if not admin_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL)")
    name = f"qb_cli_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_postgres_must_be_migrated_explicitly(workdir: Path, empty_postgres: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUALIBOT_DATABASE_URL", empty_postgres)
    code, out = run("chat", "-f", "bant", "-c", "Acme")
    assert code == 1
    assert "qualibot db upgrade" in out
    code, out = run("db", "upgrade")
    assert code == 0 and "Database is at revision" in out
    code, out = run("chat", "-f", "bant", "-c", "Acme", input="allocated\n")
    assert code == 0 and "Qualifying Acme" in out


@pytest.mark.parametrize("value", ["abc", "", "0"])
def test_a_bad_environment_value_is_one_line_naming_the_variable(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("QUALIBOT_OUTBOX_LEASE_SECONDS", value)
    for command in (["leads"], ["frameworks"], ["db", "current"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1, result.output
        assert "QUALIBOT_OUTBOX_LEASE_SECONDS" in result.output
        assert "Traceback" not in result.output and result.exception is not None
        assert isinstance(result.exception, SystemExit)  # click's error, not a crash


@pytest.mark.parametrize("url", [
    "", "qualibot.db", "not a url", "mysql://ops:hunter2@db/q",
    "postgresql+psycopg2://ops:hunter2@db/q",
])
def test_an_unusable_database_url_is_one_line_without_the_password(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("QUALIBOT_DATABASE_URL", url)
    result = CliRunner().invoke(main, ["leads"])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # click's error, not a crash
    assert "QUALIBOT_DATABASE_URL" in result.output and "sqlite:///" in result.output
    assert "hunter2" not in result.output


@pytest.mark.parametrize("origins", [
    "www.example.com", "https://www.example.com,example.com", "ftp://example.com", "https://",
])
def test_a_widget_origin_the_browser_never_sends_is_refused_at_start(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, origins: str
) -> None:
    # Browsers send `https://host[:port]`: an origin without a scheme never matched, and
    # every request from the site got 403 while the server started as if all was well.
    monkeypatch.setenv("QUALIBOT_WIDGET_ORIGINS", origins)
    result = CliRunner().invoke(main, ["leads"])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "QUALIBOT_WIDGET_ORIGINS" in result.output and "https://" in result.output


def test_widget_origins_as_browsers_send_them_are_accepted(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "QUALIBOT_WIDGET_ORIGINS", "https://www.example.com, http://localhost:8080,https://x.io/"
    )
    code, _ = run("leads")
    assert code == 0
    monkeypatch.setenv("QUALIBOT_WIDGET_ORIGINS", "*")
    code, _ = run("leads")
    assert code == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("config", [None, "team.toml"])
def test_serve_reports_a_bad_widget_section_without_a_traceback(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, config: str | None
) -> None:
    name = config or "qualibot.toml"
    if config:
        monkeypatch.setenv("QUALIBOT_CONFIG", config)
    (workdir / name).write_text('[widget]\nmessages_per_minute = "lots"\n')
    result = CliRunner().invoke(main, ["serve", "--port", str(free_port())])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # click's error, not a crash
    assert "widget.messages_per_minute" in result.output
    assert f"{name}: invalid [widget] settings" in result.output  # the file it came from


def test_tables_made_without_migrations_are_one_clear_error(workdir: Path) -> None:
    from storage.db import create_engine_for
    from storage.models import Base

    engine = create_engine_for(f"sqlite:///{workdir / 'qualibot.db'}")
    Base.metadata.create_all(engine)
    engine.dispose()
    for command in (["leads"], ["db", "upgrade"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit)  # click's error, not a crash
        assert "no migration revision" in result.output


def test_a_config_file_named_but_missing_is_said(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A typo in QUALIBOT_CONFIG ran with no routing rules and no [widget] settings, silently.
    monkeypatch.setenv("QUALIBOT_CONFIG", str(workdir / "qualibto.toml"))
    code, _ = run("frameworks")
    assert code == 0
    assert "QUALIBOT_CONFIG" in caplog.text and "qualibto.toml" in caplog.text
    caplog.clear()
    monkeypatch.delenv("QUALIBOT_CONFIG")
    code, _ = run("frameworks")  # the default qualibot.toml is optional: nothing to say
    assert code == 0 and "QUALIBOT_CONFIG" not in caplog.text


def test_db_upgrade_to_a_revision_it_cannot_reach_says_so(workdir: Path) -> None:
    code, out = run("db", "upgrade")
    assert code == 0
    for revision in ("nonsense", "000"):  # unknown; ambiguous (every revision starts so)
        result = CliRunner().invoke(main, ["db", "upgrade", "--revision", revision])
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit)  # click's error, not a crash
        assert revision in result.output
    code, out = run("db", "current")
    assert "current: 0005_sqlite_autoincrement" in out


@pytest.mark.parametrize("command", [["leads"], ["outbox", "--failed"]])
@pytest.mark.parametrize("limit", ["0", "-5"])
def test_a_limit_below_one_is_a_usage_error(
    workdir: Path, command: list[str], limit: str
) -> None:
    # `leads --limit 0` said "No leads yet. Start one ..." with leads in the database, and
    # `--limit -5` listed every lead (SQLite's LIMIT -5 is no limit).
    code, _ = run("chat", "-f", "bant", "-c", "Acme", input="allocated\n")
    assert code == 0
    code, out = run(*command, "--limit", limit)
    assert code == 2
    assert "--limit" in out and "No leads yet" not in out


@pytest.mark.parametrize("port", ["99999", "65536", "0", "-1"])
def test_serve_refuses_a_port_outside_1_to_65535(workdir: Path, port: str) -> None:
    # --port 99999 said "running on http://127.0.0.1:99999" and listened on 34463 (mod 2**16).
    code, out = run("serve", f"--port={port}")
    assert code == 2
    assert "--port" in out and "65535" in out


def test_serve_on_a_port_in_use_stops_before_starting_anything(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # It used to start its outbox dispatcher and background work (a second dispatcher on the
    # same database), log "Application startup complete", and only then fail to bind.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out = run("serve", "--port", str(port))
    assert code == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in out and "--port" in out
    assert not any("startup" in r.getMessage().lower() for r in caplog.records)
    assert not (workdir / "qualibot.db").exists()  # not even the database was touched


def test_serve_says_where_it_listens(workdir: Path) -> None:
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
        cwd=workdir, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("the server did not answer /healthz")
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert f"Qualibot running on http://127.0.0.1:{port}" in err
    # the migrations it ran are said; Alembic's boilerplate at every start is not
    assert "Running upgrade" in err and "Context impl" not in err
