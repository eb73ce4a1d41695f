"""Serving the gateway (and the query API) with uvicorn: in the foreground (the CLI) or on a background thread
of this process (tests and the benchmark, which need a real HTTP port on loopback).

A few slow clients must not hold the server. uvicorn counts every open connection against
`limit_concurrency` and answers 503 beyond it, but it has no timeout for a request's head: a client that
connects and sends its headers one byte a minute keeps its slot forever. `GuardedH11Protocol` adds that
timer (the head must be complete within `head_timeout_s` of its first byte, or of the connection), h11's
`max_incomplete_event_size` caps the head's size, `timeout_keep_alive` closes idle connections, and the
gateway itself bounds how long a body may take (`GatewaySettings.body_timeout_s`, 408).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True)
class ServerLimits:
    """What protects the server from slow or greedy clients. The defaults suit loopback and a LAN."""

    # Most open connections (and requests in flight); beyond it uvicorn answers 503 at once.
    max_connections: int = 256
    # The request line and headers must arrive within this many seconds.
    head_timeout_s: float = 10.0
    # An idle keep-alive connection is closed after this many seconds.
    idle_timeout_s: int = 5
    # The most bytes of an unfinished request head buffered (h11's cap); beyond it the answer is 400.
    max_head_bytes: int = 16 * 1024


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's head (see the module docstring)."""

    head_timeout_s = ServerLimits.head_timeout_s

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Waiting for (the rest of) a request head: the clock runs; past the head: it stops.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm_head_timer()
        else:
            self._disarm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def _protocol(limits: ServerLimits) -> type[GuardedH11Protocol]:
    # A subclass per server carries its own head timeout (uvicorn instantiates the class it is given).
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"head_timeout_s": limits.head_timeout_s})


def _config(app: Any, host: str, port: int, log_level: str, limits: ServerLimits) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        access_log=False,
        http=_protocol(limits),
        limit_concurrency=limits.max_connections,
        timeout_keep_alive=limits.idle_timeout_s,
        h11_max_incomplete_event_size=limits.max_head_bytes,
    )


def serve(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_level: str = "info",
    limits: ServerLimits | None = None,
) -> None:
    uvicorn.Server(_config(app, host, port, log_level, limits or ServerLimits())).run()


@contextmanager
def serving(
    app: Any, *, host: str = "127.0.0.1", log_level: str = "warning", limits: ServerLimits | None = None
) -> Iterator[str]:
    """Serve `app` on a free port of `host` on a background thread; yields its base URL. The socket is
    bound before the thread starts, so there is no window in which another process takes the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(_config(app, host, port, log_level, limits or ServerLimits()))
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
