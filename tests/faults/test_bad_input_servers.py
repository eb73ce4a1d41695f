"""The hostile corpus through the real servers: the gateway on the real Kafka broker, records written to
the raw topic directly, and the runner projecting that topic into the real ClickHouse 18.16 server.
Bad input is answered or dead-lettered; the hostile strings come back from ClickHouse byte for byte; the
tables are intact."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from faults.corpus import (
    CONTROL_STRINGS,
    HOSTILE_NAMES,
    MALFORMED_BODIES,
    WRONG_TYPES,
    GatewayHarness,
    assert_clear_answer,
    good,
    hostile_valid_events,
    with_field,
)
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from touchstream.adapters.logs.kafka_log import KafkaEventLog
from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.streams.embedded import run_until_caught_up, stand_in_resolver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def _tables(store: ClickHouseServerStore) -> list[str]:
    return sorted(
        r[0] for r in store.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
    )


def _create_topic(bootstrap: str, name: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    try:
        admin.create_topics([NewTopic(name, 3, 1)], timeout_ms=15_000, wait_for_metadata=True)
    finally:
        admin.close()


def test_hostile_input_through_kafka_into_the_clickhouse_server(
    tmp_path: Path, kafka_bootstrap: str, server_store: ClickHouseServerStore, unique_name: str
) -> None:
    topic = f"{unique_name}.raw"
    _create_topic(kafka_bootstrap, topic)

    def open_log() -> KafkaEventLog:
        return KafkaEventLog(kafka_bootstrap, topic, timeout_s=20)

    # 1. The gateway on the real broker: per-event answers, only the valid events acknowledged.
    gateway = GatewayHarness(tmp_path / "gw", open_log=open_log)
    try:
        hostile = hostile_valid_events()
        invalid = [with_field(good(), f, v) for f, v in WRONG_TYPES if not isinstance(v, int) or v < 2**63]
        answer = gateway.post([*hostile[:10], *invalid[:20]])
        assert_clear_answer(answer)
        assert answer.status == 200
        assert answer.body["accepted"] == len(hostile[:10])
        assert answer.body["rejected"] == len(invalid[:20])
        rest = gateway.post(hostile[10:])
        assert rest.body["accepted"] == len(hostile[10:])
        for body in MALFORMED_BODIES.values():
            assert gateway.post_bytes(body).status == 400
    finally:
        gateway.close()

    # 2. A producer writing to the topic directly, bypassing the gateway: broken records among good ones.
    bad = [MALFORMED_BODIES["invalid utf-8"], MALFORMED_BODIES["raw NUL"], b"[" * 100_000]
    control = good("MeetingHeld", identifiers={"email": "ctl@example.com"})
    control["payload"] = {**control["payload"], "subject": CONTROL_STRINGS[0]}
    bad.append(orjson.dumps(control))
    after = good(identifiers={"email": "after-the-bad-ones@example.com"})
    with open_log() as log:
        log.append([(b"producer", record) for record in bad] + [(b"producer", orjson.dumps(after))])
        on_log = sum(log.end_offset(p) for p in range(log.partitions))
        assert on_log == len(hostile) + len(bad) + 1

        # 3. The runner projects the topic into ClickHouse 18.16.
        prepare_read_store(server_store)
        tables = _tables(server_store)
        stats = run_until_caught_up(log, server_store, resolve=stand_in_resolver, group=unique_name)
    assert (stats.records, stats.dead_lettered) == (on_log, len(bad))
    assert stats.accepted == len(hostile) + 1
    rows = server_store.query("SELECT toString(event_id), actor, title, owner FROM touchpoints FINAL")
    by_id = {r[0]: r[1:] for r in rows}
    assert after["event_id"] in by_id  # processed although bad records came before it on its partition
    for event in hostile:
        if event["type"] == "MeetingHeld":
            name = event["payload"]["subject"]
            assert by_id[event["event_id"]] == (name, name, name)
    raw = [r[0] for r in server_store.query("SELECT raw FROM dead_letters FINAL")]
    assert sorted(raw) == sorted(b.decode("utf-8", "replace") for b in bad)
    assert _tables(server_store) == tables
    ((count,),) = server_store.query(
        "SELECT count() FROM touchpoints FINAL WHERE title = %(name)s", {"name": HOSTILE_NAMES[0]}
    )
    assert count == 1


def test_every_byte_round_trips_through_the_server_store(server_store: ClickHouseServerStore) -> None:
    """Below the event language: insert_rows sends values as data (clickhouse-driver's native columns),
    so NULs, every control character, quotes and backslashes come back unchanged."""
    values = [*HOSTILE_NAMES, *CONTROL_STRINGS, "".join(chr(c) for c in range(1, 32)), "\x00\x00", ""]
    server_store.execute("CREATE TABLE hostile (n UInt32, s String) ENGINE = MergeTree ORDER BY n")
    server_store.insert_rows("hostile", ["n", "s"], list(enumerate(values)))
    assert [r[0] for r in server_store.query("SELECT s FROM hostile ORDER BY n")] == values
    found = server_store.query("SELECT n FROM hostile WHERE s = %(s)s", {"s": HOSTILE_NAMES[1]})
    assert found == [(1,)]
