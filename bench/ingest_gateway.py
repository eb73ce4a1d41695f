"""Gateway events/s against the real broker, beside the raw kafka-python producer in the same run.

    python bench/ingest_gateway.py [--events 50000] [--bootstrap 127.0.0.1:19092] [--batch 500]
                                   [--concurrency 4]

The gateway runs under uvicorn on loopback in a child process (one worker, as `touchstream gateway`
runs it), publishing to a fresh 12-partition topic; this process is the client, posting the generated
events in batches over `--concurrency` keep-alive connections and counting the events answered
"accepted". Every one of those was acknowledged by Kafka (acks=all) before its answer, so the rate is
end to end: HTTP, JSON, validation, scope, de-duplication, Kafka.

The ceiling is a plain KafkaProducer sending the same events, already validated and serialized, to its own
fresh topic with the same settings (acks=all, idempotent, linger 5 ms) and waiting for every
acknowledgement: the client's own cost. Nothing is asserted: the numbers are for reading.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from _report import emit, figure
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from touchstream.adapters.gateway.auth import PRIVILEGED_TYPES, add_key
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate
from touchstream.events import parse_event

PARTITIONS = 12


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--batch", type=int, default=500, help="events per HTTP request")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    parser.add_argument("--serve", nargs=4, metavar=("KEYS", "TOPIC", "PORT", "DIR"), help=argparse.SUPPRESS)
    return parser.parse_args()


def _serve(bootstrap: str, keys: str, topic: str, port: int, folder: str) -> None:
    """The child process: the gateway as the CLI builds it, on loopback."""
    from touchstream.adapters.gateway.compose import build_gateway
    from touchstream.adapters.web.server import serve

    app = build_gateway(
        keys=Path(keys),
        kafka=bootstrap,
        topic=topic,
        dedup_db=Path(folder) / "dedup.sqlite",
        max_batch=100_000,
        max_bytes=512 * 1024 * 1024,
    )
    serve(app, host="127.0.0.1", port=port, log_level="warning")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ceiling(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    try:
        started = time.perf_counter()
        futures = [producer.send(topic, key=key, value=value) for key, value in records]
        producer.flush()
        for future in futures:
            future.get(timeout=30)
        return time.perf_counter() - started
    finally:
        producer.close()


async def _load(url: str, key: str, bodies: list[bytes], concurrency: int) -> tuple[int, float]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    accepted = 0
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal accepted
        while not queue.empty():
            body = queue.get_nowait()
            response = await client.post(url + "/v1/events", content=body, headers=headers)
            response.raise_for_status()
            accepted += int(response.json()["accepted"])

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        await client.get(url + "/readyz")  # warm: the gateway opens its Kafka clients on first use
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return accepted, time.perf_counter() - started


def _wait_up(url: str, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"the gateway exited with {child.returncode}")
        try:
            if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the gateway did not become ready within 60 s")


def main() -> None:
    args = _args()
    if args.serve:
        keys, topic, port, folder = args.serve
        _serve(args.bootstrap, keys, topic, int(port), folder)
        return
    config = GeneratorConfig.for_events(args.events * 3 // 2)  # an estimate: ask for more, keep --events
    raw_events: list[dict[str, Any]] = [
        dict(event) for _, event in zip(range(args.events), generate(config), strict=False)
    ]
    sources = {event["source"] for event in raw_events}
    # One API key publishes for one source: the bench key's source is "bench", so the events carry it.
    for event in raw_events:
        event["source"] = "bench"
    parsed = [parse_event(event) for event in raw_events]
    records = [(e.identifiers.strongest().encode(), e.model_dump_json().encode()) for e in parsed]
    size = sum(len(value) for _, value in records) / len(records)
    bodies = [
        json.dumps(raw_events[i : i + args.batch]).encode() for i in range(0, len(raw_events), args.batch)
    ]
    run = "bench_" + uuid.uuid4().hex[:8]
    ceiling_topic, gateway_topic = f"{run}.ceiling", f"{run}.gateway"
    admin = KafkaAdminClient(bootstrap_servers=args.bootstrap)
    admin.create_topics(
        [NewTopic(t, PARTITIONS, 1) for t in (ceiling_topic, gateway_topic)], timeout_ms=30_000
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="touchstream-bench-") as folder:
        keys_file = Path(folder) / "keys.toml"
        # The generated stream holds erasure and consent events: privileged, so granted by name.
        key, _ = add_key(keys_file, name="bench", source="bench", event_types=sorted(PRIVILEGED_TYPES))
        child = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--bootstrap",
                args.bootstrap,
                "--serve",
                str(keys_file),
                gateway_topic,
                str(port),
                folder,
            ],
            # Events are sealed on the way in (docs/privacy.md): a key store of the bench's own, so no
            # server's keys (wrapped under another run's key-encryption key) are met.
            env={
                **os.environ,
                "TOUCHSTREAM_MODE": "production",
                "TOUCHSTREAM_DATA_DIR": folder,
                "TOUCHSTREAM_KEY_STORE_URL": f"sqlite:///{folder}/keys.sqlite",
            },
        )
        try:
            _wait_up(url, child)
            ceiling_s = _ceiling(args.bootstrap, ceiling_topic, records)
            accepted, gateway_s = asyncio.run(_load(url, key, bodies, args.concurrency))
        finally:
            child.terminate()
            child.wait(timeout=30)
            admin.delete_topics([ceiling_topic, gateway_topic])
            admin.close()
    count = len(records)
    ceiling_rate, gateway_rate = count / ceiling_s, accepted / gateway_s
    print(f"{count:,} events ({len(sources)} sources re-labelled 'bench'), {size:.0f} bytes each on average")
    print(f"broker {args.bootstrap}; {len(bodies)} requests of {args.batch}, {args.concurrency} in flight")
    print(f"ceiling (raw KafkaProducer, pre-serialized): {ceiling_s:.2f} s = {ceiling_rate:,.0f} events/s")
    print(f"gateway (HTTP -> validated -> acks=all): {gateway_s:.2f} s = {gateway_rate:,.0f} events/s")
    print(f"accepted {accepted:,} of {count:,}")
    print(f"gateway / ceiling: {gateway_rate / ceiling_rate:.2f}")
    name = f"gateway HTTP -> Kafka acks=all ({args.batch}/request, {args.concurrency} in flight)"
    emit(
        "ingest_gateway",
        [figure(name, gateway_rate, "events/s", ceiling_rate, "raw KafkaProducer, pre-serialized")],
        events=count,
        accepted=accepted,
    )


if __name__ == "__main__":
    main()
