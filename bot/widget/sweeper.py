"""Expire idle widget conversations in the background.

    sweeper = create_sweeper(runtime)
    sweeper.start()      # e.g. in the server's lifespan
    ...
    sweeper.stop()

Every `sweep_interval_seconds` it marks open widget conversations whose visitor has been idle
for longer than `idle_timeout_minutes` abandoned (the service's `abandon`; the answers are
kept). Safe with several replicas: abandoning twice changes nothing, and each turn is
version-checked. A conversation reached before the sweeper gets there is expired on access.
"""

from __future__ import annotations

import logging
import threading

from bot.runtime import Runtime
from bot.widget.config import WidgetConfig
from bot.widget.sessions import WidgetBackend

log = logging.getLogger(__name__)


class IdleSweeper:
    def __init__(self, backend: WidgetBackend, interval: float | None = None) -> None:
        self.backend = backend
        self.interval = interval if interval is not None else backend.config.sweep_interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep_once(self) -> int:
        """One pass; returns how many conversations were abandoned."""
        return self.backend.expire_idle()

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="widget-sweeper", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep_once()
            except Exception:  # keep sweeping after a database hiccup
                log.exception("widget sweeper: pass failed; trying again next time")


def create_sweeper(runtime: Runtime, config: WidgetConfig | None = None) -> IdleSweeper:
    config = config or WidgetConfig.from_file(runtime.config.widget)
    backend = WidgetBackend(runtime.service, runtime.sessions, runtime.flows, config)
    return IdleSweeper(backend)
