"""touchstream.events — the language: the envelope, every touchpoint type, upcasting, parsing, schemas.

Imports nothing else of Touchstream and does no I/O.
"""

from .catalogue import EVENT_TYPES, event_class
from .envelope import Event, Payload
from .parsing import EventParseError, Limits, Problem, UnknownEventType, UnknownSchemaVersion, parse_event
from .resolved import ResolvedTouchpoint, parse_resolved
from .values import Department, Identifiers, Money, PhoneRegions, normalize_phone

__all__ = [
    "EVENT_TYPES",
    "Department",
    "Event",
    "EventParseError",
    "Identifiers",
    "Limits",
    "Money",
    "Payload",
    "PhoneRegions",
    "Problem",
    "ResolvedTouchpoint",
    "UnknownEventType",
    "UnknownSchemaVersion",
    "event_class",
    "normalize_phone",
    "parse_event",
    "parse_resolved",
]
