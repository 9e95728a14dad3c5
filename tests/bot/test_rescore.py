"""Re-scoring stored leads (`service.rescore_all`, `qualibot rescore`): answers age and
thresholds change; the verdict follows, the status with it unless a rep decided the lead or
it has an outcome, and a lead that becomes one to hand off gets its notice, once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli import main
from bot.handoff.actions import HandoffActions
from bot.handoff.routing import HandoffRouter
from bot.registry import FlowRegistry
from bot.service import QualificationService
from flows.definitions import FrameworkOverrides, Thresholds, load_frameworks
from storage.db import fetch_outside_transaction, make_session_factory
from storage.models import Lead, OutboxMessage, Score
from tests.bot.test_cli import run, workdir  # noqa: F401  (the CLI's working directory)

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
#: 87.5/100 (budget being planned, 20k): qualified at the default threshold of 70, nurture
#: at 90.
GOOD = ["being planned", "about 20k a year", "I am the CFO and I sign", "reporting is slow",
        "next year"]
#: 100/100: qualified at either threshold.
BEST = ["allocated", "about $80k a year", "I'm the CFO and I sign the contract",
        "Our reps lose 10 hours a week to manual reporting", "this quarter"]


def service_for(factory: sessionmaker[Session], *, qualified: float = 70,
                clock: datetime = NOW) -> QualificationService:
    overrides = {"bant": FrameworkOverrides(
        thresholds=Thresholds(qualified=qualified, nurture=40))}
    return QualificationService(
        factory, FlowRegistry(load_frameworks(overrides=overrides)), clock=lambda: clock,
        router=HandoffRouter(default_channel="C0SALES"))


def qualify(service: QualificationService, company: str, answers: list[str],
            channel: str = "slack") -> int:
    result = service.start(framework="bant", company=company, channel=channel,  # type: ignore[arg-type]
                           participant="U0REP")
    for text in answers:
        result = service.answer(result.conversation_id, text, by="U0REP")
    assert result.state == "done"
    return result.lead_id


def lead(session: Session, lead_id: int) -> Lead:
    session.expire_all()
    found = session.get(Lead, lead_id)
    assert found is not None
    return found


def notices(session: Session, lead_id: int) -> int:
    return sum(1 for row in session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "handoff")) if row.payload["lead"]["id"] == lead_id)


def test_lower_thresholds_qualify_leads_and_hand_them_off_once(
    session_factory: sessionmaker[Session], db_session: Session
) -> None:
    strict = service_for(session_factory, qualified=90)
    good, best = qualify(strict, "Good", GOOD), qualify(strict, "Best", BEST)
    assert (lead(db_session, good).verdict, notices(db_session, good)) == ("nurture", 0)
    assert notices(db_session, best) == 1

    summary = service_for(session_factory).rescore_all()
    assert (summary.scored, summary.changed, summary.handed_off) == (
        2, {("nurture", "qualified"): 1}, 1)
    found = lead(db_session, good)
    assert (found.score_total, found.verdict, found.status) == (87.5, "qualified", "qualified")
    assert (notices(db_session, good), notices(db_session, best)) == (1, 1)

    again = service_for(session_factory).rescore_all()
    assert (again.scored, again.changed, again.handed_off) == (2, {}, 0)
    assert notices(db_session, good) == 1


def test_decisions_and_outcomes_stand_and_get_no_notice(
    session_factory: sessionmaker[Session], db_session: Session
) -> None:
    strict = service_for(session_factory, qualified=90)
    undecided, decided = qualify(strict, "Undecided", GOOD), qualify(strict, "Decided", GOOD)
    won = qualify(strict, "Won", BEST)
    actions = HandoffActions(session_factory)
    actions.decide(decided, "disqualified", "Student project", "U0BOB", team_id=None,
                   notice=None)
    actions.claim(won, "U0ALICE", team_id=None, notice=None)
    actions.won(won, "U0ALICE", team_id=None, notice=None)

    summary = service_for(session_factory).rescore_all()
    assert summary.changed == {("nurture", "qualified"): 2} and summary.handed_off == 1
    assert lead(db_session, undecided).status == "qualified"
    assert notices(db_session, undecided) == 1
    found = lead(db_session, decided)
    assert (found.verdict, found.status, found.status_reason) == (
        "qualified", "disqualified", "Student project")
    assert notices(db_session, decided) == 0  # a notice offering a claim would contradict it

    # by mid-2028 "this quarter" has long passed: the won deal's verdict drops, it stays won
    later = service_for(session_factory, clock=datetime(2028, 6, 1, tzinfo=UTC))
    assert later.rescore_all().changed.get(("qualified", "nurture"), 0) >= 1
    found = lead(db_session, won)
    assert (found.verdict, found.status) == ("nurture", "won")


def test_rescoring_one_decided_lead_posts_no_notice_either(
    session_factory: sessionmaker[Session], db_session: Session
) -> None:
    decided = qualify(service_for(session_factory, qualified=90), "Decided", GOOD)
    HandoffActions(session_factory).decide(decided, "nurture", "Next budget cycle", "U0BOB",
                                           team_id=None, notice=None)
    service = service_for(session_factory)
    assert service.score(decided).verdict == "qualified"
    assert (lead(db_session, decided).status, notices(db_session, decided)) == ("nurture", 0)
    undecided = qualify(service_for(session_factory, qualified=90), "Undecided", GOOD)
    assert service.score(undecided).verdict == "qualified"
    assert notices(db_session, undecided) == 1


def test_a_lead_qualified_twice_is_scored_once_from_its_latest_qualification(
    session_factory: sessionmaker[Session], db_session: Session
) -> None:
    service = service_for(session_factory)

    def visit(n: int, answers: list[str]) -> int:
        result = service.start(framework="bant", company="Acme", channel="widget",
                               participant=f"visitor-{n}", source="widget",
                               contact={"email": "dana@acme.example"})
        for text in answers:
            result = service.answer(result.conversation_id, text)
        return result.lead_id

    lead_id = visit(1, BEST)
    assert visit(2, GOOD) == lead_id
    before = db_session.scalar(select(func.count()).select_from(Score).where(
        Score.lead_id == lead_id))
    summary = service.rescore_all()
    assert summary.scored == 1
    scores = db_session.scalars(select(Score).where(Score.lead_id == lead_id)
                                .order_by(Score.id)).all()
    assert len(scores) == (before or 0) + 1 and scores[-1].total == 87.5


def test_qualibot_rescore(workdir: Path) -> None:  # noqa: F811
    for company in ("Good", "Best"):
        answers = "\n".join(GOOD if company == "Good" else BEST)
        assert run("chat", "bant", company, input=answers)[0] == 0
    Path("qualibot.toml").write_text(
        "[frameworks.bant]\nthresholds = { qualified = 90, nurture = 40 }\n")

    code, out = run("rescore", "1", "2")
    assert code == 0, out
    assert out.splitlines() == ["Lead 1 (Good): 87.5 qualified -> 87.5 nurture",
                                "Lead 2 (Best): 100.0 qualified -> 100.0 qualified"]
    Path("qualibot.toml").unlink()
    code, out = run("rescore", "--all")
    assert code == 0, out
    assert out.splitlines()[1:] == ["Verdict changed for 1 lead:", "  nurture -> qualified: 1"]
    assert out.startswith("Re-scored 2 leads as of ")


@pytest.mark.parametrize("args", [[], ["--all", "1"]])
def test_qualibot_rescore_needs_ids_or_all(workdir: Path, args: list[str]) -> None:  # noqa: F811
    result = CliRunner().invoke(main, ["rescore", *args])
    assert result.exit_code == 2
    assert "Give the lead ids to re-score, or --all" in result.output


def test_qualibot_rescore_says_which_lead_it_could_not_score(workdir: Path) -> None:  # noqa: F811
    assert run("chat", "bant", "Good", input="\n".join(GOOD))[0] == 0
    result = CliRunner().invoke(main, ["rescore", "7", "1"])
    assert result.exit_code == 1
    assert result.stderr == "Lead 7: There is no lead 7.\n"
    assert result.stdout == "Lead 1 (Good): 87.5 qualified -> 87.5 qualified\n"


def test_the_garbage_collector_is_back_as_it_was_after_a_bulk_rescore(
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    service = service_for(session_factory)
    qualify(service, "Good", GOOD)
    assert gc.isenabled()
    seen: list[bool] = []
    score = service._flows.score
    monkeypatch.setattr(service._flows, "score",
                        lambda *a, **k: seen.append(gc.isenabled()) or score(*a, **k))
    service.rescore_all()
    assert seen == [False] and gc.isenabled()  # off while scoring, on again after

    def failing(*_: object, **__: object) -> None:
        raise RuntimeError("scoring failed")

    monkeypatch.setattr(service._flows, "score", failing)
    with pytest.raises(RuntimeError):
        service.rescore_all()
    assert gc.isenabled()
    gc.disable()
    try:
        monkeypatch.setattr(service._flows, "score", score)
        service.rescore_all()
        assert not gc.isenabled()  # left off by whoever turned it off
    finally:
        gc.enable()


def test_each_batch_is_committed_as_it_goes(engine: Engine) -> None:
    """The server's turns write between two batches: one transaction for the whole run held
    SQLite's write lock for seconds (past a turn's busy timeout on a large database). Seen
    from another connection, the first batch's scores are there while the second is being
    scored."""
    factory = make_session_factory(engine)  # real commits (cleaned up below)
    flows = FlowRegistry(load_frameworks())
    now = QualificationService(factory, flows, clock=lambda: NOW)  # no router: no notices
    # in the terminal: nothing in the outbox, which deleting the leads would leave behind
    lead_ids = [qualify(now, f"Batch {i}", GOOD, channel="cli") for i in range(3)]

    def scores() -> int:  # another connection, outside any transaction (takes no lock)
        ids = ", ".join(str(i) for i in lead_ids)
        row = fetch_outside_transaction(
            engine, f"SELECT count(*) FROM scores WHERE lead_id IN ({ids})")
        return int(row[0])

    seen: list[int] = []
    score = flows.score

    def scoring(*args: Any, **kwargs: Any) -> Any:
        seen.append(scores())
        return score(*args, **kwargs)

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(flows, "score", scoring)
            later = QualificationService(factory, flows, clock=lambda: datetime(2027, 1, 4,
                                                                                tzinfo=UTC))
            later.rescore_all(batch_size=1)
        # one score each from the qualification, then one more per committed batch (ours
        # are the last three: the database is shared)
        assert seen[-3:] == [3, 4, 5]
    finally:
        with factory.begin() as session:  # their conversations, answers and scores go too
            session.execute(delete(Lead).where(Lead.id.in_(lead_ids)))
