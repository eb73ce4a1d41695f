"""The topics Touchstream owns, declared once: names, partitions, retention, cleanup policy.

`touchstream topics create` (adapters/logs/topics.py) applies this declaration to a cluster; the embedded log
uses the same names and partition counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FOREVER = -1


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int = FOREVER
    cleanup_policy: str = "delete"
    extra_config: dict[str, str] = field(default_factory=dict)
    purpose: str = ""


RAW = "touchpoints.raw"
RESOLVED = "touchpoints.resolved"
DLQ = "touchpoints.dlq"
DLQ_REPLAYED = "touchpoints.dlq.replayed"
MASTERDATA = "masterdata.events"
MASTERDATA_MERGES = "masterdata.merges"
CUSTOMER360_CHANGES = "customer360.changes"
SIGNALS_SALES = "signals.sales"
SIGNALS_MARKETING = "signals.marketing"
SIGNALS_SUPPORT = "signals.support"

WEEK_MS = 7 * 24 * 3600 * 1000

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(RAW, 12, purpose="every accepted touchpoint as published; keyed by the strongest identifier"),
    TopicSpec(RESOLVED, 12, purpose="touchpoints enriched with contact and account ids; keyed by contact id"),
    TopicSpec(DLQ, 3, purpose="records that could not become events, with the original bytes and the reason"),
    TopicSpec(
        DLQ_REPLAYED,
        3,
        purpose="one record per dead letter replayed to the raw topic, so a second replay skips it",
    ),
    TopicSpec(MASTERDATA, 12, purpose="the master record's events, relayed in order; keyed by aggregate id"),
    TopicSpec(
        MASTERDATA_MERGES,
        3,
        purpose="the merges and unmerges of masterdata.events again, relayed with them: what a worker reads",
    ),
    TopicSpec(
        CUSTOMER360_CHANGES,
        12,
        cleanup_policy="compact",
        purpose="the latest 360 summary per contact, for dashboards",
    ),
    TopicSpec(
        SIGNALS_SALES,
        3,
        retention_ms=4 * WEEK_MS,
        purpose="signals for sales: service hold, upsell, warm lead",
    ),
    TopicSpec(SIGNALS_MARKETING, 3, retention_ms=4 * WEEK_MS, purpose="signals for marketing"),
    TopicSpec(SIGNALS_SUPPORT, 3, retention_ms=4 * WEEK_MS, purpose="signals for support"),
)


def masterdata_source(forwarding: bool) -> str:
    """The master-data topic a worker reads: the merges only (`MASTERDATA_MERGES`: its identity cache and
    `contact_merges` need no other event), or every event when it forwards them to a webhook. A worker
    that read every event took 0.8 records a touchpoint through Faust for the few merges among them: a
    quarter of its throughput (bench/e2e.py)."""
    return MASTERDATA if forwarding else MASTERDATA_MERGES


def topic_name(base: str, prefix: str = "") -> str:
    """Tests and tenants share a cluster by prefixing every topic name."""
    return f"{prefix}{base}"


def spec_for(base: str) -> TopicSpec:
    for spec in TOPICS:
        if spec.name == base:
            return spec
    raise KeyError(f"{base!r} is not a declared topic; see touchstream.streams.topology.TOPICS")


def desired_config(spec: TopicSpec) -> dict[str, str]:
    """The topic-level settings we own; every other setting stays as the cluster has it."""
    owned = {"retention.ms": str(spec.retention_ms), "cleanup.policy": spec.cleanup_policy}
    return {**owned, **spec.extra_config}
