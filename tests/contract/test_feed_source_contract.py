"""The live feed's source contract, subclassed per backend: the embedded topic logs and Kafka (aiokafka).

A source starts at the end of its topics (history is the read models' job), then delivers each new
message decoded, named by its declared topic, and skips a value that is not a JSON object.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from touchstream.adapters.api.compose import embedded_topic_log
from touchstream.adapters.api.feed import EmbeddedLogSource, KafkaSource, topic_publisher
from touchstream.adapters.logs.topics import create_topics, open_log
from touchstream.streams.feed_port import FeedMessage, FeedSource
from touchstream.streams.ports import AbstractEventLog
from touchstream.streams.topology import CUSTOMER360_CHANGES, SIGNALS_SALES

Opener = Callable[[str], AbstractEventLog]


def change(contact: str) -> dict[str, Any]:
    return {"topic": CUSTOMER360_CHANGES, "key": contact, "value": {"contact_id": contact, "version": 1}}


class FeedSourceContract:
    def setup_source(self, tmp_path: Path) -> tuple[FeedSource, Opener]:
        raise NotImplementedError

    def collect(self, source: FeedSource, opener: Opener, wanted: int) -> list[FeedMessage]:
        """Start the source, publish after it is ready, and gather `wanted` messages (bounded waits)."""
        publish = topic_publisher(opener)

        async def scenario() -> list[FeedMessage]:
            got: asyncio.Queue[FeedMessage] = asyncio.Queue()
            stop = asyncio.Event()
            task = asyncio.create_task(source.run(got.put_nowait, stop))
            try:
                assert await asyncio.to_thread(source.ready.wait, 30), "the source never found the end"
                await asyncio.to_thread(self.publish_new, opener, publish)
                return [await asyncio.wait_for(got.get(), 30) for _ in range(wanted)]
            finally:
                stop.set()
                await asyncio.wait_for(task, 30)

        return asyncio.run(scenario())

    def publish_new(self, opener: Opener, publish: Callable[[list[dict[str, Any]]], None]) -> None:
        with opener(SIGNALS_SALES) as log:
            log.append([(b"bad", b"not json"), (b"list", b"[1, 2]")])
        publish([change("c1"), change("c2")])

    def test_delivers_only_new_messages_decoded_and_skips_what_is_not_json(self, tmp_path: Path) -> None:
        source, opener = self.setup_source(tmp_path)
        topic_publisher(opener)([change("history")])  # before the source started: not news
        got = self.collect(source, opener, wanted=2)
        assert sorted((m.topic, m.key, m.value["contact_id"]) for m in got) == [
            (CUSTOMER360_CHANGES, "c1", "c1"),
            (CUSTOMER360_CHANGES, "c2", "c2"),
        ]
        assert all(m.kind == "change" for m in got)


class TestEmbeddedLogSource(FeedSourceContract):
    def setup_source(self, tmp_path: Path) -> tuple[FeedSource, Opener]:
        opener = embedded_topic_log(tmp_path)
        return EmbeddedLogSource(opener, poll_s=0.05), opener


@pytest.mark.integration
class TestKafkaSource(FeedSourceContract):
    @pytest.fixture(autouse=True)
    def _kafka(self, kafka_bootstrap: str, unique_name: str) -> None:
        self.bootstrap, self.prefix = kafka_bootstrap, unique_name + "_"
        create_topics(kafka_bootstrap, prefix=self.prefix)

    def setup_source(self, tmp_path: Path) -> tuple[FeedSource, Opener]:
        def opener(topic: str) -> AbstractEventLog:
            return open_log(topic, bootstrap=self.bootstrap, prefix=self.prefix)

        return KafkaSource(self.bootstrap, prefix=self.prefix), opener


del FeedSourceContract
