"""The relay: the master record's notification log, in order, to the Kafka topic `masterdata.events`.

The notification log is an outbox. The relay reads notifications after its recorded position, publishes
each keyed by its aggregate id (one contact's or account's story stays on one partition, in order), waits
until Kafka acknowledged every record of the batch (acks=all, idempotent producer), and only then records
the new position with the library's tracking recorder, in the master record's own database. A crash
between publishing and recording publishes the batch again: the duplicates carry the same `event_id`
(derived from aggregate id and version), so consumers drop them. Nothing is skipped: the position only moves
over what Kafka holds.

The merges and unmerges among them go a second time, in the same batch, to `masterdata.merges` (when
given a merges topic, as `touchstream relay` does): the Faust workers need no other master-data event
(without a webhook) and read that topic, not the 0.8 records a touchpoint of the whole log.

Run it: `touchstream relay`
(or `python -m touchstream.adapters.master_record.relay --store URL --bootstrap HOST:PORT`).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import FrameType
from typing import Any, TypeVar
from uuid import UUID

import orjson
from eventsourcing.persistence import Notification, Tracking

from ...projections.master_record import published_type
from ...projections.merges import MERGE_TYPES
from ...streams import topology
from ...streams.partitioning import partition_for
from ...streams.ports import Producer
from ...streams.sealed_log import Codec, SealingProducer
from ..log_privacy import mask_every_record
from .application import MasterRecord

log = logging.getLogger("touchstream.relay")
T = TypeVar("T")

MASTERDATA_TOPIC = topology.MASTERDATA
MASTERDATA_MERGES_TOPIC = topology.MASTERDATA_MERGES
RELAY_NAME = "masterdata-relay"
DEFAULT_BATCH = 500
# Fixed forever: consumers de-duplicate on ids derived from it.
EVENT_ID_NAMESPACE = UUID("0b6f5d8e-3c1a-4f7e-8a52-6d9e1c4b7a30")
_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes
_ENVELOPE_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def masterdata_event_id(aggregate_id: UUID | str, version: int) -> UUID:
    """The same recorded event always gets the same id, however often it is relayed."""
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"{aggregate_id}:{version}")


def _event_id_text(aggregate_id: UUID | str, version: int) -> str:
    """`str(masterdata_event_id(...))` without building the UUID: the name-based UUID of RFC 4122 (SHA-1
    of namespace and name, version and variant bits set), as text. A third of a relayed message's cost
    was `uuid5` and its `str`; a test holds the two equal."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{aggregate_id}:{version}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


#: The library's JSON transcoding of typed values (`{"_type_": ..., "_data_": ...}`), back to the values
#: its mapper gives: the transcodings registered by `application.py` (the library's defaults; a test holds
#: them equal).
TRANSCODINGS: dict[str, Callable[[Any], Any]] = {
    "uuid_hex": UUID,
    "datetime_iso": datetime.fromisoformat,
    "decimal_str": Decimal,
}


def _typed(value: Any) -> Any:
    """`value` with its typed values decoded; scalars are returned as they are, before any call."""
    if type(value) is dict:
        kind = value.get("_type_")
        if kind is not None and "_data_" in value and len(value) == 2:
            return TRANSCODINGS[kind](_typed(value["_data_"]))
        return {k: _typed(v) if type(v) in _CONTAINERS else v for k, v in value.items()}
    if type(value) is list:
        return [_typed(v) if type(v) in _CONTAINERS else v for v in value]
    return value


_CONTAINERS = (dict, list)


@dataclass(frozen=True)
class Outgoing:
    """A `masterdata.events` record, its value still a JSON object: a producer that seals it seals the
    object, never a parse of its bytes."""

    key: bytes
    message: dict[str, Any]
    headers: list[tuple[str, bytes]]

    def value(self) -> bytes:
        return orjson.dumps(self.message)


