"""Tables read a key at a time keep small granules (projections.migrations.POINT_READ_TABLES), on chDB and
on the 18.16 server; a store made before keeps its own until `touchstream rebuild` gives it them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from unit.test_read_models_oracle import dataset, truth_resolver

from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.projections.migrations import POINT_READ_GRANULE, POINT_READ_TABLES, engine_of
from touchstream.streams.embedded import run_until_caught_up
from touchstream.streams.rebuild import rebuild

SMALL = f"index_granularity = {POINT_READ_GRANULE}"


def engines(store: Any, tables: tuple[str, ...]) -> dict[str, str]:
    rows = store.query(
        "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() AND name IN %(t)s",
        {"t": tables},
    )
    return {str(name): str(engine) for name, engine in rows}


def test_every_point_read_table_is_created_with_small_granules_and_no_other_is() -> None:
    for table in POINT_READ_TABLES:
        assert SMALL in (engine_of(table) or ""), table
    for table in ("touchpoints", "dead_letters", "stage_probabilities"):
        assert "index_granularity" not in (engine_of(table) or "granules?"), table


@pytest.mark.parametrize("engine", ["chdb", "server"])
def test_a_migrated_store_has_the_small_granules(engine: str, tmp_path: Path, request: Any) -> None:
    if engine == "server":
        store = request.getfixturevalue("server_store")
        prepare_read_store(store)
        found = engines(store, POINT_READ_TABLES)
    else:
        with ChDBStore(str(tmp_path / "chdb")) as store:
            prepare_read_store(store)
            found = engines(store, POINT_READ_TABLES)
    assert set(found) == set(POINT_READ_TABLES)
    assert {t: SMALL in e for t, e in found.items()} == dict.fromkeys(POINT_READ_TABLES, True)


def test_rebuild_gives_a_table_made_before_the_setting_its_small_granules(tmp_path: Path) -> None:
    data = dataset()
    owners = data.truth.events
    with (
        SQLiteEventLog(tmp_path / "log.sqlite", partitions=3) as log,
        ChDBStore(str(tmp_path / "chdb")) as store,
    ):
        prepare_read_store(store)
        # customer_360 as a store migrated before the setting has it: the default granules.
        old_engine = "ENGINE = ReplacingMergeTree(version) ORDER BY contact_id"
        store.execute(f"CREATE TABLE c360_before AS customer_360 {old_engine}")
        store.execute("DROP TABLE customer_360")
        store.execute("RENAME TABLE c360_before TO customer_360")
        assert SMALL not in engines(store, ("customer_360",))["customer_360"]
        log.append([(owners[e["event_id"]][0].encode(), orjson.dumps(e)) for e in data.raw[:1_500]])
        run_until_caught_up(log, store, resolve=truth_resolver(data))
        rows = store.query("SELECT count() FROM customer_360 FINAL")
        rebuild(log, store, models=["customer_360"], resolve=truth_resolver(data))
        assert SMALL in engines(store, ("customer_360",))["customer_360"]
        assert store.query("SELECT count() FROM customer_360 FINAL") == rows != [(0,)]
