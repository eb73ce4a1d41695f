"""tests/unit/test_timeline_ranges.py and tests/unit/test_account_ranges.py on the ClickHouse 18.16 server:
the same story (people merged, anonymous callers' calls handed to their person) projected into a fresh
server database; each contact's timeline, read from `contact_timeline`, is what `touchpoints FINAL`
answers, and each account, read from the merge groups `account_members` names, what the views over every
contact answer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from unit.test_account_ranges import (
    test_a_shorter_list_of_contacts_is_the_views_first_ones_in_their_order,
    test_an_account_is_read_from_its_members_not_from_every_contact,
    test_an_account_of_as_many_contacts_as_a_query_lists_is_read_in_one,
    test_every_account_is_what_the_views_over_every_contact_answer,
)
from unit.test_profile_document_ranges import load_merged_story
from unit.test_timeline_ranges import (
    test_a_fact_handed_again_within_the_group_shows_once_as_its_latest,
    test_every_contacts_timeline_is_what_every_fact_answers,
    test_the_timeline_reads_no_fact_table_whole,
)

from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore
from touchstream.streams.ports import AbstractReadStore

pytestmark = pytest.mark.integration

__all__ = [
    "test_a_fact_handed_again_within_the_group_shows_once_as_its_latest",
    "test_a_shorter_list_of_contacts_is_the_views_first_ones_in_their_order",
    "test_an_account_is_read_from_its_members_not_from_every_contact",
    "test_an_account_of_as_many_contacts_as_a_query_lists_is_read_in_one",
    "test_every_account_is_what_the_views_over_every_contact_answer",
    "test_every_contacts_timeline_is_what_every_fact_answers",
    "test_the_timeline_reads_no_fact_table_whole",
]


@pytest.fixture(scope="module")
def store(
    clickhouse_endpoint: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AbstractReadStore]:
    host, port = clickhouse_endpoint
    folder = tmp_path_factory.mktemp("ranges_server")
    database = "t_ranges_" + uuid.uuid4().hex[:10]  # unique: other sessions may run this on the server
    with ClickHouseServerStore(host, port, database, create_database=True) as opened:
        try:
            load_merged_story(opened, folder)
            yield opened
        finally:
            opened.execute(f"DROP DATABASE IF EXISTS {database}")
