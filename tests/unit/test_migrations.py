"""Migrations apply once, in order, are recorded, and leave tables whose columns the row builders fill."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import MIGRATIONS_TABLE, applied_versions, load_config, migrate
from touchstream.projections.account_signals import ACCOUNT_SIGNAL_COLUMNS
from touchstream.projections.customer_360 import CUSTOMER_360_COLUMNS
from touchstream.projections.dead_letters import DEAD_LETTER_COLUMNS
from touchstream.projections.merges import MEMBER_COLUMNS, MERGE_COLUMNS
from touchstream.projections.migrations import MIGRATIONS, VIEWS, Migration
from touchstream.projections.signal_rows import SIGNAL_COLUMNS
from touchstream.projections.touchpoints import TOUCHPOINT_COLUMNS
from touchstream.streams.project import ACCOUNT_MEMBERS_COLUMNS, STATE_COLUMNS, TIMELINE_COLUMNS


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChDBStore]:
    with ChDBStore(str(tmp_path / "chdb")) as opened:
        yield opened


def test_versions_are_unique_and_ordered() -> None:
    versions = [m.version for m in MIGRATIONS]
    assert versions == sorted(set(versions))
    assert versions[0] == 1


def test_migrate_applies_everything_once_and_records_it(store: ChDBStore) -> None:
    assert [m.version for m in migrate(store)] == [m.version for m in MIGRATIONS]
    assert migrate(store) == []
    assert migrate(store) == []
    assert applied_versions(store) == {m.version for m in MIGRATIONS}
    assert store.query(f"SELECT count() FROM {MIGRATIONS_TABLE}") == [(len(MIGRATIONS),)]
    for view in VIEWS:
        store.query(f"SELECT * FROM {view} LIMIT 1")


def test_a_migration_interrupted_half_way_is_applied_again(store: ChDBStore) -> None:
    migrate(store)
    broken = Migration(
        99,
        "second statement fails",
        ("CREATE TABLE IF NOT EXISTS extra (x UInt8) ENGINE = MergeTree ORDER BY x", "SELEC oops"),
    )
    with pytest.raises(Exception, match="SELEC"):
        migrate(store, [*MIGRATIONS, broken])
    assert 99 not in applied_versions(store)
    fixed = Migration(99, "fixed", (broken.statements[0], "SELECT 1"))
    assert migrate(store, [*MIGRATIONS, fixed]) == [fixed]


def test_a_column_added_before_an_interruption_is_not_added_twice(store: ChDBStore) -> None:
    """18.16 has no ADD COLUMN IF NOT EXISTS: migrate skips a column that is already there."""
    migrate(store)
    add = "ALTER TABLE customer_360 ADD COLUMN scratch Array(String)"
    broken = Migration(99, "second statement fails", (add, "SELEC oops"))
    with pytest.raises(Exception, match="SELEC"):
        migrate(store, [*MIGRATIONS, broken])
    fixed = Migration(99, "fixed", (add, "SELECT 1"))
    assert migrate(store, [*MIGRATIONS, fixed]) == [fixed]
    assert store.query(
        "SELECT count() FROM system.columns WHERE table = 'customer_360' AND name = 'scratch'"
    ) == [(1,)]
    with pytest.raises(Exception, match="scratch"):  # without the skip, the second ADD is refused
        store.execute(add)


def test_tables_have_exactly_the_columns_the_row_builders_write(store: ChDBStore) -> None:
    migrate(store)
    expected = {
        "touchpoints": TOUCHPOINT_COLUMNS,
        "dead_letters": DEAD_LETTER_COLUMNS,
        "customer_360": CUSTOMER_360_COLUMNS,
        "signals": SIGNAL_COLUMNS,
        "projection_state": STATE_COLUMNS,
        "contact_merges": MERGE_COLUMNS,
        "merge_members": MEMBER_COLUMNS,
        "contact_timeline": TIMELINE_COLUMNS,
        "account_members": ACCOUNT_MEMBERS_COLUMNS,
        "account_signals": ACCOUNT_SIGNAL_COLUMNS,
    }
    for table, columns in expected.items():
        got = store.query(
            "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = %(t)s "
            "ORDER BY position",
            {"t": table},
        )
        assert tuple(name for (name,) in got) == columns, table


def test_config_tables_reload_without_duplicates(store: ChDBStore) -> None:
    migrate(store)
    load_config(store)
    load_config(store)
    assert store.query("SELECT count() FROM stage_probabilities") == [(4,)]
    assert store.query("SELECT priority, first_response_sla_minutes FROM sla_targets ORDER BY priority")[
        0
    ] == ("P1", 60)


def test_a_migration_that_trips_over_another_process_is_retried_until_it_settles() -> None:
    """Two workers started together migrate one database at once: a statement of one can meet the other's
    half-done step (a view dropped to be re-created). prepare_when_ready tries again; every statement is
    idempotent, so the second pass completes what is left."""
    from touchstream.adapters.storage.migrate import MIGRATIONS_TABLE, prepare_when_ready
    from touchstream.projections.migrations import MIGRATIONS
    from touchstream.streams.ports import ReadStoreError

    class Tripping:
        """A store whose first few statements fail as if another migrator were half-way."""

        def __init__(self) -> None:
            self.failures_left = 2
            self.statements: list[str] = []
            self.recorded: set[int] = set()

        def __enter__(self) -> Tripping:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def execute(self, sql: str, params: object = None) -> None:
            if self.failures_left and sql.lstrip().upper().startswith("CREATE VIEW"):
                self.failures_left -= 1
                raise ReadStoreError("test", sql, "Table t.active_signals doesn't exist")
            self.statements.append(sql)

        def query(self, sql: str, params: object = None) -> list[tuple[int]]:
            return [(v,) for v in sorted(self.recorded)]

        def insert_rows(self, table: str, columns: object, rows: list[tuple[object, ...]]) -> int:
            if table == MIGRATIONS_TABLE:
                self.recorded.update(int(str(row[0])) for row in rows)
            return len(rows)

    store = Tripping()
    retries: list[int] = []
    attempts = prepare_when_ready(
        lambda: store,  # type: ignore[arg-type,return-value]
        first_delay_s=0,
        on_retry=lambda n, exc, pause: retries.append(n),
    )
    assert retries == [1, 2]
    assert attempts == 3
    assert store.recorded == {m.version for m in MIGRATIONS}
    assert any(s.startswith("TRUNCATE TABLE") for s in store.statements), "the config tables were reloaded"
