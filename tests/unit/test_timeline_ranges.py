"""A customer's timeline reads its merge group's ranges of `contact_timeline` (migration 21), never all of
`touchpoints`: for every contact of a story, merged or not, page by page and filtered, it is exactly what
`touchpoints FINAL` answers; a fact handed again to another contact of the group shows once, as its latest
attribution."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from unit.test_profile_document_ranges import load_merged_story

from touchstream.adapters.api import queries as q
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.streams.ports import AbstractReadStore
from touchstream.streams.project import TIMELINE_COLUMNS, TIMELINE_TABLE
from touchstream.streams.steps import write_merges


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AbstractReadStore]:
    folder = tmp_path_factory.mktemp("timeline")
    with ChDBStore(str(folder / "chdb")) as opened:
        load_merged_story(opened, folder)
        yield opened


def from_facts(store: AbstractReadStore, contact_id: str, departments: tuple[str, ...] = ()) -> list[Any]:
    """The old read: every fact (`touchpoints FINAL`) filtered by the merge group, newest first."""
    survivor, ids = q.merge_group(store, contact_id)
    where = "contact_id IN %(ids)s" + (" AND department IN %(departments)s" if departments else "")
    columns, rows = store.query_with_columns(
        "SELECT occurred_at, department, type, source, summary, event_id, contact_id AS original_contact_id "
        f"FROM touchpoints FINAL WHERE {where} ORDER BY occurred_at DESC, event_id DESC",
        {"ids": tuple(ids), "departments": departments},
    )
    return [{"contact_id": survivor, **item} for item in q.as_dicts(columns, rows)]


def paged(store: AbstractReadStore, contact_id: str, departments: tuple[str, ...] = ()) -> list[Any]:
    items, cursor = q.timeline(store, contact_id, departments=departments, limit=7)
    while cursor is not None:
        more, cursor = q.timeline(store, contact_id, departments=departments, limit=7, cursor=cursor)
        items += more
    return items


def test_every_contacts_timeline_is_what_every_fact_answers(store: AbstractReadStore) -> None:
    contacts = [str(r[0]) for r in store.query("SELECT DISTINCT contact_id FROM touchpoints ORDER BY 1")]
    merged = {str(r[0]) for r in store.query("SELECT merged_id FROM contact_merges FINAL WHERE active = 1")}
    assert merged & set(contacts), "the story has merged contacts"
    shown = 0
    for contact in contacts:
        if not contact:
            continue
        expected = from_facts(store, contact)
        assert paged(store, contact) == expected, contact
        assert paged(store, contact, ("support",)) == from_facts(store, contact, ("support",)), contact
        shown += len(expected)
    assert shown > 500


def test_the_timeline_reads_no_fact_table_whole(store: AbstractReadStore) -> None:
    """With `touchpoints` empty, the timeline still has its facts: it reads its ranges."""
    contact = str(store.query("SELECT contact_id FROM touchpoints WHERE contact_id != '' LIMIT 1")[0][0])
    before = q.timeline(store, contact)
    assert before[0]
    store.execute("CREATE TABLE touchpoints_kept AS touchpoints")
    store.execute("INSERT INTO touchpoints_kept SELECT * FROM touchpoints")
    store.execute("TRUNCATE TABLE touchpoints")
    try:
        assert q.timeline(store, contact) == before
    finally:
        store.execute("INSERT INTO touchpoints SELECT * FROM touchpoints_kept")
        store.execute("DROP TABLE touchpoints_kept")


def test_a_fact_handed_again_within_the_group_shows_once_as_its_latest(
    store: AbstractReadStore,
) -> None:
    at = datetime(2030, 1, 1, 12, 0)
    row = {"occurred_at": at, "event_id": "call-1", "department": "support", "type": "ContactCenterCall"}
    first = {**row, "contact_id": "ANON", "source": "phone", "summary": "a call", "log_offset": 5}
    again = {**first, "contact_id": "PERSON", "log_offset": 5 + (1 << 48)}
    store.insert_rows(
        TIMELINE_TABLE, TIMELINE_COLUMNS, [tuple(r[c] for c in TIMELINE_COLUMNS) for r in (first, again)]
    )
    write_merges(store, [("ANON", "PERSON", 1, "anonymous_caller", 1)])
    items, cursor = q.timeline(store, "ANON")
    assert cursor is None
    assert [(i["contact_id"], i["original_contact_id"], i["event_id"]) for i in items] == [
        ("PERSON", "PERSON", "call-1")
    ]
