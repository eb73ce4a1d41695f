"""The log port on Kafka (kafka-python): one topic, its partitions, consumer-group offsets.

Appends use an idempotent producer with acks=all and wait for every acknowledgement, so a call that returns
means every record is on the brokers; a call that raises LogUnavailable says which did not make it.
Records are placed on partitions explicitly with Kafka's own murmur2 partitioner (`partition_for`), the same
function the embedded log uses, so a key lands on the same partition number in both.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterable, Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata

from ...streams.partitioning import partition_for
from ...streams.ports import AbstractEventLog, LogRecord, LogUnavailable


def refused_everywhere(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """Whether every `host:port` of `bootstrap` refuses a TCP connection (a slow or unresolvable address
    counts as maybe there: Kafka's client decides)."""
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection((host or "localhost", int(port)), timeout=timeout_s):
                return False
        except ConnectionRefusedError:
            continue
        except (OSError, ValueError):
            return False
    return True


class KafkaEventLog(AbstractEventLog):
    """Nothing connects until first use; `close()` releases every client."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        partitions: int | None = None,
        create: bool = False,
        client_id: str = "touchstream",
        timeout_s: float = 15.0,
        linger_ms: int = 5,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self._wanted_partitions = partitions
        self._create = create
        self._client_id = client_id
        self._timeout_s = timeout_s
        self._linger_ms = linger_ms
        self._partitions: int | None = None
        self._producer: KafkaProducer | None = None
        self._reader: KafkaConsumer | None = None
        self._groups: dict[str, KafkaConsumer] = {}

    # --- clients, made on first use -------------------------------------------------------------------
    def _common(self) -> dict[str, Any]:
        # kafka-python retries a refused bootstrap until its timeout: when nothing listens at any of the
        # addresses, say so at once (a CLI command against a stopped broker answered after 15 s).
        if refused_everywhere(self.bootstrap):
            raise LogUnavailable(f"Kafka at {self.bootstrap} refuses connections: no broker is listening")
        # Without bootstrap_timeout_ms an unreachable broker takes kafka-python's default 30 s to fail.
        return {
            "bootstrap_servers": self.bootstrap,
            "client_id": self._client_id,
            "bootstrap_timeout_ms": int(self._timeout_s * 1000),
        }

    def _producer_client(self) -> KafkaProducer:
        if self._producer is None:
            timeout_ms = int(self._timeout_s * 1000)
            self._producer = KafkaProducer(
                **self._common(),
                acks="all",
                enable_idempotence=True,
                linger_ms=self._linger_ms,
                max_block_ms=timeout_ms,
                request_timeout_ms=timeout_ms,
                delivery_timeout_ms=timeout_ms + self._linger_ms + 1000,
            )
        return self._producer

    def _reader_client(self) -> KafkaConsumer:
        if self._reader is None:
            self._reader = KafkaConsumer(**self._common(), enable_auto_commit=False, group_id=None)
        return self._reader

    def _group_client(self, group: str) -> KafkaConsumer:
        if group not in self._groups:
            self._groups[group] = KafkaConsumer(**self._common(), group_id=group, enable_auto_commit=False)
        return self._groups[group]

    def _ensure_topic(self) -> int:
        admin = KafkaAdminClient(**self._common(), request_timeout_ms=int(self._timeout_s * 1000))
        try:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    [NewTopic(self.topic, self._wanted_partitions or 3, 1)],
                    timeout_ms=int(self._timeout_s * 1000),
                )
        finally:
            admin.close()
        deadline = time.monotonic() + self._timeout_s
        while time.monotonic() < deadline:
            found = self._reader_client().partitions_for_topic(self.topic)
            if found:
                return len(found)
            time.sleep(0.2)
        raise LogUnavailable(f"topic {self.topic} was created but its partitions did not appear")

    @property
    def partitions(self) -> int:
        if self._partitions is None:
            try:
                found = self._reader_client().partitions_for_topic(self.topic)
                if not found and self._create:
                    self._partitions = self._ensure_topic()
                elif not found:
                    raise LogUnavailable(
                        f"topic {self.topic} does not exist on {self.bootstrap}; "
                        "create it with `touchstream topics create`"
                    )
                else:
                    self._partitions = len(found)
            except KafkaError as exc:
                raise LogUnavailable(f"Kafka at {self.bootstrap} is unavailable: {exc}") from exc
        return self._partitions

    # --- the port --------------------------------------------------------------------------------------
    def append(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[tuple[int, int]]:
        count = self.partitions
        try:
            producer = self._producer_client()
            futures = [
                producer.send(self.topic, key=key, value=value, partition=partition_for(key, count))
                for key, value in records
            ]
            producer.flush(timeout=self._timeout_s + 2)
        except KafkaError as exc:
            self._discard_producer()
            raise LogUnavailable(f"Kafka at {self.bootstrap} did not take the records: {exc}") from exc
        placed: list[tuple[int, int] | None] = []
        failed: list[tuple[int, KafkaError]] = []
        for index, future in enumerate(futures):
            try:
                meta = future.get(timeout=0.01 if future.is_done else self._timeout_s)
            except KafkaError as exc:
                failed.append((index, exc))
                placed.append(None)
                continue
            placed.append((int(meta.partition), int(meta.offset)))
        if failed:
            self._discard_producer()
            first_index, first_error = failed[0]
            raise LogUnavailable(
                f"{len(failed)} of {len(futures)} records were not acknowledged by Kafka at {self.bootstrap} "
                f"(first: record {first_index}: {first_error}); {len(futures) - len(failed)} were",
                placed=placed,
            )
        return [p for p in placed if p is not None]

    def _discard_producer(self) -> None:
        """After a failed append, start the next one with a fresh producer. Seen in the fault suite
        (tests/faults/test_fault_kafka.py): once batches of kafka-python's idempotent producer expired
        during a broker outage, that producer could stay stuck after the broker returned, every flush
        timing out for minutes. A new producer (a new producer id) has no such state; what the old one may
        still have written is re-sent under the same event ids, which consumers de-duplicate on."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                producer.close(timeout=0)
            except KafkaError:
                # close() flushes first and raises while batches are pending, leaving the sender thread
                # running: stop it without sending them (what close() itself does after its flush).
                producer._sender.force_close()
                producer._closed = True

    def read(self, partition: int, from_offset: int, max_records: int) -> list[LogRecord]:
        tp = TopicPartition(self.topic, partition)
        reader = self._reader_client()
        end = self.end_offset(partition)
        if from_offset >= end:
            return []
        reader.assign([tp])
        reader.seek(tp, from_offset)
        got: list[LogRecord] = []
        deadline = time.monotonic() + self._timeout_s
        wanted = min(max_records, end - from_offset)
        while len(got) < wanted and time.monotonic() < deadline:
            for batch in reader.poll(timeout_ms=200, max_records=wanted - len(got)).values():
                got.extend(
                    LogRecord(m.partition, m.offset, m.key, m.value, m.timestamp / 1000.0) for m in batch
                )
        return got[:max_records]

    def end_offset(self, partition: int) -> int:
        tp = TopicPartition(self.topic, partition)
        try:
            return int(self._reader_client().end_offsets([tp])[tp])
        except KafkaError as exc:
            raise LogUnavailable(f"Kafka at {self.bootstrap} is unavailable: {exc}") from exc

    def committed(self, group: str, partition: int) -> int:
        found = self._group_client(group).committed(TopicPartition(self.topic, partition))
        return int(found) if found is not None else 0

    def commit(self, group: str, positions: Iterable[tuple[int, int]]) -> None:
        offsets = {TopicPartition(self.topic, p): OffsetAndMetadata(o, "", -1) for p, o in positions}
        try:
            self._group_client(group).commit(offsets)
        except KafkaError as exc:
            raise LogUnavailable(f"Kafka at {self.bootstrap} did not take the commit: {exc}") from exc

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=self._timeout_s)
        for client in [self._reader, *self._groups.values()]:
            if client is not None:
                client.close()
        self._producer, self._reader, self._groups = None, None, {}
