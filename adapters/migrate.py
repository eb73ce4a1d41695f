"""Apply the schema migrations (`projections/migrations.py`) to a read store, idempotently.

Applied versions are recorded in `schema_migrations` after every statement of the migration succeeded;
each statement is idempotent itself, so a run interrupted in the middle of a migration repeats it whole.
The same code runs on the ClickHouse server and on chDB. Two processes migrating one database at the same
moment is not guarded against: migrate from one place (the `touchstream db migrate` step of a deploy).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from touchstream.projections.config import DEFAULT_CONFIG, ProjectionConfig
from touchstream.projections.config_tables import CONFIG_TABLES
from touchstream.projections.migrations import MIGRATIONS, Migration
from touchstream.streams.ports import AbstractReadStore

MIGRATIONS_TABLE = "schema_migrations"

_MIGRATIONS_DDL = f"""
CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
    version UInt32,
    name String,
    applied_at DateTime
) ENGINE = ReplacingMergeTree ORDER BY version
"""


def applied_versions(store: AbstractReadStore) -> set[int]:
    store.execute(_MIGRATIONS_DDL)
    return {int(row[0]) for row in store.query(f"SELECT DISTINCT version FROM {MIGRATIONS_TABLE}")}


def migrate(
    store: AbstractReadStore,
    migrations: Sequence[Migration] = MIGRATIONS,
    on_applied: Callable[[Migration], None] | None = None,
) -> list[Migration]:
    """Apply, in version order, every migration not yet recorded; return the ones applied now."""
    done = applied_versions(store)
    applied: list[Migration] = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        for statement in migration.statements:
            store.execute(statement)
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        store.insert_rows(
            MIGRATIONS_TABLE, ("version", "name", "applied_at"), [(migration.version, migration.name, now)]
        )
        applied.append(migration)
        if on_applied is not None:
            on_applied(migration)
    return applied


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
