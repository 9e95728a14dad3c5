"""`qualibot export`: leads out as CSV or JSON Lines, run as a user would (a real database
file), with text a spreadsheet would run as a formula defused."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from bot.config import load_settings
from bot.runtime import build_runtime
from tests.bot.test_cli import run, workdir  # noqa: F401  (the CLI's working directory)

ANSWERS = "\n".join(["allocated", "about $80k a year", "I'm the CFO and I sign the contract",
                     "Our reps lose 10 hours a week", "this quarter"])


def export(*args: str) -> tuple[str, str]:
    result = CliRunner().invoke(main, ["export", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def test_csv_has_a_row_per_lead_and_defuses_formulas(workdir: Path) -> None:  # noqa: F811
    assert run("chat", "bant", "Acme, Inc.", input=ANSWERS)[0] == 0
    assert run("chat", "bant", '=HYPERLINK("http://evil.example","x")', input="skip")[0] == 0
    out, err = export()
    rows = list(csv.DictReader(io.StringIO(out)))
    assert err == "Exported 2 leads.\n"
    assert [row["company"] for row in rows] == [
        "Acme, Inc.", '\'=HYPERLINK("http://evil.example","x")']
    first = rows[0]
    assert (first["id"], first["source"], first["framework"], first["score_total"],
            first["verdict"], first["status"]) == ("1", "rep", "bant", "100.0", "qualified",
                                                   "qualified")
    assert first["contact_email"] == "" and first["created_at"].endswith("+00:00")
    assert rows[1]["verdict"] == ""  # not scored yet


def test_jsonl_carries_the_answers_as_given(workdir: Path) -> None:  # noqa: F811
    assert run("chat", "bant", "Acme", input=ANSWERS)[0] == 0
    out, _ = export("--format", "jsonl")
    [lead] = [json.loads(line) for line in out.splitlines()]
    assert lead["company"] == "Acme"
    assert lead["answers"]["budget_amount"] == "about $80k a year"
    assert list(lead["answers"])[:2] == ["budget", "budget_amount"]
    assert lead["score_total"] == 100.0


def test_since_and_all_and_a_file(workdir: Path) -> None:  # noqa: F811
    assert run("chat", "bant", "Acme", input=ANSWERS)[0] == 0
    runtime = build_runtime(load_settings())
    try:  # a visitor who started a chat and answered nothing
        runtime.service.start(framework="bant", company="Website visitor", channel="widget",
                              participant="visitor-1", source="widget")
    finally:
        runtime.close()
    assert export("--since", "2999-01-01")[1] == "Exported 0 leads.\n"
    assert export()[1] == "Exported 1 lead.\n"
    _, err = export("--all", "-o", "leads.csv")
    assert err == "Exported 2 leads.\n"
    with open("leads.csv", newline="", encoding="utf-8") as handle:
        assert [row["source"] for row in csv.DictReader(handle)] == ["rep", "widget"]


def test_a_bad_date_is_refused(workdir: Path) -> None:  # noqa: F811
    result = CliRunner().invoke(main, ["export", "--since", "last week"])
    assert result.exit_code == 2
    assert "'last week' does not match the format '%Y-%m-%d'" in result.output
