"""Leads out of Qualibot (`qualibot export`): CSV for a spreadsheet or a CRM import, or JSON
Lines with each lead's answers too. Read in batches, written as they are read: 100,000 leads
are never held in memory at once."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from sqlalchemy.orm import Session, sessionmaker

from storage.repositories import AnswerRepository, LeadRepository

#: The CSV's columns (JSON Lines: the same keys, plus `answers`).
COLUMNS = (
    "id", "company", "contact_name", "contact_email", "source", "framework", "score_total",
    "verdict", "status", "status_reason", "owner", "fit_score", "engagement_score",
    "created_at", "updated_at",
)
#: A cell starting with one of these is a formula to a spreadsheet ("=HYPERLINK(...)" typed as
#: a company name would run when the file is opened): such text gets a leading "'".
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_rows(
    sessions: sessionmaker[Session],
    *,
    since: datetime | None = None,
    unanswered_widget: bool = False,
) -> Iterator[dict[str, Any]]:
    """Each lead as a dict of `COLUMNS` and `answers` (the latest answer to each question, in
    the order first asked; None for a skipped one), oldest first."""
    with sessions() as session:
        leads, answers = LeadRepository(session), AnswerRepository(session)
        for batch in leads.iter_export(since=since, unanswered_widget=unanswered_widget):
            latest = answers.latest_for_leads(lead.id for lead in batch)
            for lead in batch:
                row: dict[str, Any] = {column: getattr(lead, column) for column in COLUMNS}
                for column in ("created_at", "updated_at"):
                    row[column] = row[column].isoformat()
                row["answers"] = {
                    question: (answer.raw_text if answer.status != "skipped" else None)
                    for question, answer in latest.get(lead.id, {}).items()
                }
                yield row


def write_csv(rows: Iterator[dict[str, Any]], out: IO[str]) -> int:
    """`rows` as CSV (a header, then `COLUMNS`); returns how many were written."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        writer.writerow([_cell(row[column]) for column in COLUMNS])
        count += 1
    return count


def write_jsonl(rows: Iterator[dict[str, Any]], out: IO[str]) -> int:
    """`rows` as JSON Lines, one lead per line; returns how many were written."""
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return "" if value is None else value
