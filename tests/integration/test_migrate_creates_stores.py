"""`touchstream db migrate` in production creates what the stores need before anything connects: the
master record's PostgreSQL database (the recorders make their tables, not the database) and the read
models in ClickHouse; a second run changes nothing. Run as an operator types it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def fresh_names(
    postgres_endpoint: tuple[str, int, str], clickhouse_endpoint: tuple[str, int], unique_name: str
) -> Iterator[str]:
    """A database name neither server has; both are dropped afterwards."""
    yield unique_name
    host, port, user = postgres_endpoint
    with psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(unique_name)))
    from clickhouse_driver import Client

    Client(host=clickhouse_endpoint[0], port=clickhouse_endpoint[1]).execute(
        f"DROP DATABASE IF EXISTS {unique_name}"
    )


def test_db_migrate_creates_the_master_records_database_and_the_read_models(
    tmp_path: Path,
    postgres_endpoint: tuple[str, int, str],
    clickhouse_endpoint: tuple[str, int],
    fresh_names: str,
) -> None:
    host, port, user = postgres_endpoint
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHSTREAM_")}
    env.update(
        TOUCHSTREAM_MODE="production",
        TOUCHSTREAM_DATA_DIR=str(tmp_path),
        TOUCHSTREAM_POSTGRES_HOST=host,
        TOUCHSTREAM_POSTGRES_PORT=str(port),
        TOUCHSTREAM_POSTGRES_DATABASE=fresh_names,
        TOUCHSTREAM_CLICKHOUSE_HOST=clickhouse_endpoint[0],
        TOUCHSTREAM_CLICKHOUSE_PORT=str(clickhouse_endpoint[1]),
        TOUCHSTREAM_CLICKHOUSE_DATABASE=fresh_names,
    )
    command = [sys.executable, "-m", "touchstream.adapters.cli.main", "db", "migrate"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert first.returncode == 0, first.stderr
    assert f"PostgreSQL database {fresh_names} created" in first.stdout
    with psycopg.connect(host=host, port=port, user=user, dbname=fresh_names) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (fresh_names,)
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert again.returncode == 0, again.stderr
    assert f"PostgreSQL database {fresh_names} present" in again.stdout
    assert "0 migration(s) applied" in again.stdout
    stewards = subprocess.run(
        [sys.executable, "-m", "touchstream.adapters.cli.main", "stewards", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert stewards.returncode == 0, stewards.stderr
    assert "no open duplicate suspects" in stewards.stdout
