"""An account: its roll-up and its contacts (GET /v1/accounts/{account_id})."""

from __future__ import annotations

from typing import Any

from ....streams.ports import AbstractReadStore
from .shared import as_dicts

ACCOUNT_CONTACT_COLUMNS = (
    "contact_id, first_name, last_name, email, phone, job_title, company, lifecycle_stage, health_score, "
    "open_tickets, open_opportunities, last_seen"
)


def account_view(store: AbstractReadStore, account_id: str, contacts: int = 100) -> dict[str, Any] | None:
    columns, rows = store.query_with_columns(
        "SELECT * FROM account_360 WHERE account_id = %(id)s", {"id": account_id}
    )
    if not rows:
        return None
    rollup = as_dicts(columns, rows)[0]
    contact_columns, contact_rows = store.query_with_columns(
        f"SELECT {ACCOUNT_CONTACT_COLUMNS} FROM customer_360_current WHERE account_id = %(id)s "
        f"ORDER BY last_seen DESC, contact_id LIMIT {int(contacts)}",
        {"id": account_id},
    )
    return {"rollup": rollup, "contacts": as_dicts(contact_columns, contact_rows)}


def account_signals(
    store: AbstractReadStore, account_id: str, departments: frozenset[str]
) -> list[dict[str, Any]]:
    """The account's raised account-level signals that have not expired (`active_account_signals`, the
    newest version of each), of the departments given: what sales hears about the account as a whole."""
    columns, rows = store.query_with_columns(
        "SELECT signal_id, kind, department, reason, evidence, raised_at, expires_at "
        "FROM active_account_signals WHERE account_id = %(id)s ORDER BY raised_at DESC, signal_id",
        {"id": account_id},
    )
    return [s for s in as_dicts(columns, rows) if s["department"] in departments]
