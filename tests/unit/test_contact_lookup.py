"""Finding a customer through `contact_lookup` (identifier -> contact ids, ordered by the identifier): the
answers are those of a scan of the current rows, an identifier follows a merge to its survivor and back on
an unmerge, and an erased contact keeps no identifier there."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from unit.test_api_fixtures import EXTERNAL_ID, load_story, story_config

from touchstream.adapters.api import queries as q
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.streams.forgetting import forget_contacts
from touchstream.streams.ports import AbstractReadStore
from touchstream.streams.steps import write_merges


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AbstractReadStore]:
    folder = tmp_path_factory.mktemp("lookup")
    with ChDBStore(str(folder / "chdb")) as opened:
        load_story(opened, folder, story_config(customers=60, accounts=10, seed=5))
        yield opened


def scanned(store: AbstractReadStore, column: str, value: str) -> set[str]:
    """The old answer: every current, non-erased row carrying the value, merged ids on their survivor."""
    rows = store.query(
        f"SELECT contact_id FROM customer_360 FINAL WHERE erased = 0 AND {column} = %(v)s", {"v": value}
    )
    return set(q.survivors(store, sorted({str(r[0]) for r in rows})).values())


def found(store: AbstractReadStore, text: str, kind: str) -> set[str]:
    """The exact matches (score 1.0; a partial email scores less)."""
    return {m.contact_id for m in q.find_customers(store, text, kind, limit=1_000) if m.score == 1.0}


def current(store: AbstractReadStore) -> list[tuple[str, str, str]]:
    rows = store.query("SELECT contact_id, email, phone FROM customer_360 FINAL WHERE erased = 0")
    return [(str(c), str(e), str(p)) for c, e, p in rows]


def merge(store: AbstractReadStore, merged: str, survivor: str, active: int, version: int) -> None:
    write_merges(store, [(merged, survivor, active, "test", version)])


def test_the_lookup_is_ordered_by_the_identifier_and_fed_by_the_projection(store: AbstractReadStore) -> None:
    key = store.query("SELECT sorting_key FROM system.tables WHERE name = 'contact_lookup'")
    assert key
    assert str(key[0][0]).replace(" ", "").startswith("identifier")
    kinds = dict(
        store.query(
            "SELECT substring(identifier, 1, position(identifier, ':') - 1) AS k, count() FROM "
            "contact_lookup GROUP BY k"
        )
    )
    assert kinds.get("email", 0) > 0
    assert kinds.get("phone", 0) > 0
    assert kinds.get("ext", 0) > 0


def test_every_email_and_phone_answers_as_the_scan_did(store: AbstractReadStore) -> None:
    rows = current(store)
    assert len(rows) > 30
    for _, email, phone in rows:
        if email:
            assert found(store, email, "email") == scanned(store, "email", email), email
        if phone:
            assert found(store, phone, "phone") == scanned(store, "phone", phone), phone


def test_an_identifier_the_lookup_does_not_hold_is_not_found_by_scanning(store: AbstractReadStore) -> None:
    """The search reads the lookup: an email whose lookup rows are gone is no exact match (nothing scans
    for it; only the partial-email fallback still offers it, below 1.0)."""
    contact, email, _ = next(r for r in current(store) if r[1])
    assert contact in found(store, email, "email")
    store.execute("ALTER TABLE contact_lookup DELETE WHERE identifier = %(i)s", {"i": f"email:{email}"})
    store.wait_for_mutations("contact_lookup", timeout=60.0)
    try:
        assert found(store, email, "email") == set()
    finally:
        store.insert_rows(
            "contact_lookup", ("identifier", "contact_id", "version"), [(f"email:{email}", contact, 0)]
        )
    assert contact in found(store, email, "email")


def test_an_identifier_moves_with_a_merge_and_back_on_an_unmerge(store: AbstractReadStore) -> None:
    rows = [r for r in current(store) if r[1] and r[2]]
    (loser, email, phone), (survivor, _, _) = rows[0], rows[1]
    merge(store, loser, survivor, 1, 1)
    assert found(store, email, "email") == {survivor}
    assert survivor in found(store, phone, "phone")
    merge(store, loser, survivor, 0, 2)
    assert found(store, email, "email") == {loser}
    assert loser in found(store, phone, "phone")


def test_an_external_id_is_found_through_the_lookup(store: AbstractReadStore) -> None:
    system, ident = EXTERNAL_ID
    owners = store.query(
        "SELECT DISTINCT contact_id FROM touchpoints FINAL WHERE identifier = %(i)s",
        {"i": f"ext:{system}:{ident}"},
    )
    assert len(owners) == 1
    assert found(store, f"{system}:{ident}", "external_id") == {owners[0][0]}
    assert found(store, ident, "external_id") == {owners[0][0]}


def test_an_erased_contact_keeps_no_identifier(store: AbstractReadStore) -> None:
    contact, email, _ = next(r for r in current(store) if r[1] and r[2])
    tombstone: dict[str, Any] = {"contact_id": contact, "version": 10**12, "erased": 1}
    store.insert_rows("customer_360", tuple(tombstone), [tuple(tombstone.values())])
    report = forget_contacts(store, [contact])
    assert report.rows("contact_lookup") > 0
    left = store.query("SELECT identifier FROM contact_lookup WHERE contact_id = %(c)s", {"c": contact})
    assert left == []
    others = {c for c, e, _ in current(store) if e == email and c != contact}
    holders = store.query(
        "SELECT DISTINCT contact_id FROM contact_lookup WHERE identifier = %(i)s", {"i": f"email:{email}"}
    )
    assert {str(r[0]) for r in holders} <= others
    assert contact not in found(store, email, "email")
