"""The gateway against real Kafka: what it answered "accepted" is exactly what kcat (librdkafka, a client
independent of ours) reads back, each once and in per-key order; a stopped broker gets 503s and nothing
half-way, and the retries after it comes back are accepted, not mistaken for duplicates.

The broker-stop test starts a broker of its own (deploy/local/kafka.sh on free ports, in a temporary
cache) so the shared broker other tests use keeps running.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dedicated_servers import DedicatedBroker, unavailable
from event_examples import wire_event
from fastapi import FastAPI
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from touchstream.adapters.gateway.app import GatewaySettings, create_gateway
from touchstream.adapters.gateway.auth import Keyring, add_key
from touchstream.adapters.gateway.dedup import SQLiteDedupStore
from touchstream.adapters.gateway.ready import KafkaReadiness
from touchstream.adapters.logs.kafka_log import KafkaEventLog
from touchstream.streams.ports import AbstractEventLog

pytestmark = [pytest.mark.integration]

PARTITIONS = 3
EMAILS = [f"person{n}@acme-widgets.com" for n in range(5)]


def _create_topic(bootstrap: str, name: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    try:
        admin.create_topics(
            [NewTopic(name, num_partitions=PARTITIONS, replication_factor=1)],
            timeout_ms=15_000,
            wait_for_metadata=True,
        )
    finally:
        admin.close()


def _kcat(bootstrap: str, topic: str) -> list[tuple[str, dict[str, Any]]]:
    kcat = shutil.which("kcat")
    if kcat is None:
        unavailable("kcat is missing: `deploy/local/services up kafka` installs it (apt-get install kcat)")
    done = subprocess.run(
        [str(kcat), "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [(k, json.loads(v)) for k, v in (line.split("\t", 1) for line in done.stdout.splitlines())]


class Gateway:
    def __init__(self, tmp_path: Path, bootstrap: str, topic: str, timeout_s: float = 10.0) -> None:
        keys = tmp_path / "keys.toml"
        self.key, _ = add_key(keys, name="hubspot", source="hubspot")
        self.dedup = SQLiteDedupStore(tmp_path / "dedup.sqlite")

        def open_log() -> AbstractEventLog:
            return KafkaEventLog(bootstrap, topic, timeout_s=timeout_s)

        self.app: FastAPI = create_gateway(
            open_log,
            Keyring.from_file(keys),
            self.dedup,
            GatewaySettings(retry_after_s=3),
            readiness=KafkaReadiness(bootstrap, topic, timeout_s=1.0, cache_s=0.2),
        )

    def request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=60) as client:
                content = None if body is None else json.dumps(body)
                headers = {"Authorization": f"Bearer {self.key}"}
                return await client.request(method, path, content=content, headers=headers)

        return asyncio.run(go())

    def post(self, body: Any) -> httpx.Response:
        return self.request("POST", "/v1/events", body)

    def close(self) -> None:
        self.app.state.gateway.ingestor.close()
        self.dedup.close()


def _event(n: int, type_name: str = "EmailOpened") -> dict[str, Any]:
    return wire_event(
        type_name,
        1,
        event_id=str(uuid.uuid4()),
        identifiers={"email": EMAILS[n % len(EMAILS)]},
        payload={"campaign_id": "spring", "message_id": f"m-{n}"},
    )


def _accepted(response: httpx.Response, sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [sent[r["index"]] for r in response.json()["results"] if r["status"] == "accepted"]


def _assert_log_is(read: list[tuple[str, dict[str, Any]]], accepted: list[dict[str, Any]]) -> None:
    """kcat read exactly the accepted events, each once, keyed by email, each key's events in order."""
    ids = [value["event_id"] for _, value in read]
    assert len(ids) == len(set(ids)), "an event was published twice"
    assert set(ids) == {e["event_id"] for e in accepted}
    by_key_read: dict[str, list[str]] = defaultdict(list)
    for key, value in read:
        assert key == f"email:{value['identifiers']['email']}"
        by_key_read[key].append(value["event_id"])
    by_key_sent: dict[str, list[str]] = defaultdict(list)
    for e in accepted:
        by_key_sent[f"email:{e['identifiers']['email']}"].append(e["event_id"])
    assert dict(by_key_read) == dict(by_key_sent), "a key's events came back out of order"


