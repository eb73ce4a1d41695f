"""Account-level service holds from the facts (chDB): a P1 ticket of one contact holds upsell on every open
opportunity of the account (or only the contact's, by config), and a ticket resolved under a contact id that
was merged away lifts the hold — in `service_holds`, `upsell_holds` and `active_signals` alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from event_examples import wire_event

from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.events import ResolvedTouchpoint, parse_event
from touchstream.projections.config import DEFAULT_CONFIG, ProjectionConfig
from touchstream.projections.merges import MergeMap
from touchstream.projections.state import ContactState
from touchstream.streams.project import project_batch, write_batch
from touchstream.streams.steps import account_signals, write_merges

USD = {"amount": "1000.00", "currency": "USD"}


class World:
    def __init__(self, store: ChDBStore, config: ProjectionConfig) -> None:
        self.store, self.config = store, config
        self.states: dict[str, ContactState] = {}
        self.offset = 0
        self.ids: list[str] = []

    def add(self, type_name: str, day: int, contact: str, account: str, payload: dict[str, Any]) -> str:
        return self.add_at(type_name, f"2026-03-{day:02d}T10:00:00Z", contact, account, payload)

    def add_at(self, type_name: str, at: str, contact: str, account: str, payload: dict[str, Any]) -> str:
        event_id = str(uuid.uuid4())
        wire = wire_event(
            type_name,
            2 if type_name == "OpportunityCreated" else 1,
            event_id=event_id,
            occurred_at=at,
            recorded_at=at,
            source="zendesk",
            identifiers={"email": f"{contact.lower()}@example.com"},
            payload=payload,
        )
        resolved = ResolvedTouchpoint(parse_event(wire, now=None), contact, account)
        write_batch(self.store, project_batch([(resolved, 0, self.offset)], self.states, self.config))
        self.offset += 1
        return event_id

    def merge(self, merged: str, survivor: str) -> None:
        write_merges(self.store, MergeMap().merged(merged, survivor, 1, "test"))


def story(tmp_path: Path, config: ProjectionConfig) -> Iterator[tuple[World, dict[str, str]]]:
    with ChDBStore(str(tmp_path / "chdb")) as store:
        prepare_read_store(store, config)
        world = World(store, config)
        opened = {"ticket_id": "T1", "subject": "Down", "priority": "P1", "channel": "phone"}
        ids = {
            "opened": world.add("TicketOpened", 1, "ANN", "ACME", opened),
            "deal": world.add(
                "OpportunityCreated",
                2,
                "BOB",
                "ACME",
                {"opportunity_id": "O-ACME", "name": "n", "amount": USD},
            ),
            "other": world.add(
                "OpportunityCreated",
                2,
                "CAT",
                "OTHER",
                {"opportunity_id": "O-OTHER", "name": "n", "amount": USD},
            ),
        }
        yield world, ids


@pytest.fixture
def acme(tmp_path: Path) -> Iterator[tuple[World, dict[str, str]]]:
    yield from story(tmp_path, DEFAULT_CONFIG)


def held(store: ChDBStore) -> list[tuple[Any, ...]]:
    return store.query(
        "SELECT opportunity_id, hold_scope, held, reasons, hold_evidence FROM upsell_holds "
        "ORDER BY opportunity_id"
    )


def test_a_p1_ticket_of_one_contact_holds_upsell_on_the_whole_account(
    acme: tuple[World, dict[str, str]],
) -> None:
    world, ids = acme
    assert held(world.store) == [
        ("O-ACME", "account", 1, ["P1 ticket T1 open"], [ids["opened"]]),
        ("O-OTHER", "account", 0, [], []),
    ]
    assert world.store.query("SELECT account_id, contacts_held, reasons FROM account_service_holds") == [
        ("ACME", 1, ["P1 ticket T1 open"])
    ]
    assert world.store.query("SELECT contact_id FROM active_signals WHERE kind = 'service_hold'") == [
        ("ANN",)
    ]


def test_a_contact_scope_holds_only_the_contacts_own_deals(tmp_path: Path) -> None:
    config = ProjectionConfig(hold_scope="contact")
    for world, _ in story(tmp_path, config):
        assert [row[:3] for row in held(world.store)] == [("O-ACME", "contact", 0), ("O-OTHER", "contact", 0)]
        world.add(
            "OpportunityCreated", 3, "ANN", "ACME", {"opportunity_id": "O-ANN", "name": "n", "amount": USD}
        )
        assert held(world.store)[0][:3] == ("O-ACME", "contact", 0)
        assert world.store.query("SELECT held FROM upsell_holds WHERE opportunity_id = 'O-ANN'") == [(1,)]


def test_a_bad_hold_scope_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="hold_scope: give 'account' or 'contact'"):
        ProjectionConfig(hold_scope="company")


def test_a_ticket_resolved_under_a_merged_away_contact_id_lifts_the_hold(
    acme: tuple[World, dict[str, str]],
) -> None:
    world, ids = acme
    store = world.store
    world.merge("ANN", "DAN")  # the master record merged Ann into Dan; the resolution arrives for Dan
    resolved = world.add("TicketResolved", 4, "DAN", "ACME", {"ticket_id": "T1"})
    # Ann's own state never saw the resolution: her service_hold signal row is still raised, until 2100.
    assert store.query(
        "SELECT count() FROM signals FINAL "
        "WHERE contact_id = 'ANN' AND kind = 'service_hold' AND status = 'raised'"
    ) == [(1,)]
    # Cooling down (3 days) on the survivor, then lifted as of the newest event.
    assert store.query("SELECT contact_id, detail, active FROM service_holds") == [
        ("DAN", "P1 ticket T1 resolved", 1)
    ]
    assert store.query("SELECT count() FROM account_holds_lifted") == [(0,)]  # still cooling down
    world.add("EmailOpened", 8, "CAT", "OTHER", {"campaign_id": "c", "message_id": "m"})
    assert store.query("SELECT contact_id, evidence, active FROM service_holds") == [
        ("DAN", [ids["opened"], resolved], 0)
    ]
    assert store.query("SELECT count() FROM account_service_holds") == [(0,)]
    # Sales hears the account's hold lifted: at the end of the cool-down, with the resolution as evidence.
    assert store.query(
        "SELECT account_id, lifted_at, last_cause, hold_evidence FROM account_holds_lifted"
    ) == [("ACME", datetime(2026, 3, 7, 10), "P1 ticket T1 resolved", [ids["opened"], resolved])]
    assert [row[:3] for row in held(store)] == [("O-ACME", "account", 0), ("O-OTHER", "account", 0)]
    assert store.query("SELECT count() FROM active_signals WHERE kind = 'service_hold'") == [(0,)]
    # Unmerged: Ann stands alone again, and her ticket is still the resolved one.
    write_merges(store, [("ANN", "", 0, "test", 2)])
    assert store.query("SELECT count() FROM active_signals WHERE kind = 'service_hold'") == [(0,)]


def test_an_accounts_lifted_hold_is_raised_once_on_signals_sales_and_cleared_by_a_new_hold(
    acme: tuple[World, dict[str, str]],
) -> None:
    """The account-level pass (streams/steps.py): while the hold stands, nothing; once the account's last
    cause ended, `service_hold_lifted` for the account, with the cause's events as evidence, on
    `signals.sales` and in `account_signals`; a pass run again says nothing more; a new P1 ticket of
    another contact of the account clears it."""
    world, ids = acme
    store = world.store
    assert account_signals(store) == []  # T1 is open
    resolved = world.add("TicketResolved", 4, "ANN", "ACME", {"ticket_id": "T1"})
    world.add("EmailOpened", 8, "CAT", "OTHER", {"campaign_id": "c", "message_id": "m"})  # cool-down over
    (raised,) = account_signals(store)
    assert raised["topic"] == "signals.sales"
    assert raised["key"] == "ACME"
    value = raised["value"]
    assert (value["kind"], value["status"], value["scope"], value["account_id"], value["contact_id"]) == (
        "service_hold_lifted",
        "raised",
        "account",
        "ACME",
        None,
    )
    assert value["evidence"] == [ids["opened"], resolved]
    assert value["raised_at"] == "2026-03-07T10:00:00Z"
    assert value["expires_at"] == "2026-03-14T10:00:00Z"  # hold_lifted_for: 7 days
    assert "P1 ticket T1 resolved" in value["reason"]
    assert account_signals(store) == []  # nothing new
    opened = {"ticket_id": "T2", "subject": "Down again", "priority": "P1", "channel": "phone"}
    world.add("TicketOpened", 9, "BOB", "ACME", opened)
    (cleared,) = account_signals(store)
    assert (cleared["value"]["signal_id"], cleared["value"]["status"]) == (value["signal_id"], "cleared")
    assert cleared["value"]["cleared_at"] == "2026-03-09T10:00:00Z"
    assert store.query("SELECT status, version FROM account_signals FINAL") == [("cleared", 2)]
    assert account_signals(store) == []
