"""Outbound webhook: pushes ContactAttributeChanged from `masterdata.events` to a downstream system's URL
("the sales database"), signed, retried with backoff.

Signature: header `X-Touchstream-Signature: t=<unix seconds>,n=<nonce>,v2=<hex HMAC-SHA256 of
"v2.<t>.<n>.<event id>.<body>" with the shared secret>`. `X-Touchstream-Event-Id` carries the masterdata
event id, and the signature covers it, so it cannot be swapped: a retry or a relay duplicate sends the same
id, for the receiver to de-duplicate. The nonce is fresh per attempt: the receiver's `verify` remembers
nonces for the tolerance window (a `NonceStore`), so a captured request replayed within ±300 s is refused,
while the sender's own retries (new nonce, new timestamp) are not mistaken for replays.

The secret is required, at least 32 bytes and not uniform (`secret_checks`): a worker configured with a
webhook URL and a weak `TOUCHSTREAM_WEBHOOK_SECRET` refuses to start. Standard library HTTP only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ...streams.ports import MessageRefused
from ..secret_checks import check_secret

SIGNATURE_HEADER = "X-Touchstream-Signature"
EVENT_ID_HEADER = "X-Touchstream-Event-Id"
FORWARDED_TYPES = frozenset({"ContactAttributeChanged"})
# Worth retrying: the receiver is down, overloaded, or timed out; any other 4xx is our fault and final.
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookFailed(Exception):
    """The receiver refused the message for good, or every attempt failed."""


class WebhookRefused(WebhookFailed, MessageRefused):
    """The receiver refused the message for good (a 4xx other than 408/425/429): retrying cannot help."""


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    secret: bytes
    max_attempts: int = 6
    backoff_seconds: float = 0.5  # doubles per attempt
    max_backoff_seconds: float = 30.0
    timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        check_secret(self.secret, "the webhook secret (TOUCHSTREAM_WEBHOOK_SECRET)")


def _digest(secret: bytes, body: bytes, timestamp: int, nonce: str, event_id: str) -> str:
    signed = f"v2.{timestamp}.{nonce}.{event_id}.".encode() + body
    return hmac.new(secret, signed, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, timestamp: int, event_id: str, nonce: str | None = None) -> str:
    """The signature header for one attempt: a fresh nonce unless one is given (tests)."""
    nonce = nonce or secrets.token_hex(16)
    return f"t={timestamp},n={nonce},v2={_digest(secret, body, timestamp, nonce, event_id)}"


class NonceStore:
    """The nonces a receiver has accepted, each kept until its signature could no longer be fresh.

    In memory, for one receiving process; receivers behind several processes need a shared store with the
    same `first_use` (e.g. a table with a unique key on the nonce). Only nonces of valid signatures are
    recorded, so a forger cannot fill it; expired ones are dropped as new ones arrive."""

    def __init__(self) -> None:
        self._expires: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, nonce: str, expires_at: float, now: float) -> bool:
        """Record `nonce`; False if it is already recorded (a replay)."""
        with self._lock:
            if len(self._expires) > 1024:
                self._expires = {n: at for n, at in self._expires.items() if at >= now}
            known = self._expires.get(nonce)
            if known is not None and known >= now:
                return False
            self._expires[nonce] = expires_at
            return True

    def __len__(self) -> int:
        return len(self._expires)


def check_signature(
    secret: bytes,
    body: bytes,
    header: str,
    event_id: str,
    nonces: NonceStore,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> str | None:
    """For receivers: None when the request is authentic, fresh and not seen before; else why not.
    `event_id` is the request's X-Touchstream-Event-Id header."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp, nonce, given = int(parts["t"]), parts["n"], parts["v2"]
    except (ValueError, KeyError):
        return "the signature header is malformed (expected t=…,n=…,v2=…)"
    at = time.time() if now is None else now
    if abs(at - timestamp) > tolerance_seconds:
        return f"the signature is more than {tolerance_seconds} s from this receiver's clock"
    if not nonce or not hmac.compare_digest(_digest(secret, body, timestamp, nonce, event_id), given):
        return "the signature does not match the body, the event id and the secret"
    if not nonces.first_use(nonce, timestamp + tolerance_seconds, at):
        return "a replay: this signature's nonce was used before"
    return None


def verify(
    secret: bytes,
    body: bytes,
    header: str,
    event_id: str,
    nonces: NonceStore,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> bool:
    """For receivers (and tests): the signature matches, is fresh, and its nonce is new."""
    return check_signature(secret, body, header, event_id, nonces, tolerance_seconds, now) is None


class WebhookSender:
    def __init__(self, config: WebhookConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.sleep = sleep
        self.attempts = 0

    def send(self, message: Mapping[str, Any]) -> int:
        """POST one message; returns the receiver's 2xx status or raises WebhookFailed."""
        body = orjson.dumps(message)
        last_error = ""
        for attempt in range(self.config.max_attempts):
            if attempt:
                self.sleep(
                    min(self.config.backoff_seconds * 2 ** (attempt - 1), self.config.max_backoff_seconds)
                )
            self.attempts += 1
            # Signed per attempt (new timestamp, new nonce): a retry must not look like a replay.
            event_id = str(message.get("event_id", ""))
            request = urllib.request.Request(
                self.config.url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(self.config.secret, body, int(time.time()), event_id),
                    EVENT_ID_HEADER: event_id,
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=self.config.timeout_seconds) as response:
                    return int(response.status)
            except urllib.error.HTTPError as exc:
                if exc.code not in _RETRY_STATUSES:
                    raise WebhookRefused(f"{self.config.url} refused the message: HTTP {exc.code}") from None
                last_error = f"HTTP {exc.code}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last_error = str(exc)
        raise WebhookFailed(
            f"{self.config.url}: {self.config.max_attempts} attempts failed, last: {last_error}"
        )


def forward(messages: Iterable[Mapping[str, Any]], sender: WebhookSender) -> int:
    """Send the attribute changes among `messages` (masterdata.events records), in order; returns how many.
    A consumer commits its offset only after this returns, so a crash re-sends rather than loses."""
    sent = 0
    for message in messages:
        if message.get("type") in FORWARDED_TYPES:
            sender.send(message)
            sent += 1
    return sent


class WebhookForwarder:
    """The worker's `Forwarder` port over one `WebhookSender`."""

    def __init__(self, sender: WebhookSender) -> None:
        self.sender = sender

    def forward(self, messages: Iterable[Mapping[str, Any]]) -> int:
        return forward(messages, self.sender)