def message_of(notification: Notification) -> Outgoing:
    """A notification as a `masterdata.events` record: JSON with the event's own fields under `data`.

    Read from the stored state as the library's mapper would give it to a domain event (its JSON
    transcoding, no compressor or cipher: `application.py`), without building the event object; a test
    holds it equal to the message built from `app.mapper.to_domain_event`."""
    state = orjson.loads(notification.state)
    qualname = notification.topic.rpartition(":")[2]
    aggregate_id = str(notification.originator_id)
    event_id = _event_id_text(notification.originator_id, notification.originator_version)
    recorded_at = state.get("timestamp")
    data = {
        k: _typed(v) if type(v) in _CONTAINERS else v for k, v in state.items() if k not in _ENVELOPE_FIELDS
    }
    type_name = published_type(qualname)
    message = {
        "event_id": event_id,
        "type": type_name,
        "aggregate_type": qualname.split(".", 1)[0],
        "aggregate_id": aggregate_id,
        "aggregate_version": notification.originator_version,
        "notification_id": notification.id,
        "recorded_at": _typed(recorded_at),
        "data": data,
    }
    headers = [("event_id", event_id.encode()), ("type", type_name.encode())]
    return Outgoing(aggregate_id.encode(), message, headers)


class MasterDataRelay:
    def __init__(
        self,
        app: MasterRecord,
        producer: Producer,
        topic: str = MASTERDATA_TOPIC,
        name: str = RELAY_NAME,
        batch_size: int = DEFAULT_BATCH,
        ack_timeout: float = 30.0,
        merges_topic: str | None = None,
    ) -> None:
        self.app = app
        self.producer = producer
        self.topic = topic
        # Where the merges and unmerges go again, in the same batch (the workers read only those).
        self.merges_topic = merges_topic
        self.name = name
        self.batch_size = batch_size
        self.ack_timeout = ack_timeout
        self.tracking = app.tracking_recorder()
        self.relayed = 0
        self.retries = 0  # failed batches, each retried

    def position(self) -> int:
        """The last notification id Kafka is known to hold (0 before the first)."""
        return self.tracking.max_tracking_id(self.name) or 0

    def lag(self) -> int:
        return (self.app.recorder.max_notification_id() or 0) - self.position()

    def run_once(self) -> int:
        """Relay one batch; returns how many notifications it published."""
        start = self.position()
        batch = self.app.recorder.select_notifications(start, self.batch_size, inclusive_of_start=False)
        if not batch:
            return 0
        outgoing = [message_of(notification) for notification in batch]
        futures = self._send(self.topic, outgoing)
        if self.merges_topic is not None:
            merges = [o for o in outgoing if o.message["type"] in MERGE_TYPES]
            futures += self._send(self.merges_topic, merges) if merges else []
        self.producer.flush(timeout=self.ack_timeout)
        for future in futures:
            future.get(timeout=self.ack_timeout)  # raises if Kafka refused any record: position stays put
        self.tracking.insert_tracking(Tracking(self.name, batch[-1].id))
        self.relayed += len(batch)
        return len(batch)

    def _send(self, topic: str, outgoing: Sequence[Outgoing]) -> list[Any]:
        send_objects = getattr(self.producer, "send_objects", None)
        if send_objects is not None:  # a producer that seals: it seals the objects, one call a batch
            return list(send_objects(topic, [(o.key, o.message, o.headers) for o in outgoing]))
        return [self.producer.send(topic, value=o.value(), key=o.key, headers=o.headers) for o in outgoing]

    def run(
        self, stop: threading.Event, idle_wait: float = 0.2, first_delay: float = 0.2, max_delay: float = 30.0
    ) -> None:
        """Relay until `stop` is set. A batch that fails (PostgreSQL or Kafka unreachable, a record not
        acknowledged) is logged with its reason and tried again after a capped exponential back-off; the
        position has not moved, so nothing is skipped."""
        delay, failures = first_delay, 0
        while not stop.is_set():
            try:
                relayed = self.run_once()
            except Exception as exc:
                failures += 1
                self.retries += 1
                log.warning(
                    "relay batch failed (attempt %d), retrying in %.1fs: %s: %s",
                    failures,
                    delay,
                    type(exc).__name__,
                    exc,
                )
                stop.wait(delay)
                delay = min(delay * 2, max_delay)
                continue
            delay, failures = first_delay, 0
            if relayed == 0:
                stop.wait(idle_wait)


