"""The ICP pre-filter: configuration, questions and the fit score."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from flows.answers import AnswerRecord, AnswerStatus
from flows.definitions import DefinitionError
from flows.icp import (
    DATA_FILE,
    INDUSTRIES,
    REGIONS,
    SIZE_BANDS,
    IcpConfig,
    fit_score,
    icp_questions,
    load_icp_data,
)

TOML = """
[icp]
enabled = true
sizes = ["51-200", "201-1000", "1000+"]
industries = ["software", "Financial Services"]
regions = ["north_america", "uk"]
weights = { size = 40, industry = 35, region = 25 }
"""


def rec(raw: str, parsed: dict[str, Any], status: AnswerStatus = "answered") -> AnswerRecord:
    return AnswerRecord(raw=raw, parsed=parsed, status=status, readback=raw, at="2026-03-02")


@pytest.fixture
def config() -> IcpConfig:
    return IcpConfig.model_validate(tomllib.loads(TOML)["icp"])


def test_config_from_toml(config: IcpConfig) -> None:
    assert config.enabled
    assert config.sizes == ("51-200", "201-1000", "1000+")
    assert config.industries == ("software", "financial_services")  # normalized
    assert config.regions == ("north_america", "uk")
    assert config.fields() == ("size", "industry", "region")


def test_default_config_is_off_and_asks_nothing() -> None:
    config = IcpConfig()
    assert not config.enabled
    assert icp_questions(config) == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"enabled": True}, "accepts no sizes, industries or regions"),
        ({"sizes": ["10-50"]}, "sizes.0"),
        ({"regions": ["antarctica"]}, "regions.0"),
        ({"industries": ["sofware"]}, "unknown industries ['sofware']"),
        ({"weights": {"size": -1}}, "weights.size"),
        ({"weights": {"budget": 10}}, "weights.budget"),
        ({"enabled": True, "sizes": ["1-10"], "weights": {"size": 0}}, "add up to zero"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_config(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        IcpConfig.model_validate(raw)


def test_questions(config: IcpConfig) -> None:
    questions = icp_questions(config)
    assert [q.id for q in questions] == ["icp_size", "icp_industry", "icp_region"]
    for q in questions:
        assert q.criterion == q.id and q.type == "choice" and q.main
        assert q.ask.rep and q.ask.prospect and "{company}" not in q.ask.prospect
        assert q.hint
        assert all(len(c.label) <= 75 for c in q.choices)
        synonyms = [s for c in q.choices for s in c.synonyms]
        assert len(synonyms) == len(set(synonyms)), f"{q.id}: a synonym names two choices"
    size, industry, region = questions
    assert len(size.choices) == len(SIZE_BANDS)
    assert [c.value for c in industry.choices] == list(INDUSTRIES)
    assert [c.value for c in region.choices] == list(REGIONS)


def test_only_configured_fields_are_asked() -> None:
    config = IcpConfig(enabled=True, regions=("europe", "uk"))
    assert [q.id for q in icp_questions(config)] == ["icp_region"]
    fit = fit_score(config, {"icp_region": rec("Berlin", {"value": "europe"})})
    assert fit.score == 100 and [f.field for f in fit.fields] == ["region"]


def test_perfect_fit(config: IcpConfig) -> None:
    answers = {
        "icp_size": rec("about 120 people", {"value": "size_51_200"}),
        "icp_industry": rec("we make accounting software", {"value": "software"}),
        "icp_region": rec("Toronto", {"value": "north_america"}),
    }
    fit = fit_score(config, answers)
    assert fit.score == 100
    assert fit.reasons == (
        'Size 40/40: "about 120 people" — 51–200 employees, accepted',
        'Industry 35/35: "we make accounting software" — Software & SaaS, accepted',
        'Region 25/25: "Toronto" — North America, accepted',
    )


def test_partial_fit_explains_the_miss(config: IcpConfig) -> None:
    answers = {
        "icp_size": rec("just me and two friends", {"value": "size_1_10"}),
        "icp_industry": rec("fintech", {"value": "financial_services"}),
        "icp_region": rec("Singapore", {"value": "apac"}),
    }
    fit = fit_score(config, answers)
    assert fit.score == 35
    size, industry, region = fit.fields
    assert size.score == 0 and size.points == 0 and size.max_points == 40
    assert size.reason == (
        'Size 0/40: "just me and two friends" — 1–10 employees, outside the profile '
        "(51–200 employees, 201–1,000 employees, More than 1,000 employees)")
    assert industry.score == 1
    assert region.reason.startswith('Region 0/25: "Singapore" — Asia-Pacific, outside')


def test_unknown_answers_count_half_by_default(config: IcpConfig) -> None:
    answers = {
        "icp_size": rec("", {"unknown": True}, status="skipped"),
        "icp_industry": rec("it's complicated", {"unknown": True}, status="unknown"),
    }
    fit = fit_score(config, answers)
    assert fit.score == 50
    assert fit.reasons[0] == "Size 20/40: skipped; an unknown size counts 50%"
    assert fit.reasons[1] == ('Industry 17.5/35: "it\'s complicated" — not understood; '
                              "an unknown industry counts 50%")
    assert fit.reasons[2] == "Region 12.5/25: no answer; an unknown region counts 50%"
    strict = config.model_copy(update={"unknown_score": 0.0})
    assert fit_score(strict, answers).score == 0


def test_weights_change_the_fit(config: IcpConfig) -> None:
    answers = {
        "icp_size": rec("5000", {"value": "size_1000_plus"}),
        "icp_industry": rec("retail", {"value": "retail"}),
        "icp_region": rec("London", {"value": "uk"}),
    }
    assert fit_score(config, answers).score == 65
    size_heavy = IcpConfig.model_validate(
        tomllib.loads(TOML)["icp"] | {"weights": {"size": 80, "industry": 10, "region": 10}})
    assert fit_score(size_heavy, answers).score == 90


def test_fit_is_json(config: IcpConfig) -> None:
    data = fit_score(config, {}).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["score"] == 50 and len(data["fields"]) == 3


def test_fit_is_scored_apart_from_the_framework(config: IcpConfig) -> None:
    # Framework answers do not affect the fit, and the ICP question ids are their own.
    answers = {"budget": rec("approved", {"value": "allocated"})}
    assert fit_score(config, answers).score == 50
    assert all(q.id.startswith("icp_") for q in icp_questions(config))


# --- the data file (flows/icp.yaml) ------------------------------------------------------------


def test_data_file_loads_and_feeds_the_questions() -> None:
    assert DATA_FILE.name == "icp.yaml" and DATA_FILE.parent.name == "flows"
    data = load_icp_data()
    assert [c.value for c in data.industry.choices] == list(INDUSTRIES)
    assert tuple(data.size.bands) == SIZE_BANDS
    full = IcpConfig(enabled=True, sizes=SIZE_BANDS, industries=INDUSTRIES, regions=REGIONS)
    assert list(data.questions().values()) == icp_questions(full)
    size = data.size.bands["51-200"]
    assert size.value == "size_51_200" and size.between == (51, 200)


def _broken_copy(tmp_path: Path, mutate: Callable[[dict[str, Any]], None]) -> Path:
    data = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "icp.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "field", "problem"),
    [
        pytest.param(lambda d: d["industry"]["choices"][2].update(label="x" * 76),
                     "industry.choices.2.label", "at most 75", id="label-too-long"),
        pytest.param(lambda d: d["region"]["ask"].pop("prospect"),
                     "region.ask.prospect", "Field required", id="missing-phrasing"),
        pytest.param(lambda d: d["size"]["bands"]["1-10"].update(between=[10, 1]),
                     "size.bands.1-10.between", "low end", id="bad-range"),
        pytest.param(lambda d: d["size"]["bands"].pop("11-50"),
                     "size.bands", "exactly the bands", id="missing-band"),
        pytest.param(lambda d: d["size"]["bands"]["1-10"].update(value="tiny"),
                     "size.bands", "'size_1_10'", id="band-value"),
        pytest.param(lambda d: d["region"]["choices"].pop(),
                     "region", "exactly the choices", id="missing-region"),
        pytest.param(lambda d: d["industry"]["choices"][1]["synonyms"].append("saas"),
                     "industry.choices", "'saas' names two choices", id="shared-synonym"),
        pytest.param(lambda d: d["industry"]["choices"][0].update(colour="red"),
                     "industry.choices.0.colour", "Extra inputs", id="unknown-field"),
    ],
)
def test_broken_data_file_names_file_field_and_problem(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], field: str, problem: str
) -> None:
    path = _broken_copy(tmp_path, mutate)
    with pytest.raises(DefinitionError) as caught:
        load_icp_data(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: invalid ICP data")
    assert field in message and problem in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [("size: [unclosed", "not valid YAML"), ("- a list", "a mapping at the top level")],
)
def test_unreadable_data_file(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "icp.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DefinitionError, match=problem) as caught:
        load_icp_data(path)
    assert str(path) in str(caught.value)
    with pytest.raises(DefinitionError, match="cannot read"):
        load_icp_data(tmp_path / "missing.yaml")
