"""An erased contact is forgotten by the read store (chDB): no row version readable without FINAL, and no
file of the data path, holds their email, phone, names or the text they wrote, while every count stays.

The byte search is honest about compression: chDB writes LZ4-compressed parts, and LZ4 may turn a short or
repeated string into a back-reference. So each personal value is long and unique, and the search is shown to
find every one of them before the forgetting; a value it could not see then would prove nothing after.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from event_examples import wire_event

from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.events import ResolvedTouchpoint, parse_event
from touchstream.projections.config import DEFAULT_CONFIG
from touchstream.projections.migrations import VIEWS
from touchstream.projections.state import ContactState
from touchstream.streams.forgetting import redact_payload, redact_summary
from touchstream.streams.ports import AbstractReadStore

SUBJECT, OTHER, ACCOUNT = "contact-subject", "contact-other", "account-acme"
EMAIL = "zelda.quintessa.forget7731@erasure-proof.example"
PHONE = "+14155550187"
FIRST, LAST = "Zeldaquintessa", "Forgetmenot-Vandermeer"
COMPANY = "Quintessa Holographic Widgetworks"
JOB = "Chief Holography Wrangler Extraordinaire"
TEXT = "Please call me back about my broken hologram order number ZQ-77"
PERSONAL = (EMAIL, PHONE, FIRST, LAST, COMPANY, JOB, TEXT)
OTHER_NAME = "Bartholomew-Keepsake-Unforgotten"  # the other contact's: it must stay
USD = {"amount": "1000.00", "currency": "USD"}


def subject_story() -> list[tuple[str, dict[str, Any]]]:
    """(type, payload) of everything the subject did, ending with their erasure request."""
    return [
        (
            "FormSubmitted",
            {
                "form_id": "demo",
                "page_url": f"https://ex.com/demo?email={EMAIL}",
                "first_name": FIRST,
                "last_name": LAST,
                "company": COMPANY,
                "job_title": JOB,
                "message": TEXT,
            },
        ),
        ("LeadCreated", {"lead_id": "L-9", "lead_source": "web", "first_name": FIRST, "last_name": LAST}),
        ("OpportunityCreated", {"opportunity_id": "O-9", "name": f"{LAST} platform deal", "amount": USD}),
        (
            "TicketOpened",
            {
                "ticket_id": "T-9",
                "subject": f"{FIRST} {LAST} cannot log in",
                "priority": "P2",
                "channel": "email",
            },
        ),
        (
            "InboundEmailReceived",
            {
                "message_id": "m-9",
                "mailbox": "support@touchstream.example",
                "subject": TEXT,
                "ticket_id": "T-9",
                "observed": {"first_name": FIRST, "last_name": LAST, "job_title": JOB, "email": EMAIL},
                "observed_in": "signature",
            },
        ),
        ("CsatSubmitted", {"survey_id": "s-9", "score": 2, "ticket_id": "T-9", "comment": TEXT}),
        ("ContactDetailsObserved", {"first_name": FIRST, "last_name": LAST, "company": COMPANY}),
        ("ErasureRequested", {"request_id": "gdpr-9", "requested_by": f"{FIRST} {LAST}"}),
    ]


class Projector:
    """Events through the fold into a read store, as the pipeline writes them."""

    def __init__(self, store: AbstractReadStore) -> None:
        self.store = store
        self.states: dict[str, ContactState] = {}
        self.offset = 0

    def add(self, type_name: str, contact: str, identifiers: dict[str, Any], payload: dict[str, Any]) -> None:
        from touchstream.streams.project import project_batch, write_batch

        at = f"2026-03-{1 + self.offset % 27:02d}T10:00:00Z"
        wire = wire_event(
            type_name,
            2 if type_name == "OpportunityCreated" else 1,
            event_id=str(uuid.uuid4()),
            occurred_at=at,
            recorded_at=at,
            identifiers=identifiers,
            payload=payload,
        )
        resolved = ResolvedTouchpoint(parse_event(wire, now=None), contact, ACCOUNT)
        write_batch(self.store, project_batch([(resolved, 0, self.offset)], self.states, DEFAULT_CONFIG))
        self.offset += 1

    def tell_the_story(self) -> None:
        other = {"email": "bart@keepsake.example"}
        self.add(
            "FormSubmitted",
            OTHER,
            other,
            {"form_id": "demo", "page_url": "https://ex.com/demo", "last_name": OTHER_NAME},
        )
        for type_name, payload in subject_story():
            self.add(type_name, SUBJECT, {"email": EMAIL, "phone": "415.555.0187"}, payload)
        # A replay: the same facts again at new offsets (ReplacingMergeTree keeps both until a merge).
        self.add(
            "CsatSubmitted", SUBJECT, {"email": EMAIL}, {"survey_id": "s-10", "score": 4, "comment": TEXT}
        )


#: What must not move: counts and funnels that identify no one.
COUNTS = {
    "facts": "SELECT type, count() FROM touchpoints_current GROUP BY type ORDER BY type",
    "contacts": "SELECT count(), sum(touches), sum(erased) FROM customer_360_current",
    "accounts": "SELECT account_id, contacts, touches, open_tickets FROM account_360 ORDER BY account_id",
    "funnel": "SELECT * FROM sales_funnel ORDER BY period, lead_source",
    "pipeline": "SELECT opportunity_id, status, amount, currency FROM sales_pipeline ORDER BY opportunity_id",
    "csat": "SELECT * FROM csat_by_period ORDER BY period, product, account_id",
    "tickets": "SELECT count() FROM support_tickets",
}


def counts(store: AbstractReadStore) -> dict[str, Any]:
    return {name: store.query(sql) for name, sql in COUNTS.items()}


def readable_text(store: AbstractReadStore) -> str:
    """Every row of every table (no FINAL: all versions) and every view, as text."""
    tables = [
        str(r[0])
        for r in store.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree'"
        )
    ]
    assert {"touchpoints", "customer_360", "projection_state", "signals"} <= set(tables)
    return "\n".join(str(store.query(f"SELECT * FROM {name}")) for name in [*tables, *VIEWS])


def files_holding(folder: Path, values: tuple[str, ...]) -> dict[str, list[str]]:
    """value -> the files under `folder` whose raw bytes contain it."""
    found: dict[str, list[str]] = {}
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for value in values:
                if value.encode() in data:
                    found.setdefault(value, []).append(str(path.relative_to(folder)))
    return found


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChDBStore]:
    with ChDBStore(str(tmp_path / "chdb")) as chdb:
        prepare_read_store(chdb, DEFAULT_CONFIG)
        Projector(chdb).tell_the_story()
        yield chdb


def test_nothing_personal_is_readable_without_final_and_counts_stay(store: ChDBStore) -> None:
    before = counts(store)
    text = readable_text(store)
    assert all(value in text for value in PERSONAL)  # the search sees them while they are there
    report = store.forget_contacts([SUBJECT])
    assert report.forgotten == (SUBJECT,)
    assert report.rows("touchpoints") == len(subject_story()) + 1
    assert report.rows("customer_360") > 0
    assert report.rows("projection_state") > 0
    text = readable_text(store)
    assert [value for value in PERSONAL if value in text] == []
    assert OTHER_NAME in text  # only the erased contact is forgotten
    assert counts(store) == before
    assert set(store.query("SELECT erased FROM customer_360 WHERE contact_id = %(c)s", {"c": SUBJECT})) == {
        (1,)
    }


def test_no_file_of_the_data_path_holds_a_personal_value(store: ChDBStore) -> None:
    folder = Path(store.path)
    assert set(files_holding(folder, PERSONAL)) == set(PERSONAL)  # found before: the search can see them
    report = store.forget_contacts([SUBJECT])
    assert report.inactive_parts == 0
    assert files_holding(folder, PERSONAL) == {}
    assert OTHER_NAME in files_holding(folder, (OTHER_NAME,))


def test_a_contact_not_erased_yet_is_left_alone_and_forgetting_twice_changes_nothing(
    store: ChDBStore,
) -> None:
    report = store.forget_contacts([OTHER, "nobody"])
    assert report.forgotten == ()
    assert report.not_erased == ("contact-other", "nobody")
    assert OTHER_NAME in readable_text(store)
    store.forget_contacts([SUBJECT])
    again = store.forget_contacts([SUBJECT])
    assert again.forgotten == (SUBJECT,)
    assert sum(t.rows for t in again.tables) == 0


def test_payloads_keep_their_shape_and_summaries_lose_only_the_quoted_values() -> None:
    redacted, personal = redact_payload(
        '{"ticket_id":"T-1","subject":"Jane   is locked out","observed":{"email":"j@x.io"}}'
    )
    assert redacted == '{"ticket_id":"T-1","subject":null,"observed":null}'
    assert personal == ["Jane   is locked out", "j@x.io"]
    line = "P1 ticket T-1 opened: Jane is locked out"  # summarize() collapses whitespace
    assert redact_summary(line, "TicketOpened", personal) == "P1 ticket T-1 opened: [erased]"
    # A value too short to replace safely, or a line cut at its limit: only the type is left.
    assert redact_summary("Lead L-1 disqualified: no", "LeadDisqualified", ["no"]) == "LeadDisqualified"
    assert redact_summary("x" * 200, "MeetingHeld", ["Jane Doe"]) == "MeetingHeld"
    assert redact_payload("not json") == ("{}", ["not json"])
