"""The relay on real PostgreSQL and Kafka: killed with SIGKILL mid-stream, restarted, and the topic (read
with kcat) holds every notification, in order per aggregate, with duplicates sharing their event id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.master_record.relay import RELAY_NAME, MasterDataRelay, ensure_topic, kafka_producer
from touchstream.events import Event, parse_event

pytestmark = [pytest.mark.integration]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def event(n: int) -> Event:
    at = (T0 + timedelta(minutes=n)).isoformat()
    return parse_event(
        {
            "event_id": str(uuid.uuid4()),
            "type": "EmailOpened",
            "schema_version": 1,
            "occurred_at": at,
            "recorded_at": at,
            "source": "hubspot",
            # a handful of companies, so accounts collect many events too
            "identifiers": {"email": f"person{n}@company{n % 7}.com", "external_ids": {"hubspot": str(n)}},
            "payload": {"campaign_id": "c1", "message_id": "m1"},
        }
    )


def read_topic(bootstrap: str, topic: str) -> list[tuple[str, dict[str, Any]]]:
    done = subprocess.run(
        ["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-f", "%k\t%s\n"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    lines = [line.split(b"\t", 1) for line in done.stdout.splitlines() if line]
    return [(key.decode(), orjson.loads(value)) for key, value in lines]


def start_relay(url: str, bootstrap: str, topic: str) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "touchstream.adapters.master_record.relay",
        "--store",
        url,
        "--bootstrap",
        bootstrap,
    ]
    return subprocess.Popen([*command, "--topic", topic, "--batch", "40"], stdout=subprocess.PIPE)


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.mark.timeout(120)
def test_a_killed_relay_resumes_with_no_gap_and_no_loss(
    pg_url: str, kafka_bootstrap: str, unique_name: str
) -> None:
    topic = f"masterdata_{unique_name}"
    ensure_topic(kafka_bootstrap, topic, partitions=3)
    app = MasterRecord.from_url(pg_url)
    tracking = app.tracking_recorder()
    try:
        for n in range(300):
            app.resolve(event(n))
        first_total = app.recorder.max_notification_id() or 0

        relay = start_relay(pg_url, kafka_bootstrap, topic)
        wait_for(
            lambda: (tracking.max_tracking_id(RELAY_NAME) or 0) >= first_total // 3, 60, "a third relayed"
        )
        os.kill(relay.pid, signal.SIGKILL)  # mid-stream: batches in flight, position not yet recorded
        relay.wait(timeout=10)
        killed_at = tracking.max_tracking_id(RELAY_NAME) or 0
        assert 0 < killed_at < first_total, "the kill landed mid-stream"

        for n in range(300, 400):  # the master record keeps working while the relay is down
            app.resolve(event(n))
        total = app.recorder.max_notification_id() or 0

        relay = start_relay(pg_url, kafka_bootstrap, topic)
        wait_for(lambda: tracking.max_tracking_id(RELAY_NAME) == total, 60, "everything relayed")
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(timeout=20) == 0
    finally:
        app.close()

    records = read_topic(kafka_bootstrap, topic)
    seen: dict[str, dict[str, Any]] = {}
    duplicates = 0
    for key, message in records:
        assert key == message["aggregate_id"], "keyed by aggregate id"
        known = seen.setdefault(message["event_id"], message)
        if known is not message:
            duplicates += 1
            assert known == message, "a duplicate is the same event, with the same id"
    ids = sorted(m["notification_id"] for m in seen.values())
    assert ids == list(range(1, total + 1)), "no gap and no loss"
    versions: dict[str, list[int]] = defaultdict(list)
    for _, message in records:
        versions[message["aggregate_id"]].append(message["aggregate_version"])
    for aggregate, seq in versions.items():
        first_seen = list(dict.fromkeys(seq))
        assert first_seen == sorted(first_seen), f"{aggregate} out of order: {seq}"
    types = {m["type"] for m in seen.values()}
    assert {"ContactRegistered", "IdentifierClaimClaimed", "AccountOpened"} <= types
    print(f"\n{total} notifications, {len(records)} records on the topic, {duplicates} duplicates (kill -9)")


@pytest.mark.timeout(60)
def test_the_relay_publishes_attribute_changes_with_their_provenance(
    pg_url: str, kafka_bootstrap: str, unique_name: str
) -> None:
    topic = f"masterdata_{unique_name}"
    ensure_topic(kafka_bootstrap, topic, partitions=1)
    app = MasterRecord.from_url(pg_url)
    producer = kafka_producer(kafka_bootstrap)
    try:
        at = T0.isoformat()
        signature = parse_event(
            {
                "event_id": str(uuid.uuid4()),
                "type": "InboundEmailReceived",
                "schema_version": 1,
                "occurred_at": at,
                "recorded_at": at,
                "source": "zendesk",
                "identifiers": {"email": "jane@acme.com"},
                "payload": {
                    "message_id": "<1@x>",
                    "mailbox": "support@brightlane.io",
                    "subject": "Hi",
                    "observed": {"phone": "+1 646 555 0188"},
                },
            }
        )
        contact_id = app.resolve(signature).contact_id
        relay = MasterDataRelay(app, producer, topic=topic)
        assert relay.run_once() > 0
        assert relay.lag() == 0
    finally:
        producer.close()
        app.close()
    changes = [m for _, m in read_topic(kafka_bootstrap, topic) if m["type"] == "ContactAttributeChanged"]
    assert [(m["aggregate_id"], m["data"]["attribute"], m["data"]["new_value"]) for m in changes] == [
        (str(contact_id), "phone", "+16465550188")
    ]
    assert changes[0]["data"]["provenance"]["source"] == "zendesk"
    assert changes[0]["data"]["provenance"]["department"] == "support"
