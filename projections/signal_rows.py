"""The `signals` table row and the `signals.<department>` message for one signal change."""

from __future__ import annotations

from typing import Any

from .customer_360 import NEVER, at
from .signals import TARGET, SignalChange
from .state import ContactState

SIGNALS_TABLE = "signals"

SIGNAL_COLUMNS = (
    "signal_id",
    "contact_id",
    "account_id",
    "kind",
    "department",
    "status",
    "reason",
    "evidence",
    "raised_at",
    "expires_at",
    "cleared_at",
    "version",
)


def signal_row(s: ContactState, change: SignalChange, version: int) -> tuple[Any, ...]:
    sig = change.signal
    return (
        sig.signal_id,
        s.contact_id,
        s.account_id or "",
        sig.kind,
        TARGET[sig.kind],
        change.status,
        sig.reason,
        list(sig.evidence),
        at(sig.raised_at),
        at(sig.expires_at),
        at(change.cleared_at) if change.cleared_at else NEVER,
        version,
    )


def signal_message(s: ContactState, change: SignalChange) -> dict[str, Any]:
    sig = change.signal
    department = TARGET[sig.kind]
    value = {
        "signal_id": sig.signal_id,
        "contact_id": s.contact_id,
        "account_id": s.account_id,
        "kind": sig.kind,
        "department": department,
        "status": change.status,
        "reason": sig.reason,
        "evidence": list(sig.evidence),
        "raised_at": at(sig.raised_at).isoformat() + "Z",
        "expires_at": at(sig.expires_at).isoformat() + "Z",
        "cleared_at": at(change.cleared_at).isoformat() + "Z" if change.cleared_at else None,
    }
    return {"topic": f"signals.{department}", "key": s.contact_id, "value": value}
