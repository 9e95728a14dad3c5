"""Rate limits for the widget API, kept in this process's memory.

The generic cell rate algorithm (GCRA): per key one number, the "theoretical arrival time".
A limit of N per period allows a burst of N, then one more every period/N. Memory is one
float per active key; keys that have fully recovered are dropped now and then.

Limits are per process: with several replicas behind a load balancer, each replica counts on
its own (a visitor could get up to N x replicas). That is fine for abuse protection; use a
shared store if exact global limits matter.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

PRUNE_EVERY = 4096


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tat: dict[tuple[str, str], float] = {}
        self._hits = 0

    def hit(self, bucket: str, key: str, limit: int, period: float) -> float:
        """Count one request against `limit` per `period` seconds for (`bucket`, `key`).

        Returns 0.0 when allowed, otherwise the seconds until the next request would be (and
        then nothing is counted). A `limit` of 0 means no limit.
        """
        if limit <= 0:
            return 0.0
        interval = period / limit
        now = self._clock()
        slot = (bucket, key)
        with self._lock:
            tat = max(self._tat.get(slot, now), now)
            allowed_at = tat + interval - period
            if allowed_at > now:
                return allowed_at - now
            self._tat[slot] = tat + interval
            self._hits += 1
            if self._hits % PRUNE_EVERY == 0:
                self._prune(now)
        return 0.0

    def reset(self) -> None:
        with self._lock:
            self._tat.clear()

    def _prune(self, now: float) -> None:
        for slot in [s for s, tat in self._tat.items() if tat <= now]:
            del self._tat[slot]

    def __len__(self) -> int:
        return len(self._tat)
