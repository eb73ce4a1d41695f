"""The topics applied to a cluster (`touchstream topics create`) and opened as logs.

The declaration itself (names, partitions, retention, cleanup) is `touchstream.streams.topology`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...streams.topology import TOPICS, TopicSpec, desired_config, spec_for, topic_name

if TYPE_CHECKING:
    from kafka import KafkaAdminClient

    from ...streams.ports import AbstractEventLog


def open_log(
    base: str,
    *,
    bootstrap: str | None = None,
    prefix: str = "",
    embedded_dir: Path | None = None,
) -> AbstractEventLog:
    """The log of one declared topic: on Kafka when `bootstrap` is given (the topic must exist:
    `touchstream topics create`), else the embedded SQLite file `<embedded_dir>/<prefix><base>.sqlite`
    with the declared partition count, so keys land on the same partition numbers in both."""
    if bootstrap:
        from .kafka_log import KafkaEventLog

        return KafkaEventLog(bootstrap, topic_name(base, prefix))
    if embedded_dir is None:
        raise ValueError("open_log needs a Kafka bootstrap or an embedded log folder")
    from .sqlite_log import SQLiteEventLog

    embedded_dir.mkdir(parents=True, exist_ok=True)
    return SQLiteEventLog(embedded_dir / f"{topic_name(base, prefix)}.sqlite", spec_for(base).partitions)


@dataclass(frozen=True)
class TopicChange:
    """What `create_topics` did (or, with dry_run, would do) to one topic."""

    topic: str
    action: str  # "created", "config changed", "partitions increased", "unchanged" or "cannot fix"
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.topic}: {self.action}" + (f" ({self.detail})" if self.detail else "")


def create_topics(
    bootstrap: str,
    specs: Sequence[TopicSpec] = TOPICS,
    prefix: str = "",
    *,
    dry_run: bool = False,
    timeout_s: float = 30.0,
) -> list[TopicChange]:
    """Make the cluster match the declaration: create what is missing, align drifted settings, add
    partitions. Idempotent: a second run reports every topic "unchanged". Partitions are never removed
    and replication is never changed (both need an operator's reassignment); those are reported as
    "cannot fix". With `dry_run` it only reports.
    """
    from kafka import KafkaAdminClient  # imported here: nothing connects (or loads kafka) at import

    timeout_ms = int(timeout_s * 1000)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    try:
        brokers = len(admin.describe_cluster()["brokers"])
        replication = min(3, brokers)
        existing = set(admin.list_topics())
        changes: list[TopicChange] = []
        missing = [spec for spec in specs if topic_name(spec.name, prefix) not in existing]
        if missing and not dry_run:
            admin.create_topics(
                {
                    topic_name(spec.name, prefix): {
                        "num_partitions": spec.partitions,
                        "replication_factor": replication,
                        "configs": desired_config(spec),
                    }
                    for spec in missing
                },
                timeout_ms=timeout_ms,
                wait_for_metadata=True,
            )
        for spec in missing:
            detail = f"{spec.partitions} partitions, replication {replication}, " + _describe(
                desired_config(spec)
            )
            changes.append(TopicChange(topic_name(spec.name, prefix), "created", detail))
        present = [spec for spec in specs if topic_name(spec.name, prefix) in existing]
        if present:
            changes.extend(_align(admin, present, prefix, replication, dry_run, timeout_ms))
        order = {topic_name(spec.name, prefix): i for i, spec in enumerate(specs)}
        return sorted(changes, key=lambda change: order[change.topic])
    finally:
        admin.close()


def _describe(config: dict[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(config.items()))


def _align(
    admin: KafkaAdminClient,
    specs: Sequence[TopicSpec],
    prefix: str,
    replication: int,
    dry_run: bool,
    timeout_ms: int,
) -> list[TopicChange]:
    from kafka.admin import ConfigResource

    names = [topic_name(spec.name, prefix) for spec in specs]
    described = {topic["name"]: topic for topic in admin.describe_topics(names)}
    wanted_keys = {name: dict.fromkeys(desired_config(spec)) for name, spec in zip(names, specs, strict=True)}
    live = admin.describe_configs(
        [ConfigResource("topic", name, keys) for name, keys in wanted_keys.items()], config_filter="all"
    )["topic"]
    changes: list[TopicChange] = []
    for name, spec in zip(names, specs, strict=True):
        found: list[str] = []
        current = {key: entry["value"] for key, entry in live.get(name, {}).items()}
        drift = {key: value for key, value in desired_config(spec).items() if current.get(key) != value}
        if drift:
            found.append("config changed")
            if not dry_run:
                admin.alter_configs([ConfigResource("topic", name, drift)])
        partitions = described[name]["partitions"]
        if len(partitions) < spec.partitions:
            found.append("partitions increased")
            if not dry_run:
                admin.create_partitions({name: spec.partitions}, timeout_ms=timeout_ms)
        problems = []
        if len(partitions) > spec.partitions:
            problems.append(f"has {len(partitions)} partitions, more than the declared {spec.partitions}")
        replicas = min((len(p["replica_nodes"]) for p in partitions), default=replication)
        if replicas < replication:
            problems.append(f"replication {replicas} < {replication}: needs a partition reassignment")
        details = [f"{key}: {current.get(key)} -> {value}" for key, value in sorted(drift.items())]
        if len(partitions) < spec.partitions:
            details.append(f"partitions: {len(partitions)} -> {spec.partitions}")
        for action in found:
            changes.append(TopicChange(name, action, "; ".join(details)))
        if problems:
            changes.append(TopicChange(name, "cannot fix", "; ".join(problems)))
        if not found and not problems:
            changes.append(TopicChange(name, "unchanged"))
    return changes
