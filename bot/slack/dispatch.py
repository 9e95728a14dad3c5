"""The outbox dispatcher: everything Qualibot says in Slack leaves through here.

The service writes outbox rows in the same transaction as the change that causes them; the
dispatcher delivers them. One cycle:

1. **claim** (a short transaction): the due rows of channel `slack` that are the *head of
   their lane* (no older row of the lane still pending, so a lane's rows go out one at a time
   and in id order), skipping lanes that are busy or being paced in this process. Each
   claimed row is *leased*: `next_attempt_at` moves `lease_seconds` ahead and `result` gets
   an `inflight` marker, then the transaction commits. On PostgreSQL the claim runs
   `FOR UPDATE SKIP LOCKED`, so replicas never claim the same row; the lease keeps it
   theirs after the commit.
2. **deliver** (no transaction open): render from the row's payload alone and call Slack.
3. **record** (another short transaction): `mark_sent` with `{channel, ts}`, `retry_later`
   or `mark_failed`.

Never twice: every post carries `metadata` `{"event_type": "qualibot_outbox",
"event_payload": {"outbox_id": <id>}}`. When an attempt ended without a clear answer (a
timeout, a reset connection, a 5xx: Slack may have posted it) the row is marked `uncertain`,
and before any later post the dispatcher looks for that outbox id in the channel's
`conversations.history` (`include_all_metadata`, from shortly before the first uncertain
attempt); if the message is there the row is marked sent with its ts. A dispatcher that
died mid-delivery leaves its `inflight` marker behind: the next claim (after the lease)
treats it the same way. Ephemeral messages cannot be looked up, so an ephemeral row whose
outcome is unknown is failed (visibly), not retried; the same for `api` rows of methods
that are not idempotent. An ephemeral message the bot cannot post where the person is
(`channel_not_found`, `not_in_channel`, `is_archived`, `user_not_in_channel`: a DM between
people, a channel the bot is not in) goes to them as a DM instead.

Errors:

- HTTP 429: the row is due again after `Retry-After`, and its lane pauses that long here.
- 5xx, timeouts, connection errors, Slack's `internal_error`/`fatal_error`/...: retried with
  exponential backoff and jitter, `max_attempts` times, then failed.
- Anything else Slack rejects (`channel_not_found`, `not_in_channel`, `is_archived`,
  `invalid_auth`, `token_revoked`, `account_inactive`, `msg_too_long`, `missing_scope`, ...
  and errors not known to be transient): failed at once, logged at ERROR with the error.
- `invalid_blocks` (from Slack, or a rendered message that breaks Slack's limits locally):
  **retried once at once as plain text** (the fallback `text`, which is escaped and within
  the limits): a rep who gets the question without buttons can still answer by typing, and
  a sales channel still learns about the lead. The row is sent with `result["degraded"]`
  saying why, and the problem is logged at ERROR. If the plain text is rejected too, the row
  fails. (`chat.update` has no such fallback: Slack would keep the old buttons.)
- A handoff notice refused for its channel (`not_in_channel`, `channel_not_found`,
  `is_archived`) fails like that, and is posted to the default handoff channel
  (`fallback_channel`) instead, with a line saying where it was meant to go and why; without
  one (or when that is the channel refusing), the rep who qualified the lead gets a DM
  saying so. Either happens once per row.
- A workspace we have no token for (`SlackClients.for_team` is None): failed at once.
- `chat.delete` answered `message_not_found` (an `api` row): the message is gone, which is
  what was asked, so the row is sent (`result["already_deleted"]`).
- A row erased by `qualibot forget` (`bot.erasure`) is never delivered; one erased while its
  message was on its way gets that message deleted (`chat.delete`) once it is posted.
- A token error (`invalid_auth`, `token_revoked`, ...) marks the workspace inactive (see
  `bot.slack.clients`): its further rows fail at once, without calling Slack, with an error
  saying to reinstall, until the mark is cleared.

Pacing: Slack takes about one message per second per channel. Each lane (the row's `lane`:
a channel id, `dm:<user>`) sends at most one message every `lane_interval` seconds, and
lanes are delivered in parallel by `workers` threads, so a burst to one channel goes out
at ~1/s without 429s while other lanes are not held up, and a slow or paused lane holds
nobody else. The pacing state is in memory, per process: with several replicas each
dispatcher paces the rows it claimed (a lane is normally served by one of them at a time,
since only a lane's head can be claimed), and any 429 is still honoured through the row's
`next_attempt_at`.

Use `start()` / `stop()` for the background thread (the service's `on_outbox` hook should
call `notify()`), or `run_once()` to run one claim-deliver-record cycle in the caller's thread.
SQLite has no row locks: run a single dispatcher there.
"""

