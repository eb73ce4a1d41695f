"""End to end on real servers: the generator's data published through the HTTP gateway to Kafka, a real
Faust worker process (`python -m touchstream.adapters.cli_worker` = `touchstream worker`), the relay as
its own process, the master record on PostgreSQL, the read models on the ClickHouse 18.16 server.

Asserted:
- every departmental view and the 360 view equal the plain-Python oracle (tests/unit/
  test_read_models_oracle.py), fed the same JSONL and, for who-is-who, the worker's own resolution read
  back from `touchpoints.resolved` (merged contacts mapped to their survivor as the master record says):
  identity has its own tests; this one checks everything downstream of it;
- `signals.sales`, read with kcat, carries a service hold for a contact with a P1 ticket;
- the same events through the embedded runner into chDB (same contact ids, same per-contact order) give
  the same answer to every analyst query.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import types
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from psycopg import sql
from unit.test_read_models_oracle import (
    BAD_RECORDS,
    QUERIES,
    Dataset,
    as_dicts,
    oracle_360,
    oracle_attribution,
    oracle_campaigns,
    oracle_complaints,
    oracle_csat,
    oracle_data_quality,
    oracle_forecast,
    oracle_nps,
    oracle_pipeline,
    oracle_sla_summary,
    oracle_tickets,
    oracle_transitions,
)

from touchstream.adapters import topics
from touchstream.adapters.chdb_store import ChDBStore
from touchstream.adapters.clickhouse_server import ClickHouseServerStore
from touchstream.adapters.event_log import SQLiteEventLog
from touchstream.adapters.gateway_auth import add_key
from touchstream.adapters.gateway_compose import build_gateway
from touchstream.adapters.gateway_server import serving
from touchstream.adapters.generator import GeneratorConfig, generate_with_truth
from touchstream.adapters.kafka_log import KafkaEventLog
from touchstream.adapters.master_record import MasterRecord
from touchstream.events import parse_event
from touchstream.projections.merges import CONTACT_MERGES_TABLE, MERGE_COLUMNS
from touchstream.streams.embedded import prepare_read_store, run_until_caught_up

pytestmark = [pytest.mark.integration]

DAYS = 45
# Events must not lie in the future of the gateway's clock: the window ends yesterday.
START = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS + 2)
CONFIG = GeneratorConfig(customers=150, accounts=20, days=DAYS, seed=11, start=START)
WAIT_S = 120.0
FORMAT = ("-f", "%p\t%o\t%k\t%s\n")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def kcat(bootstrap: str, topic: str) -> list[tuple[int, int, str, bytes]]:
    """(partition, offset, key, value) of every record, read by librdkafka: a client independent of ours."""
    found = shutil.which("kcat")
    if found is None:
        _unavailable("kcat is missing: `deploy/local/services up kafka` installs it")
    done = subprocess.run(
        [str(found), "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", *FORMAT],
        capture_output=True,
        timeout=60,
        check=True,
    )
    out = []
    for line in done.stdout.splitlines():
        partition, offset, key, value = line.split(b"\t", 3)
        out.append((int(partition), int(offset), key.decode(), value))
    return out


class Processes:
    """Child processes, each in its own session; always stopped (TERM, then KILL) at teardown."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        output = (self.folder / f"{name}.log").open("wb")
        child = subprocess.Popen(
            argv, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.children.append((name, child))
        return child

    def check_alive(self) -> None:
        for name, child in self.children:
            if child.poll() is not None:
                raise AssertionError(f"{name} exited {child.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.folder / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop_all(self) -> None:
        for _, child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for _, child in self.children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)  # its own session: the worker and anything it forked
                child.wait(timeout=10)


@dataclass
class Run:
    data: Dataset  # the JSONL's events, with who-is-who as the worker resolved it
    server: ClickHouseServerStore
    resolved: list[tuple[int, int, str, bytes]]
    signals_sales: list[tuple[int, int, str, bytes]]
    first_contact: dict[str, str]  # event id -> the contact id the worker resolved it to (before merges)
    folder: Path


def _publish_through_gateway(url: str, keys: dict[str, str], raw: list[dict[str, Any]]) -> int:
    """Post the events in generation order, each run of one source as one batch (one key per source)."""

    async def go() -> int:
        accepted = 0
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            start = 0
            while start < len(raw):
                end = start
                while end < len(raw) and raw[end]["source"] == raw[start]["source"] and end - start < 500:
                    end += 1
                headers = {"Authorization": f"Bearer {keys[raw[start]['source']]}"}
                response = await client.post(
                    "/v1/events", content=orjson.dumps(raw[start:end]), headers=headers
                )
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["accepted"] == end - start, body
                accepted += body["accepted"]
                start = end
        return accepted

    return asyncio.run(go())


def _wait_for(what: str, condition: Any, processes: Processes, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        processes.check_alive()
        ok, last = condition()
        if ok:
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last})\n{processes.tail('worker')}")


