"""The outbound webhook against a tiny HTTP server on 127.0.0.1: signed, retried, final on 4xx."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from touchstream.adapters.master_record.webhook import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    NonceStore,
    WebhookConfig,
    WebhookFailed,
    WebhookSender,
    check_signature,
    forward,
    sign,
    verify,
)
from touchstream.adapters.secret_checks import WeakSecret

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]
SECRET = b"s3cret-shared-with-the-sales-db-Xq9Z"


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
    event_id = headers[EVENT_ID_HEADER]
    assert event_id == change(1)["event_id"]
    signature = headers[SIGNATURE_HEADER]
    assert not verify(b"another secret", body, signature, event_id, NonceStore())
    assert not verify(SECRET, body + b" ", signature, event_id, NonceStore()), "a tampered body fails"
    other_id = change(2)["event_id"]
    assert not verify(SECRET, body, signature, other_id, NonceStore()), "the event id is signed"
    nonces = NonceStore()
    assert verify(SECRET, body, signature, event_id, nonces)
    assert check_signature(SECRET, body, signature, event_id, nonces) == (
        "a replay: this signature's nonce was used before"
    )
    # Each attempt was signed afresh: the retries are not replays of one another.
    signatures = {h[SIGNATURE_HEADER] for h, _ in state.received}
    assert len(signatures) == 3


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


def test_a_stale_or_replayed_signature_is_rejected() -> None:
    body, event_id = b"{}", change(1)["event_id"]
    nonces = NonceStore()
    fresh = sign(SECRET, body, 1_000, event_id)
    assert verify(SECRET, body, fresh, event_id, nonces, now=1_100)
    assert not verify(SECRET, body, fresh, event_id, nonces, now=1_101), "replayed within the window"
    assert not verify(SECRET, body, sign(SECRET, body, 1_000, event_id), event_id, nonces, now=2_000)
    assert "malformed" in (check_signature(SECRET, body, "garbage", event_id, nonces) or "")
    old_style = "t=1000,v1=" + "0" * 64  # the v1 scheme signed neither the event id nor a nonce
    assert not verify(SECRET, body, old_style, event_id, nonces, now=1_000)
    # A forged signature records nothing: the genuine request with that nonce still passes.
    genuine = sign(SECRET, body, 1_200, event_id, nonce="n1")
    forged = genuine.rsplit("=", 1)[0] + "=" + "0" * 64
    assert not verify(SECRET, body, forged, event_id, nonces, now=1_200)
    assert verify(SECRET, body, genuine, event_id, nonces, now=1_200)


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        (b"", "required and empty"),
        (b"short-secret", "12 bytes; it must be at least 32"),
        (b"ab" * 20, "only 2 distinct characters"),
    ],
)
def test_a_missing_short_or_uniform_secret_is_refused_with_the_fix(secret: bytes, why: str) -> None:
    with pytest.raises(WeakSecret, match=why) as refused:
        WebhookConfig("http://127.0.0.1:9/hook", secret)
    assert "TOUCHSTREAM_WEBHOOK_SECRET" in str(refused.value)
    assert "secrets.token_urlsafe(32)" in str(refused.value)
