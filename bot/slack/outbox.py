"""Messages the Slack listeners send that are not a conversation turn: a notice to one person
(DM or ephemeral), a Web API call such as `views.publish`. Each is one transaction that
writes an outbox row (and records the delivery's dedupe key); the dispatcher delivers it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.errors import AlreadyProcessed
from storage.dedupe import ProcessedEventRepository
from storage.repositories import OutboxRepository


class SlackOutbox:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        on_outbox: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = session_factory
        self._on_outbox = on_outbox

    def dm(
        self,
        team_id: str | None,
        user: str,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        dedupe_key: str | None = None,
    ) -> None:
        """A direct message to `user` (`text` is mrkdwn: escape what people typed)."""
        payload: dict[str, Any] = {"team_id": team_id, "user": user, "text": text}
        if blocks is not None:
            payload["blocks"] = blocks
        self._enqueue("dm", f"dm:{user}", payload, dedupe_key)

    def ephemeral(
        self,
        team_id: str | None,
        channel: str,
        user: str,
        text: str,
        *,
        dedupe_key: str | None = None,
    ) -> None:
        """A message only `user` sees, in `channel`."""
        payload = {"team_id": team_id, "channel": channel, "user": user, "text": text}
        self._enqueue("ephemeral", f"dm:{user}", payload, dedupe_key)

    def api(
        self,
        team_id: str | None,
        method: str,
        args: dict[str, Any],
        *,
        lane: str,
        dedupe_key: str | None = None,
    ) -> None:
        """Any Web API call, e.g. `views.publish` / `views.update`."""
        payload = {"team_id": team_id, "method": method, "args": args}
        self._enqueue("api", lane, payload, dedupe_key)

    def _enqueue(
        self, kind: str, lane: str, payload: dict[str, Any], dedupe_key: str | None
    ) -> None:
        with self._sessions.begin() as session:
            if dedupe_key is not None and not ProcessedEventRepository(session).claim(dedupe_key):
                raise AlreadyProcessed(dedupe_key)
            OutboxRepository(session).enqueue(
                kind=kind, channel="slack", lane=lane, payload=payload
            )
        if self._on_outbox is not None:
            self._on_outbox()
