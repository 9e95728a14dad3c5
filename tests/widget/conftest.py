"""Widget API test plumbing: the real ASGI app (`bot.server.create_server`) on the test database.

* ``make_widget``: a factory for a `WidgetApi` — a `TestClient` on the real app, built on the
  rolled-back ``session_factory`` (requests run one at a time, so one connection is enough),
  with ``[widget]`` settings given as keyword arguments (tight limits for the limit tests,
  loose ones elsewhere) and optional ``origins`` (``QUALIBOT_WIDGET_ORIGINS``).
* ``widget``: one with the test defaults.

    def test_x(widget):
        chat = widget.start()
        reply = chat.say("Dana Lee")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config import FileConfig, Settings
from bot.handoff.routing import HandoffRouter
from bot.leads import LeadQueries
from bot.registry import FlowRegistry
from bot.runtime import Runtime
from bot.server import create_server
from bot.service import QualificationService
from flows.definitions import load_frameworks

HANDOFF_CHANNEL = "C0SALES"
API = "/widget/api"
#: Loose limits so that ordinary tests never trip them (the limit tests set their own).
TEST_DEFAULTS: dict[str, Any] = {
    "sessions_per_hour": 1000,
    "messages_per_minute": 1000,
    "events_per_minute": 1000,
    "resumes_per_hour": 1000,
}
CONTACT = ["Dana Lee", "dana@acme.example", "Acme Logistics"]
# BANT answers that qualify, as a visitor types or clicks them (("choice", value) = a click).
QUALIFYING: list[str | tuple[str, str]] = [
    ("choice", "allocated"),
    "about $80k a year",
    "I'm the CFO and I sign the contract",
    "Our reps lose 10 hours a week to manual reporting",
    "this quarter",
]

# ... and answers that make a nurture lead (authority not met).
NURTURING: list[str | tuple[str, str]] = [
    ("choice", "planned"),
    "about 20k a year",
    "I'm an analyst, I'll use it day to day",
    "We want better forecasts across our regional teams",
    "in about six months",
]


@pytest.fixture(scope="session")
def flows() -> FlowRegistry:
    return FlowRegistry(load_frameworks())


@dataclass
class Chat:
    """One visitor's session, driven through the HTTP API."""

    api: WidgetApi
    session_id: str
    token: str
    resume_code: str
    first: list[dict[str, Any]]
    shown: list[dict[str, Any]] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def send(self, body: dict[str, Any], **kwargs: Any) -> Any:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        if "content" not in kwargs:
            kwargs["json"] = body
        return self.api.client.post(
            f"{API}/sessions/{self.session_id}/messages", headers=headers, **kwargs
        )

    def say(self, answer: str | tuple[str, str]) -> dict[str, Any]:
        """Type (or click) an answer; assert it went through; record what the screen shows."""
        if isinstance(answer, tuple):
            value = answer[1]
            options = [o for o in (self.question() or {}).get("options", [])]
            label = next(o["label"] for o in options if o["value"] == value)
            response = self.send({"choice": value})
            shown = label
        else:
            response = self.send({"text": answer})
            shown = answer
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        self.shown += [{"from": "visitor", "text": shown}, *body["messages"]]
        return body

    def question(self) -> dict[str, Any] | None:
        for message in reversed(self.shown):
            if message["from"] == "visitor":
                return None
            if "question" in message:
                return dict(message["question"])
        return None

    def history(self) -> Any:
        return self.api.client.get(f"{API}/sessions/{self.session_id}", headers=self.auth)

    def event(self, event: str, props: dict[str, Any] | None = None) -> Any:
        body: dict[str, Any] = {"event": event}
        if props is not None:
            body["props"] = props
        return self.api.client.post(
            f"{API}/sessions/{self.session_id}/events", json=body, headers=self.auth
        )


@dataclass
class WidgetApi:
    client: TestClient
    runtime: Runtime
    app: Any

    def start(self, **body: Any) -> Chat:
        response = self.client.post(f"{API}/sessions", json=body)
        assert response.status_code == 201, response.text
        data = response.json()
        chat = Chat(self, data["session_id"], data["token"], data["resume_code"], data["messages"])
        chat.shown = list(data["messages"])
        return chat

    def qualified_chat(self) -> Chat:
        chat = self.start()
        for answer in [*CONTACT]:
            chat.say(answer)
        chat.say(("choice", "yes"))
        for answer in QUALIFYING:
            chat.say(answer)
        return chat


def build_runtime_on(
    engine: Engine,
    session_factory: sessionmaker[Session],
    flows: FlowRegistry,
    *,
    origins: str | None = None,
    widget: dict[str, Any] | None = None,
    handoff_channel: str | None = HANDOFF_CHANNEL,
) -> Runtime:
    env: dict[str, Any] = {"QUALIBOT_HANDOFF_CHANNEL": handoff_channel}
    if origins is not None:
        env["QUALIBOT_WIDGET_ORIGINS"] = origins
    settings = Settings(_env_file=None, **env)  # type: ignore[call-arg]
    service = QualificationService(
        session_factory, flows, router=HandoffRouter(default_channel=handoff_channel)
    )
    return Runtime(
        settings,
        FileConfig(widget={**TEST_DEFAULTS, **(widget or {})}),
        engine,
        session_factory,
        flows,
        service,
        LeadQueries(session_factory),
    )


@pytest.fixture
def make_widget(
    engine: Engine, session_factory: sessionmaker[Session], flows: FlowRegistry
) -> Iterator[Callable[..., WidgetApi]]:
    clients: list[TestClient] = []

    def make(*, origins: str | None = None, **widget: Any) -> WidgetApi:
        runtime = build_runtime_on(engine, session_factory, flows, origins=origins, widget=widget)
        app = create_server(runtime)
        client = TestClient(app)
        clients.append(client)
        return WidgetApi(client, runtime, app)

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def widget(make_widget: Callable[..., WidgetApi]) -> WidgetApi:
    return make_widget()
