"""A mutation of a sharded table on the local cluster (an erasure's DELETE or UPDATE) goes to one replica
of each shard, not ON CLUSTER (`ClickHouseServerStore.each_shard`: 18.16's ON CLUSTER ALTER of a replicated
table has both replicas of a shard race for it, and a lost race stalls that node's DDL queue). Here the
first replica of shard 2 is down when the erasure runs: the shard's second replica takes the mutation, and
the first one applies it from ZooKeeper once it is back.
"""

from __future__ import annotations

import contextlib
import time
import uuid

import pytest
from cluster_harness import CLUSTER, LocalCluster

from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore
from touchstream.adapters.storage.cluster_ddl import migrate_cluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

ROWS = 200


def rows_left(server: ClickHouseServerStore, node: tuple[str, int], contact: str) -> int:
    """The contact's rows in the node's own table (a fresh connection: the node may have restarted)."""
    with server.on_node(*node) as store:
        sql = "SELECT count() FROM contact_lookup_local WHERE contact_id = %(c)s"
        return int(store.query(sql, {"c": contact})[0][0])


def wait_replicated(
    server: ClickHouseServerStore, replicas: list[tuple[str, int]], contact: str, timeout: float = 120.0
) -> int:
    """The contact's rows on a shard once both replicas hold them (replication is asynchronous)."""
    deadline = time.monotonic() + timeout
    while len(counts := {rows_left(server, node, contact) for node in replicas}) > 1:
        assert time.monotonic() < deadline, f"the replicas of {replicas} still differ: {counts}"
        time.sleep(0.5)
    return counts.pop()


def wait_until_gone(
    server: ClickHouseServerStore, node: tuple[str, int], contact: str, timeout: float = 120.0
) -> None:
    deadline = time.monotonic() + timeout
    while (left := rows_left(server, node, contact)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left == 0, f"{left} rows of the erased contact still on {node} after {timeout:.0f} s"


@pytest.mark.timeout(600)
def test_an_erasure_with_a_replica_down_runs_on_the_shards_other_replica_and_reaches_it_later(
    local_cluster: LocalCluster,
) -> None:
    name = "t_mut_" + uuid.uuid4().hex[:10]
    server = ClickHouseServerStore(*local_cluster.clickhouse, name, create_database=True, cluster=CLUSTER)
    try:
        migrate_cluster(server, CLUSTER)
        erased, kept = str(uuid.uuid4()), str(uuid.uuid4())
        rows = [(f"email:{who}-{i}@example.com", who, 1) for i in range(ROWS) for who in (erased, kept)]
        server.insert_rows("contact_lookup", ["identifier", "contact_id", "version"], rows)
        shards = server.shards(CLUSTER)
        assert [len(replicas) for replicas in shards.values()] == [2, 2]
        down, *live = shards[2][0], shards[2][1], *shards[1]
        on_shard_2 = wait_replicated(server, shards[2], erased)
        assert on_shard_2 > 0  # the rows are spread over both shards

        local_cluster.kill_clickhouse(down[1] - local_cluster.clickhouse[1] + 1)  # node n: port 29000 + n
        try:
            server.execute("ALTER TABLE contact_lookup DELETE WHERE contact_id = %(c)s", {"c": erased})
            for node in live:
                wait_until_gone(server, node, erased)
        finally:
            local_cluster.up()
        wait_until_gone(server, down, erased)  # back: it took the mutation from ZooKeeper
        assert int(server.query("SELECT count() FROM contact_lookup")[0][0]) == ROWS  # the other stays
    finally:
        with contextlib.suppress(Exception):
            server.execute(f"DROP DATABASE IF EXISTS {name} ON CLUSTER {CLUSTER}")
        server.close()
