"""The live feed's port: what the API's feed hub reads `customer360.changes` and `signals.*` through
(adapters/api/feed.py); a part of `ports.py`, which re-exports it."""

from __future__ import annotations

import abc
import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .topology import CUSTOMER360_CHANGES, SIGNALS_MARKETING, SIGNALS_SALES, SIGNALS_SUPPORT

__all__ = ["FEED_TOPICS", "Emit", "FeedMessage", "FeedSource", "decode"]

FEED_TOPICS: tuple[str, ...] = (CUSTOMER360_CHANGES, SIGNALS_SALES, SIGNALS_MARKETING, SIGNALS_SUPPORT)

Emit = Callable[["FeedMessage"], None]


@dataclass(frozen=True)
class FeedMessage:
    topic: str  # the declared (unprefixed) topic name
    key: str | None
    value: dict[str, Any]
    seq: int = 0  # the hub's running number (the SSE id)

    @property
    def kind(self) -> str:
        return "change" if self.topic == CUSTOMER360_CHANGES else "signal"


def decode(topic: str, key: bytes | None, value: bytes) -> FeedMessage | None:
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    return FeedMessage(topic, key.decode("utf-8", "replace") if key is not None else None, data)


class FeedSource(abc.ABC):
    def __init__(self) -> None:
        #: Set once the source knows where "now" is: messages appended after that are delivered.
        self.ready = threading.Event()

    @abc.abstractmethod
    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Call `emit` for every new message until `stop` is set (called on the event loop)."""
