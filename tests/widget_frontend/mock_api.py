"""A stand-in for the widget backend, for testing the embed script without the real server.

It serves, on 127.0.0.1 and a free port:

- ``GET /`` — ``bot/widget/templates/demo.html`` rendered by Jinja2 with autoescape (as the real
  server does);
- ``GET /widget/embed.js`` — the embed script from ``bot/widget/static``;
- ``GET /cross-origin?...`` — a bare page whose tag points at ``http://127.0.0.1:<port>`` while the
  page itself is opened from ``http://localhost:<port>``: a different origin, as on a customer's
  site, under a strict Content-Security-Policy (no inline scripts or styles). Query parameters
  become ``data-`` attributes of the tag;
- ``/widget/api/...`` — the documented JSON API (opening, sessions, messages, history, events,
  resume) with CORS, walking through three questions: company (type ``company``, as the real API's
  contact question), budget (``choice``) and work email (``email``, echoed back when it is not an
  email address — so a visitor's markup comes back inside a bot message).

Test hooks: the text ``too fast`` answers 429 with ``Retry-After: 7``; a message whose
``question`` is not the current one gets 409 ``conflict`` (as the real API). Every API request is
recorded in ``MockWidgetApi.requests``; tracked events in ``MockWidgetApi.events``.

Run it by hand to try the widget in a browser::

    python -m tests.widget_frontend.mock_api [port]
"""

from __future__ import annotations

import json
import re
import secrets
import string
import sys
import threading
import uuid
from dataclasses import dataclass, field
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "bot" / "widget" / "static"
TEMPLATES = ROOT / "bot" / "widget" / "templates"

Message = dict[str, Any]

BUDGET_OPTIONS = [
    {"label": "Under $10k", "value": "under_10k"},
    {"label": "$10k–$50k", "value": "10k_50k"},
    {"label": "Over $50k", "value": "over_50k"},
]

# (criterion, type, text, options)
QUESTIONS: list[tuple[str, str, str, list[dict[str, str]] | None]] = [
    ("company", "company", "Which company are you with?", None),
    (
        "budget",
        "choice",
        "Roughly what budget have you set aside for analytics this year?",
        BUDGET_OPTIONS,
    ),
    ("email", "email", "What's your work email, so a specialist can follow up?", None),
]
FRAMEWORKS = ("bant", "champ", "meddic", "gpctba")
WELCOME = (
    "Hi! I'm the Northwind assistant. "
    "Three quick questions and I'll connect you with the right person."
)
CLOSING = "Thanks, you're all set! A Northwind specialist will email you within one business day."


def bot(text: str, step: int | None = None) -> Message:
    message: Message = {"from": "bot", "text": text}
    if step is not None:
        criterion, qtype, _, options = QUESTIONS[step]
        message["question"] = {"id": criterion, "criterion": criterion, "type": qtype,
                               "skippable": criterion != "email"}
        if options:
            message["question"]["options"] = options
    return message


def ask(step: int) -> Message:
    return bot(QUESTIONS[step][2], step)


@dataclass
class Session:
    session_id: str
    tokens: set[str]
    resume_code: str
    framework: str
    messages: list[Message] = field(default_factory=list)
    step: int = 0
    done: bool = False
    answered: dict[str, list[Message]] = field(default_factory=dict)  # message_id -> replies
    resources: list[dict[str, str]] = field(default_factory=list)  # under the closing, as links

    def reply(self, visitor_text: str) -> list[Message]:
        """Advance the scripted conversation by one visitor message; returns the bot's replies."""
        word = visitor_text.strip().lower()
        if word == "restart":
            self.step = 0
            return [bot("No problem, let's start over."), ask(0)]
        if word == "back":
            self.step = max(0, self.step - 1)
            return [bot("Sure, let's go back."), ask(self.step)]
        if word != "skip" and self.step == 2 and "@" not in visitor_text:
            # Echo the visitor's words: the embed script must show them as text, never markup.
            return [bot(f'Sorry, "{visitor_text}" doesn\'t look like an email address.'), ask(2)]
        replies: list[Message] = []
        if self.step == 0 and word != "skip":
            replies.append(bot(f"Nice to meet the {visitor_text} team!"))
        self.step += 1
        if self.step >= len(QUESTIONS):
            self.done = True
            listed = [f"• {r['label']}: {r['url']}" for r in self.resources]
            closing = bot("\n".join([CLOSING, *listed]))
            if self.resources:
                closing["links"] = self.resources
            return [*replies, closing]
        return [*replies, ask(self.step)]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    query: dict[str, str] = field(default_factory=dict)


