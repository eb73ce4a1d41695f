"""Accounts carry name, domain, industry and owner with their source and time; a contact keeps every email
and phone it was seen with, found after a merge and after an unmerge; a caller who asked to buy is routed to
the account's owner (chDB)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from unit.test_service_holds import World

from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.projections.config import DEFAULT_CONFIG
from touchstream.streams.steps import write_merges

USD = {"amount": "1000.00", "currency": "USD"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with ChDBStore(str(tmp_path / "chdb")) as store:
        prepare_read_store(store, DEFAULT_CONFIG)
        yield World(store, DEFAULT_CONFIG)


def test_an_account_carries_name_domain_and_owner_with_their_source(world: World) -> None:
    world.add(
        "FormSubmitted", 1, "ANN", "ACME", {"form_id": "f", "page_url": "https://x.io", "company": "Acme"}
    )
    world.add("ContactDetailsObserved", 3, "BOB", "ACME", {"company": "Acme Widgets Inc"})
    world.add(
        "OpportunityCreated",
        4,
        "BOB",
        "ACME",
        {
            "opportunity_id": "O1",
            "name": "Acme - Growth",
            "amount": USD,
            "owner": "Sam Rep",
            "industry": "Manufacturing",
        },
    )
    rows = world.store.query(
        "SELECT account_id, company, company_source, company_at, domain, owner, owner_at, industry, contacts "
        "FROM accounts"
    )
    assert rows == [
        (
            "ACME",
            "Acme Widgets Inc",  # the latest stated name wins
            "zendesk",
            datetime(2026, 3, 3, 10),
            "",
            "Sam Rep",
            datetime(2026, 3, 4, 10),
            "Manufacturing",  # the CRM's, on the deal
            2,
        )
    ]


def test_every_identifier_a_contact_held_survives_a_merge_and_an_unmerge(world: World) -> None:
    world.add("EmailOpened", 1, "ANN", "", {"campaign_id": "c", "message_id": "m"})  # ann@example.com
    world.add("EmailOpened", 2, "DAN", "", {"campaign_id": "c", "message_id": "m"})  # dan@example.com
    write_merges(world.store, [("ANN", "DAN", 1, "same person", 1)])
    found = (
        "SELECT contact_id, original_contact_id, first_source, first_seen FROM contact_identifiers "
        "WHERE email = %(v)s"
    )
    # Found by the work email Ann had before the merge: the survivor, with where the value came from.
    assert world.store.query(found, {"v": "ann@example.com"}) == [
        ("DAN", "ANN", "zendesk", datetime(2026, 3, 1, 10))
    ]
    assert world.store.query(
        "SELECT email FROM contact_identifiers WHERE contact_id = 'DAN' AND kind = 'email' ORDER BY email"
    ) == [("ann@example.com",), ("dan@example.com",)]
    write_merges(world.store, [("ANN", "", 0, "same person", 2)])
    assert world.store.query(found, {"v": "ann@example.com"}) == [
        ("ANN", "ANN", "zendesk", datetime(2026, 3, 1, 10))
    ]


def test_an_erased_contact_keeps_no_identifiers(world: World) -> None:
    world.add("EmailOpened", 1, "ANN", "", {"campaign_id": "c", "message_id": "m"})
    assert world.store.query("SELECT count() FROM contact_identifiers") == [(1,)]
    world.add("ErasureRequested", 2, "ANN", "", {"request_id": "r1"})
    assert world.store.query("SELECT count() FROM contact_identifiers") == [(0,)]


def test_a_caller_who_asked_to_buy_is_routed_to_the_accounts_owner(world: World) -> None:
    world.add(
        "OpportunityCreated",
        1,
        "BOB",
        "ACME",
        {
            "opportunity_id": "O1",
            "name": "Acme - Growth",
            "amount": USD,
            "owner": "Sam Rep",
            "industry": "Manufacturing",
        },
    )
    call = {
        "call_id": "cc1",
        "intent": "purchase_inquiry",
        "disposition": "transferred",
        "duration_seconds": 300,
        "caller_role": "decision_maker",
        "stated_company": "Acme",
    }
    # active_signals (under caller_leads) shows what has not expired by the clock: a call of today.
    world.add_at("ContactCenterCall", datetime.now(UTC).isoformat(), "CAL", "ACME", call)
    assert world.store.query("SELECT contact_id, company, routed_to, reason FROM caller_leads") == [
        (
            "CAL",
            "Acme",
            "Sam Rep",
            "a non-customer called with buying intent (company: Acme, role: decision_maker)",
        )
    ]


def test_each_attribute_says_where_and_when_it_was_observed_and_merges_keep_both(world: World) -> None:
    world.add("ContactDetailsObserved", 1, "ANN", "ACME", {"first_name": "Ann", "job_title": "CTO"})
    world.add("ContactDetailsObserved", 5, "DAN", "ACME", {"job_title": "VP Engineering"})
    write_merges(world.store, [("ANN", "DAN", 1, "same person", 1)])
    rows = world.store.query(
        "SELECT original_contact_id, attribute, source, observed_at FROM attribute_provenance "
        "WHERE contact_id = 'DAN' AND attribute IN ('first_name', 'job_title') "
        "ORDER BY attribute, observed_at"
    )
    assert rows == [
        ("ANN", "first_name", "zendesk", datetime(2026, 3, 1, 10)),
        ("ANN", "job_title", "zendesk", datetime(2026, 3, 1, 10)),
        ("DAN", "job_title", "zendesk", datetime(2026, 3, 5, 10)),
    ]
    # The 360 view takes the freshest: Dan's job title, observed later.
    assert world.store.query("SELECT job_title FROM customer_360_current WHERE contact_id = 'DAN'") == [
        ("VP Engineering",)
    ]
