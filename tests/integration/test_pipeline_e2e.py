"""End to end on real servers: the generator's data published through the HTTP gateway to Kafka, a real
Faust worker process (`python -m touchstream.adapters.cli.worker` = `touchstream worker`), the relay as
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

import bisect
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from pipeline_harness import (
    PEOPLES_TOUCHES,
    Processes,
    Record,
    Stack,
    assert_360_equals_oracle,
    assert_views_equal_oracle,
    kcat,
    merges_projected,
    oracle_dataset,
    pipeline_stack,
    publish_through_gateway,
    relay_argv,
    survivors,
    wait_for,
    worker_argv,
    worker_resolution,
)
from read_model_compare import ARRIVAL_LOGS, COMPARED, Model, canonical, comparable, differences, grouping
from unit.test_read_models_oracle import BAD_RECORDS, QUERIES, Dataset

from touchstream.adapters.bootstrap import codec_for, open_embedded_pipeline
from touchstream.adapters.config import Settings, load_settings
from touchstream.adapters.gateway.auth import PRIVILEGED_TYPES, add_key
from touchstream.adapters.gateway.compose import build_gateway
from touchstream.adapters.logs.kafka_log import KafkaEventLog
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.logs.topics import open_log
from touchstream.adapters.sdk.publisher import Publisher
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate_with_truth
from touchstream.adapters.web.server import serving
from touchstream.events import parse_event
from touchstream.projections.merges import CONTACT_MERGES_TABLE, MERGE_COLUMNS
from touchstream.streams import topology
from touchstream.streams.embedded import run_until_caught_up
from touchstream.streams.ports import AbstractReadStore
from touchstream.streams.steps import write_merges

pytestmark = [pytest.mark.integration]

DAYS = 45
# A fixed story: a start that moved with today's date generated another history each day, and on
# 2026-12-06 one without an erasure the embedded run carries out (the same code passed the day before).
# It lies in the past, so no event is in the future of the gateway's clock.
START = datetime(2026, 10, 19, tzinfo=UTC)
CONFIG = GeneratorConfig(customers=150, accounts=20, days=DAYS, seed=11, start=START)
WAIT_S = 120.0


@dataclass
class Run:
    data: Dataset  # the JSONL's events, with who-is-who as the worker resolved it
    server: ClickHouseServerStore
    resolved: list[Record]
    signals_sales: list[Record]
    first_contact: dict[str, str]  # event id -> the contact id the worker resolved it to (before merges)
    folder: Path
    settings: Settings  # the workers' (their key store opens what the topics hold sealed)


@pytest.fixture(scope="module")
def run(
    kafka_bootstrap: str,
    clickhouse_endpoint: tuple[str, int],
    postgres_endpoint: tuple[str, int, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("e2e")
    processes = Processes(folder)
    with pipeline_stack(kafka_bootstrap, clickhouse_endpoint, postgres_endpoint, folder, "e2e") as stack:
        try:
            yield _run(stack, processes)
        finally:
            processes.stop_all()


def _run(stack: Stack, processes: Processes) -> Run:
    bootstrap, server, folder = stack.bootstrap, stack.server, stack.folder
    env = stack.env()
    processes.start("worker", worker_argv("warn"), env)
    processes.start("relay", relay_argv(), env)

    raw, _truth = generate_with_truth(CONFIG)
    events = [parse_event(orjson.dumps(e)) for e in raw]
    keys_file = folder / "keys.toml"
    # Every source may send the generator's erasure and consent events too (privileged: granted by name).
    grants = sorted(PRIVILEGED_TYPES)
    sources = sorted({e["source"] for e in raw})
    keys = {s: add_key(keys_file, name=s, source=s, event_types=grants)[0] for s in sources}
    gateway = build_gateway(
        keys=keys_file,
        kafka=bootstrap,
        topic=stack.topic(topology.RAW),
        dedup_db=folder / "dedup.sqlite",
        settings=load_settings(stack.env()),  # the workers' key store: what the gateway seals, they open
    )
    with serving(gateway) as url:
        assert publish_through_gateway(url, keys, raw) == len(raw)
    gateway.state.gateway.ingestor.close()
    # A producer that bypasses the gateway: these are not events, the worker dead-letters them.
    with KafkaEventLog(bootstrap, stack.topic(topology.RAW)) as raw_log:
        raw_log.append([(b"bad", record) for record in BAD_RECORDS])

    def everything_projected() -> tuple[bool, Any]:
        rows = server.query(
            "SELECT (SELECT count() FROM touchpoints FINAL), (SELECT count() FROM dead_letters FINAL),"
            f" {PEOPLES_TOUCHES}"
        )[0]
        return tuple(rows) == (len(raw), len(BAD_RECORDS), len(raw)), rows

    wait_for("every event in ClickHouse", everything_projected, processes, WAIT_S)

    resolution = worker_resolution(bootstrap, stack.topic(topology.RESOLVED))
    assert set(resolution.first_contact) == {str(e.event_id) for e in events}
    # Merged contacts count under their survivor, as the master record says (and the relay tells).
    survivor = survivors(stack.pg_url, set(resolution.first_contact.values()))
    projected = merges_projected(server, stack.pg_url, set(survivor))
    wait_for("contact_merges to match the master record", projected, processes, 60)
    return Run(
        oracle_dataset(raw, events, resolution, survivor),
        server,
        resolution.records,
        kcat(bootstrap, stack.topic(topology.SIGNALS_SALES)),
        resolution.first_contact,
        folder,
        load_settings(stack.env()),
    )


@pytest.mark.timeout(240)
def test_departmental_views_equal_the_oracle(run: Run) -> None:
    assert_views_equal_oracle(run.server, run.data)


@pytest.mark.timeout(240)
def test_the_360_view_equals_the_oracle(run: Run) -> None:
    assert_360_equals_oracle(run.server, run.data)


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
    owners = {e: (c or None, a or None) for e, (c, a) in _owners(run).items()}
    with (
        SQLiteEventLog(
            run.folder / "embedded.sqlite", topology.spec_for(topology.RESOLVED).partitions
        ) as log,
        ChDBStore(str(run.folder / "chdb")) as embedded,
    ):
        seen: set[str] = set()
        codec = codec_for(topology.RESOLVED, run.settings)
        assert codec is not None, "the resolved topic is sealed (docs/privacy.md)"
        records = sorted(run.resolved)
        opened = codec.open([value for _p, _o, _k, value in records])
        # An anonymous caller's calls, handed to its person a second time (docs/identity.md, rule 5): the
        # shortcut takes each event once, so those records are left out, and the rows after them on their
        # partition compared one position lower.
        again: dict[int, list[int]] = {}
        handed: set[str] = set()  # their events
        for (partition, offset, key, _sealed), value in zip(records, opened, strict=True):
            item = orjson.loads(value)
            if item.get("reattributed"):
                again.setdefault(partition, []).append(offset)
                handed.add(item["event"]["event_id"])
            elif item["event"]["event_id"] not in seen:  # a worker retry may have sent one twice
                seen.add(item["event"]["event_id"])
                log.append([(key.encode(), orjson.dumps(item["event"]))])
        log.append([(b"bad", record) for record in BAD_RECORDS])
        prepare_read_store(embedded)
        merges = run.server.query(f"SELECT {', '.join(MERGE_COLUMNS)} FROM {CONTACT_MERGES_TABLE} FINAL")
        if merges:  # the master record's merges, as the worker wrote them (the embedded runner has none)
            write_merges(embedded, merges)
        stats = run_until_caught_up(log, embedded, resolve=lambda event: owners[str(event.event_id)])
        assert stats.dead_lettered == len(BAD_RECORDS)
        # The shortcut has no erasure step (no master record, no key store); the worker's forgot the erased
        # contacts' personal columns after their tombstones. The read store's part of it, here too:
        erased = [r[0] for r in embedded.query("SELECT contact_id FROM customer_360 FINAL WHERE erased = 1")]
        assert erased, "the generated history holds erasure requests"
        embedded.forget_contacts(erased)
        # The records are opened now, after the erasure destroyed the erased contacts' keys: the shortcut
        # folds their redacted events (docs/privacy.md), which keep fewer fields than the worker's rows
        # forgotten in place (an identifier's kind, a message id). Their rows are compared by count;
        # everyone else's row by row.
        gone = set(erased)
        for view, query in QUERIES.items():
            server_columns, server_rows = run.server.query_with_columns(query)
            chdb_columns, chdb_rows = embedded.query_with_columns(query)
            assert server_columns == chdb_columns, view
            names = [name for name, _type in server_columns]
            server_rows = _placed(names, server_rows, handed, again)
            chdb_rows = _placed(names, chdb_rows, handed, {})
            server_kept, server_erased = _split_erased(server_rows, gone)
            chdb_kept, chdb_erased = _split_erased(chdb_rows, gone)
            assert server_kept == chdb_kept, view
            assert len(server_erased) == len(chdb_erased), view


def _placed(
    columns: list[str], rows: list[tuple[Any, ...]], handed: set[str], left_out: dict[int, list[int]]
) -> list[tuple[Any, ...]]:
    """`rows` with the log position of a handed-over call's row left out (the worker's is its second
    record's, the shortcut's its first), and every other position moved down past the records `left_out`
    (partition -> offsets) before it."""
    if "log_offset" not in columns or "event_id" not in columns:
        return rows
    event, partition, offset = (columns.index(c) for c in ("event_id", "log_partition", "log_offset"))
    out = []
    for row in rows:
        fixed = list(row)
        if row[event] in handed:
            fixed[partition] = fixed[offset] = None
        else:
            fixed[offset] -= bisect.bisect_left(sorted(left_out.get(row[partition], [])), row[offset])
        out.append(tuple(fixed))
    return out


def _split_erased(rows: list[tuple[Any, ...]], erased: set[str]) -> tuple[list[Any], list[Any]]:
    kept = [r for r in rows if not erased & {str(v) for v in r}]
    return kept, [r for r in rows if erased & {str(v) for v in r}]


def _owners(run: Run) -> dict[str, tuple[str, str]]:
    """Each event's contact and account as the worker resolved it first, or as it handed it again: an
    anonymous caller's call belongs to the person the caller's contact merged into (docs/identity.md,
    rule 5), as if it had reached the person directly."""
    out: dict[str, tuple[str, str]] = {}
    for _p, _o, _k, value in run.resolved:
        item = orjson.loads(value)
        owner = (item["contact_id"] or "", item["account_id"] or "")
        if item.get("reattributed"):
            out[item["event"]["event_id"]] = owner
        else:
            out.setdefault(item["event"]["event_id"], owner)
    return out


@pytest.mark.timeout(240)
def test_the_embedded_pipeline_with_its_own_master_record_gives_the_same_tables(run: Run) -> None:
    """The embedded default's two steps, as `touchstream run` runs them (its own SQLite master record, its
    own validation, dead letters and merges), on the same events the gateway took, in the same order:
    the same dead letters, the same merges and every analyst query answering alike."""
    folder = run.folder / "embedded-pipeline"
    with Publisher.for_embedded(folder / "log") as publisher:
        for event in run.data.raw:
            publisher.send(event)
    with open_log(topology.RAW, embedded_dir=folder / "log") as raw_log:
        raw_log.append([(b"bad", record) for record in BAD_RECORDS])
    with (
        ChDBStore(str(run.folder / "chdb"), database="embedded_pipeline") as store,
        open_embedded_pipeline(folder / "log", store, f"sqlite:///{folder / 'master.sqlite'}") as pipeline,
    ):
        prepare_read_store(store)
        resolved = pipeline.resolve_until_caught_up()
        projected = pipeline.project_until_caught_up()
        assert resolved.dead_lettered == len(BAD_RECORDS)
        assert projected.records == len(run.data.raw) + resolved.reattributed  # calls handed over again
        # The same people: every event on the same person as the worker's (merges followed). Which merges
        # made them may differ: an anonymous caller's contact exists, and then merges into its person, only
        # when the call came first (projections/identity.py, `_anonymous_callers`).
        # Without settings (no key store) the pipeline has no erasure step: the read store's part of it.
        erased = [r[0] for r in store.query("SELECT contact_id FROM customer_360 FINAL WHERE erased = 1")]
        assert erased, "the generated history holds erasure requests"
        store.forget_contacts(erased)
        found, expected = _models(store), _models(run.server)
        assert grouping(found) == grouping(expected)
        # Every read model alike once ids are named canonically: a contact's id derives from whatever
        # created it, which the worker's twelve partitions may meet in another order than the log's
        # (tests/read_model_compare.py). Only the logs of decisions made on arrival may differ.
        differ = differences(canonical(found), canonical(expected))
        for name, detail in differ.items():
            print(f"{name} differs from the worker's: {detail}")
        assert set(differ) <= set(ARRIVAL_LOGS), {n: d for n, d in differ.items() if n not in ARRIVAL_LOGS}


def _models(store: AbstractReadStore) -> dict[str, Model]:
    return {name: comparable(name, *store.query_with_columns(sql)) for name, sql in COMPARED.items()}
