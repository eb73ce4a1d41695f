"""Shared fixtures: real servers started by deploy/local/services, never mocks.

A server that cannot start makes its tests skip with the reason; under CI=true that skip is a failure,
because CI must prove the integration, not step around it.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dedicated_servers import unavailable

REPO = Path(__file__).resolve().parent.parent
SERVICES = REPO / "deploy" / "local" / "services"


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    clickhouse_host: str
    clickhouse_port: int
    clickhouse_http_port: int
    postgres_host: str
    postgres_port: int
    postgres_user: str


def endpoints() -> Endpoints:
    env = os.environ.get
    return Endpoints(
        kafka_bootstrap=f"127.0.0.1:{env('TOUCHSTREAM_KAFKA_PORT', '19092')}",
        clickhouse_host="127.0.0.1",
        clickhouse_port=int(env("TOUCHSTREAM_CLICKHOUSE_PORT", "19000")),
        clickhouse_http_port=int(env("TOUCHSTREAM_CLICKHOUSE_HTTP_PORT", "18123")),
        postgres_host="127.0.0.1",
        postgres_port=int(env("TOUCHSTREAM_POSTGRES_PORT", "15432")),
        postgres_user="postgres",
    )


def _service_up(name: str) -> None:
    """Start (or find running) one local service; skip or fail with the script's own words. One process
    at a time (`make pytest` runs several workers): the others wait, then find it running."""
    lock = Path(tempfile.gettempdir()) / f"touchstream-tests-{name}.lock"
    try:
        with lock.open("a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            done = subprocess.run(
                [str(SERVICES), "up", name], capture_output=True, text=True, timeout=600, check=False
            )
    except (OSError, subprocess.TimeoutExpired) as exc:
        unavailable(f"deploy/local/services up {name}: {exc}")
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        unavailable(f"deploy/local/services up {name} exited {done.returncode}:\n{tail}")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    _service_up("kafka")
    return endpoints().kafka_bootstrap


@pytest.fixture(scope="session")
def clickhouse_endpoint() -> tuple[str, int]:
    _service_up("clickhouse")
    ep = endpoints()
    return ep.clickhouse_host, ep.clickhouse_port


@pytest.fixture(scope="session")
def postgres_endpoint() -> tuple[str, int, str]:
    _service_up("postgres")
    ep = endpoints()
    return ep.postgres_host, ep.postgres_port, ep.postgres_user


@pytest.fixture
def pg_url(postgres_endpoint: tuple[str, int, str], unique_name: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test (dropped after it), as a postgresql:// URL."""
    import psycopg
    from psycopg import sql

    host, port, user = postgres_endpoint
    with psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(unique_name)))
        try:
            yield f"postgresql://{user}@{host}:{port}/{unique_name}"
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(unique_name))
            )


@pytest.fixture
def server_store(clickhouse_endpoint: tuple[str, int], unique_name: str) -> Iterator[Any]:
    """A ClickHouse server store on a fresh database of its own, dropped afterwards."""
    from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore

    host, port = clickhouse_endpoint
    with ClickHouseServerStore(host, port, unique_name, create_database=True) as store:
        try:
            yield store
        finally:
            store.execute(f"DROP DATABASE IF EXISTS {unique_name}")


@pytest.fixture
def unique_name() -> str:
    """A fresh name for a topic or database, so tests never see each other's data."""
    return "t_" + uuid.uuid4().hex[:12]
