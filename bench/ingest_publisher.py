"""Publisher events/s against the real broker, beside the raw kafka-python producer in the same run.

    python bench/ingest_publisher.py [--events 100000] [--bootstrap 127.0.0.1:19092] [--batch 5000]

Both sides write the same generated events to their own fresh topic (12 partitions, like touchpoints.raw)
with the same producer settings (acks=all, idempotent, linger 5 ms). The ceiling is a plain KafkaProducer
sending pre-serialized (key, value) pairs and flushing once: the client's own cost. The Publisher starts
from typed events, so its figure includes serializing them, the murmur2 partitioner, batching and waiting
for every acknowledgement per batch. Nothing is asserted: the numbers are for reading.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable

from _report import emit, figure
from kafka import KafkaAdminClient, KafkaProducer

from touchstream.adapters.logs.topics import create_topics
from touchstream.adapters.sdk.publisher import Publisher, encode
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate
from touchstream.events import Event, parse_event
from touchstream.streams.topology import RAW, spec_for, topic_name


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--batch", type=int, default=5_000, help="Publisher batch size")
    return parser.parse_args()


def _timed(work: Callable[[], None]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _ceiling(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    try:
        futures = [producer.send(topic, key=key, value=value) for key, value in records]
        producer.flush()
        for future in futures:
            future.get(timeout=30)  # every record acknowledged, as the Publisher requires
    finally:
        producer.close()


def _publisher(bootstrap: str, prefix: str, events: list[Event], batch: int) -> None:
    with Publisher.for_kafka(bootstrap, prefix=prefix, batch_size=batch) as publisher:
        for event in events:
            publisher.send(event)


def main() -> None:
    args = _args()
    config = GeneratorConfig.for_events(args.events * 3 // 2)  # an estimate: ask for more, keep --events
    events = [parse_event(raw) for _, raw in zip(range(args.events), generate(config), strict=False)]
    records = [encode(event) for event in events]
    size = sum(len(value) for _, value in records) / len(records)
    run = "bench_" + uuid.uuid4().hex[:8]
    ceiling_prefix, publisher_prefix = run + ".ceiling.", run + ".publisher."
    for prefix in (ceiling_prefix, publisher_prefix):
        create_topics(args.bootstrap, [spec_for(RAW)], prefix=prefix)
    try:
        ceiling_s = _timed(lambda: _ceiling(args.bootstrap, topic_name(RAW, ceiling_prefix), records))
        publisher_s = _timed(lambda: _publisher(args.bootstrap, publisher_prefix, events, args.batch))
    finally:
        admin = KafkaAdminClient(bootstrap_servers=args.bootstrap)
        admin.delete_topics([topic_name(RAW, prefix) for prefix in (ceiling_prefix, publisher_prefix)])
        admin.close()
    count = len(events)
    ceiling_rate, publisher_rate = count / ceiling_s, count / publisher_s
    print(f"{count:,} events, {size:.0f} bytes each on average, broker {args.bootstrap}")
    print(f"ceiling (raw KafkaProducer, pre-serialized): {ceiling_s:.2f} s = {ceiling_rate:,.0f} events/s")
    print(
        f"Publisher (typed events, batch {args.batch}): {publisher_s:.2f} s = {publisher_rate:,.0f} events/s"
    )
    print(f"Publisher / ceiling: {publisher_rate / ceiling_rate:.2f}")
    ceiling_name = "raw KafkaProducer, pre-serialized"
    emit(
        "ingest_publisher",
        [figure(f"Publisher (batch {args.batch})", publisher_rate, "events/s", ceiling_rate, ceiling_name)],
        events=count,
        bytes_per_event=round(size),
    )


if __name__ == "__main__":
    main()
