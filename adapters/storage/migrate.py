"""Apply the schema migrations (`projections/migrations.py`) to a read store, idempotently.

Applied versions are recorded in `schema_migrations` after every statement of the migration succeeded;
each statement is idempotent itself, so a run interrupted in the middle of a migration repeats it whole.
ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`: an `ALTER TABLE t ADD COLUMN c ...` (one column a
statement) is skipped when `c` is already there.
The same code runs on the ClickHouse server and on chDB. ClickHouse has no lock to take, so two processes
migrating one database at the same moment (workers started together) can trip over each other's half-done
step: `prepare_when_ready` retries, which is safe because every statement is idempotent. Better still,
migrate from one place (the `touchstream db migrate` step of a deploy).

A worker may also start while its ClickHouse server is briefly unreachable (found by the cluster suite: a
replacement worker started while a replica was killed exited on `CREATE DATABASE`). `prepare_when_ready`
opens the store, migrates and loads the config tables as one idempotent step, retried with backoff until a
generous deadline; only then is the start refused, with the last error named.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from ...projections.config import DEFAULT_CONFIG, ProjectionConfig
from ...projections.config_tables import CONFIG_TABLES
from ...projections.migrations import MIGRATIONS, Migration
from ...streams.ports import AbstractReadStore, ReadStoreError

MIGRATIONS_TABLE = "schema_migrations"

_MIGRATIONS_DDL = f"""
CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
    version UInt32,
    name String,
    applied_at DateTime
) ENGINE = ReplacingMergeTree ORDER BY version
"""


_ADD_COLUMN = re.compile(
    r"^\s*ALTER\s+TABLE\s+(?P<table>[A-Za-z_][\w.]*)(\s+ON\s+CLUSTER\s+\w+)?\s+ADD\s+COLUMN\s+(?P<column>\w+)\s+"
    r"[^,]*$",
    re.IGNORECASE | re.DOTALL,
)


def added_column(statement: str) -> tuple[str, str] | None:
    """(table, column) when `statement` adds one column (its idempotent form here), else None."""
    m = _ADD_COLUMN.match(statement)
    return (m["table"], m["column"]) if m else None


def _column_exists(store: AbstractReadStore, table: str, column: str) -> bool:
    database, _, name = table.rpartition(".")
    where_db = "database = %(database)s" if database else "database = currentDatabase()"
    sql = f"SELECT count() FROM system.columns WHERE {where_db} AND table = %(table)s AND name = %(column)s"
    return bool(store.query(sql, {"database": database, "table": name, "column": column})[0][0])


def applied_versions(store: AbstractReadStore) -> set[int]:
    store.execute(_MIGRATIONS_DDL)
    return {int(row[0]) for row in store.query(f"SELECT DISTINCT version FROM {MIGRATIONS_TABLE}")}


def execute_idempotent(store: AbstractReadStore, statement: str) -> None:
    """Run one migration statement, unless it adds a column that is already there (added by a run
    interrupted before it recorded the version)."""
    if (added := added_column(statement)) and _column_exists(store, *added):
        return
    store.execute(statement)


def migrate(
    store: AbstractReadStore,
    migrations: Sequence[Migration] = MIGRATIONS,
    on_applied: Callable[[Migration], None] | None = None,
    execute: Callable[[str], None] | None = None,
) -> list[Migration]:
    """Apply, in version order, every migration not yet recorded; return the ones applied now. `execute`
    runs each statement (default `execute_idempotent` on `store`; a cluster runs some per shard)."""
    done = applied_versions(store)
    applied: list[Migration] = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        for statement in migration.statements:
            if execute is not None:
                execute(statement)
            else:
                execute_idempotent(store, statement)
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        store.insert_rows(
            MIGRATIONS_TABLE, ("version", "name", "applied_at"), [(migration.version, migration.name, now)]
        )
        applied.append(migration)
        if on_applied is not None:
            on_applied(migration)
    return applied


class ReadStoreNotReady(ReadStoreError):
    """The read store could not be prepared before the deadline; the message names the last error."""


def prepare_when_ready(
    open_store: Callable[[], AbstractReadStore],
    *,
    apply_migrations: bool = True,
    timeout_s: float = 300.0,
    first_delay_s: float = 0.5,
    on_retry: Callable[[int, Exception, float], None] | None = None,
) -> int:
    """Open the store (a server store creates its database there), apply pending migrations and reload the
    config tables, retrying the whole step on any `ReadStoreError` (server refusing connections, another
    process half-way through a migration) with backoff up to `timeout_s`. Returns the attempts it took;
    `on_retry(attempt, error, pause_s)` hears of each failed one. Every part is idempotent, so a retry
    after a half-done attempt completes it."""
    deadline = time.monotonic() + timeout_s
    pause = first_delay_s
    attempt = 0
    while True:
        attempt += 1
        try:
            with open_store() as store:
                if apply_migrations:
                    migrate(store)
                load_config(store)
            return attempt
        except ReadStoreError as exc:
            if time.monotonic() + pause > deadline:
                raise ReadStoreNotReady(
                    exc.engine,
                    exc.sql_first_line,
                    f"not ready after {attempt} attempt(s) in {timeout_s:.0f} s; last error: {exc.detail}",
                ) from exc
            if on_retry is not None:
                on_retry(attempt, exc, pause)
            time.sleep(pause)
            pause = min(pause * 2, 8.0)


def load_config(store: AbstractReadStore, config: ProjectionConfig = DEFAULT_CONFIG) -> None:
    """Write the config tables the departmental SQL joins (SLA targets, stage probabilities, dated
    exchange rates, late stages)."""
    for table, columns, rows in CONFIG_TABLES:
        store.execute(f"TRUNCATE TABLE {table}")
        store.insert_rows(table, columns, rows(config))


def prepare_read_store(store: AbstractReadStore, config: ProjectionConfig = DEFAULT_CONFIG) -> None:
    """Apply pending migrations and load the config tables."""
    migrate(store)
    load_config(store, config)
