"""The touchpoints fact table: one row per accepted event, idempotent under replay.

Rows carry the log position as the ReplacingMergeTree version and are keyed by event id, so writing the
same event twice (a retry, a replay) leaves one row when read with FINAL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from touchstream.events import Event

TOUCHPOINTS_TABLE = "touchpoints"

# Runs unchanged on ClickHouse 18.16 and on chDB 26.x (see docs/clickhouse.md for the dialect we keep to).
TOUCHPOINTS_DDL = f"""
CREATE TABLE IF NOT EXISTS {TOUCHPOINTS_TABLE} (
    event_id String,
    type String,
    schema_version UInt16,
    occurred_at DateTime,
    recorded_at DateTime,
    source String,
    department String,
    customer_key String,
    email String,
    phone String,
    account_domain String,
    payload String,
    log_partition UInt32,
    log_offset UInt64
) ENGINE = ReplacingMergeTree(log_offset)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (customer_key, event_id)
"""

TOUCHPOINT_COLUMNS = (
    "event_id",
    "type",
    "schema_version",
    "occurred_at",
    "recorded_at",
    "source",
    "department",
    "customer_key",
    "email",
    "phone",
    "account_domain",
    "payload",
    "log_partition",
    "log_offset",
)

TOUCHES_PER_CUSTOMER = f"""
SELECT customer_key, count() AS touches, uniqExact(department) AS departments, max(occurred_at) AS last_touch
FROM {TOUCHPOINTS_TABLE} FINAL
GROUP BY customer_key
ORDER BY touches DESC, customer_key
LIMIT %(limit)s
"""

TOUCHES_PER_DEPARTMENT = f"""
SELECT department, count() AS touches, uniqExact(customer_key) AS customers
FROM {TOUCHPOINTS_TABLE} FINAL
GROUP BY department
ORDER BY department
"""


def _naive_utc(moment: datetime) -> datetime:
    # ClickHouse DateTime columns hold UTC here; both clients take naive datetimes as that.
    return moment.replace(tzinfo=None)


def touchpoint_row(event: Event, partition: int, offset: int) -> tuple[Any, ...]:
    ids = event.identifiers
    return (
        str(event.event_id),
        event.type,
        event.schema_version,
        _naive_utc(event.occurred_at),
        _naive_utc(event.recorded_at),
        event.source,
        event.department.value,
        ids.strongest(),
        ids.email or "",
        ids.phone or "",
        ids.account_domain or "",
        event.payload.model_dump_json(),
        partition,
        offset,
    )
