"""Dead letters: every record that could not become an event, kept with its original bytes and the reason."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

DEAD_LETTERS_TABLE = "dead_letters"

DEAD_LETTERS_DDL = f"""
CREATE TABLE IF NOT EXISTS {DEAD_LETTERS_TABLE} (
    log_partition UInt32,
    log_offset UInt64,
    received_at DateTime,
    event_type String,
    event_id String,
    error String,
    raw String
) ENGINE = ReplacingMergeTree(log_offset)
ORDER BY (log_partition, log_offset)
"""

DEAD_LETTER_COLUMNS = ("log_partition", "log_offset", "received_at", "event_type", "event_id", "error", "raw")


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
        orjson.dumps(error).decode(),
        raw.decode("utf-8", "replace"),
    )