@pytest.fixture(scope="module")
def run(
    kafka_bootstrap: str,
    clickhouse_endpoint: tuple[str, int],
    postgres_endpoint: tuple[str, int, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("e2e")
    name = "t_e2e_" + uuid.uuid4().hex[:10]
    prefix = name + "_"
    ch_host, ch_port = clickhouse_endpoint
    pg_host, pg_port, pg_user = postgres_endpoint
    pg_url = f"postgresql://{pg_user}@{pg_host}:{pg_port}/{name}"
    topics.create_topics(kafka_bootstrap, prefix=prefix)
    processes = Processes(folder)
    with psycopg.connect(
        host=pg_host, port=pg_port, user=pg_user, dbname="postgres", autocommit=True
    ) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    server = ClickHouseServerStore(ch_host, ch_port, name, create_database=True)
    try:
        env = {
            **os.environ,
            "TOUCHSTREAM_MODE": "production",
            "TOUCHSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "TOUCHSTREAM_TOPIC_PREFIX": prefix,
            "TOUCHSTREAM_CLICKHOUSE_HOST": ch_host,
            "TOUCHSTREAM_CLICKHOUSE_PORT": str(ch_port),
            "TOUCHSTREAM_CLICKHOUSE_DATABASE": name,
            "TOUCHSTREAM_MASTER_RECORD_URL": pg_url,
            "TOUCHSTREAM_DATA_DIR": str(folder / "data"),
            "TOUCHSTREAM_WORKER_BATCH_WITHIN": "0.2",
        }
        processes.start(
            "worker", [sys.executable, "-m", "touchstream.adapters.cli_worker", "-l", "warn"], env
        )
        processes.start("relay", [sys.executable, "-m", "touchstream.adapters.cli_relay"], env)

        raw, _truth = generate_with_truth(CONFIG)
        events = [parse_event(orjson.dumps(e)) for e in raw]
        keys_file = folder / "keys.toml"
        keys = {s: add_key(keys_file, name=s, source=s)[0] for s in sorted({e["source"] for e in raw})}
        gateway = build_gateway(
            keys=keys_file, kafka=kafka_bootstrap, topic=prefix + topics.RAW, dedup_db=folder / "dedup.sqlite"
        )
        with serving(gateway) as url:
            assert _publish_through_gateway(url, keys, raw) == len(raw)
        gateway.state.gateway.ingestor.close()
        # A producer that bypasses the gateway: these are not events, the worker dead-letters them.
        with KafkaEventLog(kafka_bootstrap, prefix + topics.RAW) as raw_log:
            raw_log.append([(b"bad", record) for record in BAD_RECORDS])

        def everything_projected() -> tuple[bool, Any]:
            rows = server.query(
                "SELECT (SELECT count() FROM touchpoints FINAL), (SELECT count() FROM dead_letters FINAL),"
                " (SELECT sum(touches) FROM customer_360 FINAL)"
            )[0]
            return tuple(rows) == (len(raw), len(BAD_RECORDS), len(raw)), rows

        _wait_for("every event in ClickHouse", everything_projected, processes)

        resolved = kcat(kafka_bootstrap, prefix + topics.RESOLVED)
        first_contact: dict[str, str] = {}
        accounts: dict[str, str] = {}
        for _p, _o, _k, value in resolved:
            item = orjson.loads(value)
            first_contact.setdefault(item["event"]["event_id"], item["contact_id"] or "")
            accounts.setdefault(item["event"]["event_id"], item["account_id"] or "")
        assert set(first_contact) == {str(e.event_id) for e in events}

        # Merged contacts count under their survivor, as the master record says (and the relay tells).
        master = MasterRecord.from_url(pg_url)
        try:
            survivor = {c: str(master.contact(uuid.UUID(c)).id) for c in set(first_contact.values()) if c}
        finally:
            master.close()
        merged = {c: s for c, s in survivor.items() if c != s}

        def merges_projected() -> tuple[bool, Any]:
            rows = server.query(
                f"SELECT merged_id, survivor_id FROM {CONTACT_MERGES_TABLE} FINAL WHERE active = 1"
            )
            return dict(rows) == merged, len(rows)

        _wait_for("contact_merges to match the master record", merges_projected, processes, timeout=60)
        owners = {e: (survivor.get(c, c), accounts[e]) for e, c in first_contact.items()}
        data = Dataset(raw, events, types.SimpleNamespace(events=owners))  # type: ignore[arg-type]
        yield Run(
            data,
            server,
            resolved,
            kcat(kafka_bootstrap, prefix + topics.SIGNALS_SALES),
            first_contact,
            folder,
        )
    finally:
        processes.stop_all()
        server.execute(f"DROP DATABASE IF EXISTS {name}")
        server.close()
        with psycopg.connect(
            host=pg_host, port=pg_port, user=pg_user, dbname="postgres", autocommit=True
        ) as a:
            a.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        _delete_topics(kafka_bootstrap, prefix)


def _pg_admin(endpoint: tuple[str, int, str]) -> psycopg.Connection[Any]:
    host, port, user = endpoint
    return psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True)


def _delete_topics(bootstrap: str, prefix: str) -> None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    try:
        mine = [t for t in admin.list_topics() if t.startswith(prefix)]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()


def rows(run: Run, query: str) -> list[tuple[Any, ...]]:
    return run.server.query(query)


@pytest.mark.timeout(240)
def test_departmental_views_equal_the_oracle(run: Run) -> None:
    data = run.data
    assert rows(run, QUERIES["sales_pipeline"]) in (
        oracle_pipeline(data, date.today()),
        oracle_pipeline(data, datetime.now(UTC).date()),
    )
    assert rows(run, QUERIES["sales_stage_transitions"]) == oracle_transitions(data)
    assert rows(run, QUERIES["sales_forecast"]) == oracle_forecast(data, date.today())
    assert rows(run, QUERIES["campaign_engagement"]) == oracle_campaigns(data)
    assert rows(run, QUERIES["campaign_attribution"]) == oracle_attribution(data)
    assert rows(run, QUERIES["support_tickets"]) == oracle_tickets(data)
    assert rows(run, QUERIES["support_sla_summary"]) == oracle_sla_summary(data)
    csat, expected_csat = rows(run, QUERIES["csat_by_period"]), oracle_csat(data)
    assert [(*r[:4], r[5]) for r in csat] == [(*r[:4], r[5]) for r in expected_csat]
    assert [r[4] for r in csat] == pytest.approx([r[4] for r in expected_csat])
    nps, expected_nps = rows(run, QUERIES["nps_by_period"]), oracle_nps(data)
    assert [r[:6] for r in nps] == [r[:6] for r in expected_nps]
    assert [r[6] for r in nps] == pytest.approx([r[6] for r in expected_nps])
    assert rows(run, QUERIES["complaint_themes"]) == oracle_complaints(data)
    # data_quality counts contacts missing key fields per recorded contact, before merges (it reads
    # customer_360, not customer_360_current): the oracle gets the pre-merge ids for it.
    recorded = {e: (run.first_contact[e], a) for e, (_, a) in data.truth.events.items()}
    before_merges = Dataset(data.raw, data.events, types.SimpleNamespace(events=recorded))  # type: ignore[arg-type]
    assert rows(run, QUERIES["data_quality"]) == oracle_data_quality(before_merges, date.today())


@pytest.mark.timeout(240)
def test_the_360_view_equals_the_oracle(run: Run) -> None:
    expected = oracle_360(run.data)
    got = {row["contact_id"]: row for row in as_dicts(run.server, "customer_360_current")}
    assert set(got) == set(expected)
    for contact_id, want in expected.items():
        assert {name: got[contact_id][name] for name in want} == want, contact_id


@pytest.mark.timeout(240)
def test_a_p1_ticket_puts_a_service_hold_on_signals_sales(run: Run) -> None:
    p1 = [
        run.first_contact[str(e.event_id)]
        for e in run.data.events
        if e.type == "TicketOpened" and str(e.payload.__dict__.get("priority")) == "P1"
    ]
    assert p1, "the dataset has P1 tickets"
    holds = {
        key
        for _p, _o, key, value in run.signals_sales
        if (m := json.loads(value))["kind"] == "service_hold" and m["status"] == "raised"
    }
    assert set(p1) & holds, "no service hold on signals.sales for any contact with a P1 ticket"
    assert holds <= set(run.first_contact.values())


@pytest.mark.timeout(240)
def test_the_embedded_runner_into_chdb_gives_the_same_answers(run: Run) -> None:
    """Same events, same contact ids, same per-contact order (the resolved topic's, partition by partition,
    so even the log positions agree), same merges: every analyst query answers alike."""
    owners = {e: (c or None, a or None) for e, (c, a) in _first_owners(run).items()}
    with (
        SQLiteEventLog(run.folder / "embedded.sqlite", topics.spec_for(topics.RESOLVED).partitions) as log,
        ChDBStore(str(run.folder / "chdb")) as embedded,
    ):
        seen: set[str] = set()
        for _p, _o, key, value in sorted(run.resolved):
            item = orjson.loads(value)
            if item["event"]["event_id"] not in seen:  # a worker retry may have sent one twice
                seen.add(item["event"]["event_id"])
                log.append([(key.encode(), orjson.dumps(item["event"]))])
        log.append([(b"bad", record) for record in BAD_RECORDS])
        prepare_read_store(embedded)
        merges = run.server.query(f"SELECT {', '.join(MERGE_COLUMNS)} FROM {CONTACT_MERGES_TABLE} FINAL")
        if merges:  # the master record's merges, as the worker wrote them (the embedded runner has none)
            embedded.insert_rows(CONTACT_MERGES_TABLE, MERGE_COLUMNS, merges)
        stats = run_until_caught_up(log, embedded, resolve=lambda event: owners[str(event.event_id)])
        assert stats.dead_lettered == len(BAD_RECORDS)
        for view, query in QUERIES.items():
            server_columns, server_rows = run.server.query_with_columns(query)
            chdb_columns, chdb_rows = embedded.query_with_columns(query)
            assert server_columns == chdb_columns, view
            assert server_rows == chdb_rows, view


def _first_owners(run: Run) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for _p, _o, _k, value in run.resolved:
        item = orjson.loads(value)
        out.setdefault(item["event"]["event_id"], (item["contact_id"] or "", item["account_id"] or ""))
    return out
