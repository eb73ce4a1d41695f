"""The gateway's Prometheus metrics, in a registry of its own per app (no module-level state: tests build
many apps, and a second worker process keeps its own counts)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .ingest import Outcome

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Requests are milliseconds when the log is healthy and up to the log's timeout when it is not.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "touchstream_gateway_events",
            "Events answered, by endpoint and outcome (accepted, duplicate, rejected).",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "touchstream_gateway_rejected_events",
            "Rejected events by reason (invalid, too_large, forbidden, conflict, unmapped, unavailable).",
            ["reason"],
            registry=self.registry,
        )
        self.requests = Counter(
            "touchstream_gateway_requests",
            "HTTP requests by endpoint and status code.",
            ["endpoint", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "touchstream_gateway_request_seconds",
            "Time from request to answer, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.append_latency = Histogram(
            "touchstream_gateway_log_append_seconds",
            "Time the log took to acknowledge one append (acks=all on Kafka).",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def count(self, endpoint: str, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self.events.labels(endpoint, outcome.status).inc()
            if outcome.reason is not None:
                self.rejected.labels(outcome.reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
