"""Property-based tests of the widget's JSON API against its own OpenAPI schema (schemathesis).

Every `/widget/api/...` operation of the real app, on the rolled-back test database, with
schemathesis' generated requests (valid and invalid ones), checking that

* no request gets a 5xx;
* status codes, content types, headers and bodies are the ones the schema documents;
* every error is `{"error": {"code", "message"}}`.

Two runs: one with a real session's id and bearer token (so the handlers themselves are
exercised, not only the 401 path), and one with random ids and tokens (401/404, never 5xx).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from bot.registry import FlowRegistry
from bot.server import create_server
from flows.definitions import load_frameworks

from .conftest import API, Chat, WidgetApi, build_runtime_on

#: Rate limits far out of reach, so that no 429 hides what a handler does.
NO_LIMITS: dict[str, Any] = {
    "sessions_per_hour": 1_000_000,
    "messages_per_minute": 1_000_000,
    "events_per_minute": 1_000_000,
    "resumes_per_hour": 1_000_000,
}

NO_SUCH_SESSION = "00000000-0000-4000-8000-000000000000"

FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Errors are `{"error": {"code": str, "message": str}}` and nothing else."""
    if response.status_code < 400:
        return None
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}, body
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body
    return True


CHECKS: list[Callable[..., bool | None]] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    error_shape,
]


def _schema() -> Any:
    """The schema of an app like the tests' (its database is never touched: the requests go
    to each test's own app, on the rolled-back test database)."""
    engine = create_engine("sqlite://")
    flows = FlowRegistry(load_frameworks())
    app = create_server(build_runtime_on(engine, sessionmaker(bind=engine), flows))
    return schemathesis.openapi.from_asgi("/openapi.json", app).include(
        path_regex=r"^/widget/api/"
    )


schema = _schema()


@pytest.fixture
def widget_api(make_widget: Callable[..., WidgetApi]) -> WidgetApi:
    return make_widget(**NO_LIMITS)


@pytest.fixture
def live(widget_api: WidgetApi) -> dict[str, str]:
    """A real session; its token is updated when a generated resume rotates it."""
    chat: Chat = widget_api.start()
    return {"session_id": chat.session_id, "token": chat.token, "resume_code": chat.resume_code}




def test_the_schema_covers_every_widget_operation() -> None:
    operations = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert operations == {
        ("POST", "/widget/api/sessions"),
        ("GET", "/widget/api/sessions/{session_id}"),
        ("POST", "/widget/api/sessions/{session_id}/messages"),
        ("POST", "/widget/api/sessions/{session_id}/events"),
        ("POST", "/widget/api/resume"),
        ("GET", "/widget/api/opening"),
    }


@schema.parametrize()
@FUZZ
def test_with_a_real_session(case: Any, widget_api: WidgetApi, live: dict[str, str]) -> None:
    """The generated request on the live session, with its token (and, for resume, also
    with the real resume code)."""
    has_session = "session_id" in (case.path_parameters or {})
    if has_session:
        case.path_parameters["session_id"] = live["session_id"]
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {live['token']}"}
    response = case.call_and_validate(checks=CHECKS, app=widget_api.app)
    if has_session and case.method == case.operation.method.upper():
        assert response.status_code not in (401, 404), (response.status_code, response.text)
    if case.path == f"{API}/resume" and isinstance(case.body, dict):
        case.body["resume_code"] = live["resume_code"]
        response = case.call_and_validate(checks=CHECKS, app=widget_api.app)
        if response.status_code == 200:
            live["token"] = response.json()["token"]  # the previous one stopped working


@schema.parametrize()
@FUZZ
def test_with_random_ids_and_tokens(case: Any, widget_api: WidgetApi) -> None:
    """The generated session id (often odd) and a well-formed one of no session, each with no
    token, a random one and one of another session: refused, never a 5xx."""
    other = widget_api.start()  # a session exists, just not the one asked for
    has_session = "session_id" in (case.path_parameters or {})
    session_ids = [case.path_parameters["session_id"], NO_SUCH_SESSION] if has_session else [None]
    for session_id in session_ids:
        if session_id is not None:
            case.path_parameters["session_id"] = session_id
        for token in (None, "not-a-real-token", other.token):
            headers = dict(case.headers or {})
            headers.pop("Authorization", None)
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            case.headers = headers
            response = case.call_and_validate(checks=CHECKS, app=widget_api.app)
            if has_session and case.method == case.operation.method.upper():
                # Refused for the session, or earlier for the body (not JSON: 400, too large:
                # 413, invalid: 422).
                assert response.status_code in (400, 401, 404, 413, 422), (
                    response.status_code,
                    response.text,
                )
