"""A ticket opened under one contact and resolved under another, the two merged later (two records of one
person): the merge group's 360 row counts it as its latest status says, closed, on chDB and on the
ClickHouse 18.16 server alike; and the API's document answers the same. Likewise a deal opened under one
and won under the other."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from event_examples import PAYLOADS, wire_event

from touchstream.adapters.api import queries as q
from touchstream.adapters.bootstrap import open_embedded_pipeline
from touchstream.adapters.sdk.publisher import Publisher
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.streams.ports import AbstractReadStore

DEAL = {"amount": "500.00", "currency": "USD"}
PERSONAL = "jane.d@gmail.com"
WORK = "jane.doe@acme-widgets.com"


def event(day: int, type_name: str, email: str, payload: dict[str, Any] | None = None, **ids: Any) -> Any:
    return wire_event(
        type_name,
        1,
        event_id=str(uuid.uuid4()),
        source="salesforce" if type_name.startswith("Opportunity") else "zendesk",
        occurred_at=f"2026-03-{day:02d}T10:00:00Z",
        recorded_at=f"2026-03-{day:02d}T10:00:05Z",
        identifiers={"email": email, **ids},
        **({"payload": payload} if payload else {}),
    )


STORY = [
    # T-1 reaches support from the personal address: a contact of its own, for now.
    event(
        1,
        "TicketOpened",
        PERSONAL,
        {"ticket_id": "T-1", "subject": "Login fails", "priority": "P3", "channel": "email"},
    ),
    # The agent answers and resolves it on the work address's record: another contact.
    event(2, "EmailOpened", WORK),
    event(3, "TicketResolved", WORK, {"ticket_id": "T-1", "resolution": "reset SSO"}),
    event(
        4,
        "TicketOpened",
        WORK,
        {"ticket_id": "T-2", "subject": "Invoice copy", "priority": "P4", "channel": "email"},
    ),
    # Sales opens O-1 on the personal record, and wins it on the work one; O-2 stays open.
    event(1, "OpportunityCreated", PERSONAL),
    event(
        2,
        "OpportunityCreated",
        WORK,
        {**PAYLOADS["OpportunityCreated"], "opportunity_id": "O-2", "amount": DEAL},
    ),
    event(3, "OpportunityWon", WORK),
    # A helpdesk id seen with both addresses ties the two records: one merge.
    event(5, "EmailOpened", PERSONAL, external_ids={"zendesk": "42"}),
    event(6, "EmailOpened", WORK, external_ids={"zendesk": "42"}),
]


def run_story(folder: Path, store: AbstractReadStore) -> None:
    prepare_read_store(store)
    with Publisher.for_embedded(folder / "log") as publisher:
        for e in STORY:
            publisher.send(e)
    master = f"sqlite:///{folder / 'master.sqlite'}"
    with open_embedded_pipeline(folder / "log", store, master) as pipeline:
        stats = pipeline.run_until_caught_up()
    assert (stats.resolve.merges, stats.project.accepted) == (1, len(STORY))


def assert_one_open_ticket_and_deal(store: AbstractReadStore) -> None:
    rows = store.query(
        "SELECT contact_id, merged_contacts, open_tickets, worst_open_priority, open_opportunities, "
        "open_pipeline FROM customer_360_current"
    )
    # T-1 closed, T-2 open: not 2 open with the worst P3. O-1 won, O-2 open at 500: not 2 open at 1,700.
    assert [r[1:] for r in rows] == [(1, 1, "P4", 1, Decimal("500"))]
    doc = q.profile_document(store, str(rows[0][0]))
    assert doc is not None
    assert (doc["open_tickets"], doc["worst_open_priority"]) == (1, "P4")
    assert (doc["open_opportunities"], Decimal(doc["open_pipeline"])) == (1, Decimal("500"))
    accounts = store.query("SELECT open_tickets, worst_open_priority, open_opportunities FROM account_360")
    assert accounts in ([], [(1, "P4", 1)])


def test_a_ticket_resolved_under_the_other_merged_contact_is_closed_on_chdb(tmp_path: Path) -> None:
    with ChDBStore(str(tmp_path / "chdb")) as store:
        run_story(tmp_path, store)
        assert_one_open_ticket_and_deal(store)
        # Each contact's own row still says what its own events said.
        own = store.query(
            "SELECT open_tickets, open_opportunities FROM customer_360 FINAL ORDER BY first_seen"
        )
        assert own == [(1, 1), (1, 1)]


@pytest.mark.integration
def test_a_ticket_resolved_under_the_other_merged_contact_is_closed_on_the_server(
    tmp_path: Path, server_store: ClickHouseServerStore
) -> None:
    run_story(tmp_path, server_store)
    assert_one_open_ticket_and_deal(server_store)
