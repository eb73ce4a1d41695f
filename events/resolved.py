"""A touchpoint after identity resolution: what flows on `touchpoints.resolved`, keyed by contact id.

The event itself is unchanged (immutable); resolution adds who it is about in the master record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pydantic_core

from .envelope import Event
from .parsing import EventParseError, Problem, parse_event


@dataclass(frozen=True)
class ResolvedTouchpoint:
    event: Event
    contact_id: str
    account_id: str | None = None
    # Where the raw event sat (partition, offset in touchpoints.raw): provenance for audits and replays.
    raw_partition: int | None = None
    raw_offset: int | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id,
            "account_id": self.account_id,
            "raw_partition": self.raw_partition,
            "raw_offset": self.raw_offset,
            "event": self.event.model_dump(mode="json"),
        }

    def to_json(self) -> bytes:
        return pydantic_core.to_json(self.to_wire())


def parse_resolved(raw: bytes | str | dict[str, Any]) -> ResolvedTouchpoint:
    """Read a resolved touchpoint; raises EventParseError naming what is wrong."""
    try:
        data = raw if isinstance(raw, dict) else pydantic_core.from_json(raw)
    except ValueError as exc:
        raise EventParseError([Problem("$", f"not valid JSON: {exc}")]) from None
    if not isinstance(data, dict) or not isinstance(data.get("contact_id"), str) or not data["contact_id"]:
        raise EventParseError([Problem("contact_id", "a resolved touchpoint needs a contact_id")])
    account = data.get("account_id")
    positions = [data.get("raw_partition"), data.get("raw_offset")]
    if not (account is None or isinstance(account, str)) or not all(
        p is None or isinstance(p, int) for p in positions
    ):
        raise EventParseError([Problem("$", "account_id must be a string or null; raw_* integers or null")])
    return ResolvedTouchpoint(
        event=parse_event(data.get("event") or {}),
        contact_id=data["contact_id"],
        account_id=account,
        raw_partition=positions[0],
        raw_offset=positions[1],
    )
