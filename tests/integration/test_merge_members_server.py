"""tests/unit/test_merge_members.py on the ClickHouse 18.16 server: the same SQL reads a merge group by
its survivor, and migration 20 fills `merge_members` from the merges written before it."""

from __future__ import annotations

from typing import Any

import pytest
from unit.test_merge_members import (
    migrated_with_old_merges,
    test_a_chain_is_read_from_any_of_its_members,
    test_members_moved_or_unmerged_since_are_dropped,
    test_the_document_never_reads_contact_merges_whole,
)

from touchstream.adapters.storage.migrate import migrate
from touchstream.streams.ports import AbstractReadStore

pytestmark = pytest.mark.integration

__all__ = [
    "test_a_chain_is_read_from_any_of_its_members",
    "test_members_moved_or_unmerged_since_are_dropped",
    "test_the_document_never_reads_contact_merges_whole",
]


@pytest.fixture
def store(server_store: Any) -> AbstractReadStore:
    migrate(server_store)
    return server_store  # type: ignore[no-any-return]


def test_merges_written_before_the_migration_are_found_after_it(server_store: Any) -> None:
    migrated_with_old_merges(server_store)
