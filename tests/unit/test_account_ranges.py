"""The account view (GET /v1/accounts/{id}) reads the merge groups of the contacts `account_members`
(migration 22, ordered by account) names, with `account_360`'s and `customer_360_current`'s own SQL: for
every account of a story with people merged and anonymous callers handed to their person, it is exactly
what the views over every contact answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from unit.test_profile_document_ranges import load_merged_story

from touchstream.adapters.api import queries as q
from touchstream.adapters.api.queries import accounts
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.streams.ports import AbstractReadStore


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AbstractReadStore]:
    folder = tmp_path_factory.mktemp("accounts")
    with ChDBStore(str(folder / "chdb")) as opened:
        load_merged_story(opened, folder)
        yield opened


def test_every_account_is_what_the_views_over_every_contact_answer(store: AbstractReadStore) -> None:
    listed = [str(r[0]) for r in store.query("SELECT DISTINCT account_id FROM customer_360 ORDER BY 1")]
    merged = store.query("SELECT count() FROM contact_merges FINAL WHERE active = 1")[0][0]
    assert merged > 0, "the story has merged contacts"
    seen = 0
    for account_id in [*listed, "no-such-account"]:
        expected = accounts.account_view_from_views(store, account_id, 100)
        assert q.account_view(store, account_id) == expected, account_id
        seen += len(expected["contacts"]) if expected else 0
    assert seen > 30


def test_a_shorter_list_of_contacts_is_the_views_first_ones_in_their_order(store: AbstractReadStore) -> None:
    rows = store.query(
        "SELECT account_id, count() AS n FROM customer_360 WHERE account_id != '' "
        "GROUP BY account_id ORDER BY n DESC, account_id LIMIT 3"
    )
    assert int(rows[0][1]) >= 4, "an account with a few contacts to cut short"
    for account_id, count in rows:
        for limit in (1, 2, int(count) - 1):
            expected = accounts.account_view_from_views(store, str(account_id), limit)
            assert expected is not None
            assert len(expected["contacts"]) == limit
            assert q.account_view(store, str(account_id), contacts=limit) == expected, (account_id, limit)


def test_an_account_is_read_from_its_members_not_from_every_contact(store: AbstractReadStore) -> None:
    account_id = str(store.query("SELECT account_id FROM customer_360 WHERE account_id != '' LIMIT 1")[0][0])
    assert q.account_view(store, account_id) is not None
    kept = "account_members_kept"
    store.execute(f"CREATE TABLE {kept} AS account_members")
    store.execute(f"INSERT INTO {kept} SELECT * FROM account_members")
    store.execute("TRUNCATE TABLE account_members")
    try:
        assert q.account_view(store, account_id) is None
    finally:
        store.execute(f"INSERT INTO account_members SELECT * FROM {kept}")
        store.execute(f"DROP TABLE {kept}")


def test_an_account_with_more_contacts_than_a_query_can_list_reads_the_views(
    store: AbstractReadStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    account_id = str(
        store.query("SELECT account_id FROM account_members GROUP BY account_id HAVING count() > 1 LIMIT 1")[
            0
        ][0]
    )
    expected = q.account_view(store, account_id)
    read_from_views = views_read(monkeypatch)
    assert not read_from_views
    monkeypatch.setattr(accounts, "LISTED_CONTACTS", 1)
    assert q.account_view(store, account_id) == expected
    assert read_from_views == [account_id]


def views_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The accounts `account_view` reads from the views over every contact from now on."""
    read: list[str] = []
    from_views = accounts.account_view_from_views

    def recorded(store: AbstractReadStore, account_id: str, contacts: int) -> dict[str, Any] | None:
        read.append(account_id)
        return from_views(store, account_id, contacts)

    monkeypatch.setattr(accounts, "account_view_from_views", recorded)
    return read


def test_an_account_of_as_many_contacts_as_a_query_lists_is_read_in_one(
    store: AbstractReadStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ids fit the query text (`max_query_size`) at the bound, as uuids."""
    count = accounts.LISTED_CONTACTS
    store.execute(
        "INSERT INTO customer_360 (contact_id, account_id, version, lifecycle_stage, touches) "
        f"SELECT toString(generateUUIDv4()), 'big-account', 1, 'lead', 1 FROM numbers({count})"
    )
    store.execute(
        "INSERT INTO account_members (account_id, contact_id, version) "
        "SELECT account_id, contact_id, version FROM customer_360 WHERE account_id = 'big-account'"
    )
    read_from_views = views_read(monkeypatch)
    found = q.account_view(store, "big-account", contacts=count)
    assert not read_from_views  # read from its members, in one query each
    assert found is not None
    assert found["rollup"]["contacts"] == count
    assert len(found["contacts"]) == count
    assert found == accounts.account_view_from_views(store, "big-account", count)
