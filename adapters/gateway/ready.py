"""Readiness of a Kafka-backed log, checked before every publish and by `/readyz`.

kafka-python would block up to its own timeouts (seconds) before failing against a stopped broker, and
could leave records in its buffer to be sent later - after the client was told 503. So the gateway asks
first: a TCP connect to the bootstrap (refused at once when the broker is down), then a bounded metadata
round trip for the topic. A positive answer is reused for `cache_s`, so a busy gateway asks about twice
a second, not per request. Called only from the gateway's log thread (the consumer is not thread-safe).
"""

from __future__ import annotations

import socket
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from touchstream.streams.ports import AbstractEventLog


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.strip().rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port or 9092)


class KafkaReadiness:
    def __init__(self, bootstrap: str, topic: str, *, timeout_s: float = 2.0, cache_s: float = 0.5) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._ok_until = 0.0
        self._consumer: KafkaConsumer | None = None

    def _reachable(self) -> str | None:
        errors = []
        for address in self.bootstrap.split(","):
            try:
                with socket.create_connection(_host_port(address), timeout=self._timeout_s):
                    return None
            except OSError as exc:
                errors.append(f"{address.strip()}: {exc}")
        return "no bootstrap server accepts connections (" + "; ".join(errors) + ")"

    def _topic_answers(self) -> str | None:
        if self._consumer is None:
            self._consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap,
                client_id="touchstream-gateway-ready",
                group_id=None,
                enable_auto_commit=False,
                request_timeout_ms=max(1000, int(self._timeout_s * 1000)),
            )
        try:
            self._consumer.end_offsets(
                [TopicPartition(self.topic, 0)], timeout_ms=int(self._timeout_s * 1000)
            )
        except KafkaError as exc:
            return f"Kafka at {self.bootstrap} did not answer for {self.topic}: {exc}"
        return None

    def __call__(self, log: AbstractEventLog) -> str | None:
        now = time.monotonic()
        if now < self._ok_until:
            return None
        reason = self._reachable() or self._topic_answers()
        self._ok_until = now + self._cache_s if reason is None else 0.0
        return reason

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
