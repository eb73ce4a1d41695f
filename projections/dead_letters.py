"""Dead letters: every record that could not become an event, kept with its original bytes and the reason.

The table is created by migration 1 (`migrations.py`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from ..events import event_class

DEAD_LETTERS_TABLE = "dead_letters"

DEAD_LETTER_COLUMNS = (
    "log_partition",
    "log_offset",
    "received_at",
    "event_type",
    "event_id",
    "source",
    "department",
    "error",
    "raw",
)


def claimed_origin(raw: bytes) -> tuple[str, str]:
    """The source and department a rejected record claims, if it is JSON enough to say: data quality counts
    dead letters per team (SQL cannot read arbitrary JSON on 18.16, so this happens here)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    source = data.get("source")
    department = data.get("department")
    if not isinstance(department, str):
        known = event_class(data["type"]) if isinstance(data.get("type"), str) else None
        department = known.home_department.value if known is not None else ""
    return (source.strip().lower()[:64] if isinstance(source, str) else ""), department[:64]


def dead_letter_row(
    partition: int, offset: int, received_at: datetime, error: dict[str, Any], raw: bytes
) -> tuple[Any, ...]:
    # Invalid UTF-8 is kept visible (replacement characters) rather than dropped; the log keeps the bytes.
    return (
        partition,
        offset,
        received_at.replace(tzinfo=None),
        error.get("event_type") or "",
        error.get("event_id") or "",
        *claimed_origin(raw),
        orjson.dumps(error).decode(),
        raw.decode("utf-8", "replace"),
    )
