"""A full rebuild from offset 0 gives the same answers as incremental processing of the same log."""

from __future__ import annotations

from pathlib import Path

import orjson
from unit.test_read_models_oracle import QUERIES, dataset, truth_resolver

from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.projections.merges import MergeMap
from touchstream.streams.embedded import run_until_caught_up
from touchstream.streams.rebuild import rebuild
from touchstream.streams.steps import write_merges

STABLE = QUERIES


def snapshot(store: ChDBStore) -> dict[str, object]:
    return {name: store.query_with_columns(sql) for name, sql in STABLE.items()}


def test_incremental_and_rebuilt_read_models_answer_the_same(tmp_path: Path) -> None:
    data = dataset()
    owners = data.truth.events
    records = [(owners[e["event_id"]][0].encode(), orjson.dumps(e)) for e in data.raw[:4_000]]
    resolve = truth_resolver(data)
    with (
        SQLiteEventLog(tmp_path / "log.sqlite", partitions=3) as log,
        ChDBStore(str(tmp_path / "chdb")) as store,
    ):
        prepare_read_store(store)
        # Incremental: the log grows in five appends, the runner catches up after each, in small batches.
        step = len(records) // 5 + 1
        for start in range(0, len(records), step):
            log.append(records[start : start + step])
            run_until_caught_up(log, store, resolve=resolve, batch_size=700)
        incremental = snapshot(store)
        result = rebuild(log, store, resolve=resolve, batch_size=3_000)
        assert result.stats.records == len(records)
        assert set(result.tables) == {
            "touchpoints",
            "dead_letters",
            "customer_360",
            "signals",
            "projection_state",
        }
        assert snapshot(store) == incremental
        # No shadow or old table is left behind.
        leftovers = (
            "SELECT count() FROM system.tables WHERE database = currentDatabase() "
            "AND (endsWith(name, '__rebuild') OR endsWith(name, '__old'))"
        )
        assert store.query(leftovers) == [(0,)]
        # The live runner keeps going on the swapped-in tables.
        assert run_until_caught_up(log, store, resolve=resolve).records == 0


def test_rebuild_of_one_model_leaves_the_others_alone(tmp_path: Path) -> None:
    data = dataset()
    owners = data.truth.events
    with (
        SQLiteEventLog(tmp_path / "log.sqlite", partitions=3) as log,
        ChDBStore(str(tmp_path / "chdb")) as store,
    ):
        prepare_read_store(store)
        log.append([(owners[e["event_id"]][0].encode(), orjson.dumps(e)) for e in data.raw[:2_000]])
        run_until_caught_up(log, store, resolve=truth_resolver(data))
        before = snapshot(store)
        store.execute("TRUNCATE TABLE customer_360")  # damage one model
        rebuild(log, store, models=["customer_360"], resolve=truth_resolver(data))
        assert snapshot(store) == before


def test_merges_repoint_history_to_the_survivor(tmp_path: Path) -> None:
    data = dataset()
    owners = data.truth.events
    with (
        SQLiteEventLog(tmp_path / "log.sqlite", partitions=3) as log,
        ChDBStore(str(tmp_path / "chdb")) as store,
    ):
        prepare_read_store(store)
        log.append([(owners[e["event_id"]][0].encode(), orjson.dumps(e)) for e in data.raw[:3_000]])
        run_until_caught_up(log, store, resolve=truth_resolver(data))
        counts = dict(store.query("SELECT contact_id, count() FROM timeline GROUP BY contact_id"))
        a, b, c = sorted(counts)[:3]
        merges = MergeMap()
        write_merges(store, merges.merged(a, b, 1, "same email"))
        # b is merged on into c: a's history follows to c (the map flattens the chain for SQL's one hop).
        write_merges(store, merges.merged(b, c, 2, "same phone"))
        merged = dict(store.query("SELECT contact_id, count() FROM timeline GROUP BY contact_id"))
        assert merged[c] == counts[a] + counts[b] + counts[c]
        assert a not in merged
        assert b not in merged
        profile = store.query(
            "SELECT touches, merged_contacts FROM customer_360_current WHERE contact_id = %(c)s", {"c": c}
        )
        assert profile == [(counts[a] + counts[b] + counts[c], 2)]
        # Undone: b stands alone again, and a (merged into b) goes back under b.
        write_merges(store, merges.unmerged(b, 3))
        undone = dict(store.query("SELECT contact_id, count() FROM timeline GROUP BY contact_id"))
        assert undone[b] == counts[a] + counts[b]
        assert undone[c] == counts[c]
