"""Work the server repeats in a daemon thread for as long as it runs.

    class Sweeper(PeriodicThread):
        thread_name = "widget-sweeper"
        def run_once(self) -> int: ...

    sweeper = Sweeper(interval=60)
    sweeper.start()      # e.g. in the server's lifespan (`create_server(background=...)`)
    ...
    sweeper.stop()

`run_once()` runs every `interval` seconds, the first time one interval after `start()`. An
exception is logged and the next pass comes as usual (a database hiccup must not end it).
`stopped()` runs once the thread has ended, in the caller of `stop()`.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from storage.checkpoints import checkpoint

log = logging.getLogger(__name__)


class PeriodicThread:
    thread_name = "periodic"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> object:
        raise NotImplementedError

    def stopped(self) -> None:
        """Called by `stop()` after the thread ended (nothing by default)."""

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is None:
            return
        self._thread.join(timeout)
        self._thread = None
        self.stopped()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:
                log.exception("%s: a pass failed; trying again next time", self.thread_name)


#: Seconds between background WAL checkpoints.
CHECKPOINT_INTERVAL = 0.25


class WalCheckpoints(PeriodicThread):
    """SQLite's WAL checkpoints for a running server, off the request path (see
    `storage.checkpoints`): a PASSIVE one every `interval` seconds, and on `stop()` a last
    TRUNCATE one, so that a stopped server leaves the whole database in its file."""

    thread_name = "sqlite-checkpoint"

    def __init__(self, engine: Engine, interval: float = CHECKPOINT_INTERVAL) -> None:
        super().__init__(interval)
        self.engine = engine

    def run_once(self) -> object:
        return checkpoint(self.engine)

    def stopped(self) -> None:
        try:
            checkpoint(self.engine, "TRUNCATE")
        except Exception:  # the data is safe in the WAL; SQLite replays it on the next open
            log.warning("SQLite: the final checkpoint failed", exc_info=True)
