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

from bot.background import PeriodicThread
from bot.runtime import Runtime
from bot.widget.config import WidgetConfig
from bot.widget.sessions import WidgetBackend


class IdleSweeper(PeriodicThread):
    thread_name = "widget-sweeper"

    def __init__(self, backend: WidgetBackend, interval: float | None = None) -> None:
        super().__init__(
            interval if interval is not None else backend.config.sweep_interval_seconds
        )
        self.backend = backend

    def run_once(self) -> int:
        """One pass; returns how many conversations were abandoned."""
        return self.backend.expire_idle()

    sweep_once = run_once


def create_sweeper(runtime: Runtime, config: WidgetConfig | None = None) -> IdleSweeper:
    config = config or WidgetConfig.from_file(runtime.config.widget, runtime.settings.config_file)
    backend = WidgetBackend(runtime.service, runtime.sessions, runtime.flows, config)
    return IdleSweeper(backend)
