"""Erasure on the production engines (docs/privacy.md): Kafka, a Faust worker process and the relay, the
master record and the key store on PostgreSQL, the read models on the ClickHouse 18.16 server.

The same person as tests/e2e/test_erasure.py — in three departments, with a dead letter and a merge — is
published sealed, processed, then erased; every topic is read from the beginning with kcat (a client that
is not ours and opens nothing), every ClickHouse table without FINAL, every table of the PostgreSQL
database, the processes' logs and the data folder's files: zero hits, counts unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from e2e.test_erasure import CONTROL, dead_letter, erasure, history, hits
from pipeline_harness import Processes, Stack, kcat, pipeline_stack, relay_argv, wait_for, worker_argv

from touchstream.adapters.bootstrap import sealed
from touchstream.adapters.config import load_settings
from touchstream.adapters.logs.kafka_log import KafkaEventLog
from touchstream.adapters.sdk.publisher import Publisher
from touchstream.streams import topology
from touchstream.streams.ports import ReadStoreError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

TOPICS = [
    topology.RAW,
    topology.RESOLVED,
    topology.DLQ,
    topology.MASTERDATA,
    topology.CUSTOMER360_CHANGES,
    topology.SIGNALS_SALES,
    topology.SIGNALS_MARKETING,
    topology.SIGNALS_SUPPORT,
]


@pytest.fixture
def stack(
    kafka_bootstrap: str,
    clickhouse_endpoint: tuple[str, int],
    postgres_endpoint: tuple[str, int, str],
    tmp_path: Path,
) -> Iterator[Stack]:
    with pipeline_stack(kafka_bootstrap, clickhouse_endpoint, postgres_endpoint, tmp_path, "erase") as made:
        yield made


def publish(stack: Stack, events: list[dict[str, Any]], broken: Sequence[bytes] = ()) -> None:
    settings = load_settings(stack.env())
    log = sealed(KafkaEventLog(stack.bootstrap, stack.topic(topology.RAW)), topology.RAW, settings)
    with Publisher(log, close_log=True) as publisher:
        publisher.send_all(events)
        if broken:
            log.append([(None, record) for record in broken])


def count(stack: Stack, sql: str) -> int:
    try:
        return int(stack.server.query(sql)[0][0])
    except ReadStoreError:
        return -1


def clickhouse_hits(stack: Stack) -> dict[str, list[str]]:
    tables = stack.server.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine NOT LIKE '%View'"
    )
    found = {name: hits(repr(stack.server.query(f"SELECT * FROM {name}"))) for (name,) in tables}
    return {t: h for t, h in found.items() if h}


def postgres_hits(stack: Stack) -> dict[str, list[str]]:
    with psycopg.connect(stack.pg_url) as db:
        tables = [
            r[0]
            for r in db.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchall()
        ]
        found = {t: hits(repr(db.execute(f'SELECT * FROM "{t}"').fetchall())) for t in tables}
    return {t: h for t, h in found.items() if h}


def test_an_erased_customer_leaves_no_personal_value_on_kafka_clickhouse_or_postgres(stack: Stack) -> None:
    processes = Processes(stack.folder)
    env = stack.env()
    try:
        processes.start("worker", worker_argv("info"), env)
        processes.start("relay", relay_argv(), env)
        # The support-desk record first, on its own: the worker reads the raw topic's partitions side by
        # side, and the email's event tying the two records must come after it to make the merge.
        first, rest = history()[:5], history()[5:]
        publish(stack, first)
        wait_for(
            "the support-desk record",
            lambda: (count(stack, "SELECT count() FROM touchpoints FINAL") == len(first), None),
            processes,
            300,
        )
        publish(stack, rest, [dead_letter()])
        total = len(history())

        def processed() -> tuple[bool, Any]:
            found = (
                count(stack, "SELECT count() FROM touchpoints FINAL"),
                count(stack, "SELECT count() FROM dead_letters FINAL"),
                count(stack, "SELECT count() FROM contact_merges FINAL"),
            )
            return found[:2] == (total, 1) and found[2] >= 1, found

        wait_for("the history in ClickHouse", processed, processes, 300)
        for base in (topology.RAW, topology.RESOLVED, topology.DLQ, topology.MASTERDATA):
            leaked = [r for r in kcat(stack.bootstrap, stack.topic(base)) if hits(r[2]) or hits(r[3])]
            assert leaked == [], f"{base} holds personal values in the clear before any erasure"

        publish(stack, [erasure()])

        def forgotten() -> tuple[bool, Any]:
            erased = count(stack, "SELECT count() FROM customer_360 FINAL WHERE erased = 1")
            leaks = clickhouse_hits(stack) if erased >= 1 else {"customer_360": ["not erased yet"]}
            return erased >= 1 and not leaks, leaks

        wait_for("the erasure in ClickHouse", forgotten, processes, 300)
        assert count(stack, "SELECT count() FROM touchpoints FINAL") == total + 1
        assert count(stack, "SELECT count() FROM dead_letters FINAL") == 1
        control = stack.server.query(f"SELECT count() FROM customer_360 FINAL WHERE email = '{CONTROL}'")
        assert control[0][0] == 1, "the control customer is untouched"
        for base in TOPICS:
            leaked = [r for r in kcat(stack.bootstrap, stack.topic(base)) if hits(r[2]) or hits(r[3])]
            assert leaked == [], base
        assert postgres_hits(stack) == {}
        for name in ("worker", "relay"):
            assert hits(processes.log(name)) == [], name
        files = {
            str(p.relative_to(stack.folder)): hits(p.read_bytes())
            for p in stack.folder.rglob("*")
            if p.is_file()
        }
        assert {p: h for p, h in files.items() if h} == {}
    finally:
        processes.stop_all()
