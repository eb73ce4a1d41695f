"""Issue 15 item 1: date of birth, a structured postal address and typed person identifiers on the contact
events, read strictly where they are typed and used by identity as observations and strong keys."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from event_examples import identity_event as event, wire_event

from touchstream.adapters.master_record.application import MasterRecord
from touchstream.events import EventParseError, parse_event
from touchstream.events.schemas import check_compatibility, export_schemas

NOW = datetime(2026, 3, 3, tzinfo=UTC)
PERSON: dict[str, Any] = {
    "first_name": "Astrid",
    "last_name": "Lindqvist",
    "date_of_birth": "1961-04-12",
    "address": {"lines": ["Storgatan 1"], "postal_code": "114 51", "city": "Stockholm", "country": "se"},
    "person_ids": [
        {"kind": "national_id", "value": "610412-1234", "country": "SE"},
        {"kind": "customer_number", "value": "C-88", "system": "sap"},
    ],
}


def observed(details: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return wire_event("ContactDetailsObserved", 1, payload=details, **overrides)


def test_the_details_are_typed_and_normalized() -> None:
    payload: Any = parse_event(observed(PERSON), now=NOW).payload
    assert payload.date_of_birth == date(1961, 4, 12), "born before 1970 is fine for a person"
    assert payload.address.country == "SE"
    assert payload.address.one_line() == "Storgatan 1, 114 51, Stockholm, SE"
    assert [p.kind for p in payload.person_ids] == ["national_id", "customer_number"]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"date_of_birth": "2027-01-01"}, "payload.date_of_birth"),
        ({"date_of_birth": "1850-01-01"}, "payload.date_of_birth"),
        ({"address": {"country": "Sweden"}}, "payload.address.country"),
        ({"address": {}}, "payload.address"),
        ({"person_ids": [{"kind": "national_id", "value": "1"}]}, "payload.person_ids.0"),
        ({"person_ids": [{"kind": "crm_id", "value": "1"}]}, "payload.person_ids.0"),
        ({"person_ids": [{"kind": "shoe_size", "value": "1", "system": "x"}]}, "payload.person_ids.0.kind"),
    ],
)
def test_wrong_details_are_refused_naming_the_field(change: dict[str, Any], path: str) -> None:
    with pytest.raises(EventParseError) as err:
        parse_event(observed({**PERSON, **change}), now=NOW)
    assert [p.path for p in err.value.problems][:1] == [path.replace(".0", "[0]")]


def test_the_address_country_reads_phones_when_the_source_has_no_region() -> None:
    wire = observed({**PERSON, "phone": "08 123 456 78"})
    assert parse_event(wire, now=NOW).payload.phone == "+46812345678"  # type: ignore[attr-defined]


def test_adding_the_fields_kept_the_catalogue_compatible() -> None:
    old = export_schemas()
    for defs in (s.get("$defs", {}) for s in old.values()):
        for name in ("ObservedContactDetails", "ContactDetailsObservedPayload"):
            if name in defs:
                for gone in ("date_of_birth", "address", "person_ids"):
                    defs[name]["properties"].pop(gone, None)
    assert check_compatibility(old) == []


def test_a_national_id_links_two_records_of_one_person(app: MasterRecord) -> None:
    a = app.resolve(event({"email": "astrid@gmail.com"}, "ContactDetailsObserved", PERSON, "crm_admin", 0))
    b_details = {**PERSON, "first_name": "Astrid", "person_ids": [PERSON["person_ids"][0]]}
    b = app.resolve(
        event({"email": "a.lindqvist@telia.se"}, "ContactDetailsObserved", b_details, "crm_admin", 1)
    )
    assert b.contact_id == a.contact_id
    contact = app.contact(a.contact_id)  # type: ignore[arg-type]
    assert contact.value("date_of_birth") == "1961-04-12"
    assert contact.value("address") == "Storgatan 1, 114 51, Stockholm, SE"
    assert app.owner_of("ext:sap:C-88") == contact.id, "a system's customer number is its external id"
    assert app.owner_of("pid:national_id:SE:6104121234") == contact.id


def test_a_national_id_under_another_first_name_is_a_suspect_not_a_merge(app: MasterRecord) -> None:
    a = app.resolve(event({"email": "astrid@gmail.com"}, "ContactDetailsObserved", PERSON, "crm_admin", 0))
    typo = {"first_name": "Maria", "last_name": "Lindqvist", "person_ids": [PERSON["person_ids"][0]]}
    b = app.resolve(event({"email": "maria@gmail.com"}, "ContactDetailsObserved", typo, "crm_admin", 1))
    assert a.contact_id != b.contact_id
    assert [s.reason for s in app.suspects()] == ["conflicting_name"]


@pytest.fixture
def app() -> MasterRecord:
    return MasterRecord.from_url("memory://")
