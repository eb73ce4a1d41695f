"""The event language: every type round-trips, validates against its exported schema, normalizes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import jsonschema
import pytest
from event_examples import PAYLOADS, wire_event

from touchstream.events import (
    EVENT_TYPES,
    Department,
    EventParseError,
    PhoneRegions,
    UnknownEventType,
    UnknownSchemaVersion,
    parse_event,
)
from touchstream.events.schemas import export_schemas, schema_file_name

ALL_TYPES = sorted(EVENT_TYPES)
SCHEMAS = export_schemas()


def test_every_type_has_an_example() -> None:
    assert sorted(PAYLOADS) == ALL_TYPES
    assert len(ALL_TYPES) == 38


@pytest.mark.parametrize("type_name", ALL_TYPES)
def test_round_trip_model_json_model(type_name: str) -> None:
    cls = EVENT_TYPES[type_name]
    event = parse_event(json.dumps(wire_event(type_name, cls.current_version())))
    again = parse_event(event.model_dump_json())
    assert again == event
    assert type(again) is cls


@pytest.mark.parametrize("type_name", ALL_TYPES)
def test_wire_form_validates_against_exported_schema(type_name: str) -> None:
    cls = EVENT_TYPES[type_name]
    schema = SCHEMAS[schema_file_name(type_name, cls.current_version())]
    jsonschema.Draft202012Validator.check_schema(schema)
    wire = wire_event(type_name, cls.current_version())
    jsonschema.validate(wire, schema)
    # What we write back out is valid input for producers' validators too.
    jsonschema.validate(json.loads(parse_event(wire).model_dump_json()), schema)
    jsonschema.validate(wire, SCHEMAS["envelope.json"])


def test_an_unknown_payload_field_is_kept_aside_not_the_reason_to_lose_the_event() -> None:
    schema = SCHEMAS["EmailOpened.v1.json"]
    wire = wire_event("EmailOpened", 1)
    wire["payload"] = {**wire["payload"], "surprise": 1, "custom__c": {"tier": "gold"}}
    with pytest.raises(jsonschema.ValidationError):  # the producers' contract stays strict
        jsonschema.validate(wire, schema)
    event = parse_event(wire)
    assert event.payload.extra_fields == {"surprise": 1, "custom__c": {"tier": "gold"}}
    assert parse_event(event.model_dump_json()) == event, "kept aside survives a round trip"


def test_unknown_envelope_and_identifier_fields_are_still_refused() -> None:
    for wire in (
        {**wire_event("EmailOpened", 1), "surprise": 1},
        wire_event("EmailOpened", 1, identifiers={"email": "jane@acme.com", "ssn": "1"}),
    ):
        with pytest.raises(EventParseError) as err:
            parse_event(wire)
        assert [p.path for p in err.value.problems] in (["surprise"], ["identifiers.ssn"])
    too_many = wire_event("EmailOpened", 1)
    too_many["payload"] = {**too_many["payload"], **{f"x{n}": n for n in range(40)}}
    with pytest.raises(EventParseError) as err:
        parse_event(too_many)
    assert [p.path for p in err.value.problems] == ["payload.extra_fields"]


def test_identifiers_are_normalized() -> None:
    event = parse_event(
        wire_event(
            "EmailOpened",
            1,
            identifiers={
                "email": " Jane.Doe@ACME-Widgets.COM ",
                "phone": "(415) 555-0134",
                "account_domain": "WWW.Acme-Widgets.com",
                "external_ids": {"Salesforce": "003A"},
            },
        )
    )
    ids = event.identifiers
    assert ids.email == "jane.doe@acme-widgets.com"
    assert ids.phone == "+14155550134"
    assert ids.account_domain == "acme-widgets.com"
    assert ids.external_ids == {"salesforce": "003A"}
    assert ids.strongest() == "email:jane.doe@acme-widgets.com"


def test_phone_default_region_comes_from_the_caller() -> None:
    wire = wire_event("EmailOpened", 1, identifiers={"phone": "030 901820"})
    assert parse_event(wire, default_region="DE").identifiers.phone == "+4930901820"
    assert parse_event(wire, regions=PhoneRegions("DE")).identifiers.phone == "+4930901820"


def test_a_parse_never_depends_on_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    wire = wire_event("EmailOpened", 1, identifiers={"email": "jo@example.com", "phone": "030 901820"})
    monkeypatch.setenv("TOUCHSTREAM_DEFAULT_REGION", "DE")  # the variable that used to leak into parses
    ids = parse_event(wire).identifiers
    assert (ids.phone, ids.phone_unparsed) == (None, "030 901820")
    assert parse_event(wire, default_region="DE").identifiers.phone == "+4930901820"


def test_an_unreadable_phone_is_kept_as_written_and_the_event_is_not_lost() -> None:
    uk_national = wire_event(
        "EmailOpened", 1, identifiers={"email": "jo@example.co.uk", "phone": "020 7946 0958"}
    )
    ids = parse_event(uk_national, default_region="US").identifiers
    assert (ids.phone, ids.phone_unparsed) == (None, "020 7946 0958")
    alone = wire_event("EmailOpened", 1, identifiers={"phone": "020 7946 0958"})
    assert parse_event(alone).identifiers.phone_unparsed == "020 7946 0958", "its only identifier"
    again = parse_event(parse_event(alone).model_dump_json())
    assert again.identifiers.phone_unparsed == "020 7946 0958"
    with pytest.raises(EventParseError) as err:  # not a phone at all: still refused, naming the field
        parse_event(wire_event("EmailOpened", 1, identifiers={"email": "a@b.co", "phone": "phone"}))
    assert [p.path for p in err.value.problems] == ["identifiers.phone"]


def test_phones_are_read_with_the_region_of_their_source_then_the_default() -> None:
    regions = PhoneRegions("US", {"Zendesk_UK": "gb"})
    uk = wire_event("EmailOpened", 1, source="zendesk_uk", identifiers={"phone": "020 7946 0958"})
    us = wire_event("EmailOpened", 1, source="hubspot", identifiers={"phone": "(415) 555-0134"})
    assert parse_event(uk, regions=regions).identifiers.phone == "+442079460958"
    assert parse_event(us, regions=regions).identifiers.phone == "+14155550134"
    with pytest.raises(ValueError, match="'XX' for 'crm' is not a region code"):
        PhoneRegions("US", {"crm": "XX"})


def test_signature_phones_are_read_the_same_way() -> None:
    payload = {
        "message_id": "<1@x>",
        "mailbox": "support@brightlane.io",
        "subject": "Hi",
        "observed": {"phone": "07911 123456"},
    }
    wire = wire_event("InboundEmailReceived", 1, payload=payload)
    assert parse_event(wire).payload.observed.phone_unparsed == "07911 123456"  # type: ignore[attr-defined]
    assert parse_event(wire, default_region="GB").payload.observed.phone == "+447911123456"  # type: ignore[attr-defined]


def test_timestamps_become_utc_and_department_defaults_to_the_types_home() -> None:
    event = parse_event(wire_event("TicketOpened", 1, occurred_at="2026-03-02T12:00:00+02:00"))
    assert event.occurred_at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert event.department is Department.support
    assert (
        parse_event(wire_event("TicketOpened", 1, department="contact_center")).department == "contact_center"
    )


def test_upcasting_opportunity_created_v1_to_v2() -> None:
    v1 = wire_event("OpportunityCreated", 1)
    v1["payload"] = {**PAYLOADS["OpportunityCreated"], "amount": 1200.5}
    event = parse_event(json.dumps(v1))
    assert event.schema_version == 2
    assert event.payload.amount.amount == Decimal("1200.5")  # type: ignore[attr-defined]
    assert event.payload.amount.currency == "USD"  # type: ignore[attr-defined]
    # The stored v1 bytes are never changed: reading them again gives the same event.
    assert parse_event(json.dumps(v1)) == event


def test_unknown_type_names_it_and_suggests() -> None:
    with pytest.raises(UnknownEventType) as err:
        parse_event(wire_event("EmailOpened", 1, type="EmailOpend"))
    assert err.value.event_type == "EmailOpend"
    assert "EmailOpened" in str(err.value)


@pytest.mark.parametrize("version", [3, 0, -1])
def test_unknown_version_is_a_typed_error(version: int) -> None:
    with pytest.raises(UnknownSchemaVersion) as err:
        parse_event(wire_event("OpportunityCreated", version))
    assert "OpportunityCreated has no version" in str(err.value)


def test_every_problem_is_reported_with_its_path() -> None:
    wire = wire_event(
        "CsatSubmitted",
        1,
        event_id="not-a-uuid",
        occurred_at="2026-01-01T00:00:00",
        payload={"survey_id": "s", "score": 9},
        identifiers={},
    )
    with pytest.raises(EventParseError) as err:
        parse_event(wire)
    paths = {p.path for p in err.value.problems}
    assert paths == {"event_id", "occurred_at", "identifiers", "payload.score"}
    as_dict = err.value.to_dict()
    assert as_dict["event_type"] == "CsatSubmitted"
    assert {
        "path": "payload.score",
        "message": "Input should be less than or equal to 5",
        "got": "9",
    } in as_dict["problems"]


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"{", "not valid JSON"),
        (b"[1, 2]", "an event is a JSON object"),
        (b'{"type": 5}', "required: the event type name"),
        (b'{"type": "EmailOpened"}', "schema_version: required"),
        (b"{" + b'"a":' * 0 + b'"x": "' + b"y" * 70_000 + b'"}', "the limit is 65536"),
    ],
)
def test_bad_bytes_get_one_clear_error(raw: bytes, needle: str) -> None:
    with pytest.raises(EventParseError) as err:
        parse_event(raw)
    assert needle in str(err.value)


def test_absurd_timestamps_are_refused() -> None:
    now = datetime(2026, 3, 2, tzinfo=UTC)
    with pytest.raises(EventParseError, match="occurred_at: is more than 1 day in the future"):
        parse_event(wire_event("EmailOpened", 1, occurred_at="2026-03-05T00:00:00Z"), now=now)
    with pytest.raises(EventParseError, match="occurred_at: must be after 1970"):
        parse_event(wire_event("EmailOpened", 1, occurred_at="1969-12-31T00:00:00Z"), now=now)
    # Found by schemathesis: an offset that pushes the instant before year 1 in UTC.
    with pytest.raises(EventParseError, match="occurred_at: is outside the range"):
        parse_event(wire_event("EmailOpened", 1, occurred_at="0001-01-01T00:00:00+00:01"), now=now)


@pytest.mark.parametrize("name", ["Jane\x00Doe", "Jane\x1bDoe", "x" * 201])
def test_names_are_bounded_and_free_of_control_characters(name: str) -> None:
    wire = wire_event("EventBadgeScanned", 1)
    wire["payload"] = {**wire["payload"], "first_name": name}
    with pytest.raises(EventParseError) as err:
        parse_event(wire)
    assert err.value.problems[0].path == "payload.first_name"


def test_events_are_frozen() -> None:
    event = parse_event(wire_event("EmailOpened", 1))
    with pytest.raises(ValueError, match="frozen"):
        event.source = "other"  # type: ignore[misc]


def test_resolved_touchpoints_round_trip() -> None:
    from touchstream.events import ResolvedTouchpoint, parse_resolved

    resolved = ResolvedTouchpoint(parse_event(wire_event("NpsSubmitted", 1)), "c-1", "a-1", 2, 40)
    assert parse_resolved(resolved.to_json()) == resolved
    with pytest.raises(EventParseError, match="contact_id"):
        parse_resolved(b'{"event": {}}')


def test_errors_survive_pickling_across_processes() -> None:
    import pickle

    with pytest.raises(UnknownEventType) as err:
        parse_event(wire_event("EmailOpened", 1, type="EmailOpend"))
    again = pickle.loads(pickle.dumps(err.value))
    assert type(again) is UnknownEventType
    assert str(again) == str(err.value)
    assert again.problems == err.value.problems


@pytest.mark.parametrize("day", ["0001-01-01", "1969-12-31", "2106-01-01", "9999-12-31"])
def test_dates_outside_what_clickhouse_stores_are_refused(day: str) -> None:
    wire = wire_event("SubscriptionStarted", 1)
    wire["payload"] = {**wire["payload"], "renews_on": day}
    with pytest.raises(EventParseError) as err:
        parse_event(wire)
    assert err.value.problems[0].path == "payload.renews_on"
    assert "must be between 1970-01-02 and 2105-12-31" in err.value.problems[0].message


def test_the_control_character_patterns_are_unicodes_category_cc() -> None:
    import sys
    import unicodedata

    from touchstream.events.values import CONTROL_CHARACTERS, CONTROL_CHARACTERS_BUT_LINES

    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        control = unicodedata.category(ch) == "Cc"
        assert bool(CONTROL_CHARACTERS.match(ch)) == control, hex(code)
        assert bool(CONTROL_CHARACTERS_BUT_LINES.match(ch)) == (control and ch not in "\n\r\t"), hex(code)
