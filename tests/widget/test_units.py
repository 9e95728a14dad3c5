"""The widget's small parts on their own: replay, rate limiter, engagement score, message
shapes, resume codes and origins."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.registry import FlowRegistry
from bot.widget.api import OriginPolicy, _origin_key, clean_json, clean_text
from bot.widget.config import WidgetConfig
from bot.widget.engagement import engagement_score
from bot.widget.limits import RateLimiter
from bot.widget.messages import bot, closing_message, closing_text, from_service, question_payload
from bot.widget.sessions import new_resume_code, normalize_locale, normalize_resume_code
from flows.engine import UNKNOWN_NOTE, BotMessage, FlowState

TODAY = date(2026, 11, 22)


def test_replay_redraws_what_was_said(flows: FlowRegistry) -> None:
    flow = flows.get("bant")
    model = FlowState(ask_contact=True)
    flow.begin(model, company="", audience="prospect")
    flow.answer(model, "Dana Lee", today=TODAY, company="", audience="prospect")
    flow.answer(model, "dana@acme.example", today=TODAY, company="", audience="prospect")
    flow.answer(model, "Acme", today=TODAY, company="", audience="prospect")
    flow.answer(model, "yes", today=TODAY, company="", audience="prospect")
    flow.choose(model, "planned", today=TODAY, company="", audience="prospect")
    flow.skip(model, today=TODAY, company="", audience="prospect")
    items = flow.replay(model, company="", audience="prospect")
    said = [i for i in items if isinstance(i, str)]
    assert said == [
        "Dana Lee", "dana@acme.example", "Acme", "yes",
        "Being planned – in the next budget cycle or awaiting sign-off", "skip",
    ]
    bot = [i for i in items if isinstance(i, BotMessage)]
    assert [m.kind for m in bot][:3] == ["question", "readback", "question"]
    assert "Skipped." in [m.text for m in bot]
    assert bot[-1].kind == "question" and bot[-1].question is not None
    assert bot[-1].question.id == "authority"

    for text in ("I'm the CFO", "We need better reports for our teams", *["banana"] * 3):
        flow.answer(model, text, today=TODAY, company="", audience="prospect")
    items = flow.replay(model, company="", audience="prospect")
    assert items[-3:-1] == ["banana", BotMessage("info", UNKNOWN_NOTE)]
    assert isinstance(items[-1], BotMessage) and items[-1].kind == "done"
    assert flow.replay(FlowState(), company="", audience="prospect") == []


def test_rate_limiter_allows_a_burst_then_one_per_interval() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.hit("m", "s1", 3, 60) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.hit("m", "s1", 3, 60) == pytest.approx(20.0)
    assert limiter.hit("m", "s2", 3, 60) == 0.0  # per key
    assert limiter.hit("other", "s1", 3, 60) == 0.0  # per bucket
    now[0] = 20.0
    assert limiter.hit("m", "s1", 3, 60) == 0.0
    assert limiter.hit("m", "s1", 3, 60) == pytest.approx(20.0)
    assert limiter.hit("m", "s1", 0, 60) == 0.0  # 0 = no limit
    now[0] = 1e6
    limiter._prune(now[0])
    assert len(limiter) == 0


@given(counts=st.dictionaries(st.sampled_from(["page_view", "pricing_viewed", "demo_watched",
                                               "other"]), st.integers(0, 10_000)))
def test_engagement_score_is_between_0_and_100(counts: dict[str, int]) -> None:
    weights = WidgetConfig().engagement_weights
    score = engagement_score(counts, weights, repeat_cap=5)
    assert 0 <= score <= 100
    assert engagement_score({"page_view": 1}, weights, 5) == 2
    assert engagement_score({"page_view": 99}, weights, 5) == 10


def test_question_payload_and_service_messages() -> None:
    consent = {"id": "consent", "criterion": "consent", "type": "yesno", "options": [],
               "skippable": False}
    assert question_payload(consent) == {
        "id": "consent",
        "criterion": "consent",
        "type": "yesno",
        "skippable": False,
        "options": [{"label": "Yes", "value": "yes"}, {"label": "No", "value": "no"}],
    }
    need = {"criterion": "need", "type": "text", "options": [], "id": "x", "hint": "h"}
    assert question_payload(need) == {"id": "x", "criterion": "need", "type": "text",
                                      "skippable": True}
    shown = from_service(
        [
            {"kind": "readback", "text": "Timeline: this quarter"},
            {"kind": "done", "text": "That's everything, thank you."},
            {"kind": "summary", "text": "Qualified 85/100", "verdict": "qualified", "total": 85},
        ],
        bot("Bye"),
    )
    assert shown == [
        {"from": "bot", "text": "Timeline: this quarter"},
        {"from": "bot", "text": "Bye"},
    ]


def test_closing_texts_by_verdict() -> None:
    config = WidgetConfig.model_validate({"resources": [{"label": "Guide", "url": "https://g"}]})
    assert "reach out" in closing_text("qualified", config)
    assert closing_text("nurture", config).endswith("• Guide: https://g")
    assert closing_text("disqualified", config) == config.closing.disqualified
    assert closing_text(None, config) == config.closing.disqualified
    # only the nurture closing lists resources, and its message carries them as links
    assert closing_message("nurture", config)["links"] == [{"label": "Guide", "url": "https://g"}]
    assert "links" not in closing_message("qualified", config)
    assert "links" not in closing_message("nurture", WidgetConfig())


@pytest.mark.parametrize(
    ("typed", "code"),
    [("abcd-1234", "ABCD-1234"), (" ABCD 1234 ", "ABCD-1234"), ("abcd1234", "ABCD-1234"),
     ("ab-cd-12-34", "ABCD-1234"), ("ABCD-123", None), ("1234-ABCD", None), ("", None)],
)
def test_resume_codes_are_read_case_insensitively(typed: str, code: str | None) -> None:
    assert normalize_resume_code(typed) == code


def test_new_resume_codes_avoid_look_alikes() -> None:
    codes = {new_resume_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert normalize_resume_code(code) == code
        assert not set(code[:4]) & {"I", "O"}


def test_locales() -> None:
    assert normalize_locale("de-DE") == "de-DE"
    assert normalize_locale("en_GB") == "en_GB"
    for odd in (None, "", "x", "<script>", "a" * 17, "de-DE-" + "x" * 20):
        assert normalize_locale(odd) == "en"


def test_origin_keys_and_policy() -> None:
    assert _origin_key("HTTPS://Example.com:443/") == "https://example.com"
    assert _origin_key("http://example.com:8080") == "http://example.com:8080"
    assert _origin_key("http://[::1]:3000") == "http://[::1]:3000"

    request: Any = SimpleNamespace(
        headers={"host": "127.0.0.1:3000"}, url=SimpleNamespace(scheme="http")
    )
    policy = OriginPolicy(["https://shop.example"])
    assert policy.allows("https://shop.example", request)
    assert policy.allows("http://127.0.0.1:3000", request)  # the server's own pages
    assert not policy.allows("https://evil.example", request)
    assert not policy.allows("null", request)
    assert OriginPolicy(["*"]).allows("https://anything.example", request)


def test_clean_text_and_json() -> None:
    assert clean_text(" a\u0000b\ud800c\nd ") == "abc\nd"
    assert clean_text("a\nb", newlines=False) == "ab"
    assert clean_json({"k\u0000": ["v\u0007", 1.5, float("inf")]}) == {"k": ["v", 1.5, None]}
    with pytest.raises(ValueError, match="nested"):
        clean_json({"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}})
