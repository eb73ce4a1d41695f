"""The read-store migrations rewritten for a sharded, replicated ClickHouse cluster (`db migrate --cluster`).

`projections/migrations.py` holds the single-server DDL; this module turns each statement into its cluster
form, so the history of migrations stays one list. The naming scheme (docs/deploy.md):

- a `*MergeTree` table `t` becomes `t_local` on every node, `Replicated*MergeTree` with the ZooKeeper path
  `/clickhouse/tables/{shard}/<database>.t` and replica `{replica}` (both macros from each server's config),
  plus `t` itself as a `Distributed` table over `t_local`. Readers and writers keep using `t`: the Distributed
  table spreads inserts over the shards (with `insert_distributed_sync=1` they are on a shard before the
  insert returns) and gathers reads. The sharding key is `cityHash64` of the table's ORDER BY key, so every
  version of one row lands on the same shard and ReplacingMergeTree's FINAL still de-duplicates it.
- plain `MergeTree` tables are the config tables the views join (`stage_probabilities`, `sla_targets`,
  `fx_rates`, …: small, loaded by TRUNCATE + INSERT, while every projection writes a ReplacingMergeTree):
  they stay plain `MergeTree` on every node (created ON CLUSTER), and `migrate_cluster` loads each node's
  copy. Not replicated because 18.16 forwards a replicated TRUNCATE to the leader replica and deadlocks when
  an INSERT or another TRUNCATE runs meanwhile (every worker reloads the config tables when it starts).
- `schema_migrations` must be seen from every node: `ReplicatedReplacingMergeTree` on the path
  `/clickhouse/tables/all/<database>.schema_migrations`, one full copy per node (only ever inserted into).
- views are created `ON CLUSTER` with the tables they name qualified by the database: 18.16 binds an
  unqualified name in a view to the database of the node's DDL worker (`default`), not to the view's.

Every statement carries `ON CLUSTER <cluster>` and stays idempotent (IF [NOT] EXISTS); `migrate_cluster`
runs a column change of a sharded table on one replica of each shard instead (`per_shard_form`). A
backfill (`INSERT INTO t (columns) SELECT …`, into a ReplacingMergeTree table: run again, it adds no row a
reader sees) runs once, without ON CLUSTER, through the Distributed tables. A statement form not listed here
(a materialized view, an INSERT of values) is refused with a message naming it, rather than run on one node.
Works on ClickHouse 18.16 (the local cluster, deploy/local/cluster) and current servers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from ...projections.migrations import MIGRATIONS, Migration
from ...streams.ports import check_identifier
from .clickhouse_server import ClickHouseServerStore
from .migrate import execute_idempotent, load_config, migrate

__all__ = [
    "LOCAL_SUFFIX",
    "REPLICATED_EVERYWHERE",
    "ClusterDDLError",
    "cluster_migrations",
    "cluster_statements",
    "migrate_cluster",
    "migrations_table_ddl",
    "per_shard_form",
]

#: The suffix of the per-node table behind each Distributed table.
LOCAL_SUFFIX = "_local"

#: Tables replicated whole to every node rather than sharded.
REPLICATED_EVERYWHERE = frozenset({"schema_migrations"})

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_CREATE_TABLE = re.compile(
    rf"^\s*CREATE\s+TABLE\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>{_NAME})\s*(?P<body>\(.*\))\s*"
    rf"ENGINE\s*=\s*(?P<engine>\w*MergeTree)\s*(?P<args>\([^)]*\))?(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_CREATE_VIEW = re.compile(
    rf"^\s*CREATE\s+VIEW\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>{_NAME})\s+AS\b(?P<select>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_DROP = re.compile(
    rf"^\s*DROP\s+(?P<kind>TABLE|VIEW)\s+(?P<ie>IF\s+EXISTS\s+)?(?P<name>{_NAME})\s*$", re.IGNORECASE
)
_ALTER = re.compile(rf"^\s*ALTER\s+TABLE\s+(?P<name>{_NAME})\s+(?P<action>.*)$", re.IGNORECASE | re.DOTALL)
_INSERT_SELECT = re.compile(
    rf"^\s*INSERT\s+INTO\s+(?P<name>{_NAME})\s*(?P<columns>\([^)]*\))\s*(?P<select>SELECT\b.*)$",
    re.IGNORECASE | re.DOTALL,
)
_COLUMN_ACTION = re.compile(r"^\s*(ADD|DROP|MODIFY|COMMENT)\s+COLUMN\b", re.IGNORECASE)
_ORDER_BY = re.compile(
    r"\bORDER\s+BY\s+(?P<key>.+?)\s*(?=\bPRIMARY\s+KEY\b|\bSAMPLE\s+BY\b|\bSETTINGS\b|\bTTL\b|$)",
    re.IGNORECASE | re.DOTALL,
)


_STRING = re.compile(r"('(?:[^'\\]|\\.)*')")


class ClusterDDLError(ValueError):
    """A migration statement this module has no cluster form for; the message names it and the fix."""


def _first_line(sql: str) -> str:
    return " ".join(sql.split())[:80]


def _sharding_key(rest: str, table: str) -> str:
    match = _ORDER_BY.search(rest)
    if match is None:
        raise ClusterDDLError(
            f"table {table}: no ORDER BY to shard by; give the CREATE TABLE an ORDER BY key "
            "(its versions must land on one shard for ReplacingMergeTree to de-duplicate them)"
        )
    key = match.group("key").strip()
    if key.startswith("(") and key.endswith(")"):
        key = key[1:-1].strip()
    return f"cityHash64({key})"


def _replicated_engine(engine: str, args: str | None, path: str) -> str:
    inner = (args or "()").strip()[1:-1].strip()
    params = [f"'{path}'", "'{replica}'"] + ([inner] if inner else [])
    return f"Replicated{engine}({', '.join(params)})"


def _qualify(select: str, database: str, relations: Iterable[str]) -> str:
    """Prefix `database.` to every known table or view named after FROM or JOIN."""
    names = sorted(set(relations), key=len, reverse=True)
    if not names:
        return select
    pattern = re.compile(
        rf"\b(FROM|JOIN)(\s+)({'|'.join(map(re.escape, names))})\b(?!\s*[.(])", re.IGNORECASE
    )
    # Only outside string literals: the odd pieces of the split are the quoted strings, kept as they are.
    pieces = _STRING.split(select)
    return "".join(
        piece if i % 2 else pattern.sub(lambda m: f"{m[1]}{m[2]}{database}.{m[3]}", piece)
        for i, piece in enumerate(pieces)
    )


def cluster_statements(
    statement: str,
    cluster: str,
    database: str,
    relations: Iterable[str] = (),
    everywhere: set[str] | None = None,
    shard_keys: dict[str, str] | None = None,
) -> list[str]:
    """The cluster form of one migration statement: the statements to run, in order, on any one node.

    `relations` are the tables and views of the migrations, whose names a view's SELECT gets qualified
    with `database`; `everywhere` collects the tables kept whole on every node (a later DROP or ALTER of
    one has no local table to follow); `shard_keys` collects each sharded table's sharding key, which a
    later column change needs to create its Distributed table again.
    """
    everywhere = set(REPLICATED_EVERYWHERE) if everywhere is None else everywhere
    shard_keys = {} if shard_keys is None else shard_keys
    check_identifier(cluster)
    check_identifier(database)
    on = f"ON CLUSTER {cluster}"
    if m := _CREATE_TABLE.match(statement):
        name, engine, args, rest = m["name"], m["engine"], m["args"], m["rest"].strip()
        ine = "IF NOT EXISTS " if m["ine"] else ""
        if engine.lower().startswith("replicated"):
            raise ClusterDDLError(f"table {name}: already {engine}; write migrations for one server")
        if name in REPLICATED_EVERYWHERE:
            everywhere.add(name)
            path = f"/clickhouse/tables/all/{database}.{name}"
            return [
                f"CREATE TABLE {ine}{database}.{name} {on} {m['body']}\n"
                f"ENGINE = {_replicated_engine(engine, args, path)}\n{rest}"
            ]
        if engine.lower() == "mergetree":  # a config table: a copy of its own on every node
            everywhere.add(name)
            return [
                f"CREATE TABLE {ine}{database}.{name} {on} {m['body']}\nENGINE = {engine}{args or ''}\n{rest}"
            ]
        local = f"{name}{LOCAL_SUFFIX}"
        path = f"/clickhouse/tables/{{shard}}/{database}.{name}"
        key = shard_keys[name] = _sharding_key(rest, name)
        return [
            f"CREATE TABLE {ine}{database}.{local} {on} {m['body']}\n"
            f"ENGINE = {_replicated_engine(engine, args, path)}\n{rest}",
            f"CREATE TABLE {ine}{database}.{name} {on} AS {database}.{local}\n"
            f"ENGINE = Distributed({cluster}, {database}, {local}, {key})",
        ]
    if m := _CREATE_VIEW.match(statement):
        ine = "IF NOT EXISTS " if m["ine"] else ""
        select = _qualify(m["select"], database, relations)
        return [f"CREATE VIEW {ine}{database}.{m['name']} {on} AS{select}"]
    if m := _DROP.match(statement):
        ie = "IF EXISTS " if m["ie"] else ""
        # 18.16 drops views with DROP TABLE; the local table goes with its Distributed one.
        drops = [f"DROP TABLE {ie}{database}.{m['name']} {on}"]
        if m["kind"].upper() == "TABLE" and m["name"] not in everywhere:
            drops.append(f"DROP TABLE {ie}{database}.{m['name']}{LOCAL_SUFFIX} {on}")
        return drops
    if m := _ALTER.match(statement):
        name, action = m["name"], m["action"].strip()
        if name in everywhere:
            return [f"ALTER TABLE {database}.{name} {on} {action}"]
        local = f"{name}{LOCAL_SUFFIX}"
        altered = [f"ALTER TABLE {database}.{local} {on} {action}"]
        if _COLUMN_ACTION.match(action):
            # The Distributed table's columns must follow its local table's. It holds no data, so it is
            # made again: an ALTER of it ON CLUSTER is refused where the shards are replicated ("Table ...
            # isn't replicated, but shard #1 is replicated according to its cluster definition").
            if name not in shard_keys:
                raise ClusterDDLError(
                    f"ALTER TABLE {name} … COLUMN: no CREATE TABLE {name} before it in the migrations, so "
                    "its Distributed table's sharding key is unknown; create the table in a migration first"
                )
            altered += [
                f"DROP TABLE IF EXISTS {database}.{name} {on}",
                f"CREATE TABLE IF NOT EXISTS {database}.{name} {on} AS {database}.{local}\n"
                f"ENGINE = Distributed({cluster}, {database}, {local}, {shard_keys[name]})",
            ]
        return altered
    if m := _INSERT_SELECT.match(statement):
        # A backfill: once, through the Distributed tables (they spread the rows over the shards).
        select = _qualify(" " + m["select"], database, relations)
        return [f"INSERT INTO {database}.{m['name']} {m['columns']}{select}"]
    raise ClusterDDLError(
        f"no cluster form for the migration statement {_first_line(statement)!r}: add a rule for it in "
        "adapters/storage/cluster_ddl.py (CREATE TABLE … MergeTree, CREATE VIEW, DROP TABLE/VIEW, "
        "ALTER TABLE and INSERT INTO t (columns) SELECT are supported)"
    )


def _created(statement: str) -> str | None:
    m = _CREATE_TABLE.match(statement) or _CREATE_VIEW.match(statement)
    return m["name"] if m else None


def cluster_migrations(migrations: Sequence[Migration], cluster: str, database: str) -> list[Migration]:
    """The migrations with every statement in its cluster form (same versions and names)."""
    relations: set[str] = set()
    for migration in migrations:
        relations.update(n for s in migration.statements if (n := _created(s)))
    everywhere = set(REPLICATED_EVERYWHERE)
    shard_keys: dict[str, str] = {}
    result = []
    for migration in sorted(migrations, key=lambda m: m.version):
        statements: list[str] = []
        for statement in migration.statements:
            statements.extend(
                cluster_statements(statement, cluster, database, relations, everywhere, shard_keys)
            )
        result.append(Migration(migration.version, migration.name, tuple(statements)))
    return result


def migrations_table_ddl(cluster: str, database: str) -> str:
    """`schema_migrations` replicated to every node, so each one knows what was applied."""
    check_identifier(cluster)
    check_identifier(database)
    return (
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations ON CLUSTER {cluster} "
        "(version UInt32, name String, applied_at DateTime) ENGINE = ReplicatedReplacingMergeTree("
        f"'/clickhouse/tables/all/{database}.schema_migrations', '{{replica}}') ORDER BY version"
    )


_REPLICATED_COLUMN_ALTER = re.compile(
    rf"^\s*ALTER\s+TABLE\s+{_NAME}\.{_NAME}{LOCAL_SUFFIX}(?P<on>\s+ON\s+CLUSTER\s+{_NAME})\s+"
    r"(ADD|DROP|MODIFY|COMMENT)\s+COLUMN\b",
    re.IGNORECASE,
)


def per_shard_form(statement: str) -> str | None:
    """The statement without ON CLUSTER when it changes a column of a sharded (replicated) table, to run
    on one replica of each shard (`_execute_on_cluster`); None for every other statement."""
    m = _REPLICATED_COLUMN_ALTER.match(statement)
    return None if m is None else statement[: m.start("on")] + statement[m.end("on") :]


def _execute_on_cluster(store: ClickHouseServerStore, cluster: str, statement: str) -> None:
    """A column change of a sharded (replicated) table runs on one replica of each shard, without ON
    CLUSTER (`ClickHouseServerStore.each_shard` says why); every other statement runs ON CLUSTER."""
    local = per_shard_form(statement)
    if local is None:
        execute_idempotent(store, statement)
    else:
        store.each_shard(cluster, lambda node: execute_idempotent(node, local))


def migrate_cluster(
    store: ClickHouseServerStore,
    cluster: str,
    migrations: Sequence[Migration] = MIGRATIONS,
    on_applied: Callable[[Migration], None] | None = None,
) -> list[Migration]:
    """Apply the pending migrations in their cluster form, from any one node of `cluster`."""
    check_identifier(cluster)
    known = [str(r[0]) for r in store.query("SELECT DISTINCT cluster FROM system.clusters ORDER BY cluster")]
    if cluster not in known:
        raise ClusterDDLError(
            f"--cluster {cluster}: this server's <remote_servers> has no such cluster "
            f"(it has: {', '.join(known) or 'none'}); pass one of those or point TOUCHSTREAM_CLICKHOUSE_PORT "
            "at a node of the cluster (locally: deploy/local/cluster up, port 29001)"
        )
    database = store.database
    store.execute(f"CREATE DATABASE IF NOT EXISTS {database} ON CLUSTER {cluster}")
    store.execute(migrations_table_ddl(cluster, database))
    applied = migrate(
        store,
        cluster_migrations(migrations, cluster, database),
        on_applied,
        execute=lambda statement: _execute_on_cluster(store, cluster, statement),
    )
    # The config tables are each node's own: fill every one (workers reload only the node they use).
    for node in store.nodes(cluster):
        with node:
            load_config(node)
    return applied
