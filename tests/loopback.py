"""The real ASGI app under uvicorn on a free loopback port, in a background thread, for tests
that need real HTTP (timeouts, concurrency, a real browser)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serve_in_thread(app: Any, *, name: str = "live-server") -> Iterator[tuple[str, int]]:
    """Serve `app` (lifespan on) until the block ends; yields its base URL and port."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start")
            time.sleep(0.01)
        port = int(server.servers[0].sockets[0].getsockname()[1])
        yield f"http://127.0.0.1:{port}", port
    finally:
        server.should_exit = True
        thread.join(15)
