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
