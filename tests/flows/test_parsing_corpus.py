"""The parsing corpus: realistic answers and what the parsers must read from them."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.definitions import Choice
from flows.parsing import parse_answer

CORPUS_PATH = Path(__file__).with_name("parsing_corpus.yaml")
CORPUS: dict[str, Any] = yaml.safe_load(CORPUS_PATH.read_text(encoding="utf-8"))
DEFAULT_TODAY = date.fromisoformat(str(CORPUS["default_today"]))
CHOICE_SETS: dict[str, tuple[Choice, ...]] = {
    name: tuple(Choice.model_validate(c) for c in choices)
    for name, choices in CORPUS["choice_sets"].items()
}
CASES: list[dict[str, Any]] = CORPUS["cases"]


def _case_id(case: dict[str, Any]) -> str:
    return f"{case['type']}:{case['text'][:40]}"


def test_corpus_is_large_and_varied() -> None:
    kinds = [c["type"] for c in CASES]
    assert len(CASES) >= 150
    for kind in ("money", "timeframe", "authority", "yesno"):
        assert kinds.count(kind) >= 25, kind
    for kind in ("choice", "email", "text"):
        assert kinds.count(kind) >= 3, kind


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_corpus(case: dict[str, Any]) -> None:
    today = date.fromisoformat(str(case.get("today", DEFAULT_TODAY)))
    choices = CHOICE_SETS[case["choices"]] if "choices" in case else ()
    parsed = parse_answer(case["type"], case["text"], today=today, choices=choices)
    assert parsed == case["expected"]
