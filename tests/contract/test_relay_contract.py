"""The relay's contract (the master record's outbox to `masterdata.events`), subclassed per producer: the
embedded log's stand-in and Kafka's idempotent producer.

Every notification is published once, keyed by its aggregate, in order per aggregate; a relay started
again resumes at its recorded position and publishes nothing twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from event_examples import identity_event as event

from touchstream.adapters.logs.kafka_log import KafkaEventLog
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.logs.topics import create_topics
from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.master_record.relay import MasterDataRelay, kafka_producer
from touchstream.streams.embedded import LogProducer
from touchstream.streams.ports import AbstractEventLog, Producer
from touchstream.streams.topology import MASTERDATA, MASTERDATA_MERGES, topic_name


def published(log: AbstractEventLog) -> list[tuple[bytes | None, dict[str, Any]]]:
    out = []
    for partition in range(log.partitions):
        out += [(r.key, orjson.loads(r.value)) for r in log.read(partition, 0, 100_000)]
    return out


class RelayContract:
    topic = MASTERDATA

    @pytest.fixture
    def app(self, tmp_path: Path) -> Iterator[MasterRecord]:
        opened = MasterRecord.from_url(f"sqlite:///{tmp_path / 'master.sqlite'}")
        yield opened
        opened.close()

    def open_target(self, tmp_path: Path) -> tuple[Producer, AbstractEventLog]:
        raise NotImplementedError

    def test_every_notification_once_in_order_and_a_restart_resumes(
        self, tmp_path: Path, app: MasterRecord
    ) -> None:
        for n in range(6):
            app.resolve(event({"email": f"p{n}@company{n % 2}.example.com"}, day=n))
        producer, log = self.open_target(tmp_path)
        first = MasterDataRelay(app, producer, topic=self.topic, batch_size=4)
        while first.run_once():
            pass
        assert first.lag() == 0
        app.resolve(event({"email": "late@company0.example.com"}, day=9))
        second = MasterDataRelay(app, producer, topic=self.topic, batch_size=4)  # a restarted relay
        while second.run_once():
            pass
        messages = published(log)
        ids = [m["notification_id"] for _, m in messages]
        assert sorted(ids) == list(range(1, (app.recorder.max_notification_id() or 0) + 1))  # once each
        per_aggregate: dict[str, list[int]] = defaultdict(list)
        for key, message in messages:
            assert key == str(message["aggregate_id"]).encode()
            per_aggregate[str(message["aggregate_id"])].append(int(message["notification_id"]))
        assert all(found == sorted(found) for found in per_aggregate.values())
        assert second.lag() == 0
        assert second.relayed == len(ids) - first.relayed > 0  # only what came after the first one's position
        log.close()


class TestEmbeddedLogProducer(RelayContract):
    def open_target(self, tmp_path: Path) -> tuple[Producer, AbstractEventLog]:
        log = SQLiteEventLog(tmp_path / "masterdata.sqlite", partitions=12)
        return LogProducer(log), log


@pytest.mark.integration
class TestKafkaProducer(RelayContract):
    @pytest.fixture(autouse=True)
    def _kafka(self, kafka_bootstrap: str, unique_name: str) -> Iterator[None]:
        prefix = unique_name + "_"
        create_topics(kafka_bootstrap, prefix=prefix)
        self.bootstrap, self.topic = kafka_bootstrap, topic_name(MASTERDATA, prefix)
        self._producer = kafka_producer(kafka_bootstrap)
        yield
        self._producer.close()

    def open_target(self, tmp_path: Path) -> tuple[Producer, AbstractEventLog]:
        return self._producer, KafkaEventLog(self.bootstrap, self.topic)

    def test_the_merges_go_again_to_the_merges_topic(self, app: MasterRecord) -> None:
        """The workers read `masterdata.merges`: every merge and unmerge, and nothing else."""
        app.resolve(event({"email": "ada@acme-widgets.com"}, day=0))
        app.resolve(event({"external_ids": {"hubspot": "7"}}, day=1))
        app.resolve(event({"email": "ada@acme-widgets.com", "external_ids": {"hubspot": "7"}}, day=2))
        merges_topic = self.topic.replace(MASTERDATA, MASTERDATA_MERGES)
        relay = MasterDataRelay(app, self._producer, topic=self.topic, merges_topic=merges_topic)
        while relay.run_once():
            pass
        with KafkaEventLog(self.bootstrap, self.topic) as log:
            every = [m for _, m in published(log)]
        with KafkaEventLog(self.bootstrap, merges_topic) as merges_log:
            merges = published(merges_log)
        expected = [m for m in every if m["type"] in ("ContactsMerged", "ContactsUnmerged")]
        assert len(expected) == 1 < len(every)
        assert [m for _, m in merges] == expected
        assert [key for key, _ in merges] == [str(expected[0]["aggregate_id"]).encode()]


del RelayContract
