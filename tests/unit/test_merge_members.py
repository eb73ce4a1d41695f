"""A merge group is read by its survivor (`merge_members`, migration 20), never by a scan of
`contact_merges`; members re-pointed or unmerged since are dropped; merges written before the migration
are found after it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from touchstream.adapters.api import queries as q
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import migrate
from touchstream.projections.merges import MERGE_COLUMNS, MergeMap
from touchstream.projections.migrations import MIGRATIONS
from touchstream.streams.ports import AbstractReadStore
from touchstream.streams.steps import write_merges


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AbstractReadStore]:
    with ChDBStore(str(tmp_path / "chdb")) as opened:
        migrate(opened)
        yield opened


def group(store: ChDBStore, contact_id: str) -> tuple[str, list[str]]:
    found = q.merge_group_of(store, contact_id)
    return found.survivor, found.ids


def test_a_chain_is_read_from_any_of_its_members(store: AbstractReadStore) -> None:
    merges = MergeMap()
    write_merges(store, merges.merged("A", "B", 1, "same email"))
    write_merges(store, merges.merged("B", "C", 2, "same phone"))  # A is re-pointed to C
    write_merges(store, merges.merged("X", "Y", 3, "elsewhere"))
    for member in ("A", "B", "C"):
        assert group(store, member) == ("C", ["A", "B", "C"])
    assert group(store, "Y") == ("Y", ["X", "Y"])
    assert group(store, "Z") == ("Z", ["Z"])


def test_members_moved_or_unmerged_since_are_dropped(store: AbstractReadStore) -> None:
    merges = MergeMap()
    write_merges(store, merges.merged("A", "B", 1, "same email"))
    write_merges(store, merges.merged("B", "C", 2, "same phone"))
    # merge_members still lists A under B: the row was right once. B is C's now, and so is A.
    listed = store.query("SELECT merged_id FROM merge_members WHERE survivor_id = 'B'")
    assert [str(r[0]) for r in listed] == ["A"]
    write_merges(store, merges.unmerged("B", 3))  # B stands alone again, and A follows it back
    assert group(store, "C") == ("C", ["C"])
    assert group(store, "A") == ("B", ["A", "B"])
    write_merges(store, merges.unmerged("A", 4))
    assert group(store, "B") == ("B", ["B"])


def test_the_document_never_reads_contact_merges_whole(store: AbstractReadStore) -> None:
    """With the merges by survivor gone, the survivor's group is only itself: it was read from there."""
    write_merges(store, MergeMap().merged("A", "B", 1, "same email"))
    assert group(store, "B") == ("B", ["A", "B"])
    store.execute("TRUNCATE TABLE merge_members")
    assert group(store, "B") == ("B", ["B"])
    assert group(store, "A") == ("B", ["A", "B"])  # a merged id still finds its row by its own key


def test_merges_written_before_the_migration_are_found_after_it(tmp_path: Path) -> None:
    with ChDBStore(str(tmp_path / "chdb")) as store:
        migrated_with_old_merges(store)


def migrated_with_old_merges(store: AbstractReadStore) -> None:
    """Merges written before migration 20 (no `merge_members` yet), then the migration, twice."""
    migrate(store, [m for m in MIGRATIONS if m.version < 20])
    merges = MergeMap()
    rows = [*merges.merged("A", "B", 1, "same email"), *merges.merged("B", "C", 2, "same phone")]
    store.insert_rows("contact_merges", MERGE_COLUMNS, rows)  # as a writer before migration 20 did
    assert 20 in [m.version for m in migrate(store)]
    assert group(store, "C") == ("C", ["A", "B", "C"])
    (twentieth,) = (m for m in MIGRATIONS if m.version == 20)
    for statement in twentieth.statements:  # a run interrupted after its statements applies them again
        store.execute(statement)
    assert group(store, "C") == ("C", ["A", "B", "C"])
    assert group(store, "A") == ("C", ["A", "B", "C"])
