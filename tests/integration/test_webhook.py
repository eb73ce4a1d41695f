"""The outbound webhook against a tiny HTTP server on 127.0.0.1: signed, retried, final on 4xx."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from touchstream.adapters.webhook import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    WebhookConfig,
    WebhookFailed,
    WebhookSender,
    forward,
    sign,
    verify,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]
SECRET = b"s3cret-shared-with-the-sales-db"


class Receiver:
    """Answers with the next scripted status; records what arrived."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[dict[str, str], bytes]] = []


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver([])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append((dict(self.headers.items()), body))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/hooks/masterdata"
    finally:
        server.shutdown()
        server.server_close()


def change(n: int) -> dict[str, Any]:
    return {
        "event_id": f"00000000-0000-0000-0000-{n:012d}",
        "type": "ContactAttributeChanged",
        "aggregate_id": "c0ffee00-0000-0000-0000-000000000001",
        "data": {"attribute": "phone", "old_value": "+14155550134", "new_value": "+16465550188"},
    }


def test_a_change_arrives_signed_after_retries_with_growing_backoff(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.statuses = [503, 502, 200]
    waits: list[float] = []
    sender = WebhookSender(WebhookConfig(url, SECRET, backoff_seconds=0.1), sleep=waits.append)
    assert sender.send(change(1)) == 200
    assert waits == [0.1, 0.2]
    assert len(state.received) == 3
    headers, body = state.received[-1]
    assert orjson.loads(body) == change(1)
    assert verify(SECRET, body, headers[SIGNATURE_HEADER])
    assert not verify(b"another secret", body, headers[SIGNATURE_HEADER])
    assert not verify(SECRET, body + b" ", headers[SIGNATURE_HEADER]), "a tampered body fails"
    assert headers[EVENT_ID_HEADER] == change(1)["event_id"]


def test_a_refusal_is_final_and_exhausted_retries_raise(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.statuses = [400]
    sender = WebhookSender(WebhookConfig(url, SECRET), sleep=lambda _: None)
    with pytest.raises(WebhookFailed, match="HTTP 400"):
        sender.send(change(1))
    assert len(state.received) == 1
    state.statuses = [503] * 3
    sender = WebhookSender(WebhookConfig(url, SECRET, max_attempts=3), sleep=lambda _: None)
    with pytest.raises(WebhookFailed, match="3 attempts failed"):
        sender.send(change(2))


def test_an_unreachable_receiver_is_retried_then_reported() -> None:
    sender = WebhookSender(
        WebhookConfig("http://127.0.0.1:9/nothing", SECRET, max_attempts=2, timeout_seconds=2),
        sleep=lambda _: None,
    )
    with pytest.raises(WebhookFailed):
        sender.send(change(1))
    assert sender.attempts == 2


def test_only_attribute_changes_are_forwarded_in_order(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    messages = [change(1), {"type": "ContactRegistered", "event_id": "x"}, change(2)]
    assert forward(messages, WebhookSender(WebhookConfig(url, SECRET))) == 2
    assert [orjson.loads(body)["event_id"] for _, body in state.received] == [
        change(1)["event_id"],
        change(2)["event_id"],
    ]


def test_a_stale_signature_is_rejected() -> None:
    body = b"{}"
    assert verify(SECRET, body, sign(SECRET, body, 1_000), now=1_100)
    assert not verify(SECRET, body, sign(SECRET, body, 1_000), now=2_000)
    assert not verify(SECRET, body, "garbage")
