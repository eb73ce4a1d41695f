"""Account-level signals: what the per-contact fold cannot see, evaluated from the read models.

`service_hold_lifted` on an account: every hold cause of every contact of the account (merges re-pointed)
has ended, the last within `hold_lifted_for` of the newest event — the `account_holds_lifted` view
(migration 10). The fold raises the contact-level signal; only SQL sees the whole account. A pass
(`streams/account_signals.py`) reads the view and the `account_signals` table (migration 14) and this
module says what changed: a lift not yet raised is raised, a raised one no longer in the view is cleared
(a new hold began, or it aged out). Each change is a row (versioned: the newest wins) and a message on
`signals.sales`, shaped like the fold's signal messages with `contact_id` null and `scope` "account".

Ids are deterministic (uuid5 of the account, the kind and the instant the hold lifted), so a pass run
again, by either runtime, raises nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .customer_360 import NEVER
from .signal_rows import SIGNAL_COLUMNS
from .signals import SERVICE_HOLD_LIFTED, TARGET, signal_id

ACCOUNT_SIGNALS_TABLE = "account_signals"
# The `signals` row without the contact (migration 14 makes the table so).
ACCOUNT_SIGNAL_COLUMNS = tuple(c for c in SIGNAL_COLUMNS if c != "contact_id")
LIFTED_NOW = (
    "SELECT account_id, lifted_at, last_cause, hold_evidence, as_of, lifted_for_seconds "
    "FROM account_holds_lifted CROSS JOIN hold_lift_settings ORDER BY account_id"
)
KNOWN = (
    "SELECT signal_id, account_id, status, reason, evidence, raised_at, expires_at, version "
    f"FROM {ACCOUNT_SIGNALS_TABLE} FINAL WHERE kind = '{SERVICE_HOLD_LIFTED}' ORDER BY signal_id"
)
# "Now" for a clear when nothing lifted is in the view: the newest event, as the hold views measure it.
NEWEST_EVENT = "SELECT max(occurred_at) FROM touchpoints"


@dataclass(frozen=True)
class AccountSignalChanges:
    rows: list[tuple[Any, ...]]
    messages: list[dict[str, Any]]


def account_signal_id(account_id: str, lifted_at: datetime) -> str:
    return signal_id(f"account:{account_id}", SERVICE_HOLD_LIFTED, lifted_at.isoformat())


# (account id, reason, evidence, raised at, expires at): what a raised signal says.
Said = tuple[str, str, list[str], datetime, datetime]


def changes(
    lifted: Iterable[Sequence[Any]], known: Iterable[Sequence[Any]], newest: datetime | None
) -> AccountSignalChanges:
    """`lifted`: rows of LIFTED_NOW; `known`: rows of KNOWN; `newest`: the newest event (for clears)."""
    current: dict[str, Said] = {}
    for account_id, lifted_at, last_cause, evidence, as_of, lifted_for in lifted:
        reason = f"service hold lifted on the account ({last_cause} was the last): sales may talk about more"
        expires = lifted_at + timedelta(seconds=int(lifted_for))
        current[account_signal_id(account_id, lifted_at)] = (
            account_id,
            reason,
            list(evidence),
            lifted_at,
            expires,
        )
        newest = max(newest, as_of) if newest is not None else as_of
    rows: list[tuple[Any, ...]] = []
    seen: set[str] = set()
    for sid, account_id, status, reason, evidence, raised_at, expires_at, version in known:
        seen.add(sid)
        if sid in current and status != "raised":  # lifted again after a clear: a late event undid a hold
            rows.append(_row(sid, current[sid], "raised", NEVER, version + 1))
        elif sid not in current and status == "raised":
            said = (account_id, reason, list(evidence), raised_at, expires_at)
            rows.append(_row(sid, said, "cleared", min(newest or expires_at, expires_at), version + 1))
    for sid, said in current.items():
        if sid not in seen:
            rows.append(_row(sid, said, "raised", NEVER, 1))
    return AccountSignalChanges(rows, [_message(row) for row in rows])


def _row(sid: str, said: Said, status: str, cleared_at: datetime, version: int) -> tuple[Any, ...]:
    account_id, reason, evidence, raised_at, expires_at = said
    kind = SERVICE_HOLD_LIFTED
    return (
        sid,
        account_id,
        kind,
        TARGET[kind],
        status,
        reason,
        evidence,
        raised_at,
        expires_at,
        cleared_at,
        version,
    )


def _message(row: tuple[Any, ...]) -> dict[str, Any]:
    values = dict(zip(ACCOUNT_SIGNAL_COLUMNS, row, strict=True))
    cleared = values["status"] == "cleared"
    value = {
        "signal_id": values["signal_id"],
        "contact_id": None,
        "account_id": values["account_id"],
        "scope": "account",
        "kind": values["kind"],
        "department": values["department"],
        "status": values["status"],
        "reason": values["reason"],
        "evidence": values["evidence"],
        "raised_at": values["raised_at"].isoformat() + "Z",
        "expires_at": values["expires_at"].isoformat() + "Z",
        "cleared_at": values["cleared_at"].isoformat() + "Z" if cleared else None,
    }
    return {"topic": f"signals.{values['department']}", "key": values["account_id"], "value": value}
