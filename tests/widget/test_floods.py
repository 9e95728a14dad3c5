"""Floods beyond the widget's limits, over real HTTP (uvicorn on loopback, concurrent clients).

One request over each limit is in `test_api.py` (`test_messages_per_session_per_minute`,
`test_sessions_per_ip_per_hour`, `test_events_per_session_per_minute`,
`test_resume_attempts_per_ip`, the 413s, `test_honeypot_*`); the schema fuzzing is in
`test_schema_fuzz.py`. Here the same limits take a flood: many requests at once, from one
visitor or one address. Each test checks that exactly the allowed number got through, the
rest got 429 with a `Retry-After`, nothing beyond the limit was created or stored, other
sessions and other addresses are unaffected, and the server keeps answering.

Other addresses: the clients bind their own loopback source address (127.0.0.2, ...), which
is what the server sees as the visitor's IP.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from storage.models import Answer, Conversation, Lead, WidgetSession
from tests.widget.live import LiveServer, live_server

API = "/widget/api"
FLOOD = 40  # requests per flood
WORKERS = 8  # at once


@pytest.fixture
def make_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], LiveServer]]:
    servers: list[Any] = []

    def make(widget_toml: str) -> LiveServer:
        manager = live_server(tmp_path, monkeypatch, widget_toml="[widget]\n" + widget_toml)
        servers.append(manager)
        return manager.__enter__()

    yield make
    for manager in servers:
        manager.__exit__(None, None, None)


def client(live: LiveServer, address: str = "127.0.0.1") -> httpx.Client:
    """A client whose requests come from `address` (a loopback address of its own)."""
    return httpx.Client(
        base_url=live.url, timeout=30, transport=httpx.HTTPTransport(local_address=address)
    )


def counts(live: LiveServer) -> dict[str, int]:
    with live.runtime.sessions() as session:
        return {
            m.__name__: int(session.scalar(select(func.count()).select_from(m)) or 0)
            for m in (Lead, Conversation, WidgetSession, Answer)
        }


def flood(send: Callable[[int], httpx.Response], n: int = FLOOD) -> list[httpx.Response]:
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(send, range(n)))


def start(http: httpx.Client) -> tuple[str, dict[str, str]]:
    response = http.post(f"{API}/sessions", json={})
    assert response.status_code == 201, response.text
    body = response.json()
    return body["session_id"], {"Authorization": f"Bearer {body['token']}"}


def assert_limited(responses: list[httpx.Response], allowed: set[int], n_allowed: int) -> None:
    statuses = [r.status_code for r in responses]
    assert sum(s in allowed for s in statuses) == n_allowed, statuses
    limited = [r for r in responses if r.status_code == 429]
    assert len(limited) == len(responses) - n_allowed, statuses
    for response in limited:
        assert response.json()["error"]["code"] == "rate_limited"
        assert int(response.headers["retry-after"]) >= 1


def assert_still_answering(live: LiveServer) -> None:
    with client(live, "127.0.0.9") as http:
        assert http.get("/healthz").json()["status"] == "ok"
        session_id, auth = start(http)
        reply = http.post(f"{API}/sessions/{session_id}/messages", json={"text": "Dana Lee"},
                          headers=auth)
        assert reply.status_code == 200, reply.text


def test_a_message_flood_on_one_session(make_live: Callable[[str], LiveServer]) -> None:
    live = make_live("messages_per_minute = 5\nsessions_per_hour = 100\n")
    with client(live) as http:
        session_id, auth = start(http)
        other_id, other_auth = start(http)
        before = counts(live)
        texts = ["Dana Lee", "dana@acme.example", "Acme Logistics", "yes", "back"]
        responses = flood(lambda i: http.post(
            f"{API}/sessions/{session_id}/messages", json={"text": texts[i % len(texts)]},
            headers=auth,
        ))
        assert_limited(responses, {200, 409, 422}, 5)
        # at most the 5 allowed turns were stored
        assert counts(live)["Answer"] - before["Answer"] <= 5
        assert counts(live)["Lead"] == before["Lead"]
        # the same visitor's other session, from the same address, is not held up
        ok = http.post(f"{API}/sessions/{other_id}/messages", json={"text": "Sam Roe"},
                       headers=other_auth)
        assert ok.status_code == 200
        # 5 a minute: the next slot is at most 12 s away
        assert all(int(r.headers["retry-after"]) <= 12 for r in responses if r.status_code == 429)
    assert_still_answering(live)


def test_a_session_flood_from_one_address(make_live: Callable[[str], LiveServer]) -> None:
    live = make_live("sessions_per_hour = 3\n")
    with client(live, "127.0.0.2") as http:
        responses = flood(lambda i: http.post(f"{API}/sessions", json={}))
    assert_limited(responses, {201}, 3)
    assert all(int(r.headers["retry-after"]) > 60 for r in responses if r.status_code == 429)
    assert counts(live) == {"Lead": 3, "Conversation": 3, "WidgetSession": 3, "Answer": 0}
    with client(live, "127.0.0.3") as other:  # another address: its own allowance
        start(other)
    assert counts(live)["WidgetSession"] == 4
    assert_still_answering(live)


def test_oversized_empty_and_binary_messages_store_nothing(
    make_live: Callable[[str], LiveServer],
) -> None:
    live = make_live("messages_per_minute = 1000\n")
    garbage: list[dict[str, Any]] = [
        {"json": {"text": "x" * 2001}},  # over the message limit
        {"content": b"{" + b"x" * (2 * 1024 * 1024) + b"}",
         "headers": {"content-type": "application/json"}},  # over the body limit
        {"json": {"text": ""}},
        {"json": {"text": "   \n\t  "}},
        {"json": {}},
        {"content": os.urandom(512), "headers": {"content-type": "application/json"}},
        {"content": b"\xff\xfe\x00\x01" * 64, "headers": {"content-type": "text/plain"}},
        {"json": {"text": "\x00\x01\x02"}},
        {"json": {"choice": "\u202e" * 100}},
        {"json": {"text": ["not", "a", "string"]}},
    ]
    with client(live) as http:
        session_id, auth = start(http)
        before = counts(live)

        def send(i: int) -> httpx.Response:
            options = dict(garbage[i % len(garbage)])
            headers = {**auth, **options.pop("headers", {})}
            return http.post(f"{API}/sessions/{session_id}/messages", headers=headers, **options)

        responses = flood(send, 3 * len(garbage))
        statuses = {r.status_code for r in responses}
        assert statuses <= {400, 413, 422}, statuses  # refused, never a 5xx
        assert all("error" in r.json() for r in responses)
        assert counts(live) == before  # nothing stored
        state = http.get(f"{API}/sessions/{session_id}", headers=auth).json()["state"]
        assert state == "name"
        ok = http.post(f"{API}/sessions/{session_id}/messages", json={"text": "Dana Lee"},
                       headers=auth)
        assert ok.status_code == 200
    assert_still_answering(live)


def test_a_honeypot_flood_creates_nothing(make_live: Callable[[str], LiveServer]) -> None:
    live = make_live("sessions_per_hour = 1000\n")
    with client(live, "127.0.0.4") as http:
        created = flood(lambda i: http.post(
            f"{API}/sessions", json={"website": f"http://spam{i}.example", "consent": True,
                                     "contact": {"email": f"bot{i}@spam.example"}},
        ))
    assert {r.status_code for r in created} == {201}  # the bot is not told
    assert counts(live) == {"Lead": 0, "Conversation": 0, "WidgetSession": 0, "Answer": 0}
    assert_still_answering(live)


def test_wrong_tokens_and_other_sessions_ids_change_nothing(
    make_live: Callable[[str], LiveServer],
) -> None:
    live = make_live("messages_per_minute = 1000\n")
    with client(live) as http:
        victim, victim_auth = start(http)
        _, mallory_auth = start(http)
        before = counts(live)
        attempts = [
            {},  # no token
            {"Authorization": "Bearer not-a-token"},
            {"Authorization": "Basic Zm9vOmJhcg=="},
            mallory_auth,  # a real token, of another session
        ]
        responses = flood(lambda i: http.post(
            f"{API}/sessions/{victim}/messages", json={"text": "Mallory"},
            headers=attempts[i % len(attempts)],
        ))
        assert {r.status_code for r in responses} <= {401, 403, 404}
        assert counts(live) == before
        history = http.get(f"{API}/sessions/{victim}", headers=victim_auth).json()
        assert history["state"] == "name"
        assert all(m["text"] != "Mallory" for m in history["messages"])
    assert_still_answering(live)
