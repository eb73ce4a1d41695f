"""tests/unit/test_account_ranges.py on the ClickHouse 18.16 server: the same story (people merged,
anonymous callers' calls handed to their person) projected into a fresh server database, and each
account, read from the merge groups `account_members` names, is what the views over every contact
answer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from unit.test_account_ranges import (
    test_an_account_is_read_from_its_members_not_from_every_contact,
    test_every_account_is_what_the_views_over_every_contact_answer,
)
from unit.test_profile_document_ranges import load_merged_story

from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore
from touchstream.streams.ports import AbstractReadStore

pytestmark = pytest.mark.integration

__all__ = [
    "test_an_account_is_read_from_its_members_not_from_every_contact",
    "test_every_account_is_what_the_views_over_every_contact_answer",
]


@pytest.fixture(scope="module")
def store(
    clickhouse_endpoint: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AbstractReadStore]:
    host, port = clickhouse_endpoint
    folder = tmp_path_factory.mktemp("accounts_server")
    database = "t_accounts_" + uuid.uuid4().hex[:10]  # unique: other sessions may run this on the server
    with ClickHouseServerStore(host, port, database, create_database=True) as opened:
        try:
            load_merged_story(opened, folder)
            yield opened
        finally:
            opened.execute(f"DROP DATABASE IF EXISTS {database}")
