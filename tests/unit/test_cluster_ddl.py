"""The cluster form of the read-store migrations (adapters/storage/cluster_ddl.py), as text.

Running them on a real 2 x 2 cluster is tests/cluster/'s job; here: every shipped statement has a cluster
form, the naming scheme holds, and what has none is refused with the fix.
"""

from __future__ import annotations

import re

import pytest

from touchstream.adapters.storage.cluster_ddl import (
    LOCAL_SUFFIX,
    ClusterDDLError,
    cluster_migrations,
    cluster_statements,
    migrations_table_ddl,
    per_shard_form,
)
from touchstream.adapters.storage.migrate import added_column
from touchstream.projections.migrations import MIGRATIONS, engine_of

TABLE = """
CREATE TABLE IF NOT EXISTS signals (
    contact_id String,
    signal_id String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (contact_id, signal_id)
"""


def test_every_shipped_statement_has_a_cluster_form_on_cluster() -> None:
    migrated = cluster_migrations(MIGRATIONS, "c1", "db")
    assert [m.version for m in migrated] == sorted(m.version for m in MIGRATIONS)
    statements = [s for m in migrated for s in m.statements]
    assert len(statements) >= sum(len(m.statements) for m in MIGRATIONS)
    for statement in statements:
        if statement.startswith("INSERT INTO db."):  # a backfill: once, through the Distributed tables
            assert " ON CLUSTER" not in statement, statement
            assert " FROM db." in statement, statement
            target = statement.split()[2].removeprefix("db.")
            assert "ReplacingMergeTree" in (engine_of(target) or ""), "run again, it adds no row"
            continue
        assert " ON CLUSTER c1" in statement, statement
        idempotent = "IF NOT EXISTS" in statement or "IF EXISTS" in statement or added_column(statement)
        assert idempotent, statement


def test_a_replacing_table_becomes_a_replicated_local_table_behind_a_distributed_one() -> None:
    local, distributed = cluster_statements(TABLE, "c1", "db")
    assert local.startswith(f"CREATE TABLE IF NOT EXISTS db.signals{LOCAL_SUFFIX} ON CLUSTER c1 (")
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db.signals', '{replica}', version)"
        in local
    )
    assert "ORDER BY (contact_id, signal_id)" in local
    # Every version of one row goes to one shard: the sharding key is the ORDER BY key.
    assert distributed == (
        "CREATE TABLE IF NOT EXISTS db.signals ON CLUSTER c1 AS db.signals_local\n"
        "ENGINE = Distributed(c1, db, signals_local, cityHash64(contact_id, signal_id))"
    )


def test_plain_mergetree_config_tables_are_a_copy_on_every_node() -> None:
    sql = "CREATE TABLE IF NOT EXISTS sla_targets (priority String) ENGINE = MergeTree ORDER BY priority"
    (only,) = cluster_statements(sql, "c1", "db")
    assert only.startswith("CREATE TABLE IF NOT EXISTS db.sla_targets ON CLUSTER c1 (")
    # Not replicated: 18.16 deadlocks a replicated TRUNCATE against a concurrent INSERT.
    assert "ENGINE = MergeTree\nORDER BY priority" in only
    assert "Replicated" not in only
    assert "Distributed" not in only
    assert cluster_statements("DROP TABLE IF EXISTS sla_targets", "c1", "db", everywhere={"sla_targets"}) == [
        "DROP TABLE IF EXISTS db.sla_targets ON CLUSTER c1"
    ]


def test_schema_migrations_are_replicated_to_every_node() -> None:
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/all/db.schema_migrations', '{replica}')" in (
        migrations_table_ddl("c1", "db")
    )


def test_views_name_their_tables_with_the_database() -> None:
    sql = (
        "CREATE VIEW IF NOT EXISTS v AS SELECT * FROM touchpoints_current AS t "
        "ANY LEFT JOIN (SELECT merged_id FROM contact_merges FINAL) USING contact_id "
        "WHERE toYear(occurred_at) > 0 AND extract(x, 'from touchpoints')"
    )
    (view,) = cluster_statements(
        sql, "c1", "db", relations={"touchpoints", "touchpoints_current", "contact_merges"}
    )
    assert view.startswith("CREATE VIEW IF NOT EXISTS db.v ON CLUSTER c1 AS")
    assert "FROM db.touchpoints_current AS t" in view
    assert "FROM db.contact_merges FINAL" in view
    assert "'from touchpoints'" in view  # text in a string literal is no table
    assert not re.search(r"db\.db\.", view)


