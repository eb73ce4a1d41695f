"""Outbound webhook: pushes ContactAttributeChanged from `masterdata.events` to a downstream system's URL
("the sales database"), signed, retried with backoff.

Signature (Stripe-style, so receivers can reject replays): header `X-Touchstream-Signature: t=<unix
seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the shared secret>`. `X-Touchstream-Event-Id` carries the
masterdata event id: a retry or a relay duplicate sends the same id, for the receiver to de-duplicate.
Standard library HTTP only: one POST per message needs no client library.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from touchstream.streams.ports import MessageRefused

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


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(
    secret: bytes, body: bytes, header: str, tolerance_seconds: int = 300, now: float | None = None
) -> bool:
    """For receivers (and tests): the signature matches and is fresh."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


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
            # Signed per attempt: a retry an hour later must not look like a replay.
            request = urllib.request.Request(
                self.config.url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(self.config.secret, body, int(time.time())),
                    EVENT_ID_HEADER: str(message.get("event_id", "")),
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
