"""`qualibot serve` as a real process, and clients that talk to it over HTTP like Slack and
the widget do. For tests that kill, restart or replicate the server.

    with FakeSlack() as slack, ServeProcess(tmp_path, database_url=url, slack=slack) as srv:
        http = httpx.Client(base_url=srv.base_url)
        send_signed(http, SlackRequests().command("/qualify", "bant Acme"))
        widget = WidgetClient(http)
        session = widget.create(contact={...}, consent=True)
        widget.send(session, text="approved", message_id="m1")
        srv.kill()          # SIGKILL, reaped
        srv.restart()       # same port, same environment; waits for /healthz
        srv.stop()          # SIGTERM: graceful (the outbox dispatcher finishes its work)

`ServeProcess(workdir, *, database_url, slack=None, env=None, port=None, ...)`:

* runs `python -m bot.cli serve --host 127.0.0.1 --port <port>` with `cwd=workdir` (so no
  `.env` of the checkout leaks in) and an environment built from scratch for Qualibot:
  every `QUALIBOT_*` / `SLACK_*` variable of the test process is dropped, then
  `QUALIBOT_DATABASE_URL`, `QUALIBOT_CONFIG` (`<workdir>/qualibot.toml`, written from
  `toml` if given), `QUALIBOT_HANDOFF_CHANNEL` (`handoff_channel`), and, with a `slack`
  (`tests.fakeslack.FakeSlack` running in the test process), `SLACK_API_URL`,
  `SLACK_BOT_TOKEN`, `SLACK_SIGNING_SECRET` (`tests.slackreq.SIGNING_SECRET`). `env` is
  applied last (a value of None removes a variable).
* `port`: a free loopback port by default; kept across `restart()`.
* `start()` (or `with`): waits until `GET /healthz` answers `{"status": "ok"}`; if the
  process exits or does not get there within `startup_timeout`, raises `ServerFailed`
  whose message has the tail of the log.
* `.base_url` (`http://127.0.0.1:<port>`), `.port`, `.pid`, `.alive`, `.log_path` (stdout
  and stderr of every run, appended), `.log_tail(lines)`, `.starts` (how many times it
  was started).
* `kill()`: SIGKILL and reap (no cleanup runs: the crash case). `stop(timeout)`: SIGTERM,
  wait (SIGKILL after `timeout`). `restart()`: start again after `kill()`/`stop()` (kills
  first if it is still running).

Clients (all take an `httpx.Client`, whose `base_url` is the server's or none):

* `send_signed(http, request, base_url=None, timeout=10)`: POST a `tests.slackreq.
  SignedRequest` (its body and headers exactly) to `request.path`; returns the response.
* `WidgetClient(http, origin=None)`: `.create(**body)` -> `WidgetSession` (id, token,
  resume code, first messages); `.send(session, text=... | choice=..., message_id=None)`
  -> the `httpx.Response` (not checked: tests decide what a failure means);
  `.history(session)` -> the response of `GET /widget/api/sessions/{id}`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

from tests.fakeslack import FakeSlack
from tests.slackreq import SIGNING_SECRET, SignedRequest

DEFAULT_HANDOFF_CHANNEL = "C0SALES01"
#: BANT answers, in the order asked (budget, amount, authority, need, timeline), that
#: qualify the lead, and ones that make it a nurture lead.
BANT_QUALIFYING = (
    "allocated",
    "about $80k a year",
    "I'm the CFO and I sign the contract",
    "Our reps lose 10 hours a week to manual reporting",
    "this quarter",
)
BANT_NURTURE = (
    "planned",
    "about 20k a year",
    "I'm an analyst, I'll use it day to day",
    "We want better forecasts across our regional teams",
    "in about six months",
)
WIDGET_PREFIX = "/widget/api"


class ServerFailed(RuntimeError):
    """`qualibot serve` did not start (or died); the message ends with its log's tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """`qualibot serve` in a subprocess (see the module docstring)."""

    def __init__(
        self,
        workdir: Path,
        *,
        database_url: str,
        slack: FakeSlack | None = None,
        env: Mapping[str, str | None] | None = None,
        port: int | None = None,
        handoff_channel: str | None = DEFAULT_HANDOFF_CHANNEL,
        toml: str | None = None,
        log_level: str = "warning",
        startup_timeout: float = 30.0,
        name: str = "serve",
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.log_path = self.workdir / f"{name}-{self.port}.log"
        self.log_level = log_level
        self.startup_timeout = startup_timeout
        self.starts = 0
        config = self.workdir / "qualibot.toml"
        if toml is not None:
            config.write_text(toml, encoding="utf-8")
        self.env = self._environment(database_url, slack, handoff_channel, config, env or {})
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @staticmethod
    def _environment(
        database_url: str,
        slack: FakeSlack | None,
        handoff_channel: str | None,
        config: Path,
        extra: Mapping[str, str | None],
    ) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items()
            if not k.startswith(("QUALIBOT_", "SLACK_", "PYTEST_"))
        }
        env["QUALIBOT_DATABASE_URL"] = database_url
        env["QUALIBOT_CONFIG"] = str(config)
        env["PYTHONUNBUFFERED"] = "1"
        if handoff_channel:
            env["QUALIBOT_HANDOFF_CHANNEL"] = handoff_channel
        if slack is not None:
            env["SLACK_API_URL"] = slack.api_url
            env["SLACK_BOT_TOKEN"] = slack.bot_token
            env["SLACK_SIGNING_SECRET"] = SIGNING_SECRET
        for key, value in extra.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> ServeProcess:
        """Start the server and wait until /healthz says ok."""
        if self.alive:
            return self
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap
        self._log.write(f"--- start #{self.starts + 1} at {time.time():.3f}\n".encode())
        self._log.flush()
        command = [
            sys.executable, "-m", "bot.cli", "serve",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", self.log_level,
        ]
        self._process = subprocess.Popen(
            command, cwd=self.workdir, env=self.env, stdout=self._log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        self.starts += 1
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0) as http:
            while True:
                if not self.alive:
                    code = self._process.returncode if self._process else None
                    self._reap()
                    raise ServerFailed(f"qualibot serve exited ({code})\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    response = http.get("/healthz")
                    if response.status_code == 200 and response.json().get("status") == "ok":
                        return
                if time.monotonic() > deadline:
                    self.kill()
                    raise ServerFailed(
                        f"qualibot serve was not healthy within {self.startup_timeout:g}s\n"
                        f"{self.log_tail()}"
                    )
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL, and reap the process: nothing of it runs any more."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
        self._reap()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (uvicorn shuts down gracefully); SIGKILL after `timeout` seconds."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.send_signal(signal.SIGKILL)
        self._reap()

    def restart(self) -> ServeProcess:
        """Start again on the same port (after killing it, if it still runs)."""
        self.kill()
        return self.start()

    def _reap(self) -> None:
        if self._process is not None:
            self._process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# -- clients ------------------------------------------------------------------------------


def send_signed(
    http: httpx.Client,
    request: SignedRequest,
    *,
    base_url: str | None = None,
    timeout: float = 10.0,
) -> httpx.Response:
    """POST a signed Slack request (body and headers exactly as built) to the server."""
    url = f"{base_url}{request.path}" if base_url else request.path
    return http.post(url, content=request.body, headers=request.headers, timeout=timeout)


@dataclass
class WidgetSession:
    """A widget conversation as the browser holds it."""

    session_id: str
    token: str
    resume_code: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class WidgetClient:
    """The widget API as embed.js calls it (JSON, bearer token, optional Origin)."""

    def __init__(
        self, http: httpx.Client, *, base_url: str = "", origin: str | None = None
    ) -> None:
        self.http = http
        self.base_url = base_url
        self.headers = {"Origin": origin} if origin else {}

    def _url(self, path: str) -> str:
        return f"{self.base_url}{WIDGET_PREFIX}{path}"

    def create(self, **body: Any) -> WidgetSession:
        """Open a conversation (`framework`, `contact`, `consent`, ...); raises
        `httpx.HTTPStatusError` unless it is created."""
        response = self.http.post(self._url("/sessions"), json=body, headers=self.headers)
        response.raise_for_status()
        data = response.json()
        return WidgetSession(
            data["session_id"], data["token"], data["resume_code"], data["messages"]
        )

    def send(
        self,
        session: WidgetSession,
        *,
        text: str | None = None,
        choice: str | None = None,
        message_id: str | None = None,
    ) -> httpx.Response:
        """One visitor message; `message_id` makes a re-send of it safe (idempotency key)."""
        body: dict[str, Any] = {"text": text} if choice is None else {"choice": choice}
        if message_id is not None:
            body["message_id"] = message_id
        return self.http.post(
            self._url(f"/sessions/{session.session_id}/messages"),
            json=body,
            headers={**self.headers, **session.auth},
        )

    def history(self, session: WidgetSession) -> httpx.Response:
        return self.http.get(
            self._url(f"/sessions/{session.session_id}"),
            headers={**self.headers, **session.auth},
        )


__all__ = [
    "ServeProcess",
    "ServerFailed",
    "WidgetClient",
    "WidgetSession",
    "free_port",
    "send_signed",
]