def test_drop_and_alter_follow_the_local_table() -> None:
    assert cluster_statements("DROP TABLE IF EXISTS signals", "c1", "db") == [
        "DROP TABLE IF EXISTS db.signals ON CLUSTER c1",
        "DROP TABLE IF EXISTS db.signals_local ON CLUSTER c1",
    ]
    assert cluster_statements("DROP VIEW IF EXISTS v", "c1", "db") == [
        "DROP TABLE IF EXISTS db.v ON CLUSTER c1"
    ]
    keys = {"signals": "cityHash64(contact_id, signal_id)"}
    assert cluster_statements("ALTER TABLE signals ADD COLUMN x String", "c1", "db", shard_keys=keys) == [
        "ALTER TABLE db.signals_local ON CLUSTER c1 ADD COLUMN x String",
        # 18.16 refuses an ALTER of a Distributed table ON CLUSTER when its shards are replicated.
        "DROP TABLE IF EXISTS db.signals ON CLUSTER c1",
        "CREATE TABLE IF NOT EXISTS db.signals ON CLUSTER c1 AS db.signals_local\n"
        "ENGINE = Distributed(c1, db, signals_local, cityHash64(contact_id, signal_id))",
    ]
    with pytest.raises(ClusterDDLError, match="no CREATE TABLE signals before it"):
        cluster_statements("ALTER TABLE signals ADD COLUMN x String", "c1", "db")
    assert cluster_statements("ALTER TABLE signals DELETE WHERE 1", "c1", "db") == [
        "ALTER TABLE db.signals_local ON CLUSTER c1 DELETE WHERE 1"
    ]


def test_column_changes_of_sharded_tables_run_per_shard_and_nothing_else_does() -> None:
    """The one form migrate_cluster runs on one replica of each shard instead of ON CLUSTER (18.16's DDL
    worker lets two replicas of a shard race for a replicated ALTER; the cluster suite caught it)."""
    statements = [s for m in cluster_migrations(MIGRATIONS, "c1", "db") for s in m.statements]
    per_shard = {s: f for s in statements if (f := per_shard_form(s)) is not None}
    assert per_shard, "the shipped migrations change columns of sharded tables"
    for statement, form in per_shard.items():
        assert form == statement.replace(" ON CLUSTER c1", "")
        assert form.startswith("ALTER TABLE db.")
        assert "_local ADD COLUMN " in form
    assert per_shard_form("ALTER TABLE db.signals_local ON CLUSTER c1 DELETE WHERE 1") is None
    assert per_shard_form("ALTER TABLE db.fx_rates ON CLUSTER c1 ADD COLUMN x String") is None
    assert per_shard_form("DROP TABLE IF EXISTS db.signals_local ON CLUSTER c1") is None


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("CREATE MATERIALIZED VIEW IF NOT EXISTS m TO t AS SELECT 1", "CREATE MATERIALIZED VIEW"),
        ("INSERT INTO sla_targets VALUES ('P1', 1, 2)", "INSERT INTO sla_targets"),
    ],
)
def test_a_statement_without_a_cluster_form_is_refused_with_the_fix(sql: str, named: str) -> None:
    with pytest.raises(ClusterDDLError, match=re.escape(named)) as caught:
        cluster_statements(sql, "c1", "db")
    assert "adapters/storage/cluster_ddl.py" in str(caught.value)


def test_a_backfill_runs_once_through_the_distributed_tables() -> None:
    sql = (
        "INSERT INTO merge_members (survivor_id, merged_id) SELECT survivor_id, merged_id FROM contact_merges"
    )
    assert cluster_statements(sql, "c1", "db", relations={"contact_merges", "merge_members"}) == [
        "INSERT INTO db.merge_members (survivor_id, merged_id) "
        "SELECT survivor_id, merged_id FROM db.contact_merges"
    ]


def test_a_table_without_order_by_is_refused() -> None:
    with pytest.raises(ClusterDDLError, match="no ORDER BY"):
        cluster_statements("CREATE TABLE t (a String) ENGINE = ReplacingMergeTree", "c1", "db")


def test_names_must_be_plain_identifiers() -> None:
    with pytest.raises(ValueError, match="identifier"):
        cluster_statements(TABLE, "c1; DROP", "db")
