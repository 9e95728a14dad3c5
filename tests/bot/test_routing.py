"""Handoff routing: `[handoff]` rules, the default channel, round-robin assignment and the DM
to the assignee, through the service and the dispatcher (SQLite, or PostgreSQL)."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session, sessionmaker

from bot.config import FileConfig, Settings
from bot.handoff.actions import HandoffActions
from bot.handoff.config import HandoffConfig, HandoffRule, segment_bands
from bot.handoff.routing import HandoffRouter, LeadFacts, next_in_turn, round_robin_name
from bot.registry import FlowRegistry
from bot.runtime import build_runtime
from bot.service import QualificationService
from flows.definitions import load_frameworks
from flows.icp import IcpConfig
from storage.db import make_session_factory
from storage.models import Lead, RoundRobin
from tests.bot.dispatchkit import (
    HOSTILE,
    HOSTILE_ESCAPED,
    TEAM,
    FakeClock,
    blocks_by_id,
    drain,
    make_dispatcher,
    rows,
)
from tests.fakeslack import FakeSlack

REP = "U0REP0001"
REPS = ["U0ALICE", "U0BOB", "U0CAROL"]
QUALIFIED = ["allocated", "about $80k a year", "I'm the CFO and I sign the contract",
             "Our reps lose 10 hours a week to manual reporting", "this quarter"]  # 100
QUALIFIED_82 = ["planned", "about $20k a year", "I'm the head of sales ops, I recommend",
                "Our reps lose 10 hours a week to manual reporting", "next year"]  # 81.8
NURTURE = [*QUALIFIED[:4], "no timeline"]  # 80, capped at nurture
POOR = ["no budget", "I'm an analyst looking around", "Just curious what's out there",
        "no timeline"]


def facts(**overrides: Any) -> LeadFacts:
    values: dict[str, Any] = {"framework": "bant", "verdict": "qualified", "score": 85.0,
                              "source": "rep", "region": None, "band": None}
    values.update(overrides)
    return LeadFacts(**values)


def router(*rules: dict[str, Any], default: str | None = None,
           verdicts: tuple[str, ...] = ("qualified",)) -> HandoffRouter:
    config = HandoffConfig.model_validate({"verdicts": list(verdicts), "rules": list(rules)})
    return HandoffRouter(config, default_channel=default)


# -- the rules, one filter at a time ----------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "matching", "other"),
    [
        ({"framework": "MEDDIC"}, {"framework": "meddic"}, {"framework": "bant"}),
        ({"framework": ["bant", "champ"]}, {"framework": "champ"}, {"framework": "gpctba"}),
        ({"verdict": "nurture"}, {"verdict": "nurture"}, {"verdict": "qualified"}),
        ({"min_score": 80}, {"score": 80.0}, {"score": 79.9}),
        ({"max_score": 60}, {"score": 60.0}, {"score": 60.1}),
        ({"min_score": 50, "max_score": 79.9}, {"score": 65.0}, {"score": 80.0}),
        ({"source": "widget"}, {"source": "widget"}, {"source": "rep"}),
        ({"region": ["europe", "uk"]}, {"region": "uk"}, {"region": "north_america"}),
        ({"region": "europe"}, {"region": "europe"}, {"region": None}),
        ({"segment": "enterprise"}, {"band": "1000+"}, {"band": "201-1000"}),
        ({"segment": ["smb"]}, {"band": "11-50"}, {"band": "51-200"}),
        ({"segment": "51-200"}, {"band": "51-200"}, {"band": None}),
        ({"segment": "size_201_1000"}, {"band": "201-1000"}, {"band": "1000+"}),
    ],
)
def test_each_filter(rule: dict[str, Any], matching: dict[str, Any],
                     other: dict[str, Any]) -> None:
    routed = router({**rule, "channel": "C0RULE"}, default="C0DEFAULT")
    assert routed.channel_for(facts(**matching)) == "C0RULE"
    assert routed.channel_for(facts(**other)) == "C0DEFAULT"


def test_first_matching_rule_wins_and_all_filters_must_hold() -> None:
    routed = router(
        {"framework": "meddic", "min_score": 80, "region": "north_america",
         "channel": "C0BIGNA"},
        {"framework": "meddic", "channel": "C0MEDDIC"},
        {"min_score": 0, "channel": "C0ALL"},
        {"framework": "meddic", "channel": "C0NEVER"},
    )
    assert routed.channel_for(facts(framework="meddic", score=90, region="north_america")) \
        == "C0BIGNA"
    assert routed.channel_for(facts(framework="meddic", score=90, region="europe")) \
        == "C0MEDDIC"
    assert routed.channel_for(facts(framework="bant")) == "C0ALL"


def test_default_channel_and_nothing() -> None:
    assert router(default="C0DEFAULT").channel_for(facts()) == "C0DEFAULT"
    assert router({"source": "widget", "channel": "C0W"}).channel_for(facts()) is None


def test_config_is_checked() -> None:
    with pytest.raises(ValidationError, match="not a Slack channel ID"):
        HandoffRule(channel="#sales")
    with pytest.raises(ValidationError, match="unknown segment"):
        HandoffRule.model_validate({"segment": "huge", "channel": "C0X"})
    with pytest.raises(ValidationError, match="above max_score"):
        HandoffRule(min_score=80, max_score=50, channel="C0X")
    with pytest.raises(ValidationError, match="not Slack user IDs"):
        HandoffRule.model_validate({"assign": ["alice"], "channel": "C0X"})
    with pytest.raises(ValidationError):
        HandoffRule.model_validate({"region": "mars", "channel": "C0X"})
    with pytest.raises(ValidationError):
        HandoffConfig.model_validate({"verdicts": ["hot"]})
    with pytest.raises(ValidationError):
        HandoffConfig.model_validate({"rules": [{"channel": "C0X", "colour": "red"}]})
    assert segment_bands("mid-market") == ("51-200", "201-1000")
    assert HandoffConfig().verdicts == ("qualified",)


def test_qualibot_toml_and_the_runtime(tmp_path: Path) -> None:
    toml = tmp_path / "qualibot.toml"
    toml.write_text(
        '[handoff]\nverdicts = ["qualified", "nurture"]\n\n'
        '[[handoff.rules]]\nname = "inbound"\nsource = "widget"\nchannel = "C0INBOUND"\n'
        'assign = ["U0ALICE", "U0BOB"]\n',
        encoding="utf-8",
    )
    settings = Settings(QUALIBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'q.db'}",
                        QUALIBOT_CONFIG=toml, QUALIBOT_HANDOFF_CHANNEL="C0DEFAULT")
    config = settings.load_file_config()
    assert isinstance(config, FileConfig)
    assert config.handoff.rules[0].assign == ("U0ALICE", "U0BOB")
    runtime = build_runtime(settings)
    try:
        routed = runtime.service._router
        assert isinstance(routed, HandoffRouter)
        assert routed.verdicts == {"qualified", "nurture"}
        assert routed.default_channel == "C0DEFAULT"
        assert routed.channel_for(facts(source="widget")) == "C0INBOUND"
    finally:
        runtime.close()


# -- through the service ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def icp_flows() -> FlowRegistry:
    icp = IcpConfig(enabled=True, sizes=("51-200", "201-1000", "1000+"),
                    regions=("north_america", "europe", "uk"))
    return FlowRegistry(load_frameworks(), icp)


@pytest.fixture(scope="module")
def flows() -> FlowRegistry:
    return FlowRegistry(load_frameworks())


def qualify(service: QualificationService, answers: list[str], *, company: str = "Acme",
            icp: tuple[str, str] | None = None) -> int:
    result = service.start(framework="bant", company=company, channel="slack",
                           participant=REP, team_id=TEAM)
    conversation_id = result.conversation_id
    if icp is not None:
        for value in icp:
            service.choose(conversation_id, value, by=REP)
    for answer in answers:
        result = service.answer(conversation_id, answer, by=REP)
    assert result.done
    return result.lead_id


def handoffs(session_factory: sessionmaker[Session]) -> dict[int, str]:
    """lead id -> the lane (channel) of its handoff notice."""
    return {r.payload["lead"]["id"]: r.lane for r in rows(session_factory, "handoff")}


def test_region_and_segment_come_from_the_icp_answers(
    session_factory: sessionmaker[Session], icp_flows: FlowRegistry,
) -> None:
    routed = router({"region": "europe", "channel": "C0EUROPE"},
                    {"segment": "enterprise", "channel": "C0ENTERPRISE"}, default="C0DEFAULT")
    service = QualificationService(session_factory, icp_flows, router=routed,
                                   handoff_verdicts=routed.verdicts)
    enterprise_us = qualify(service, QUALIFIED, icp=("size_1000_plus", "north_america"))
    mid_eu = qualify(service, QUALIFIED, icp=("size_51_200", "europe"))
    mid_us = qualify(service, QUALIFIED, icp=("size_51_200", "north_america"))
    enterprise_eu = qualify(service, QUALIFIED, icp=("size_1000_plus", "europe"))
    assert handoffs(session_factory) == {
        enterprise_us: "C0ENTERPRISE", mid_eu: "C0EUROPE", mid_us: "C0DEFAULT",
        enterprise_eu: "C0EUROPE",  # the first rule that matches wins
    }
    [notice] = [r for r in rows(session_factory, "handoff")
                if r.payload["lead"]["id"] == mid_eu]
    assert notice.payload["channel"] == "C0EUROPE"


def test_verdicts_and_score_bands(
    session_factory: sessionmaker[Session], flows: FlowRegistry,
) -> None:
    routed = router(
        {"verdict": "nurture", "channel": "C0NURTURE"},
        {"verdict": "qualified", "min_score": 90, "channel": "C0HOT"},
        {"verdict": "qualified", "max_score": 89.9, "channel": "C0WARM"},
        verdicts=("qualified", "nurture"),
    )
    service = QualificationService(session_factory, flows, router=routed,
                                   handoff_verdicts=routed.verdicts)
    hot = qualify(service, QUALIFIED)
    warm = qualify(service, QUALIFIED_82)
    nurture = qualify(service, NURTURE)
    poor = qualify(service, POOR)  # disqualified: not in `verdicts`, no notice
    assert handoffs(session_factory) == {hot: "C0HOT", warm: "C0WARM", nurture: "C0NURTURE"}
    assert poor not in handoffs(session_factory)


def test_no_rule_and_no_default_means_no_notice_said_once(
    session_factory: sessionmaker[Session], flows: FlowRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    routed = router({"source": "widget", "channel": "C0INBOUND"})
    service = QualificationService(session_factory, flows, router=routed)
    with caplog.at_level(logging.INFO, logger="bot.handoff.routing"):
        qualify(service, QUALIFIED)
        qualify(service, QUALIFIED)
    assert handoffs(session_factory) == {}
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "QUALIBOT_HANDOFF_CHANNEL" in warnings[0].getMessage()


def test_round_robin_across_three_reps_with_a_dm_each(
    session_factory: sessionmaker[Session], flows: FlowRegistry, fake_slack: FakeSlack,
) -> None:
    routed = router({"channel": "C0SALES", "assign": REPS})
    service = QualificationService(session_factory, flows, router=routed)
    leads = [qualify(service, QUALIFIED, company=f"{HOSTILE} #{i}") for i in range(6)]

    with session_factory() as session:
        owners = [session.get(Lead, lead_id).owner for lead_id in leads]  # type: ignore[union-attr]
    assert owners == REPS + REPS

    dms = rows(session_factory, "dm")
    assert [(d.lane, d.payload["user"]) for d in dms] == [(f"dm:{r}", r) for r in REPS + REPS]
    assert all(d.payload["team_id"] == TEAM for d in dms)
    notices = rows(session_factory, "handoff")
    assert [n.payload["lead"]["owner"] for n in notices] == REPS + REPS

    clock = FakeClock()
    drain(make_dispatcher(session_factory, fake_slack, clock), clock)
    for i, rep in enumerate(REPS):
        texts = [m["text"] for m in fake_slack.messages(FakeSlack.dm_channel(rep))]
        assert len(texts) == 2
        assert f"*{HOSTILE_ESCAPED} #{i}*" in texts[0] and "<#C0SALES>" in texts[0]
        assert "BANT score 100/100, qualified" in texts[0]
    first = fake_slack.messages("C0SALES")[0]
    fields = [f["text"] for f in blocks_by_id(first)["handoff_summary"]["fields"]]
    assert "*Owner*\n<@U0ALICE>" in fields


def test_a_rescore_does_not_assign_or_notify_again(
    session_factory: sessionmaker[Session], flows: FlowRegistry,
) -> None:
    routed = router({"channel": "C0SALES", "assign": REPS})
    service = QualificationService(session_factory, flows, router=routed)
    lead_id = qualify(service, QUALIFIED)
    service.score(lead_id)
    service.score(lead_id)
    assert len(rows(session_factory, "dm")) == 1  # the lead has its owner: no new turn
    with session_factory() as session:
        assert session.get(Lead, lead_id).owner == "U0ALICE"  # type: ignore[union-attr]
        rr = session.get(RoundRobin, round_robin_name(routed.config.rules[0]))
        assert rr is not None and rr.position == 1


def test_a_lead_with_an_owner_that_qualifies_again_tells_the_owner(
    session_factory: sessionmaker[Session], flows: FlowRegistry, fake_slack: FakeSlack,
) -> None:
    # A visitor comes back (same work email) and qualifies again: a new notice is posted,
    # and the rep who claimed the lead used to learn of it only by reading the channel.
    service = QualificationService(session_factory, flows, router=router(default="C0SALES"))

    def visit(n: int) -> int:
        result = service.start(framework="bant", company="Acme", channel="widget",
                               participant=f"visitor-{n}", source="widget", team_id=TEAM,
                               contact={"email": "dana@acme.example"})
        for answer in QUALIFIED:
            result = service.answer(result.conversation_id, answer)
        assert result.done
        return result.lead_id

    lead_id = visit(1)
    assert rows(session_factory, "dm") == []  # nobody owns it yet
    HandoffActions(session_factory).claim(lead_id, "U0ALICE", team_id=TEAM, notice=None)
    assert visit(2) == lead_id
    [dm] = rows(session_factory, "dm")
    assert dm.payload["user"] == "U0ALICE" and dm.lane == "dm:U0ALICE"
    assert dm.payload["text"] == (
        "Your lead qualified again: *Acme* — BANT score 100/100, qualified. "
        "The new handoff notice is in <#C0SALES>."
    )
    assert len(rows(session_factory, "handoff")) == 2


def test_round_robin_takes_turns_under_concurrency(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    name = "handoff:test-concurrency"
    picks: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def pick(n: int) -> None:
        try:
            for _ in range(n):
                with sessions.begin() as session:
                    rep = next_in_turn(session, name, tuple(REPS))
                with lock:
                    picks.append(rep)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=pick, args=(6,)) for _ in range(3)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        assert Counter(picks) == {rep: 6 for rep in REPS}
    finally:
        with sessions.begin() as session:
            session.execute(delete(RoundRobin).where(RoundRobin.name == name))


def test_rules_that_can_never_match_stop_start_up_naming_the_file_and_the_rule(
    tmp_path: Path,
) -> None:
    from bot.config import ConfigError

    toml = tmp_path / "qualibot.toml"
    toml.write_text(
        '[[handoff.rules]]\nname = "enterprise"\nframework = "medic"\nchannel = "C0ENT"\n\n'
        '[[handoff.rules]]\nverdict = "nurture"\nchannel = "C0NURTURE"\n\n'
        '[[handoff.rules]]\nregion = "europe"\nsegment = "enterprise"\nchannel = "C0EMEA"\n\n'
        '[[handoff.rules]]\nframework = ["bant", "MEDDIC"]\nverdict = ["qualified", "nurture"]\n'
        'channel = "C0FINE"\n',
        encoding="utf-8",
    )
    settings = Settings(QUALIBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'q.db'}",
                        QUALIBOT_CONFIG=toml)
    with pytest.raises(ConfigError) as raised:
        build_runtime(settings)
    assert str(raised.value).splitlines() == [
        f"{toml}: [handoff] rules that can never match",
        "  [[handoff.rules]] #1 ('enterprise'): unknown framework medic; known: bant, champ, "
        "gpctba, meddic",
        "  [[handoff.rules]] #2: verdict nurture never gets a notice; add it to [handoff] "
        "verdicts (now qualified)",
        "  [[handoff.rules]] #3: filters on region, but the ICP question it reads is not asked; "
        "set [icp] enabled = true and regions",
        "  [[handoff.rules]] #3: filters on segment, but the ICP question it reads is not "
        "asked; set [icp] enabled = true and sizes",
    ]


def test_an_invalid_rule_is_named_as_the_admin_counts_it(tmp_path: Path) -> None:
    from bot.config import ConfigError

    toml = tmp_path / "qualibot.toml"
    toml.write_text(
        '[[handoff.rules]]\nchannel = "C0FINE"\n\n'
        '[[handoff.rules]]\nname = "inbound"\nchanel = "C0INBOUND"\n\n'
        '[[handoff.rules]]\nmin_score = 800\nchannel = "#sales"\n',
        encoding="utf-8",
    )
    settings = Settings(QUALIBOT_CONFIG=toml)
    with pytest.raises(ConfigError) as raised:
        settings.load_file_config()
    lines = str(raised.value).splitlines()
    assert lines[0] == f"{toml}: invalid configuration"
    assert "  [[handoff.rules]] #2 ('inbound') channel: Field required" in lines
    assert "  [[handoff.rules]] #2 ('inbound') chanel: Extra inputs are not permitted" in lines
    assert any(line.startswith("  [[handoff.rules]] #3 min_score: ") for line in lines)
    assert any(line.startswith("  [[handoff.rules]] #3 channel: ") and "'#sales'" in line
               for line in lines)


def test_a_default_channel_given_by_name_stops_start_up(tmp_path: Path) -> None:
    from bot.config import ConfigError

    settings = Settings(QUALIBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'q.db'}",
                        QUALIBOT_CONFIG=tmp_path / "none.toml",
                        QUALIBOT_HANDOFF_CHANNEL="#sales")
    with pytest.raises(ConfigError, match=r"^QUALIBOT_HANDOFF_CHANNEL: '#sales' is not a "
                                          r"Slack channel ID \(like C0123ABCD\)"):
        build_runtime(settings)


def test_an_empty_list_of_reps_is_refused() -> None:
    with pytest.raises(ValidationError, match="no reps to take turns; list their user IDs, or "
                                              "leave assign out"):
        HandoffRule.model_validate({"assign": [], "channel": "C0X"})
    assert HandoffRule(channel="C0X").assign == ()  # no assign: no assignment, as before


def test_two_rules_with_one_name_are_refused() -> None:
    rules = [{"name": "team", "channel": "C0A", "assign": ["U0ALICE", "U0BOB"]},
             {"channel": "C0B"},
             {"name": "team", "channel": "C0C", "assign": ["U0CAROL", "U0DAN", "U0ERIN"]}]
    with pytest.raises(ValidationError, match="rules #1 and #3 are both named 'team'"):
        HandoffConfig.model_validate({"rules": rules})