@pytest.mark.timeout(120)
def test_kcat_reads_exactly_the_accepted_events_in_per_key_order(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    _create_topic(kafka_bootstrap, unique_name)
    gateway = Gateway(tmp_path, kafka_bootstrap, unique_name)
    try:
        accepted: list[dict[str, Any]] = []
        first = [_event(n) for n in range(20)]
        bad = {**_event(99), "payload": {"campaign_id": "spring"}}  # message_id missing
        response = gateway.post([*first[:10], bad, *first[10:]])
        assert response.status_code == 200
        assert response.json()["accepted"] == 20
        assert response.json()["rejected"] == 1
        assert response.json()["results"][10]["problems"][0]["path"] == "payload.message_id"
        accepted += _accepted(response, [*first[:10], bad, *first[10:]])

        second = [_event(n) for n in range(20, 35)]
        resent = [*first[5:8], *second, first[0]]
        response = gateway.post(resent)
        assert [r["status"] for r in response.json()["results"]] == ["duplicate"] * 3 + ["accepted"] * 15 + [
            "duplicate"
        ]
        accepted += _accepted(response, resent)
        single = _event(40)
        assert gateway.post(single).json()["results"][0]["status"] == "accepted"
        assert gateway.post(single).json()["results"][0]["status"] == "duplicate"
        accepted.append(single)
        assert gateway.request("GET", "/readyz").json() == {"status": "ok"}
    finally:
        gateway.close()
    _assert_log_is(_kcat(kafka_bootstrap, unique_name), accepted)


@pytest.fixture
def dedicated_broker(tmp_path: Path) -> Iterator[DedicatedBroker]:
    broker = DedicatedBroker(tmp_path / "cache")
    broker.up()
    try:
        yield broker
    finally:
        broker.purge()


def _wait_ready(gateway: Gateway, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while gateway.request("GET", "/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the gateway did not become ready after the broker returned"
        time.sleep(0.5)


@pytest.mark.timeout(240)
def test_a_stopped_broker_gets_503s_and_nothing_half_way(
    dedicated_broker: DedicatedBroker, tmp_path: Path
) -> None:
    topic = "touchpoints.raw"
    _create_topic(dedicated_broker.bootstrap, topic)
    gateway = Gateway(tmp_path, dedicated_broker.bootstrap, topic, timeout_s=5.0)
    try:
        before = [_event(n) for n in range(10)]
        assert gateway.post(before).json()["accepted"] == 10

        dedicated_broker.down()
        during = [[_event(n) for n in range(k * 10, k * 10 + 10)] for k in range(1, 4)]
        for batch in during:
            response = gateway.post(batch)
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "3"
            assert all(r["status"] != "accepted" for r in response.json()["results"])
        ready = gateway.request("GET", "/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"

        dedicated_broker.up()
        _wait_ready(gateway, 60)
        after: list[dict[str, Any]] = []
        for batch in during:  # the clients' retries: accepted, not "duplicate"
            response = gateway.post(batch)
            assert response.status_code == 200
            assert response.json()["accepted"] == 10
            after += batch
    finally:
        gateway.close()
    _assert_log_is(_kcat(dedicated_broker.bootstrap, topic), before + after)


@pytest.mark.timeout(120)
def test_the_segment_sdk_publishes_to_kafka_through_the_gateway(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    from segment.analytics import Client

    from touchstream.adapters.web.server import serving

    _create_topic(kafka_bootstrap, unique_name)
    gateway = Gateway(tmp_path, kafka_bootstrap, unique_name)
    try:
        with serving(gateway.app) as url:
            analytics = Client(gateway.key, host=url, sync_mode=True, max_retries=1)
            analytics.identify("u-7", {"email": "sam@globex.com", "firstName": "Sam"})
            analytics.track("u-7", "Email Opened", {"campaign_id": "spring", "email_id": "m-7"})
            analytics.group("u-7", "acct-1", {"name": "Globex", "website": "globex.com"})
    finally:
        gateway.close()
    read = _kcat(kafka_bootstrap, unique_name)
    assert sorted(value["type"] for _, value in read) == [
        "ContactDetailsObserved",
        "ContactDetailsObserved",
        "EmailOpened",
    ]
    assert all(value["source"] == "hubspot" for _, value in read)
    # identify carries the email (the strongest key); track and group only the userId unless the caller
    # adds context.traits.email (docs/segment.md) - identity resolution joins the two downstream.
    assert {key for key, _ in read} == {"email:sam@globex.com", "ext:hubspot:u-7"}
