"""The field's stories, end to end on the embedded pipeline (real master record, real folds, chDB):
what each department sees after the touchpoints of another."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from event_examples import wire_event
from unit.test_embedded_runner import pipeline, publish

from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import prepare_read_store

DAY = "2026-03-{:02d}T10:00:00Z"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChDBStore]:
    with ChDBStore(str(tmp_path / "chdb")) as opened:
        prepare_read_store(opened)
        yield opened


def touch(
    type_name: str, day: int, identifiers: dict[str, Any], payload: dict[str, Any], **extra: Any
) -> Any:
    return wire_event(
        type_name,
        2 if type_name == "OpportunityCreated" else 1,
        event_id=str(uuid.uuid4()),
        occurred_at=DAY.format(day),
        recorded_at=DAY.format(day),
        identifiers=identifiers,
        payload=payload,
        **extra,
    )


def run(tmp_path: Path, store: ChDBStore, events: list[Any]) -> None:
    publish(tmp_path, events)
    with pipeline(tmp_path, store) as steps:
        steps.run_until_caught_up()


def profile(store: ChDBStore, email: str, *columns: str) -> tuple[Any, ...]:
    rows = store.query(
        f"SELECT {', '.join(columns)} FROM customer_360_current WHERE email = %(e)s", {"e": email}
    )
    assert len(rows) == 1, rows
    return rows[0]


def test_a_new_phone_in_a_support_email_reaches_the_sales_view(tmp_path: Path, store: ChDBStore) -> None:
    jane = {"email": "jane.doe@acme-widgets.com"}
    run(
        tmp_path,
        store,
        [
            touch(
                "LeadCreated",
                1,
                {**jane, "phone": "+1 415 555 0134"},
                {"lead_id": "L1", "lead_source": "web"},
                source="salesforce",
            ),
            touch(
                "InboundEmailReceived",
                5,
                jane,
                {
                    "message_id": "<m1@mail>",
                    "mailbox": "support@touchstream.example",
                    "subject": "Re: my order",
                    "observed": {"phone": "(212) 555-0199"},
                },
                source="zendesk",
            ),
        ],
    )
    assert profile(store, jane["email"], "phone") == ("+12125550199",)


def test_a_business_card_becomes_a_contact_on_the_right_account(tmp_path: Path, store: ChDBStore) -> None:
    known = {"email": "sam@acme-widgets.com", "account_domain": "acme-widgets.com"}
    card = {"email": "kim.lee@acme-widgets.com"}
    run(
        tmp_path,
        store,
        [
            touch("LeadCreated", 1, known, {"lead_id": "L1", "lead_source": "web"}, source="salesforce"),
            touch(
                "EventBadgeScanned",
                3,
                card,
                {
                    "event_name": "WidgetCon",
                    "first_name": "Kim",
                    "last_name": "Lee",
                    "company": "Acme Widgets",
                },
            ),
        ],
    )
    (sam_account,) = profile(store, known["email"], "account_id")
    kim = profile(store, card["email"], "account_id", "first_name", "last_name")
    assert sam_account
    assert kim == (sam_account, "Kim", "Lee")


def signal_status(store: ChDBStore) -> dict[str, str]:
    rows = store.query("SELECT kind, argMax(status, version) FROM signals FINAL GROUP BY kind")
    return dict(rows)


def test_a_p1_ticket_turns_an_upsell_into_a_service_hold(tmp_path: Path, store: ChDBStore) -> None:
    bo = {"email": "bo@acme-widgets.com"}
    subscription = {"subscription_id": "S1", "plan": "Pro", "period": "annual"}
    price = {"amount": "1200.00", "currency": "USD"}
    promoter = [
        touch("SubscriptionStarted", 1, bo, {**subscription, "amount": price, "renews_on": "2026-03-25"}),
        touch("NpsSubmitted", 2, bo, {"survey_id": "n1", "score": 10}),
    ]
    run(tmp_path, store, promoter)
    assert signal_status(store).get("upsell_opportunity") == "raised"  # a promoter with a renewal near

    ticket = {"ticket_id": "T1", "subject": "Down", "priority": "P1", "channel": "phone"}
    run(tmp_path, store, [touch("TicketOpened", 3, bo, ticket)])
    status = signal_status(store)
    assert status["service_hold"] == "raised"  # sales must not upsell now
    assert status["upsell_opportunity"] == "cleared"
    (reason,) = store.query("SELECT reason FROM signals FINAL WHERE kind = 'service_hold'")[0]
    assert "P1" in reason
