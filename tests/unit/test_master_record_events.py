"""The master record's stored events keep their topics and fields: every event ever saved must load again.

The library stores an event under its class's topic (`touchstream.projections.master_record:Contact.X`)
with the event's attributes as JSON, and rebuilds it from exactly that. So renaming an event class or a
field, or moving an aggregate, would orphan what is stored; this list is that contract, written down.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from eventsourcing.domain import CanMutateAggregate
from eventsourcing.utils import get_topic, resolve_topic

from touchstream.projections import master_record

MODULE = "touchstream.projections.master_record"
_HEADER = {"originator_id", "originator_version", "timestamp", "originator_topic"}

#: Event class -> its own fields, in order (what the stored JSON holds beside the header).
STORED = {
    "Contact.Absorbed": [
        "merged_id",
        "reason",
        "identifiers",
        "moved",
        "weak",
        "observations",
        "account_id",
        "survivor_rule",
        "event_id",
        "actor",
    ],
    "Contact.AccountLinked": ["account_id", "previous", "basis", "event_id"],
    "Contact.AccountSuggested": ["account_id", "company", "event_id"],
    "Contact.AttributeChanged": ["attribute", "old_value", "new_value", "provenance", "event_id"],
    "Contact.AttributeObserved": ["observation"],
    "Contact.CallKept": ["partition", "offset", "event_id"],
    "Contact.CallsTaken": ["merged_id", "positions", "event_id"],
    "Contact.ConsentChanged": ["purpose", "granted", "at", "source", "event_id"],
    "Contact.ErasureRequested": ["at", "event_id"],
    "Contact.IdentifiersAttached": ["strong", "weak", "event_id"],
    "Contact.MergeUndone": ["merged_id", "actor", "note"],
    "Contact.MergedInto": ["survivor_id", "reason", "identifiers", "event_id"],
    "Contact.Registered": ["anchor", "first_seen", "role", "event_id"],
    "Contact.Unmerged": ["survivor_id", "actor", "note"],
    "Account.Confirmed": ["event_id"],
    "Account.ContactJoined": ["contact_id"],
    "Account.ContactLeft": ["contact_id"],
    "Account.KeysClaimed": ["keys", "event_id"],
    "Account.Opened": ["anchor", "provisional", "name", "event_id"],
    "IdentifierClaim.Claimed": ["key", "owner_id", "owner_kind", "event_id"],
    "IdentifierClaim.MergeCaused": ["survivor_id", "merged_id"],
    "WeakIndex.HolderAdded": ["contact_id"],
    "DuplicateSuspect.Decided": ["decision", "actor", "note"],
    "DuplicateSuspect.Raised": ["contact_id", "other_id", "reason", "identifier", "event_id"],
    "DuplicateSuspect.Withdrawn": ["reason", "event_id"],
}


def recorded_events() -> dict[str, type[CanMutateAggregate]]:
    aggregates = (
        master_record.Contact,
        master_record.Account,
        master_record.IdentifierClaim,
        master_record.WeakIndex,
        master_record.DuplicateSuspect,
    )
    found: dict[str, type[CanMutateAggregate]] = {}
    for aggregate in aggregates:
        for value in vars(aggregate).values():
            if (
                isinstance(value, type)
                and issubclass(value, CanMutateAggregate)
                and value.__name__ not in ("Event", "Created")
            ):
                found[value.__qualname__] = value
    return found


def test_every_recorded_event_keeps_its_topic_and_its_fields() -> None:
    events = recorded_events()
    assert sorted(events) == sorted(STORED)
    for name, cls in events.items():
        assert get_topic(cls) == f"{MODULE}:{name}"
        assert resolve_topic(f"{MODULE}:{name}") is cls
        own = [f.name for f in dataclasses.fields(cls) if f.name not in _HEADER]
        assert own == STORED[name], name


def _created(aggregate: Any) -> tuple[type[Any], dict[str, Any], dict[str, Any]]:
    (event,) = aggregate.collect_events()
    fields = {k: v for k, v in vars(event).items() if k != "timestamp"}
    state = {k: v for k, v in vars(aggregate).items() if k not in ("_created_on", "_modified_on")}
    return type(event), fields, state


def test_new_creates_what_the_constructor_would() -> None:
    """`X.new(...)` (the id given, `Aggregate._create`) records the same created event as `X(...)`."""
    now = datetime(2026, 12, 7, tzinfo=UTC)
    a, b = uuid4(), uuid4()
    pairs = [
        (
            master_record.Contact.new("email:jane@acme.com", now, True, "e1"),
            master_record.Contact(anchor="email:jane@acme.com", first_seen=now, role=True, event_id="e1"),
        ),
        (
            master_record.Account.new("domain:acme.com", True, "Acme", "e2"),
            master_record.Account(anchor="domain:acme.com", provisional=True, name="Acme", event_id="e2"),
        ),
        (
            master_record.IdentifierClaim.new("email:jane@acme.com", a, "contact", "e3"),
            master_record.IdentifierClaim(
                key="email:jane@acme.com", owner_id=a, owner_kind="contact", event_id="e3"
            ),
        ),
        (
            master_record.WeakIndex.new("phone:+14155550100"),
            master_record.WeakIndex(key="phone:+14155550100"),
        ),
        (
            master_record.DuplicateSuspect.new(a, b, "shared_phone", "phone:+14155550100", "e4"),
            master_record.DuplicateSuspect(
                contact_id=a,
                other_id=b,
                reason="shared_phone",
                identifier="phone:+14155550100",
                event_id="e4",
            ),
        ),
    ]
    for made, constructed in pairs:
        assert made.id == constructed.id
        assert _created(made) == _created(constructed)