def kafka_producer(bootstrap: str) -> Any:
    """An idempotent producer that waits for every in-sync replica: acknowledged means durable. Records
    are placed as Kafka's default partitioner places them, by `KeyCachedPartitioner`; batches of up to
    256 KiB a partition (16 KiB by default: a relayed batch of 500 sealed records made ~40 produce
    batches, each woke the sender thread)."""
    from kafka import KafkaProducer

    return KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        batch_size=256 * 1024,
        partitioner=key_cached_partitioner(),
        retries=2_147_483_647,
        request_timeout_ms=30_000,
    )


def key_cached_partitioner() -> Any:
    """kafka-python's default partitioner, with each key's murmur2 hash computed once
    (streams/partitioning.py): the library hashes every record in pure Python (a tenth of the relay's
    busy time), and the relay sends one aggregate's key again and again."""
    from kafka.partitioner import DefaultPartitioner

    class KeyCachedPartitioner(DefaultPartitioner):  # type: ignore[misc]  # the library is untyped
        def partition(
            self,
            topic: str,
            key: Any,
            serialized_key: bytes | None,
            value: Any,
            serialized_value: Any,
            cluster: Any,
        ) -> int:
            found = cluster.partitions_for_topic(topic) if serialized_key is not None else None
            if not found:  # no key (a random partition), or an unknown topic: the library's answer
                return int(super().partition(topic, key, serialized_key, value, serialized_value, cluster))
            every = sorted(found)
            return int(every[partition_for(serialized_key, len(every))])

    return KeyCachedPartitioner()


def ensure_topic(bootstrap: str, topic: str = MASTERDATA_TOPIC, partitions: int = 3) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def open_retrying(
    open_: Callable[[], T],
    stop: threading.Event,
    *,
    what: str,
    first_delay: float = 0.5,
    max_delay: float = 30.0,
) -> T | None:
    """Open a store that may not be up yet: each failure is one log line (no traceback) and a capped
    back-off, until it opens or `stop` is set (then None)."""
    delay = first_delay
    while not stop.is_set():
        try:
            return open_()
        except Exception as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            log.warning("%s not reachable yet, retrying in %.1fs: %s", what, delay, reason[:300])
            stop.wait(delay)
            delay = min(delay * 2, max_delay)
    return None


def main(argv: Sequence[str] | None = None, codec: Codec | None = None) -> None:
    parser = argparse.ArgumentParser(description="Relay the master record's notification log to Kafka.")
    parser.add_argument(
        "--store",
        required=True,
        help="master-record URL (sqlite:///… or postgresql://…); `touchstream relay` fills it in",
    )
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, host:port")
    parser.add_argument("--topic", default=MASTERDATA_TOPIC)
    parser.add_argument(
        "--merges-topic",
        default=MASTERDATA_MERGES_TOPIC,
        help="where the merges and unmerges go again, for the workers ('' for nowhere)",
    )
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    args = parser.parse_args(argv)
    mask_every_record()  # logs never print personal values (docs/privacy.md)
    logging.basicConfig(level=logging.WARNING, format="[%(asctime)s] [%(levelname)s] %(name)s: %(message)s")
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    opened = open_retrying(lambda: MasterRecord.from_url(args.store), stop, what="master record")
    if opened is None:
        return
    app = opened
    producer = kafka_producer(args.bootstrap)
    if codec is not None:  # `touchstream relay` with sealing on: the data of each event leaves sealed
        producer = SealingProducer(producer, codec)
    relay = MasterDataRelay(
        app, producer, topic=args.topic, batch_size=args.batch, merges_topic=args.merges_topic or None
    )
    started = time.monotonic()
    try:
        relay.run(stop)
    finally:
        producer.close()
        app.close()
        elapsed = time.monotonic() - started
        summary = f"relayed {relay.relayed} notifications in {elapsed:.1f}s ({relay.retries} retries)"
        print(summary, flush=True)


if __name__ == "__main__":
    main()
