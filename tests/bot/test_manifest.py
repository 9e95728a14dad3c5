"""`manifest.yml`: valid against Slack's published schema, and what the product needs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from tests.fakeslack import BOT_SCOPES

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "manifest.yml"
SCHEMA = ROOT / "tests" / "data" / "slack" / "manifest.schema.1.0.0.json"

EXPECTED_SCOPES = ["commands", "chat:write", "im:history", "im:write", "users:read",
                   "channels:history", "groups:history"]
EXPECTED_EVENTS = ["app_home_opened", "message.im", "app_uninstalled", "tokens_revoked"]
USAGE_HINT = "[bant|champ|meddic|gpctba] <company> | list | show <lead> | cancel | help"


def load_manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@dataclass(frozen=True)
class ManifestIds:
    """The ids in `manifest.yml` that code must handle."""

    commands: frozenset[str]  # "/qualify"
    events: frozenset[str]  # Events API event types: "message" for "message.im", ...
    shortcut_callback_ids: frozenset[str]


def manifest_ids() -> ManifestIds:
    """The command names, event types and shortcut callback ids declared in `manifest.yml`,
    for the test that checks every one of them has a listener (and vice versa).

    Event subscriptions name `message.im`; the event that arrives (and that Bolt's
    `app.event` takes) is `message` with `channel_type: im`, so `.im` is dropped here."""
    manifest = load_manifest()
    features = manifest.get("features", {})
    events = manifest.get("settings", {}).get("event_subscriptions", {}).get("bot_events", [])
    return ManifestIds(
        commands=frozenset(c["command"] for c in features.get("slash_commands", [])),
        events=frozenset(e.split(".", 1)[0] for e in events),
        shortcut_callback_ids=frozenset(s["callback_id"] for s in features.get("shortcuts", [])),
    )


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return load_manifest()


def test_validates_against_slacks_schema(manifest: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    assert validator_class is jsonschema.Draft7Validator
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(manifest)]
    assert errors == []


def test_schema_catches_mistakes(manifest: dict[str, Any]) -> None:
    """The validation above has teeth: typical slips are rejected."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken_copies = []
    for path, value in [
        (("features", "slash_commands", 0, "command"), "qualify"),  # no leading slash
        (("settings", "interactivity", "request_url"), "/slack/events"),  # not absolute
        (("display_information", "name"), "Q" * 36),
        (("features", "bot_user", "always_online"), "yes"),
    ]:
        copy = json.loads(json.dumps(manifest))
        target = copy
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        broken_copies.append(copy)
    copy = json.loads(json.dumps(manifest))
    copy["settings"]["interactivity"]["url"] = copy["settings"]["interactivity"].pop(
        "request_url"
    )
    broken_copies.append(copy)
    for broken in broken_copies:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema, cls=jsonschema.Draft7Validator)


def test_background_color_is_a_hex_color(manifest: dict[str, Any]) -> None:
    # The schema states this with a non-standard "regex" keyword that validators ignore.
    color = manifest["display_information"]["background_color"]
    assert re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", color)


def test_slash_command(manifest: dict[str, Any]) -> None:
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/qualify"
    assert command["usage_hint"] == USAGE_HINT
    assert command["url"].endswith("/slack/events")
    assert command.get("should_escape", False) is False  # company names arrive as typed


def test_bot_scopes_are_exactly_what_the_product_uses(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]
    assert scopes["bot"] == EXPECTED_SCOPES
    assert set(scopes) == {"bot"}  # no user scopes, no optional scopes
    assert sorted(BOT_SCOPES) == sorted(EXPECTED_SCOPES)  # the fake Slack grants the same


