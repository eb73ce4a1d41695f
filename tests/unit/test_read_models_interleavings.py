"""The cluster suite's history through the embedded pipeline (chDB, SQLite master record) in log order and
in two other orders a 12-partition raw log allows (each record key's events keep their order, keys
interleave): every read model is the same once ids are renamed canonically (tests/read_model_compare.py).
This is the cluster suite's comparison with the embedded run (tests/cluster/test_cluster_run.py) without
the cluster: the workers see the raw log in such an order.

Each order is appended under one key, so the embedded resolver meets the events exactly in that order."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from pipeline_harness import fault_events
from read_model_compare import (
    ARRIVAL_LOGS,
    COMPARED,
    Model,
    canonical,
    comparable,
    differences,
    grouping,
)
from unit.test_identity_interleavings import by_key, interleave
from unit.test_read_models_oracle import BAD_RECORDS

from touchstream.adapters.bootstrap import open_embedded_pipeline
from touchstream.adapters.logs.topics import open_log
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.streams.topology import RAW

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PARTITIONS = 12  # the raw topic's, as on the cluster
SEEDS = (1, 2)


def run_in_order(raw: list[dict[str, Any]], chdb: Path, folder: Path, database: str) -> dict[str, Model]:
    log_dir = folder / "log"
    with open_log(RAW, embedded_dir=log_dir) as log:
        log.append([(b"one-order", orjson.dumps(event)) for event in raw])
        log.append([(b"bad", record) for record in BAD_RECORDS])
    with ChDBStore(str(chdb), database=database) as store:
        prepare_read_store(store)
        url = f"sqlite:///{folder / 'master-record.sqlite'}"
        with open_embedded_pipeline(log_dir, store, url) as pipeline:
            pipeline.run_until_caught_up()
        return {name: comparable(name, *store.query_with_columns(sql)) for name, sql in COMPARED.items()}


def test_every_read_model_is_the_same_in_any_order_the_partitioned_raw_log_allows(tmp_path: Path) -> None:
    raw, events = fault_events()
    chdb = tmp_path / "chdb"
    expected = run_in_order(raw, chdb, tmp_path / "log-order", "log_order")
    by_id = {e["event_id"]: e for e in raw}
    queues = by_key(events, partitions=PARTITIONS)
    found: dict[str, set[str]] = {}
    for seed in SEEDS:
        rng = random.Random(seed)
        order = interleave(queues, [rng.randrange(PARTITIONS) for _ in events])
        assert order != events, "an interleaving that is the log order would prove nothing"
        models = run_in_order(
            [by_id[str(e.event_id)] for e in order], chdb, tmp_path / f"order-{seed}", f"order_{seed}"
        )
        assert grouping(models) == grouping(expected), f"order {seed} grouped the events otherwise"
        differ = differences(canonical(models), canonical(expected))
        for name, detail in differ.items():
            print(f"order {seed}: {name} differs from the log order's: {detail}")
        found[f"order {seed}"] = set(differ)
    unexpected = {order: names - set(ARRIVAL_LOGS) for order, names in found.items()}
    assert not any(unexpected.values()), f"read models that depend on the order: {unexpected}"
