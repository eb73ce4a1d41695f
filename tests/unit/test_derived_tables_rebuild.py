"""A database that had data before `contact_lookup`, `work_facts`, `contact_items`, `contact_timeline` and
`account_members` existed fills them with one `touchstream rebuild`: the rebuild writes them in place, with
the rows the projection writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from unit.test_api_fixtures import load_story, story_config

from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.streams.embedded import stand_in_resolver
from touchstream.streams.rebuild import rebuild

DERIVED = ("contact_lookup", "work_facts", "contact_items", "contact_timeline", "account_members")


def test_a_rebuild_fills_the_derived_tables_as_the_projection_did(tmp_path: Path) -> None:
    with ChDBStore(str(tmp_path / "chdb")) as store:
        story = load_story(store, tmp_path, story_config(customers=40, accounts=8, seed=3))
        written = {t: sorted(store.query(f"SELECT DISTINCT * FROM {t} FINAL")) for t in DERIVED}
        assert all(written.values())
        for table in DERIVED:
            store.execute(f"TRUNCATE TABLE {table}")
        with SQLiteEventLog(story.raw_log, partitions=3) as log:
            rebuild(log, store, resolve=stand_in_resolver)
        for table in DERIVED:
            assert sorted(store.query(f"SELECT DISTINCT * FROM {table} FINAL")) == written[table], table


@pytest.mark.parametrize("model", ["touchpoints", "customer_360"])
def test_a_rebuild_of_one_model_writes_no_shadow_of_them(tmp_path: Path, model: str) -> None:
    with ChDBStore(str(tmp_path / "chdb")) as store:
        story = load_story(store, tmp_path, story_config(customers=20, accounts=4, seed=4))
        with SQLiteEventLog(story.raw_log, partitions=3) as log:
            rebuild(log, store, models=[model], resolve=stand_in_resolver)
        names = {
            str(r[0])
            for r in store.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
        }
        assert not {f"{t}__rebuild" for t in DERIVED} & names