from __future__ import annotations

import http.client
import logging
import queue
import random
import threading
import time
import urllib.error
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import jinja2
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.erasure import NOT_DELIVERED, delete_message, is_erased
from bot.handoff.notice import refused_key, rerouted_key
from bot.slack.clients import SlackClients, WorkspaceInactive
from bot.slack.notices import (
    CHANNEL_REFUSALS,
    USER_ID,
    channel_mention,
    render_handoff,
    render_notice_update,
    render_reply,
)
from bot.slack.render import (
    LIMITS,
    POST_DEFAULTS,
    BlockKitError,
    check_limits,
    mrkdwn,
    truncate_to,
)
from storage.db import one_line
from storage.models import OutboxMessage, utcnow
from storage.repositories import OutboxRepository

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bot.config import Settings

log = logging.getLogger(__name__)

#: The outbox channel this dispatcher serves.
CHANNEL = "slack"
#: `metadata.event_type` of every message the dispatcher posts.
EVENT_TYPE = "qualibot_outbox"
KINDS = ("reply", "handoff", "notice_update", "dm", "ephemeral", "api")

#: Slack errors (HTTP 200, `ok: false`) worth retrying; every other error fails the row.
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout",
     "team_added_to_org", "ratelimited"}
)
#: Errors that mean the token is no good any more (the cached client is dropped).
TOKEN_ERRORS = frozenset(
    {"invalid_auth", "token_revoked", "account_inactive", "not_authed", "token_expired",
     "team_access_not_granted"}
)
INVALID_BLOCKS_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format"})
#: `api` methods that may be repeated safely after an attempt with an unknown outcome.
IDEMPOTENT_METHODS = frozenset(
    {"views.publish", "views.update", "chat.update", "chat.delete", "reactions.add",
     "reactions.remove", "pins.add", "pins.remove", "conversations.open", "users.info",
     "conversations.info", "auth.test", "bookmarks.remove", "conversations.join"}
)
#: Seconds of history before the first uncertain attempt searched for the message (clock
#: skew between us and Slack).
RECONCILE_MARGIN = 120.0
#: DM channel ids remembered per process (bot token, user) before the cache starts over.
MAX_CACHED_DM_CHANNELS = 10_000


#: Errors of `chat.postEphemeral` after which the notice is sent as a DM instead.
EPHEMERAL_FALLS_BACK_TO_DM = frozenset(CHANNEL_REFUSALS) | {"user_not_in_channel"}


class _Permanent(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class _Transient(Exception):
    def __init__(self, error: str, *, uncertain: bool) -> None:
        super().__init__(error)
        self.error = error
        self.uncertain = uncertain


class _RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"ratelimited (Retry-After {retry_after:g}s)")
        self.retry_after = retry_after


@dataclass
class _Job:
    """A claimed row, detached from the database."""

    id: int
    kind: str
    lane: str
    payload: dict[str, Any]
    prior: dict[str, Any]  # the row's `result` before this claim (counters, uncertain marker)
    token: str
    started: float  # time.time() at the claim
    reconcile: bool  # an earlier attempt may have been delivered: look before posting
    uncertain: bool = False  # set when this attempt's outcome is unknown


@dataclass
class Outcome:
    """What a delivery came to."""

    status: Literal["sent", "retry", "failed"]
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    retry_after: float | None = None  # seconds, for 429
    rate_limited: bool = False


