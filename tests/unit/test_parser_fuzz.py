"""Any input at all yields either a valid event or EventParseError: never another exception."""

from __future__ import annotations

import json
from typing import Any

from event_examples import wire_event
from hypothesis import HealthCheck, given, settings, strategies as st

from touchstream.events import EVENT_TYPES, Event, EventParseError, parse_event

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def _parses_or_explains(raw: Any) -> None:
    outcome: Event | EventParseError
    try:
        outcome = parse_event(raw)
    except EventParseError as err:
        outcome = err
    if isinstance(outcome, EventParseError):
        assert outcome.problems, "an error must name at least one problem"
        assert all(p.path and p.message for p in outcome.problems)
        json.dumps(outcome.to_dict())  # always reportable as JSON (API answers, dead letters)
    else:
        assert isinstance(outcome, Event)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    _parses_or_explains(raw)


@settings(max_examples=300)
@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    _parses_or_explains(json.dumps(value).encode())


@settings(max_examples=500)
@given(
    type_name=st.sampled_from(sorted(EVENT_TYPES)),
    field=st.sampled_from(
        [
            *("event_id", "type", "schema_version", "occurred_at", "recorded_at"),
            *("source", "department", "actor", "identifiers", "payload"),
        ]
    ),
    value=json_values,
    in_payload=st.booleans(),
)
def test_valid_events_with_one_field_replaced(
    type_name: str, field: str, value: Any, in_payload: bool
) -> None:
    wire = wire_event(type_name, EVENT_TYPES[type_name].current_version())
    if in_payload and wire["payload"]:
        key = sorted(wire["payload"])[hash(field) % len(wire["payload"])]
        wire["payload"] = {**wire["payload"], key: value}
    else:
        wire[field] = value
    _parses_or_explains(json.dumps(wire).encode())


@settings(max_examples=200)
@given(st.text(max_size=60))
def test_arbitrary_emails_and_phones(text: str) -> None:
    _parses_or_explains(wire_event("EmailOpened", 1, identifiers={"email": text, "phone": text}))


@settings(max_examples=200)
@given(
    st.text(alphabet="0123456789 +-().", min_size=3, max_size=30).filter(
        lambda t: sum(c.isdigit() for c in t) >= 3
    ),
    st.sampled_from(["US", "GB", "DE", "IN"]),
)
def test_a_phone_written_with_digits_never_costs_the_event(text: str, region: str) -> None:
    wire = wire_event("EmailOpened", 1, identifiers={"email": "jane@acme.com", "phone": text})
    ids = parse_event(wire, default_region=region).identifiers
    if ids.phone is None:
        assert ids.phone_unparsed == text.strip(), "kept as written, the flag set"
    else:
        assert ids.phone.startswith("+")
        assert ids.phone[1:].isdigit()
        assert ids.phone_unparsed is None


@settings(max_examples=100)
@given(st.dictionaries(st.text(min_size=1, max_size=20), json_values, max_size=5))
def test_unknown_payload_fields_are_kept_aside_as_sent(extra: dict[str, Any]) -> None:
    wire = wire_event("EmailOpened", 1)
    known = set(wire["payload"]) | {"extra_fields"}
    extra = {k: v for k, v in extra.items() if k not in known}
    wire["payload"] = {**wire["payload"], **extra}
    event = parse_event(json.dumps(wire))
    assert (event.payload.extra_fields or {}) == json.loads(json.dumps(extra))
