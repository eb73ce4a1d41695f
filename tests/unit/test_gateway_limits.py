"""Slow and greedy clients against the real server on loopback: the head and body deadlines, the idle
timeout and the connection cap keep the gateway answering."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from event_examples import wire_event

from touchstream.adapters.gateway.app import GatewaySettings, create_gateway
from touchstream.adapters.gateway.auth import Keyring, add_key
from touchstream.adapters.gateway.dedup import SQLiteDedupStore
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.web.server import ServerLimits, serving

pytestmark = pytest.mark.timeout(120)

CAP = 4
LIMITS = ServerLimits(max_connections=CAP, head_timeout_s=1.0, idle_timeout_s=1, max_head_bytes=8 * 1024)


class Served:
    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=30)
        return sock

    def post_event(self) -> httpx.Response:
        body = wire_event("EmailOpened", 1, event_id=str(uuid.uuid4()))
        headers = {"Authorization": f"Bearer {self.key}", "Connection": "close"}
        return httpx.post(f"{self.url}/v1/events", content=json.dumps(body), headers=headers, timeout=30)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    keys = tmp_path / "keys.toml"
    key, _ = add_key(keys, name="hubspot", source="hubspot")
    dedup = SQLiteDedupStore(tmp_path / "dedup.sqlite")
    app = create_gateway(
        lambda: SQLiteEventLog(tmp_path / "log.sqlite"),
        Keyring.from_file(keys),
        dedup,
        GatewaySettings(body_timeout_s=1.0),
    )
    with serving(app, limits=LIMITS) as url:
        yield Served(url, key)
    app.state.gateway.ingestor.close()
    dedup.close()


def closed_by_server(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the socket's own timeout bounds it)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_slow_clients_holding_every_slot_do_not_lock_the_gateway_out(served: Served) -> None:
    """Twice the cap of clients that never finish their headers: each is dropped at the head deadline, and
    a real client gets through. Without the deadline every attempt would get uvicorn's 503 for good."""
    slow = []
    for _ in range(2 * CAP):
        sock = served.connect()
        sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: gateway\r\nContent-Type: appl")
        slow.append(sock)
    answers: list[int] = []
    for _ in range(200):  # bounded: the slow ones are dropped long before this runs out
        status = served.post_event().status_code
        answers.append(status)
        if status == 200:
            break
        time.sleep(0.05)
    assert answers[-1] == 200, answers
    assert set(answers) <= {200, 503}
    for sock in slow:
        assert closed_by_server(sock) == b"", "a client that never sent its head is closed, not answered"
        sock.close()


@pytest.mark.parametrize("path", ["/v1/events", "/v1/batch", "/v1/track"])
def test_a_body_that_trickles_is_answered_408_and_closed(served: Served, path: str) -> None:
    """The body deadline holds on every ingest route, the Segment-compatible ones too."""
    sock = served.connect()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {served.key}\r\nContent-Length: 1000\r\n\r\n"
    )
    sock.sendall(head.encode() + b'{"event_id": ')
    answer = closed_by_server(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"the body did not arrive within 1 s" in answer


def test_an_unknown_caller_is_refused_before_its_body_arrives(served: Served) -> None:
    """401 at once for a declared 5 MB body that never comes: the body is not waited for, read or parsed."""
    sock = served.connect()
    head = (
        "POST /v1/events HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        "Authorization: Bearer tsk_not-a-key\r\nContent-Length: 5000000\r\n\r\n"
    )
    sock.sendall(head.encode())
    first = sock.recv(65536)
    sock.close()
    assert first.startswith(b"HTTP/1.1 401"), first[:200]


def test_an_idle_connection_is_closed_and_a_huge_head_is_refused(served: Served) -> None:
    sock = served.connect()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
    answer = closed_by_server(sock)  # keep-alive: closed only by the idle timeout
    sock.close()
    assert answer.startswith(b"HTTP/1.1 200")
    sock = served.connect()
    # A head that is still unfinished past the cap: refused, not buffered on.
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Padding: " + b"a" * 20_000)
    refused = closed_by_server(sock)
    sock.close()
    assert refused.startswith(b"HTTP/1.1 400"), refused[:200]
