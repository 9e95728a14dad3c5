"""No input gets a 500: arbitrary JSON, bytes, headers and ids against every widget route."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import API, WidgetApi

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)

# JSON that Python's parser takes but JSON (and PostgreSQL) does not.
ODD_JSON = [b"Infinity", b"[NaN]", b'{"text": NaN}', b'{"event": "x", "props": {"a": Infinity}}',
            b'{"text": "\\ud800"}', b'{"event": "x", "props": {"\\u0000": "\\ud83d"}}']


def bodies(*keys: str) -> st.SearchStrategy[Any]:
    """Objects with the route's keys holding anything, and anything at all."""
    return st.one_of(
        st.fixed_dictionaries({}, optional={k: json_values for k in keys}),
        json_values,
    )


def assert_handled(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)


@FUZZ
@given(body=bodies("framework", "locale", "page", "contact", "consent", "website"))
def test_create_session(widget: WidgetApi, body: Any) -> None:
    assert_handled(widget.client.post(f"{API}/sessions", json=body))


@FUZZ
@given(body=bodies("text", "choice", "website"))
def test_messages(widget: WidgetApi, body: Any) -> None:
    chat = widget.start()
    assert_handled(chat.send(body))


@FUZZ
@given(body=bodies("event", "props"))
def test_events(widget: WidgetApi, body: Any) -> None:
    chat = widget.start()
    assert_handled(
        widget.client.post(f"{API}/sessions/{chat.session_id}/events", json=body, headers=chat.auth)
    )


@FUZZ
@given(body=bodies("resume_code"))
def test_resume(widget: WidgetApi, body: Any) -> None:
    assert_handled(widget.client.post(f"{API}/resume", json=body))


@FUZZ
@given(
    raw=st.binary(max_size=200) | st.sampled_from(ODD_JSON),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded", "", "json/x"]
    ),
    path=st.sampled_from(["/sessions", "/resume", "/sessions/{sid}/messages",
                          "/sessions/{sid}/events"]),
)
def test_raw_bytes(widget: WidgetApi, raw: bytes, content_type: str, path: str) -> None:
    chat = widget.start()
    headers = {**chat.auth, "Content-Type": content_type} if content_type else chat.auth
    url = API + path.format(sid=chat.session_id)
    assert_handled(widget.client.post(url, content=raw, headers=headers))


@FUZZ
@given(session_id=st.text(max_size=60), token=st.text(max_size=60))
def test_ids_and_tokens(widget: WidgetApi, session_id: str, token: str) -> None:
    url = f"{API}/sessions/{quote(session_id, safe='')}"
    safe_token = token.encode("ascii", "ignore").decode().replace("\r", "").replace("\n", "")
    headers = {"Authorization": f"Bearer {safe_token}"}
    assert_handled(widget.client.get(url, headers=headers))
    assert_handled(widget.client.post(f"{url}/messages", json={"text": "hi"}, headers=headers))


@FUZZ
@given(framework=st.text(max_size=60))
def test_opening_frameworks(widget: WidgetApi, framework: str) -> None:
    assert_handled(widget.client.get(f"{API}/opening", params={"framework": framework}))
