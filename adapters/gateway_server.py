"""Serving the gateway with uvicorn: in the foreground (the CLI) or on a background thread of this process
(tests and the benchmark, which need a real HTTP port on loopback)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def _config(app: Any, host: str, port: int, log_level: str) -> uvicorn.Config:
    # uvloop/httptools when installed (uvicorn[standard]); the gateway itself is loop-agnostic.
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on", access_log=False)


def serve(app: Any, *, host: str = "127.0.0.1", port: int = 8080, log_level: str = "info") -> None:
    uvicorn.Server(_config(app, host, port, log_level)).run()


@contextmanager
def serving(app: Any, *, host: str = "127.0.0.1", log_level: str = "warning") -> Iterator[str]:
    """Serve `app` on a free port of `host` on a background thread; yields its base URL. The socket is
    bound before the thread starts, so there is no window in which another process takes the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(_config(app, host, port, log_level))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the gateway did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