def test_events_interactivity_and_oauth_urls(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    events = settings["event_subscriptions"]
    assert events["bot_events"] == EXPECTED_EVENTS
    assert "user_events" not in events
    assert events["request_url"].endswith("/slack/events")
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"].endswith("/slack/events")
    [redirect] = manifest["oauth_config"]["redirect_urls"]
    assert redirect.endswith("/slack/oauth_redirect")
    urls = [
        events["request_url"],
        settings["interactivity"]["request_url"],
        redirect,
        *(c["url"] for c in manifest["features"]["slash_commands"]),
    ]
    assert {urlsplit(u).scheme for u in urls} == {"https"}
    assert len({urlsplit(u).netloc for u in urls}) == 1  # one host to replace on deploy
    assert settings.get("socket_mode_enabled", False) is False


def test_app_home_and_bot_user(manifest: dict[str, Any]) -> None:
    features = manifest["features"]
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["app_home"]["messages_tab_enabled"] is True
    assert features["app_home"].get("messages_tab_read_only_enabled", False) is False
    assert features["bot_user"]["always_online"] is True
    assert features["bot_user"]["display_name"]


def test_manifest_ids() -> None:
    ids = manifest_ids()
    assert ids.commands == {"/qualify"}
    assert ids.events == {"app_home_opened", "message", "app_uninstalled", "tokens_revoked"}
    assert ids.shortcut_callback_ids == frozenset()


# -- the code handles what the manifest declares, and declares what the code handles ----------


class _RecordingApp:
    """Stands in for a Bolt `App` to record what `register_listeners` registers."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.events: list[str] = []
        self.actions: list[Any] = []
        self.views: list[str] = []

    def _record(self, into: list[Any], key: Any) -> Any:
        into.append(key)
        return lambda listener: listener

    def command(self, command: str, **_: Any) -> Any:
        return self._record(self.commands, str(command))

    def event(self, event: str, **_: Any) -> Any:
        return self._record(self.events, str(event))

    def action(self, action: Any, **_: Any) -> Any:
        return self._record(self.actions, action if isinstance(action, re.Pattern) else str(action))

    def view(self, callback_id: str, **_: Any) -> Any:
        return self._record(self.views, str(callback_id))


def _registered() -> _RecordingApp:
    from bot.slack.listeners import register_listeners

    app = _RecordingApp()
    register_listeners(app)  # type: ignore[arg-type]
    return app


def _handled(action_id: str, app: _RecordingApp) -> bool:
    return any(
        (a.match(action_id) if isinstance(a, re.Pattern) else a == action_id) for a in app.actions
    )


def test_every_command_and_event_in_the_manifest_has_a_listener_and_vice_versa() -> None:
    from bot.slack.ids import Command, EventType

    app = _registered()
    declared = manifest_ids()
    assert set(app.commands) == declared.commands == {c.value for c in Command}
    assert set(app.events) == declared.events == {e.value for e in EventType}
    assert declared.shortcut_callback_ids <= set(app.views)


def test_every_action_and_callback_id_has_a_listener_and_vice_versa() -> None:
    from bot.slack.ids import ActionId, CallbackId, choice_action_id

    app = _registered()
    for action in ActionId:
        wanted = choice_action_id("allocated") if action is ActionId.ANSWER_CHOICE else action
        assert _handled(wanted, app), f"no listener for action {action}"
    for registered in app.actions:
        if isinstance(registered, re.Pattern):
            assert registered.pattern.startswith(f"^{ActionId.ANSWER_CHOICE.value}:")
        else:
            assert registered in {a.value for a in ActionId}, registered
    assert sorted(app.views) == sorted(c.value for c in CallbackId)


def test_every_interactive_element_the_templates_render_has_a_listener() -> None:
    """Buttons and menus that dispatch actions (not modal inputs) in every template."""
    from bot.registry import FlowRegistry
    from bot.slack import present
    from bot.slack.ids import CallbackId, InputId
    from bot.slack.notices import render_handoff
    from bot.slack.render import render_blocks
    from flows.definitions import load_frameworks

    flows = FlowRegistry(load_frameworks())
    row = {"conversation_id": 1, "lead_id": 2, "company": "Acme", "framework_name": "BANT",
           "where": "at budget", "paused": False, "version": 3}
    recent = {"lead_id": 2, "company": "Acme", "framework_name": "BANT", "status": "qualified",
              "verdict": "qualified", "score": 80, "decision": None, "owner": None}
    question = {"id": "budget", "criterion": "budget", "text": "Budget?", "type": "choice",
                "options": [{"label": "Yes", "value": "allocated"}]}
    rendered = [
        render_blocks("question.json.j2", question=question, conversation_id=1,
                      position={"index": 2, "total": 4}),
        render_blocks("home.json.j2", in_progress=[row], more_in_progress=2, recent=[recent],
                      owned=[{**recent, "lead_id": 3}]),
        render_blocks("lead_list.json.j2", in_progress=[row], more_in_progress=2,
                      recent=[recent], owned=[{**recent, "lead_id": 3}]),
        render_handoff({"channel": "C1", "lead": {"id": 2, "company": "Acme", "source": "rep"},
                        "framework": "bant", "answers": [],
                        "score": {"total": 80, "verdict": "qualified", "criteria": []}}),
    ]
    views = [
        render_blocks("qualify_modal.json.j2", frameworks=present.frameworks_menu(flows),
                      selected=fw, questions=present.modal_questions(flows.flows[fw]),
                      private_metadata="{}", company="")
        for fw in flows.flows
    ]
    app = _registered()
    question_ids = {q.id for flow in flows.flows.values() for q in flow.questions}
    inputs = {i.value for i in InputId} | question_ids
    found: set[str] = set()

    def walk(node: Any, in_input: bool = False) -> None:
        if isinstance(node, dict):
            if node.get("type") == "input":
                in_input = not node.get("dispatch_action", False)
            if "action_id" in node and not in_input:
                found.add(node["action_id"])
            elif "action_id" in node:
                assert node["action_id"] in inputs, node["action_id"]
            for value in node.values():
                walk(value, in_input)
        elif isinstance(node, list):
            for value in node:
                walk(value, in_input)

    for payload in [*rendered, *views]:
        walk(payload)
        if payload.get("callback_id"):
            assert payload["callback_id"] in app.views
    assert found, "no interactive elements found"
    for action_id in found:
        assert _handled(action_id, app), f"{action_id} is rendered but nothing handles it"
    lead = {"id": 2, "company": "Acme", "framework_name": "BANT", "source": "rep",
            "status": "qualified", "status_reason": None, "owner": None, "contact": [],
            "answers": [], "score": None}
    for view in (
        render_blocks("answers_modal.json.j2", lead=lead),
        render_blocks("reason_modal.json.j2", lead=lead, status="nurture", private_metadata=""),
    ):
        walk(view)
        assert view["callback_id"] in app.views
    assert {v.value for v in CallbackId} <= set(app.views)


def test_install_scopes_are_the_manifests() -> None:
    from bot.slack.app import BOT_SCOPES

    assert list(BOT_SCOPES) == load_manifest()["oauth_config"]["scopes"]["bot"]
