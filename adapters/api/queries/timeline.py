"""A customer's touchpoints, newest first, paged by an opaque cursor (GET /v1/customers/{id}/timeline): a
range of `contact_timeline` (ordered by contact id) per contact of the merge group, never all the facts."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ....streams.ports import AbstractReadStore
from .shared import FIRST_DAY, LAST_DAY, as_dicts, merge_group


def encode_cursor(occurred_at: str, event_id: str) -> str:
    return base64.urlsafe_b64encode(f"{occurred_at}|{event_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ValueError for anything `encode_cursor` did not make."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, event_id = text.split("|", 1)
        at = datetime.fromisoformat(moment.rstrip("Z")).replace(tzinfo=None)
        if not FIRST_DAY <= at.date() <= LAST_DAY:
            raise ValueError("out of range")
        return at, event_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("not a cursor this API gave out") from exc


def timeline(
    store: AbstractReadStore,
    contact_id: str,
    *,
    departments: Sequence[str] = (),
    types: Sequence[str] = (),
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, `limit` per page; the cursor of the next page (None at the end)."""
    survivor, ids = merge_group(store, contact_id)
    where = ["contact_id IN %(ids)s"]
    params: dict[str, Any] = {"ids": tuple(ids)}
    if departments:
        where.append("department IN %(departments)s")
        params["departments"] = tuple(departments)
    if types:
        where.append("type IN %(types)s")
        params["types"] = tuple(types)
    if cursor:
        moment, event_id = decode_cursor(cursor)
        where.append("(occurred_at < %(at)s OR (occurred_at = %(at)s AND event_id < %(event)s))")
        params.update(at=moment, event=event_id)
    # The survivor is set here, not selected as `contact_id`: ClickHouse substitutes a SELECT alias into
    # WHERE, so a constant named contact_id would make `contact_id IN ids` match every row. A fact handed
    # again to another contact of the group (a re-attributed call) has a row under each: its latest wins.
    columns, rows = store.query_with_columns(
        "SELECT occurred_at, department, type, source, argMax(summary, log_offset) AS latest_summary, "
        "event_id, argMax(contact_id, log_offset) AS original_contact_id "
        f"FROM contact_timeline FINAL WHERE {' AND '.join(where)} "
        "GROUP BY occurred_at, event_id, department, type, source "
        f"ORDER BY occurred_at DESC, event_id DESC LIMIT {int(limit) + 1}",
        params,
    )
    named = [("summary" if name == "latest_summary" else name, kind) for name, kind in columns]
    items = [{"contact_id": survivor, **item} for item in as_dicts(named, rows)]
    if len(items) <= limit:
        return items, None
    items = items[:limit]
    return items, encode_cursor(str(items[-1]["occurred_at"]), str(items[-1]["event_id"]))
