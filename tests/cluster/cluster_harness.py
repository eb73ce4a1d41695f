"""The local cluster (deploy/local/cluster) for the `cluster` suite: started (or found running) once per
session and left running, like deploy/local/services' servers. Only this suite kills its servers.
The fixture lives in conftest.py; the helpers here.

The cluster's ports are its own (Kafka 29092/29192/29292, ClickHouse 29001-29004, PostgreSQL 25432/25433),
so the single-node servers the rest of the suite uses are never touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from dedicated_servers import unavailable
from kafka.errors import KafkaError
from pipeline_harness import Stack, delete_topics
from psycopg import sql

from touchstream.adapters.logs import topics
from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore
from touchstream.adapters.storage.cluster_ddl import migrate_cluster
from touchstream.adapters.storage.migrate import load_config

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPT = REPO / "deploy" / "local" / "cluster"
CLUSTER = "touchstream"
SHIFT = int(os.environ.get("TOUCHSTREAM_CLUSTER_PORT_SHIFT", "0"))
RUN = Path(os.environ.get("TOUCHSTREAM_CACHE") or Path.home() / ".cache" / "touchstream") / "run" / "cluster"


@dataclass(frozen=True)
class LocalCluster:
    bootstrap: str
    clickhouse: tuple[str, int]  # node 1: where the processes and the test connect
    postgres: tuple[str, int, str]  # the primary

    def up(self) -> None:
        """Start whatever is not running and wait until every server answers (the heal after a kill)."""
        cluster_up()

    def kill_broker(self, node: int) -> int:
        return _kill(RUN / f"kafka-{node}" / "kafka.pid", "kafka.Kafka")

    def kill_clickhouse(self, node: int) -> int:
        return _kill(RUN / f"clickhouse-{node}" / "clickhouse-server.pid", "clickhouse")


def _kill(pidfile: Path, pattern: str) -> int:
    """SIGKILL the server whose pid file the cluster script wrote; its own pid, checked against its
    command line (pids get reused)."""
    pid = int(pidfile.read_text().strip())
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    assert pattern in cmdline, f"pid {pid} from {pidfile} is not {pattern}: {cmdline[:120]}"
    os.kill(pid, signal.SIGKILL)
    return pid


def cluster_up() -> None:
    try:
        done = subprocess.run(
            [str(CLUSTER_SCRIPT), "up"], capture_output=True, text=True, timeout=900, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        unavailable(f"deploy/local/cluster up: {exc}")
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        unavailable(f"deploy/local/cluster up exited {done.returncode}:\n{tail}")


def local_cluster_endpoints() -> LocalCluster:
    cluster_up()
    brokers = ",".join(f"127.0.0.1:{29092 + 100 * i + SHIFT}" for i in range(3))
    return LocalCluster(brokers, ("127.0.0.1", 29001 + SHIFT), ("127.0.0.1", 25432 + SHIFT, "postgres"))


#: How long a test waits for the cluster's controller to take topic requests again: right after the fault
#: test, the broker it killed and restarted may still be catching up (seen: a request timed out at 30 s).
CONTROLLER_WAIT_S = 240.0


def create_topics_when_ready(bootstrap: str, prefix: str, wait_s: float = CONTROLLER_WAIT_S) -> None:
    """`create_topics`, tried again while the cluster does not answer (it is idempotent: a second try
    creates what the first did not and leaves the rest)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            topics.create_topics(bootstrap, prefix=prefix)
            return
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(5)


@contextlib.contextmanager
def cluster_stack(cluster: LocalCluster, folder: Path, tag: str = "c") -> Iterator[Stack]:
    """Fresh topics (RF 3), a ClickHouse database migrated ON CLUSTER and a PostgreSQL database on the
    primary; all dropped afterwards. The test's own client has the cluster's session settings."""
    name = f"t_{tag}_" + uuid.uuid4().hex[:10]
    create_topics_when_ready(cluster.bootstrap, prefix=name + "_")
    host, port, user = cluster.postgres
    with psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    server = ClickHouseServerStore(*cluster.clickhouse, name, create_database=True, cluster=CLUSTER)
    migrate_cluster(server, CLUSTER)
    load_config(server)
    try:
        yield Stack(name, cluster.bootstrap, cluster.clickhouse, cluster.postgres, folder, server)
    finally:
        with contextlib.suppress(Exception):
            server.execute(f"DROP DATABASE IF EXISTS {name} ON CLUSTER {CLUSTER}")
        server.close()
        with (
            contextlib.suppress(Exception),
            psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as admin,
        ):
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        with contextlib.suppress(Exception):
            delete_topics(cluster.bootstrap, name + "_")