class OutboxDispatcher:
    """Delivers the Slack outbox (see the module docstring)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clients: SlackClients,
        *,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        poll_interval: float = 0.25,
        batch: int = 50,
        workers: int = 8,
        lane_interval: float = 1.1,
        lease_seconds: float = 120.0,
        max_attempts: int = 8,
        max_rate_limited: int = 50,
        base_backoff: float = 2.0,
        max_backoff: float = 600.0,
        uncertain_delay: float = 15.0,
        reconcile_pages: int = 5,
        jitter: Callable[[], float] = random.random,
        fallback_channel: str | None = None,
    ) -> None:
        """`clock` dates the rows (due times, leases); `monotonic` paces the lanes.
        `lane_interval`: seconds between two messages of one lane (a little over Slack's
        1/s so that network jitter never makes two look closer). `max_attempts`: delivery
        attempts for transient errors before the row fails; `max_rate_limited`: 429s
        before it fails. `uncertain_delay`: the least wait after an attempt whose outcome is
        unknown (so a post that was still under way has landed before we look for it).
        `fallback_channel`: where a handoff notice its channel refuses goes instead."""
        self._sessions = session_factory
        self._clients = clients
        self._clock = clock
        self._monotonic = monotonic
        self.poll_interval = poll_interval
        self.batch = batch
        self.workers = max(1, workers)
        self.lane_interval = lane_interval
        self.lease_seconds = lease_seconds
        self._dm_channels: dict[tuple[str, str], str] = {}  # (token, user) -> D...
        self.max_attempts = max_attempts
        self.max_rate_limited = max_rate_limited
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.uncertain_delay = uncertain_delay
        self.reconcile_pages = reconcile_pages
        self._jitter = jitter
        #: Where a handoff notice goes when its own channel refuses it (the default
        #: handoff channel, `QUALIBOT_HANDOFF_CHANNEL`); None: the rep is told instead.
        self.fallback_channel = (fallback_channel or "").strip() or None

        self._lock = threading.Lock()
        self._busy: set[str] = set()  # lanes with a row being delivered by this process
        self._ready_at: dict[str, float] = {}  # lane -> monotonic time it may send again
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._handlers: dict[str, Callable[[WebClient, _Job], dict[str, Any]]] = {
            "reply": self._deliver_reply,
            "handoff": self._deliver_handoff,
            "notice_update": self._deliver_notice_update,
            "dm": self._deliver_dm,
            "ephemeral": self._deliver_ephemeral,
            "api": self._deliver_api,
        }

    # --- running ------------------------------------------------------------------------

    def notify(self) -> None:
        """Wake the dispatcher now (new rows were committed)."""
        self._wake.set()

    def start(self) -> None:
        """Deliver in the background: one daemon thread claims, `workers` daemon threads
        deliver and record."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._work, name=f"qualibot-outbox-{i}", daemon=True)
            for i in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()
        self._thread = threading.Thread(
            target=self._loop, name="qualibot-outbox-dispatcher", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop claiming; deliveries under way finish and are recorded (up to `timeout`)."""
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
            self._thread = None
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run_once(self) -> int:
        """One cycle in the caller's thread: claim, deliver (lanes in parallel), record.
        Returns how many rows were handled (sent, rescheduled or failed). Don't mix with a
        started background thread."""
        jobs = self._claim(min(self.batch, self.workers))
        if not jobs:
            return 0
        outcomes: dict[int, Outcome] = {}
        if len(jobs) == 1:
            outcomes[jobs[0].id] = self._deliver(jobs[0])
        else:
            threads = [
                threading.Thread(
                    target=lambda j=job: outcomes.__setitem__(j.id, self._deliver(j)),
                    daemon=True,
                )
                for job in jobs
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        for job in jobs:  # recorded here: the caller's session factory may not be thread-safe
            self._finish(job, outcomes[job.id])
        return len(jobs)

    def _loop(self) -> None:
        self._clients.recheck()  # one workspace marked inactive: does the token work now?
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                with self._lock:
                    free = self.workers - len(self._busy)
                for job in self._claim(min(self.batch, free)):
                    self._queue.put(job)
            except OperationalError as exc:  # the database is down: one line a try
                log.warning("outbox: cannot reach the database (%s); trying again shortly",
                            one_line(exc))
                self._stopping.wait(max(1.0, self.poll_interval))
                continue
            except Exception:
                log.exception("outbox: claiming due messages failed; trying again shortly")
                self._stopping.wait(max(1.0, self.poll_interval))
                continue
            self._wake.wait(self._idle_timeout())

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            self._finish(job, self._deliver(job))

    def _idle_timeout(self) -> float:
        now = self._monotonic()
        with self._lock:
            waits = [t - now for t in self._ready_at.values() if t > now]
        return max(0.005, min([self.poll_interval, *waits]))

    # --- claim and record ---------------------------------------------------------------

    def _claim(self, limit: int) -> list[_Job]:
        if limit <= 0:
            return []
        now_m = self._monotonic()
        with self._lock:
            for lane in [lane for lane, t in self._ready_at.items() if t <= now_m]:
                del self._ready_at[lane]
            excluded = self._busy | set(self._ready_at)
        now = self._clock()
        lease_until = now + timedelta(seconds=self.lease_seconds)
        jobs: list[_Job] = []
        with self._sessions.begin() as session:
            rows = OutboxRepository(session).claim_lane_heads(
                now, limit, channel=CHANNEL, exclude_lanes=excluded
            )
            for row in rows:
                prior = dict(row.result or {})
                stale = prior.pop("inflight", None)
                if stale is not None and "uncertain" not in prior:
                    log.warning(
                        "outbox %s: an earlier delivery attempt never finished (its lease "
                        "ran out); checking Slack before posting again", row.id
                    )
                    prior["uncertain"] = {"since": stale.get("since")}
                job = _Job(
                    id=row.id,
                    kind=row.kind,
                    lane=row.lane,
                    payload=dict(row.payload or {}),
                    prior=prior,
                    token=uuid.uuid4().hex,
                    started=time.time(),
                    reconcile="uncertain" in prior,
                )
                row.result = {**prior, "inflight": {"token": job.token, "since": job.started}}
                row.next_attempt_at = lease_until
                jobs.append(job)
        with self._lock:
            self._busy.update(job.lane for job in jobs)
        return jobs

    def _finish(self, job: _Job, outcome: Outcome) -> None:
        try:
            self._record(job, outcome)
        except Exception:
            log.exception(
                "outbox %s: could not record the outcome (%s); the row is checked against "
                "Slack before any further attempt once its lease runs out",
                job.id, outcome.status,
            )
        finally:
            with self._lock:
                self._busy.discard(job.lane)
                if outcome.rate_limited and outcome.retry_after:
                    self._ready_at[job.lane] = max(
                        self._ready_at.get(job.lane, 0.0),
                        self._monotonic() + outcome.retry_after,
                    )
            self._wake.set()

    def _record(self, job: _Job, outcome: Outcome) -> None:
        with self._sessions.begin() as session:
            repo = OutboxRepository(session)
            # locked: an erasure (`bot.erasure`) committing meanwhile is seen, not overwritten
            row = session.get(OutboxMessage, job.id, populate_existing=True,
                              with_for_update=True)
            if row is None:
                log.error("outbox %s disappeared while it was being delivered", job.id)
                return
            inflight = (row.result or {}).get("inflight") or {}
            if row.status != "pending" or inflight.get("token") != job.token:
                log.warning(
                    "outbox %s: the row changed while it was being delivered (status %s); "
                    "outcome %s not recorded", job.id, row.status, outcome.status,
                )
                posted = outcome.result if outcome.status == "sent" else {}
                if is_erased(row.payload) and posted.get("channel") and posted.get("ts"):
                    # its lead was erased while the message was on its way: delete it too
                    delete_message(repo, job.payload.get("team_id"), str(posted["channel"]),
                                   str(posted["ts"]))
                return
            kept = dict(job.prior)
            if job.uncertain and "uncertain" not in kept:
                kept["uncertain"] = {"since": job.started}
            where = f"outbox {job.id} ({job.kind}, lane {job.lane})"
            if outcome.status == "sent":
                repo.mark_sent(row, result=outcome.result)
                if outcome.result.get("degraded"):
                    log.error("%s sent as plain text: %s", where, outcome.result["degraded"])
                return
            error = outcome.error or "unknown error"
            if outcome.status == "retry":
                counter = "rate_limited" if outcome.rate_limited else "transient"
                kept[counter] = int(kept.get(counter, 0)) + 1
                cap = self.max_rate_limited if outcome.rate_limited else self.max_attempts
                if kept[counter] < cap:
                    delay = self._delay(outcome, kept[counter], uncertain="uncertain" in kept)
                    row.result = kept
                    repo.retry_later(row, self._clock() + timedelta(seconds=delay), error)
                    level = logging.INFO if outcome.rate_limited else logging.WARNING
                    log.log(level, "%s: %s; retrying in %.1fs", where, error, delay)
                    return
                error = f"gave up after {kept[counter]} attempts: {error}"
            row.result = kept or None
            repo.mark_failed(row, error)
            log.error("%s failed: %s", where, error)
            code = error.partition(":")[0]
            if job.kind == "handoff" and code in CHANNEL_REFUSALS:
                self._notice_refused(repo, job, code)

    def _notice_refused(self, repo: OutboxRepository, job: _Job, code: str) -> None:
        """A handoff notice Slack refused for its channel (the bot not in it, archived, gone)
        goes to the default handoff channel instead, saying where it was meant to go; with
        no other channel, the rep who qualified the lead is told by DM. Once per row."""
        payload, channel = job.payload, str(job.payload.get("channel") or "")
        fallback = self.fallback_channel
        if fallback and fallback != channel and not payload.get("rerouted"):
            rerouted = {**payload, "channel": fallback,
                        "rerouted": {"from": channel, "error": code}}
            repo.append_once("handoff", "slack", fallback, rerouted,
                             dedupe_key=rerouted_key(job.id))
            log.warning("outbox %s: the notice goes to %s instead", job.id, fallback)
            return
        lead = payload.get("lead") or {}
        rep = str(lead.get("created_by") or "")
        if lead.get("source") != "rep" or not USER_ID.match(rep):
            return  # a visitor's lead with nowhere else to go: the failure is in the log
        text = (
            f"The handoff notice for *{mrkdwn(lead.get('company') or 'your lead', 200)}* "
            f"could not be posted to {channel_mention(channel)}: "
            f"{CHANNEL_REFUSALS[code]}. Ask whoever runs Qualibot to invite the bot there or "
            f"change the routing; it can then be sent again with `qualibot outbox retry "
            f"{job.id}`."
        )
        repo.append_once("dm", "slack", f"dm:{rep}",
                         {"team_id": payload.get("team_id"), "user": rep, "text": text},
                         dedupe_key=refused_key(job.id))

    def _delay(self, outcome: Outcome, attempt: int, *, uncertain: bool) -> float:
        if outcome.rate_limited:
            return max(0.0, outcome.retry_after or 1.0)
        backoff: float = min(self.max_backoff, self.base_backoff * 2.0 ** (attempt - 1))
        delay: float = backoff * (0.5 + 0.5 * self._jitter())
        return max(delay, self.uncertain_delay) if uncertain else delay

    # --- delivery -----------------------------------------------------------------------

    def _deliver(self, job: _Job) -> Outcome:
        try:
            handler = self._handlers.get(job.kind)
            if handler is None:
                return Outcome("failed", error=f"unknown outbox kind {job.kind!r}")
            if is_erased(job.payload):
                return Outcome("failed", error=NOT_DELIVERED)
            team_id = job.payload.get("team_id")
            client = _call(lambda: self._clients.for_team(team_id), posting=False)
            if client is None:
                return Outcome(
                    "failed",
                    error=f"workspace {team_id or '(none)'} is not installed (no bot token); "
                    "not posted",
                )
            return Outcome("sent", result=handler(client, job))
        except _RateLimited as exc:
            return Outcome("retry", error=str(exc), retry_after=exc.retry_after,
                           rate_limited=True)
        except _Transient as exc:
            job.uncertain = job.uncertain or exc.uncertain
            return Outcome("retry", error=exc.error)
        except WorkspaceInactive as exc:  # marked earlier: fail at once, no call to Slack
            return Outcome("failed", error=str(exc))
        except _Permanent as exc:
            if exc.error.split(":", 1)[0] in TOKEN_ERRORS:
                # marks the workspace inactive: its further rows fail at once (see clients)
                self._clients.token_failed(job.payload.get("team_id"), exc.error)
            return Outcome("failed", error=exc.error)
        except (KeyError, TypeError, ValueError, AttributeError, jinja2.TemplateError) as exc:
            return Outcome("failed", error=f"cannot render the message: {exc!r}")
        except Exception as exc:  # a bug: fail visibly, and check Slack if it is retried
            log.exception("outbox %s: unexpected error while delivering", job.id)
            job.uncertain = True
            return Outcome("failed", error=f"unexpected error: {exc!r}")

    def _deliver_reply(self, client: WebClient, job: _Job) -> dict[str, Any]:
        message, degraded = _checked(render_reply(job.payload, check=False))
        channel = self._open_dm(client, job.payload["user"])
        return self._post(client, job, channel, message, degraded=degraded)

    def _deliver_handoff(self, client: WebClient, job: _Job) -> dict[str, Any]:
        # the buttons carry the row's id: a click repaints the notice from this payload
        message, degraded = _checked(render_handoff(job.payload, notice_id=job.id, check=False))
        return self._post(client, job, str(job.payload["channel"]), message, degraded=degraded)

    def _deliver_notice_update(self, client: WebClient, job: _Job) -> dict[str, Any]:
        message = render_notice_update(job.payload)
        channel, ts = str(job.payload["channel"]), str(job.payload["ts"])
        self._paced(job.lane)
        _call(
            lambda: client.chat_update(
                channel=channel, ts=ts, text=message["text"], blocks=message["blocks"]
            ),
            posting=False,  # idempotent: repeating it is harmless
        )
        return {"channel": channel, "ts": ts, "status": job.payload.get("status")}

    def _deliver_dm(self, client: WebClient, job: _Job) -> dict[str, Any]:
        message, degraded = _checked(
            {"text": str(job.payload.get("text") or ""), "blocks": job.payload.get("blocks")}
        )
        channel = self._open_dm(client, job.payload["user"])
        return self._post(client, job, channel, message, degraded=degraded)

    def _deliver_ephemeral(self, client: WebClient, job: _Job) -> dict[str, Any]:
        if job.reconcile:
            raise _Permanent(
                "an earlier attempt may have been delivered and ephemeral messages cannot be "
                "looked up, so it is not sent again"
            )
        message, _ = _checked(
            {"text": str(job.payload.get("text") or ""), "blocks": job.payload.get("blocks")}
        )
        args: dict[str, Any] = {
            "channel": job.payload["channel"], "user": job.payload["user"], "text": message["text"]
        }
        if message.get("blocks"):
            args["blocks"] = message["blocks"]
        self._paced(job.lane)
        try:
            response = _call(lambda: client.chat_postEphemeral(**args), posting=True)
        except _Permanent as exc:
            if exc.error.partition(":")[0] not in EPHEMERAL_FALLS_BACK_TO_DM:
                raise
            # The bot cannot post where the person clicked (a DM between people, a channel
            # it is not in, or one since archived): the notice goes to them in a DM instead.
            log.info("ephemeral notice to %s in %s failed (%s): sent as a DM",
                     args["user"], args["channel"], exc.error)
            channel = self._open_dm(client, args["user"])
            return self._post(client, job, channel, message, degraded=None)
        except _Transient as exc:
            if not exc.uncertain:
                raise
            job.uncertain = True
            raise _Permanent(
                f"outcome unknown ({exc.error}); ephemeral messages cannot be looked up, so "
                "it is not sent again"
            ) from exc
        return {"channel": args["channel"], "message_ts": response.get("message_ts")}

    def _deliver_api(self, client: WebClient, job: _Job) -> dict[str, Any]:
        method = str(job.payload["method"])
        args = dict(job.payload.get("args") or {})
        if method == "chat.postMessage":
            channel = str(args.pop("channel"))
            if channel[:1] in ("U", "W"):
                channel = self._open_dm(client, channel)
            message = {"text": args.pop("text", ""), "blocks": args.pop("blocks", None)}
            return self._post(client, job, channel, message, degraded=None, extra=args)
        idempotent = method in IDEMPOTENT_METHODS
        if job.reconcile and not idempotent:
            raise _Permanent(
                f"an earlier {method} call may have been applied and it cannot be checked, "
                "so it is not repeated"
            )
        self._paced(job.lane)
        try:
            response = _call(lambda: client.api_call(method, json=args), posting=not idempotent)
        except _Permanent as exc:
            if method != "chat.delete" or exc.error.partition(":")[0] != "message_not_found":
                raise
            # already deleted (by someone in Slack, or by an earlier attempt): done
            return {"method": method, "channel": args.get("channel"), "ts": args.get("ts"),
                    "already_deleted": True}
        except _Transient as exc:
            if idempotent or not exc.uncertain:
                raise
            job.uncertain = True
            raise _Permanent(f"outcome of {method} unknown ({exc.error}); not repeated") from exc
        result: dict[str, Any] = {"method": method}
        for key in ("channel", "ts", "message_ts"):
            if isinstance(response.get(key), str):
                result[key] = response[key]
        view = response.get("view")
        if isinstance(view, dict) and view.get("id"):
            result["view_id"] = view["id"]
        return result

    # --- helpers ------------------------------------------------------------------------

    def _paced(self, lane: str) -> None:
        """A message of `lane` goes out now: the lane may send again `lane_interval` later."""
        with self._lock:
            self._ready_at[lane] = max(
                self._ready_at.get(lane, 0.0), self._monotonic() + self.lane_interval
            )

    def _open_dm(self, client: WebClient, user: str) -> str:
        """The bot's DM channel with `user`. It never changes, so it is asked for once per
        process (a rep's every question would otherwise cost two Web API calls)."""
        key = (client.token or "", user)
        channel = self._dm_channels.get(key)
        if channel is None:
            response = _call(lambda: client.conversations_open(users=user), posting=False)
            channel = str(response["channel"]["id"])
            if len(self._dm_channels) >= MAX_CACHED_DM_CHANNELS:
                self._dm_channels.clear()
            self._dm_channels[key] = channel
        return channel

    def _post(
        self,
        client: WebClient,
        job: _Job,
        channel: str,
        message: Mapping[str, Any],
        *,
        degraded: str | None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """chat.postMessage with the row's metadata, at most once per row (see the module
        docstring); `{channel, ts}` of the message."""
        if job.reconcile:
            ts = self._find_posted(client, channel, job)
            if ts is not None:
                log.info("outbox %s was already in %s (ts %s): not posting again", job.id,
                         channel, ts)
                return {"channel": channel, "ts": ts, "reconciled": True}
        args: dict[str, Any] = {
            **(extra or {}),
            **POST_DEFAULTS,
            "channel": channel,
            "text": message["text"],
            "metadata": {"event_type": EVENT_TYPE, "event_payload": {"outbox_id": job.id}},
        }
        args.pop("link_names", None)
        if message.get("blocks"):
            args["blocks"] = message["blocks"]
        self._paced(job.lane)
        try:
            response = _call(lambda: client.chat_postMessage(**args), posting=True)
        except _Permanent as exc:
            if exc.error.split(":", 1)[0] not in INVALID_BLOCKS_ERRORS or "blocks" not in args:
                raise
            del args["blocks"]  # rejected, so nothing was posted: once more as plain text
            degraded = f"Slack rejected the blocks ({exc.error})"
            response = _call(lambda: client.chat_postMessage(**args), posting=True)
        except _Transient as exc:
            job.uncertain = job.uncertain or exc.uncertain
            raise
        if not response.get("ts"):
            job.uncertain = True
            raise _Transient("Slack answered ok without a ts", uncertain=True)
        result = {"channel": str(response.get("channel") or channel), "ts": response["ts"]}
        if degraded:
            result["degraded"] = degraded
        return result

    def _find_posted(self, client: WebClient, channel: str, job: _Job) -> str | None:
        """The ts of this row's message in `channel`, if an earlier attempt posted it."""
        since = (job.prior.get("uncertain") or {}).get("since") or (job.started - 3600)
        oldest = f"{max(0.0, float(since) - RECONCILE_MARGIN):.6f}"
        cursor: str | None = None
        for _ in range(self.reconcile_pages):
            try:
                response = _call(
                    partial(
                        client.conversations_history,
                        channel=channel, oldest=oldest, include_all_metadata=True, limit=200,
                        cursor=cursor,
                    ),
                    posting=False,
                )
            except _Permanent as exc:
                raise _Permanent(
                    f"cannot check whether an earlier attempt was delivered: {exc.error}"
                ) from exc
            for item in response.get("messages") or []:
                metadata = item.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if (
                    metadata.get("event_type") == EVENT_TYPE
                    and str(payload.get("outbox_id")) == str(job.id)
                ):
                    return str(item["ts"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not response.get("has_more") or not cursor:
                return None
        raise _Permanent(
            f"cannot check whether an earlier attempt was delivered: more than "
            f"{self.reconcile_pages * 200} messages in {channel} since then"
        )


# --- module helpers ---------------------------------------------------------------------


def _checked(message: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The message if it is within Slack's rules, else its fallback text alone (and why)."""
    out = {"text": truncate_to(str(message.get("text") or ""), LIMITS["fallback_text"])}
    if message.get("blocks"):
        out["blocks"] = message["blocks"]
    try:
        check_limits(out)
    except BlockKitError as exc:
        if not out.get("blocks") or not out["text"].strip():
            raise _Permanent(f"invalid_blocks (checked before sending): {exc}") from exc
        return {"text": out["text"]}, f"the blocks break Slack's rules ({exc})"
    return out, None


def _call(fn: Callable[[], Any], *, posting: bool) -> Any:
    """Run one Web API call, turning what can go wrong into _RateLimited / _Transient
    (`uncertain` when a post may have been applied) / _Permanent."""
    try:
        return fn()
    except SlackApiError as exc:
        raise _classify(exc, posting=posting) from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):
            raise _Transient("connection refused", uncertain=False) from exc
        raise _Transient(f"connection error: {exc.reason!r}", uncertain=posting) from exc
    except ConnectionRefusedError as exc:
        raise _Transient("connection refused", uncertain=False) from exc
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        raise _Transient(f"{type(exc).__name__}: {exc}", uncertain=posting) from exc


def _classify(exc: SlackApiError, *, posting: bool) -> Exception:
    response = exc.response
    status = int(getattr(response, "status_code", 200) or 200)
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error") or response.data or "unknown_error")
    if status == 429 or error == "ratelimited":
        return _RateLimited(_retry_after(response.headers))
    if status >= 500:
        return _Transient(f"HTTP {status}: {error}", uncertain=posting)
    if error in TRANSIENT_ERRORS:
        return _Transient(error, uncertain=posting)
    details = [str(m) for m in (data.get("response_metadata") or {}).get("messages") or []]
    if data.get("needed"):
        details.append(f"needed {data['needed']}")
    return _Permanent(f"{error}: {'; '.join(details)[:500]}" if details else error)


def _retry_after(headers: Mapping[str, Any] | None) -> float:
    for key, value in (headers or {}).items():
        if str(key).lower() == "retry-after":
            if isinstance(value, list | tuple):
                value = value[0] if value else None
            with suppress(TypeError, ValueError):
                return max(0.0, float(value))
    return 5.0


def build_dispatcher(
    settings: Settings, engine: Engine, session_factory: sessionmaker[Session], **options: Any
) -> OutboxDispatcher:
    """The dispatcher for a deployment: Slack clients from the settings (single- or
    multi-workspace, `SLACK_API_URL`). Wire `dispatcher.notify` as the service's (and the
    handoff actions') `on_outbox`, `start()` it with the server and `stop()` it on shutdown."""
    return OutboxDispatcher(
        session_factory, SlackClients.from_settings(settings, engine), **options
    )


__all__ = ["CHANNEL", "EVENT_TYPE", "KINDS", "OutboxDispatcher", "Outcome", "build_dispatcher"]