class MockWidgetApi:
    def __init__(self, port: int = 0) -> None:
        self.sessions: dict[str, Session] = {}
        self.max_message_chars = 2000  # sent with every session, as the real API does
        self.resources: list[dict[str, str]] = []  # listed under the closing message (links)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None
        env = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"])
        )
        self.demo_template = env.get_template("demo.html")

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> MockWidgetApi:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- helpers for tests -----------------------------------------------------------------------

    def api_requests(self, method: str | None = None, path_suffix: str = "") -> list[Recorded]:
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and r.path.endswith(path_suffix)
            ]

    def new_session(self, framework: str = "bant") -> Session:
        code = "".join(secrets.choice(string.ascii_uppercase) for _ in range(4))
        code += "-" + "".join(secrets.choice(string.digits) for _ in range(4))
        session = Session(uuid.uuid4().hex, {secrets.token_urlsafe(16)}, code, framework,
                          resources=self.resources)
        session.messages = [bot(WELCOME), ask(0)]
        self.sessions[session.session_id] = session
        return session

    # -- HTTP ------------------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

            def do_OPTIONS(self) -> None:  # CORS preflight for the cross-origin page
                self.send_response(HTTPStatus.NO_CONTENT)
                self._cors()
                self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
                self.send_header("Access-Control-Allow-Headers", "Authorization, Content-Type")
                self.send_header("Access-Control-Max-Age", "600")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def _dispatch(self, method: str) -> None:
                url = urlsplit(self.path)
                path = url.path
                if method == "GET" and path == "/":
                    return self._send(
                        200, api.demo_template.render().encode(), "text/html; charset=utf-8"
                    )
                if method == "GET" and path == "/cross-origin":
                    csp = (
                        f"default-src 'none'; script-src {api.url}; connect-src {api.url}; "
                        "style-src 'self'"
                    )
                    return self._send(
                        200,
                        api.cross_origin_page(url.query),
                        "text/html; charset=utf-8",
                        {"Content-Security-Policy": csp},
                    )
                if method == "GET" and path == "/widget/embed.js":
                    script = (STATIC / "embed.js").read_bytes()
                    return self._send(200, script, "text/javascript; charset=utf-8")
                if path.startswith("/widget/api/"):
                    length = int(self.headers.get("Content-Length") or 0)
                    raw = self.rfile.read(length) if length else b""
                    try:
                        body = json.loads(raw) if raw else None
                    except ValueError:
                        return self._json(
                            400, {"error": {"code": "bad_json", "message": "Invalid JSON."}}
                        )
                    query = dict(parse_qsl(url.query))
                    with api.lock:
                        api.requests.append(
                            Recorded(method, path, dict(self.headers.items()), body, query)
                        )
                        status, payload, headers = api.handle(
                            method, path[len("/widget/api") :], body, self.headers, query
                        )
                    return self._json(status, payload, headers)
                self._send(404, b"not found", "text/plain")

            def _cors(self) -> None:
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Expose-Headers", "Retry-After")

            def _json(
                self, status: int, payload: Any, headers: dict[str, str] | None = None
            ) -> None:
                body = b"" if payload is None else json.dumps(payload).encode()
                self._send(status, body, "application/json", headers)

            def _send(
                self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self._cors()
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def cross_origin_page(self, query: str) -> bytes:
        attrs = "".join(f' data-{escape(k)}="{escape(v)}"' for k, v in parse_qsl(query))
        return (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Contoso</title></head>"
            "<body><h1>Contoso</h1>"
            f'<script src="{self.url}/widget/embed.js"{attrs} async></script></body></html>'
        ).encode()

    def handle(
        self, method: str, path: str, body: Any, headers: Any, query: dict[str, str] | None = None
    ) -> tuple[int, Any, dict[str, str] | None]:
        """The API itself (called with the lock held). Returns (status, JSON payload, headers)."""
        body = body if isinstance(body, dict) else {}

        def error(status: int, code: str, message: str) -> tuple[int, Any, None]:
            return status, {"error": {"code": code, "message": message}}, None

        if method == "GET" and path == "/opening":  # what a session starts with; stores nothing
            framework = (query or {}).get("framework")
            if framework not in (None, *FRAMEWORKS):
                return error(422, "unknown_framework", f"Unknown framework {framework!r}.")
            return 200, {"messages": [bot(WELCOME), ask(0)],
                         "max_message_chars": self.max_message_chars}, None

        if method == "POST" and path == "/sessions":
            if body.get("framework") not in (None, *FRAMEWORKS):
                return error(422, "unknown_framework",
                             f"Unknown framework {body['framework']!r}.")
            session = self.new_session(str(body.get("framework") or "bant"))
            token = next(iter(session.tokens))
            return (
                201,
                {
                    "session_id": session.session_id,
                    "token": token,
                    "resume_code": session.resume_code,
                    "messages": session.messages,
                    "max_message_chars": self.max_message_chars,
                },
                None,
            )

        if method == "POST" and path == "/resume":
            code = str(body.get("resume_code") or "").strip().upper()
            found = next((s for s in self.sessions.values() if s.resume_code == code), None)
            if not found:
                return error(404, "not_found", "Unknown resume code.")
            token = secrets.token_urlsafe(16)
            found.tokens.add(token)
            return (
                200,
                {
                    "session_id": found.session_id,
                    "token": token,
                    "resume_code": found.resume_code,
                    "messages": found.messages,
                    "done": found.done,
                    "max_message_chars": self.max_message_chars,
                },
                None,
            )

        m = re.fullmatch(r"/sessions/([0-9a-f]+)(/messages|/events)?", path)
        if not m:
            return error(404, "not_found", "No such route.")
        maybe_session = self.sessions.get(m.group(1))
        if maybe_session is None:
            return error(404, "not_found", "Unknown session.")
        session = maybe_session
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[len("Bearer ") :] not in session.tokens:
            return error(401, "unauthorized", "Missing or wrong token.")

        if method == "GET" and m.group(2) is None:
            return (
                200,
                {
                    "session_id": session.session_id,
                    "messages": session.messages,
                    "done": session.done,
                    "state": "done" if session.done else QUESTIONS[session.step][0],
                    "resume_code": session.resume_code,
                    "max_message_chars": self.max_message_chars,
                },
                None,
            )

        if method == "POST" and m.group(2) == "/events":
            if not isinstance(body.get("event"), str):
                return error(422, "invalid", "event is required.")
            self.events.append((session.session_id, body))
            return 202, None, None

        if method == "POST" and m.group(2) == "/messages":
            message_id = body.get("message_id")
            if message_id in session.answered:  # sent again: as the real API, nothing changes
                return 200, {"messages": session.answered[message_id], "done": session.done}, None
            if session.done:
                return error(409, "done", "This conversation is finished.")
            if "question" in body and body["question"] != QUESTIONS[session.step][0]:
                return error(409, "conflict", "This conversation has moved on.")
            if "choice" in body:
                options = QUESTIONS[session.step][3] or []
                option = next((o for o in options if o["value"] == body["choice"]), None)
                if option is None:
                    return error(422, "invalid_choice", "That option is not available.")
                text = option["label"]
            else:
                text = str(body.get("text") or "").strip()
                if not text:
                    return error(422, "empty", "Please type an answer.")
            if text == "too fast":
                status, payload, _ = error(429, "rate_limited", "Too many requests.")
                return status, payload, {"Retry-After": "7"}
            replies = session.reply(text)
            session.messages += [{"from": "visitor", "text": text}, *replies]
            if isinstance(message_id, str):
                session.answered[message_id] = replies
            return 200, {"messages": replies, "done": session.done}, None

        return error(405, "method_not_allowed", "Method not allowed.")


if __name__ == "__main__":
    mock = MockWidgetApi(int(sys.argv[1]) if len(sys.argv) > 1 else 0).start()
    print(f"Mock widget backend on {mock.url}/")
    print(f"Cross-origin embed: http://localhost:{mock.port}/cross-origin?greeting=Hello")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        mock.stop()
