"""Bytes (or a dict) in, a typed event or one clear error out. Nothing else is raised for bad input."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pydantic_core
from pydantic import ValidationError

from .catalogue import EVENT_TYPES
from .envelope import Event
from .upcasting import can_upcast, upcast
from .values import DEFAULT_PHONE_REGION, PhoneRegions

DEFAULT_MAX_EVENT_BYTES = 64 * 1024


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an event: where (a dotted field path, `$` for the whole), what, what came."""

    path: str
    message: str
    got: str | None = None

    def __str__(self) -> str:
        came = f" (got {self.got})" if self.got is not None else ""
        return f"{self.path}: {self.message}{came}"


@dataclass(frozen=True)
class Limits:
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES


class EventParseError(ValueError):
    """An event that cannot be accepted, with every problem found. The one error bad input produces."""

    def __init__(
        self,
        problems: list[Problem],
        *,
        event_type: str | None = None,
        event_id: str | None = None,
    ) -> None:
        self.problems = tuple(problems)
        self.event_type = event_type
        self.event_id = event_id
        head = f"invalid {event_type or 'event'}" + (f" {event_id}" if event_id else "")
        super().__init__(head + ": " + "; ".join(str(p) for p in self.problems))

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its parts (not from str(self)), so it survives pickling across processes.
        return (_rebuild, (type(self), list(self.problems), self.event_type, self.event_id))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, for API answers and dead letters."""
        return {
            "error": type(self).__name__,
            "event_type": self.event_type,
            "event_id": self.event_id,
            "problems": [{"path": p.path, "message": p.message, "got": p.got} for p in self.problems],
        }


def _rebuild(
    cls: type[EventParseError], problems: list[Problem], event_type: str | None, event_id: str | None
) -> EventParseError:
    return cls(problems, event_type=event_type, event_id=event_id)


class UnknownEventType(EventParseError):
    """The `type` names no event in the catalogue."""


class UnknownSchemaVersion(EventParseError):
    """The `schema_version` is newer than this reader, or older with no upcaster to the current one."""


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "$"


def _from_validation_error(error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        # Pydantic prefixes messages from our own validators with "Value error, "; the path says enough.
        message = str(item["msg"]).removeprefix("Value error, ")
        got = None if item["type"] == "missing" else _short(item.get("input"))
        problems.append(Problem(_path(tuple(item["loc"])), message, got))
    return problems


def _decode(raw: bytes | str, limits: Limits) -> Any:
    size = len(raw.encode("utf-8", "surrogatepass")) if isinstance(raw, str) else len(raw)
    if size > limits.max_event_bytes:
        raise EventParseError(
            [
                Problem(
                    "$", f"event is {size} bytes; the limit is {limits.max_event_bytes}: shrink the payload"
                )
            ]
        )
    if isinstance(raw, bytes):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EventParseError(
                [Problem("$", f"not UTF-8: invalid byte at offset {exc.start}; send UTF-8 encoded JSON")]
            ) from None
    try:
        return pydantic_core.from_json(raw)
    except ValueError as exc:
        raise EventParseError([Problem("$", f"not valid JSON: {exc}")]) from None


def parse_event(
    raw: bytes | str | Mapping[str, Any],
    *,
    limits: Limits | None = None,
    default_region: str | None = None,
    regions: PhoneRegions | None = None,
    now: datetime | None = None,
) -> Event:
    """Read one event from JSON bytes/text or an already-decoded mapping.

    Old schema versions are upcast to the current one. Raises EventParseError (or its subclasses
    UnknownEventType / UnknownSchemaVersion) listing every problem with its field path.

    Phones written without a country code are read with `regions` (the source's region, then the
    address's country, then its default); `default_region`, when given, replaces that default. Nothing
    here reads the environment: the same arguments give the same event in every process.
    """
    limits = limits or Limits()
    data = dict(raw) if isinstance(raw, Mapping) else _decode(raw, limits)
    if not isinstance(data, dict):
        raise EventParseError([Problem("$", "an event is a JSON object", _short(data))])
    event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
    type_name = data.get("type")
    if not isinstance(type_name, str):
        raise EventParseError(
            [Problem("type", "required: the event type name, e.g. 'EmailOpened'", _short(type_name))],
            event_id=event_id,
        )
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        close = difflib.get_close_matches(type_name, EVENT_TYPES, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `touchstream schemas export`"
        raise UnknownEventType(
            [Problem("type", f"unknown event type {type_name!r}{hint}")],
            event_type=type_name,
            event_id=event_id,
        )
    data = _current_version(data, cls, event_id)
    context = {"now": now or datetime.now(UTC), "default_region": _region(data, regions, default_region)}
    try:
        return cls.model_validate(data, context=context)
    except ValidationError as exc:
        raise EventParseError(_from_validation_error(exc), event_type=type_name, event_id=event_id) from None


def address_country(data: Mapping[str, Any]) -> object:
    """The country of the postal address the event carries (payload or its observed details), if any."""
    payload = data.get("payload")
    if not isinstance(payload, Mapping):
        return None
    for holder in (payload, payload.get("observed")):
        address = holder.get("address") if isinstance(holder, Mapping) else None
        if isinstance(address, Mapping) and address.get("country"):
            return address.get("country")
    return None


def _region(data: Mapping[str, Any], regions: PhoneRegions | None, default_region: str | None) -> str:
    regions = regions or _DEFAULT_REGIONS
    return regions.region_for(data.get("source"), address_country(data), default_region)


_DEFAULT_REGIONS = PhoneRegions(DEFAULT_PHONE_REGION)


def _current_version(data: dict[str, Any], cls: type[Event], event_id: str | None) -> dict[str, Any]:
    type_name = cls.type_name()
    version = data.get("schema_version")
    current = cls.current_version()
    if not isinstance(version, int) or isinstance(version, bool):
        raise EventParseError(
            [Problem("schema_version", f"required: an integer (current is {current})", _short(version))],
            event_type=type_name,
            event_id=event_id,
        )
    if version == current:
        return data
    if version > current or version < 1 or not can_upcast(type_name, version, current):
        raise UnknownSchemaVersion(
            [
                Problem(
                    "schema_version", f"{type_name} has no version {version}; this reader knows 1..{current}"
                )
            ],
            event_type=type_name,
            event_id=event_id,
        )
    return upcast(data, type_name, version, current)
