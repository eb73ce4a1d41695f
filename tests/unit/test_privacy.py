"""What is personal in an event (events/privacy.py): every field classified, split and join are inverse,
and an event redacted after erasure still parses and holds none of the person's values."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from touchstream.adapters.synthetic.generator import NOT_GENERATED, GeneratorConfig, generate
from touchstream.events import EVENT_TYPES, parse_event
from touchstream.events.privacy import (
    CLEAR_PAYLOAD_FIELDS,
    ERASED_SYSTEM,
    PERSONAL_PAYLOAD_FIELDS,
    REQUIRED_PLACEHOLDERS,
    join_personal,
    redacted,
    split_personal,
)

SUBJECT = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def dataset() -> list[dict[str, Any]]:
    return list(generate(GeneratorConfig.for_events(10_000)))


def payload_fields(type_name: str) -> set[str]:
    payload = EVENT_TYPES[type_name].model_fields["payload"].annotation
    assert isinstance(payload, type)
    return set(payload.model_fields) - {"extra_fields"}  # type: ignore[attr-defined]


def test_every_payload_field_of_every_type_is_classified_once() -> None:
    # Every field, not only the str-typed ones: a new field of any type must be placed on purpose.
    assert set(PERSONAL_PAYLOAD_FIELDS) == set(EVENT_TYPES) == set(CLEAR_PAYLOAD_FIELDS)
    for type_name in EVENT_TYPES:
        personal, clear = PERSONAL_PAYLOAD_FIELDS[type_name], CLEAR_PAYLOAD_FIELDS[type_name]
        assert not personal & clear, type_name
        assert personal | clear == payload_fields(type_name), type_name


def test_a_required_personal_field_has_a_placeholder() -> None:
    for type_name, cls in EVENT_TYPES.items():
        payload = cls.model_fields["payload"].annotation
        for name in PERSONAL_PAYLOAD_FIELDS[type_name]:
            if payload.model_fields[name].is_required():  # type: ignore[union-attr]
                assert name in REQUIRED_PLACEHOLDERS.get(type_name, {}), (type_name, name)


def test_the_dataset_covers_every_type(dataset: list[dict[str, Any]]) -> None:
    assert {e["type"] for e in dataset} == set(EVENT_TYPES) - set(NOT_GENERATED)


def test_split_and_join_are_inverse_for_every_event(dataset: list[dict[str, Any]]) -> None:
    for raw in dataset:
        clear, personal = split_personal(raw)
        assert join_personal(clear, personal) == raw
        parsed = parse_event(raw).model_dump(mode="json")
        assert join_personal(*split_personal(parsed)) == parsed


def test_the_clear_part_keeps_counts_and_drops_identifiers(dataset: list[dict[str, Any]]) -> None:
    raw = next(e for e in dataset if e["type"] == "OpportunityCreated")
    clear, personal = split_personal(raw)
    assert clear["payload"]["amount"] == raw["payload"]["amount"]
    assert clear["payload"]["opportunity_id"] == raw["payload"]["opportunity_id"]
    assert clear["identifiers"].get("account_domain") == raw["identifiers"].get("account_domain")
    assert "email" not in clear["identifiers"]
    assert personal["identifiers"]["email"] == raw["identifiers"]["email"]


def test_what_nobody_classified_is_personal() -> None:
    raw = {"type": "NoSuchType", "event_id": "x", "payload": {"a": 1}, "surprise": 2, "identifiers": "junk"}
    clear, personal = split_personal(raw)
    assert clear == {"type": "NoSuchType", "event_id": "x", "payload": {}}
    assert personal == {"payload": {"a": 1}, "surprise": 2, "identifiers": "junk"}
    unknown_field = {"type": "EmailOpened", "payload": {"campaign_id": "c", "loyalty_tier": "gold"}}
    assert split_personal(unknown_field)[1] == {"payload": {"loyalty_tier": "gold"}}


def strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(strings(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(strings(v) for v in value))
    return set()


def personal_strings(raw: dict[str, Any]) -> set[str]:
    """Every string of the event's personal part, less the ones that are in its clear part on purpose
    (a Salesforce lead id is also the person's external id: the record's id stays)."""
    clear, personal = split_personal(raw)
    return {s for s in strings(personal) - strings(clear) if len(s) >= 3}


def test_redacted_events_parse_and_hold_no_personal_value(dataset: list[dict[str, Any]]) -> None:
    for raw in dataset:
        gone = redacted(raw, subject=SUBJECT)
        event = parse_event(gone)
        assert event.identifiers.external_ids == {ERASED_SYSTEM: SUBJECT}
        assert event.identifiers.email is None
        assert event.identifiers.phone is None
        text = orjson.dumps(gone).decode().lower()
        values = {v.lower() for v in strings(gone)}
        for value in personal_strings(raw):
            assert value.lower() not in values, (raw["type"], value)
            # Emails, phones, ids and sentences are also searched inside every text ("Mark" would match
            # "marketing": short words are compared whole).
            if len(value) >= 12 or "@" in value or any(ch.isdigit() for ch in value):
                assert value.lower() not in text, (raw["type"], value)


def test_redaction_keeps_the_account_and_what_is_counted(dataset: list[dict[str, Any]]) -> None:
    raw = next(e for e in dataset if e["type"] == "OrderPlaced")
    raw = {**raw, "identifiers": {**raw["identifiers"], "account_domain": "acme-widgets.com"}}
    gone = parse_event(redacted(raw, subject=SUBJECT))
    assert gone.identifiers.account_domain == "acme-widgets.com"
    assert gone.payload.model_dump(mode="json") == parse_event(raw).payload.model_dump(mode="json")


def test_redacting_a_sealed_record_drops_the_seal() -> None:
    raw = {
        "event_id": "5b0c3f4e-7a51-4d0e-9a43-2f4b8d1c6e91",
        "type": "TicketOpened",
        "schema_version": 1,
        "occurred_at": "2026-01-01T00:00:00Z",
        "recorded_at": "2026-01-01T00:00:00Z",
        "source": "zendesk",
        "identifiers": {},
        "payload": {"ticket_id": "1", "priority": "P2", "channel": "email"},
        "sealed": {"v": 1},
    }
    gone = redacted(raw, subject=SUBJECT)
    assert "sealed" not in gone
    assert parse_event(gone).payload.subject == "[erased]"  # type: ignore[attr-defined]
