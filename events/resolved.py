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
    # None only for a touchpoint about an organization with no person in it (account identifiers only).
    contact_id: str | None
    account_id: str | None = None
    # Where the raw event sat (partition, offset in touchpoints.raw): provenance for audits and replays.
    raw_partition: int | None = None
    raw_offset: int | None = None
    # Handed again to the person an anonymous caller's contact merged into (its first record named that
    # contact): the read models let it replace the first attribution (docs/identity.md, rule 5).
    reattributed: bool = False

    def to_wire(self) -> dict[str, Any]:
        wire = {
            "contact_id": self.contact_id,
            "account_id": self.account_id,
            "raw_partition": self.raw_partition,
            "raw_offset": self.raw_offset,
            "event": self.event.model_dump(mode="json"),
        }
        if self.reattributed:  # only then: every other record keeps its bytes
            wire["reattributed"] = True
        return wire

    def to_json(self) -> bytes:
        return pydantic_core.to_json(self.to_wire())


def parse_resolved(raw: bytes | str | dict[str, Any]) -> ResolvedTouchpoint:
    """Read a resolved touchpoint; raises EventParseError naming what is wrong."""
    try:
        data = raw if isinstance(raw, dict) else pydantic_core.from_json(raw)
    except ValueError as exc:
        raise EventParseError([Problem("$", f"not valid JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise EventParseError([Problem("$", "a resolved touchpoint is a JSON object")])
    contact, account = data.get("contact_id"), data.get("account_id")
    positions = [data.get("raw_partition"), data.get("raw_offset")]
    if not (contact or account):
        raise EventParseError(
            [Problem("contact_id", "a resolved touchpoint needs a contact_id or account_id")]
        )
    if not all(v is None or isinstance(v, str) for v in (contact, account)) or not all(
        p is None or isinstance(p, int) for p in positions
    ):
        raise EventParseError(
            [Problem("$", "contact_id/account_id are strings or null; raw_* integers or null")]
        )
    return ResolvedTouchpoint(
        event=parse_event(data.get("event") or {}),
        contact_id=contact,
        account_id=account,
        raw_partition=positions[0],
        raw_offset=positions[1],
        reattributed=data.get("reattributed") is True,
    )
