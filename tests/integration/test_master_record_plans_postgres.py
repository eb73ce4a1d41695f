"""The master record's batch reads on PostgreSQL use the primary keys whatever the planner knows.

A worker fills its tables faster than autovacuum analyzes them, and a table never analyzed has no
statistics: `WHERE originator_id = ANY(<2,000 ids>)` was then planned as a sequential scan of the whole
table (and took ~4 ms to plan). Each read a batch makes for many ids (the aggregates read ahead, the
versions of the ones kept from earlier batches, the linker's entries) must look its ids up one by one
in the index, so its cost follows the batch, not the table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from event_examples import identity_event as event

from touchstream.adapters.master_record.application import MasterRecord, _project
from touchstream.adapters.master_record.bulk_read import read_many
from touchstream.adapters.master_record.link_cache import TABLE as LINK_TABLE
from touchstream.adapters.master_record.sql_store import sql_store
from touchstream.streams.resolve import ResolveStage

pytestmark = [pytest.mark.integration]

PEOPLE = 2_500
Scans = dict[str, tuple[int, int]]  # table -> (sequential scans, index scans)


def _table_stats(url: str, columns: str, tables: list[str]) -> list[tuple[Any, ...]]:
    """`columns` of `pg_stat_user_tables` for each of `tables` (by name), as they stand now."""
    with psycopg.connect(url, autocommit=True) as conn:
        query = f"SELECT relname, {columns} FROM pg_stat_user_tables WHERE relname = ANY(%s)"
        return conn.execute(query, [tables]).fetchall()


def _scans(url: str, tables: list[str]) -> Scans:
    """(sequential scans, index scans) of each table, as the statistics hold them now."""
    rows = _table_stats(url, "seq_scan, coalesce(idx_scan, 0)", tables)
    return {name: (int(seq), int(idx)) for name, seq, idx in rows}


def _settled(url: str, tables: list[str], moved: Callable[[Scans], bool]) -> Scans:
    """The counters once `moved` says the closed connections' statistics arrived (a backend reports its
    own when it exits, a moment after the client closed it)."""
    deadline = time.monotonic() + 20
    while True:
        scans = _scans(url, tables)
        if moved(scans) or time.monotonic() > deadline:
            return scans
        time.sleep(0.2)


def _filled(url: str) -> tuple[list[UUID], list[str]]:
    """A master record of PEOPLE new people whose tables were never analyzed; every aggregate's id, and
    the tables' names."""
    app = MasterRecord.from_url(url)
    try:
        store = sql_store(app)
        assert store is not None
        assert store.dialect == "postgres"
        tables = [store.events_table.rpartition(".")[2], LINK_TABLE]
        with psycopg.connect(url, autocommit=True) as conn:
            for table in tables:  # no statistics, as a table filled faster than autovacuum analyzes
                conn.execute(f"ALTER TABLE {store.table(table)} SET (autovacuum_enabled = false)")
        stage = ResolveStage(app)
        people = [
            event({"email": f"person{n}@company{n // 10}.com", "external_ids": {"crm": str(n)}}, day=n / 1000)
            for n in range(PEOPLE)
        ]
        for start in range(0, PEOPLE, 500):
            stage.process_batch([(e, None, None) for e in people[start : start + 500]])
        notes = app.recorder.select_notifications(1, 100_000)
        ids = list(dict.fromkeys(UUID(str(n.originator_id)) for n in notes))
    finally:
        app.close()
    analyzed = _table_stats(url, "coalesce(last_analyze, last_autoanalyze)", tables)
    assert len(analyzed) == len(tables)
    assert all(at is None for _, at in analyzed), "analyzed: this test would not show what it means to"
    return ids, tables


@pytest.mark.timeout(180)
def test_a_batch_reads_thousands_of_aggregates_by_index_from_tables_never_analyzed(pg_url: str) -> None:
    ids, tables = _filled(pg_url)
    assert len(ids) > 6_000
    wanted = ids[::3][:2_000]  # aggregates of every kind, as a batch's read-ahead asks for them
    before = _settled(pg_url, tables, lambda scans: len(scans) == len(tables))
    app = MasterRecord.from_url(pg_url)
    try:
        found = read_many(app, wanted, _project)
        assert set(found) == set(wanted)
        # A batch of new people: their identifiers' claims are looked for and not there.
        assert read_many(app, [uuid4() for _ in range(200)], _project) == {}
        assert set(read_many(app, wanted[:200], _project)) == set(wanted[:200])
        versions = app.kept._versions(wanted)
        assert versions == {i: found[i].version for i in wanted}
        app.kept.keep(found.values())
        assert set(app.kept.take(wanted)) == set(wanted)  # still current: the versions read agree
        contacts = [i for i in wanted if type(found[i]).__name__ == "Contact"]
        assert contacts
        assert set(app.link_cache.fresh(contacts)) == set(contacts)
        assert app.link_cache.fresh([uuid4() for _ in range(200)]) == {}
    finally:
        app.close()
    events, links = tables
    after = _settled(
        pg_url, tables, lambda s: s[events][1] > before[events][1] and s[links][1] > before[links][1]
    )
    for table in tables:
        assert after[table][1] > before[table][1], f"{table}: the reads' statistics never arrived"
        assert after[table][0] == before[table][0], (
            f"{table}: {after[table][0] - before[table][0]} sequential scan(s) for a batch's reads"
        )
