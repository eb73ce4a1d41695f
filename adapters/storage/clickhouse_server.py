"""The read store on a ClickHouse server, over the native protocol (clickhouse-driver).

Works with the Debian 18.16 server that ``deploy/local/clickhouse.sh`` runs and with current servers; keep to
the SQL subset in ``docs/clickhouse.md`` so the same statements also run on chDB.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from clickhouse_driver import Client
from clickhouse_driver.errors import NetworkError, SocketTimeoutError

from ...streams.ports import AbstractReadStore, Column, ReadStoreError, batched, check_identifier

__all__ = ["CLUSTER_SETTINGS", "ClickHouseServerStore"]

#: Session settings on a cluster (`cluster=True`; tables from `db migrate --cluster`, docs/deploy.md): an
#: insert into a Distributed table returns once each shard holds its rows, not when a background sender
#: gets to them, so an acknowledged batch is durable and offsets may be committed; and a view's JOIN or IN
#: over a Distributed table runs once and ships its result to the shards, instead of being refused.
CLUSTER_SETTINGS: dict[str, Any] = {"insert_distributed_sync": 1, "distributed_product_mode": "global"}

#: A mutation (`ALTER TABLE t DELETE|UPDATE ...`, streams/forgetting.py) of one table, by its plain name.
_MUTATION = re.compile(
    r"^\s*ALTER\s+TABLE\s+(?P<table>[A-Za-z_][A-Za-z0-9_]*)\s+(?P<action>(DELETE|UPDATE)\b.*)$",
    re.IGNORECASE | re.DOTALL,
)
#: The per-node table behind each Distributed table (adapters/storage/cluster_ddl.py names it so too).
_LOCAL = "_local"
#: A replica that cannot be reached (down, restarting): `each_shard` tries the shard's next one.
_UNREACHABLE = (NetworkError, SocketTimeoutError, OSError, EOFError)


class ClickHouseServerStore(AbstractReadStore):
    """A :class:`AbstractReadStore` on a ClickHouse server.

    The driver connects lazily, on the first statement; only ``create_database=True`` talks to the server
    in the constructor (once, to run ``CREATE DATABASE IF NOT EXISTS``). Parameters are substituted by the
    driver on the client side (``%(name)s``). Inserts use the driver's native columnar insert, so values
    never become SQL text. DateTime values come back naive, in the server's time zone — which is UTC on
    every server we run; an aware ``datetime`` given as a value is converted to it.

    One store holds one connection: use it from one thread at a time.
    """

    engine = "clickhouse-server"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9000,
        database: str = "default",
        *,
        user: str = "default",
        password: str = "",
        create_database: bool = False,
        settings: Mapping[str, Any] | None = None,
        cluster: str = "",
        connect_timeout: float = 10.0,
        send_receive_timeout: float = 300.0,
        batch_size: int = 10_000,
    ) -> None:
        check_identifier(database)
        self.database = database
        self.batch_size = batch_size
        options: dict[str, Any] = {
            "host": host,
            "port": port,
            "user": user,
            "password": password,
            "connect_timeout": connect_timeout,
            "send_receive_timeout": send_receive_timeout,
            "settings": {**(CLUSTER_SETTINGS if cluster else {}), **(settings or {})},
            "client_name": "touchstream",
        }
        if create_database and database != "default":
            admin = Client(database="default", **options)
            sql = f"CREATE DATABASE IF NOT EXISTS {database}"
            try:
                admin.execute(sql)
            except Exception as exc:
                raise ReadStoreError(self.engine, sql, exc) from exc
            finally:
                admin.disconnect()
        self._client: Any = Client(database=database, **options)
        self._options = options
        self._closed = False
        self.cluster = check_identifier(cluster) if cluster else ""

    def on_node(self, host: str, port: int) -> ClickHouseServerStore:
        """The same database, user and settings on another server of a cluster (`db migrate --cluster`
        fills each node's config tables through it)."""
        options = {k: v for k, v in self._options.items() if k not in ("host", "port", "client_name")}
        return ClickHouseServerStore(host, port, self.database, batch_size=self.batch_size, **options)

    def _check_open(self, sql: str) -> None:
        if self._closed:
            raise ReadStoreError(self.engine, sql, "store is closed")

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._check_open(sql)
        if self.cluster and (mutation := _MUTATION.match(sql)):
            # A Distributed table cannot be mutated: each shard's table is, on one replica of the shard;
            # the shard's other replicas take the mutation from ZooKeeper, now or when they are back.
            # Not ON CLUSTER: every replica races for the shard's turn there, and 18.16 loses that race
            # now and then (a stalled DDL queue: `each_shard`).
            local = f"ALTER TABLE {self.database}.{mutation['table']}{_LOCAL} {mutation['action']}"
            self.each_shard(self.cluster, lambda node: node.execute(local, params))
            return
        try:
            self._client.execute(sql, dict(params) if params is not None else None)
        except Exception as exc:
            raise ReadStoreError(self.engine, sql, exc) from exc

    def query_with_columns(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> tuple[list[Column], list[tuple[Any, ...]]]:
        self._check_open(sql)
        try:
            rows, columns = self._client.execute(
                sql, dict(params) if params is not None else None, with_column_types=True
            )
        except Exception as exc:
            raise ReadStoreError(self.engine, sql, exc) from exc
        return [(str(n), str(t)) for n, t in columns], [tuple(r) for r in rows]

    def query_chunked(
        self, sql: str, name: str, values: Sequence[Any], params: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """One query however many values, when they are strings and this is one server: the values travel
        as a temporary table of the query (the protocol's external data, a data block), named in place of
        ``%(name)s``, instead of as SQL text to parse. 3,000 event ids (a worker's applied-events check
        each batch) took 44-130 ms as an ``IN`` list on 18.16 and 11-24 ms as a table. On a cluster, or
        for other values, the lists of the port (`in_chunk` at a time)."""
        marker = f"%({name})s"
        if self.cluster or marker not in sql or not values or any(type(v) is not str for v in values):
            return super().query_chunked(sql, name, values, params)
        table = f"_{check_identifier(name)}_values"
        sql = sql.replace(marker, table)
        self._check_open(sql)
        data = [{"value": value} for value in values]
        external = [{"name": table, "structure": [("value", "String")], "data": data}]
        try:
            rows = self._client.execute(sql, dict(params) if params else None, external_tables=external)
        except Exception as exc:
            raise ReadStoreError(self.engine, sql, exc) from exc
        return [tuple(r) for r in rows]

    def insert_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        check_identifier(table, qualified=True)
        names = [check_identifier(c) for c in columns]
        if not names:
            raise ValueError("insert_rows needs at least one column")
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES"
        self._check_open(sql)
        written = 0
        for chunk in batched(rows, self.batch_size):
            try:
                written += int(self._client.execute(sql, chunk))
            except Exception as exc:
                raise ReadStoreError(self.engine, sql, exc) from exc
        return written

    def wait_for_mutations(self, table: str, timeout: float = 30.0) -> None:
        """On a cluster, the mutations of `table`'s per-node table on every node; else the server's own."""
        if not self.cluster:
            return super().wait_for_mutations(table, timeout)
        name = check_identifier(table)  # the current database's: a cluster's tables are all in it
        for node in self.nodes(self.cluster):
            with node:
                node.wait_for_mutations(name + _LOCAL, timeout)

    def inactive_parts(self, tables: Sequence[str]) -> int:
        """On a cluster, the replaced parts of the tables' per-node tables, summed over every node."""
        if not self.cluster:
            return super().inactive_parts(tables)
        local = [check_identifier(t) + _LOCAL for t in tables]
        total = 0
        for node in self.nodes(self.cluster):
            with node:
                total += node.inactive_parts(local)
        return total

    def shards(self, cluster: str) -> dict[int, list[tuple[str, int]]]:
        """Shard number -> the (host, port) of its replicas, in replica order, from `system.clusters`."""
        rows = self.query(
            "SELECT shard_num, host_name, port FROM system.clusters WHERE cluster = %(cluster)s "
            "ORDER BY shard_num, replica_num",
            {"cluster": check_identifier(cluster)},
        )
        shards: dict[int, list[tuple[str, int]]] = {}
        for shard, host, port in rows:
            shards.setdefault(int(shard), []).append((str(host), int(port)))
        return shards

    def nodes(self, cluster: str) -> list[ClickHouseServerStore]:
        """A store on each node of `cluster` (not cluster-aware themselves: they see the local tables)."""
        every = (node for replicas in self.shards(cluster).values() for node in replicas)
        return [self.on_node(*node) for node in dict.fromkeys(every)]  # a node in two shards: once

    def each_shard(self, cluster: str, action: Callable[[ClickHouseServerStore], None]) -> None:
        """Run `action` on one replica of each shard of `cluster`: the first one that answers (a replica
        that is down is passed over; the shard's replicated tables bring it up to date when it is back).

        For a statement on a shard's replicated table (a mutation, a column change) instead of ON CLUSTER,
        where every replica races for the shard's turn and 18.16 loses that race now and then (found by
        the cluster suite: a second replica ran the ALTER again, failed on "Node exists" and left its task
        unfinished, which stalls every later ON CLUSTER statement of that node)."""
        for replicas in self.shards(cluster).values():
            for place, (host, port) in enumerate(replicas, 1):
                try:
                    with self.on_node(host, port) as node:
                        action(node)
                    break
                except ReadStoreError as exc:
                    if not isinstance(exc.__cause__, _UNREACHABLE) or place == len(replicas):
                        raise

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._client.disconnect()
