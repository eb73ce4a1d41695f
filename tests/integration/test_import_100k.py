"""The "Done when" import: a 100k-line file with 1 % bad lines publishes the good ones, reports the bad ones
(line and reason), and a rerun publishes nothing new, on the real broker and on the embedded log."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import typer
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from typer.testing import CliRunner

from touchstream.adapters.cli.imports import import_command
from touchstream.adapters.logs.kafka_log import KafkaEventLog
from touchstream.adapters.logs.topics import create_topics, open_log
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate
from touchstream.streams.ports import AbstractEventLog
from touchstream.streams.topology import RAW, spec_for, topic_name

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

LINES = 100_000
BAD_EVERY = 100  # 1 %


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int], set[str]]:
    """The file, its bad line numbers, and the event ids of its good lines."""
    path = tmp_path_factory.mktemp("import") / "crm-export.jsonl"
    bad: list[int] = []
    good: set[str] = set()
    with path.open("wb") as out:
        for line, event in enumerate(generate(GeneratorConfig.for_events(LINES)), start=1):
            if line > LINES:
                break
            if line % BAD_EVERY == 0:
                bad.append(line)
                broken = {**event, "identifiers": {}} if line % 200 else {**event, "type": "Nope"}
                out.write(orjson.dumps(broken) + b"\n")
            else:
                good.add(event["event_id"])
                out.write(orjson.dumps(event) + b"\n")
    return path, bad, good


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("import")(import_command)
    app.command("noop")(lambda: None)
    return app


def _run(args: list[str]) -> str:
    result = CliRunner().invoke(_cli(), ["import", *args])
    assert result.exit_code in (0, 2), result.output + repr(result.exception)
    return result.output


def _ids(log: AbstractEventLog) -> list[str]:
    ids = []
    for partition in range(log.partitions):
        position = 0
        while batch := log.read(partition, position, 50_000):
            ids.extend(orjson.loads(record.value)["event_id"] for record in batch)
            position = batch[-1].offset + 1
    return ids


def _kafka_ids(bootstrap: str, topic: str, expected: int) -> list[str]:
    """Every event id on the topic, read by a plain consumer with large fetches (fast enough for 100k)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=16 << 20
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ids: list[str] = []
        deadline = time.monotonic() + 60
        while len(ids) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500, max_records=50_000).values():
                ids.extend(orjson.loads(record.value)["event_id"] for record in batch)
        return ids
    finally:
        consumer.close()


def _check_errors(path: Path, bad: list[int]) -> None:
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["line"]) for row in rows] == bad
    assert all(row["reason"] for row in rows)
    assert any("unknown event type 'Nope'" in row["reason"] for row in rows)


@pytest.fixture
def prefix(kafka_bootstrap: str, unique_name: str) -> Iterator[str]:
    prefix = unique_name + "."
    create_topics(kafka_bootstrap, [spec_for(RAW)], prefix=prefix)
    yield prefix
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.delete_topics([topic_name(RAW, prefix)])
    admin.close()


def test_100k_lines_on_the_real_broker(
    export: tuple[Path, list[int], set[str]], kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    path, bad, good = export
    files = ["--errors", str(tmp_path / "errors.csv"), "--checkpoint", str(tmp_path / "checkpoint.json")]
    output = _run([str(path), "--bootstrap", kafka_bootstrap, "--prefix", prefix, *files])
    assert f"{len(good)} published, {len(bad)} rejected" in output
    _check_errors(tmp_path / "errors.csv", bad)

    log = KafkaEventLog(kafka_bootstrap, topic_name(RAW, prefix))
    try:
        count = sum(log.end_offset(p) for p in range(log.partitions))
        assert count == len(good)
        output = _run([str(path), "--bootstrap", kafka_bootstrap, "--prefix", prefix, *files])
        assert "0 published, 0 rejected" in output
        assert sum(log.end_offset(p) for p in range(log.partitions)) == count
    finally:
        log.close()
    ids = _kafka_ids(kafka_bootstrap, topic_name(RAW, prefix), count)
    assert len(ids) == len(set(ids))
    assert set(ids) == good


def test_100k_lines_on_the_embedded_log(export: tuple[Path, list[int], set[str]], tmp_path: Path) -> None:
    path, bad, good = export
    files = ["--errors", str(tmp_path / "errors.csv"), "--checkpoint", str(tmp_path / "checkpoint.json")]
    args = [str(path), "--embedded-dir", str(tmp_path / "log"), "--prefix", "", *files]
    assert f"{len(good)} published, {len(bad)} rejected" in _run(args)
    _check_errors(tmp_path / "errors.csv", bad)
    assert "0 published, 0 rejected" in _run(args)
    with open_log(RAW, embedded_dir=tmp_path / "log") as log:
        ids = _ids(log)
    assert len(ids) == len(set(ids))
    assert set(ids) == good
