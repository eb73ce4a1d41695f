"""The local PostgreSQL from deploy/local/services (the eventsourcing recorder's production store) with
psycopg 3: a fresh database per test, a table, rows in and out, the database dropped again."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def _connect(endpoint: tuple[str, int, str], dbname: str) -> psycopg.Connection:
    host, port, user = endpoint
    return psycopg.connect(host=host, port=port, user=user, dbname=dbname, connect_timeout=10)


@pytest.fixture
def database(postgres_endpoint: tuple[str, int, str], unique_name: str) -> Iterator[str]:
    # CREATE/DROP DATABASE cannot run inside a transaction: autocommit.
    with _connect(postgres_endpoint, "postgres") as admin:
        admin.autocommit = True
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(unique_name)))
        try:
            yield unique_name
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(unique_name))
            )


def test_server_is_postgres_15_on_loopback(postgres_endpoint: tuple[str, int, str]) -> None:
    with _connect(postgres_endpoint, "postgres") as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        listen = conn.execute("SHOW listen_addresses").fetchone()
    assert version is not None
    assert int(version[0]) // 10000 == 15
    assert listen == ("127.0.0.1",)


def test_table_round_trip_in_fresh_database(postgres_endpoint: tuple[str, int, str], database: str) -> None:
    rows = [(1, "alice@example.com", {"source": "crm"}), (2, "bob@example.com", {"source": "web"})]
    with _connect(postgres_endpoint, database) as conn:
        conn.execute(
            "CREATE TABLE contacts (id bigint PRIMARY KEY, email text NOT NULL, attrs jsonb NOT NULL)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO contacts (id, email, attrs) VALUES (%s, %s, %s)",
                [(id_, email, Jsonb(attrs)) for id_, email, attrs in rows],
            )
        conn.commit()

    # A second connection sees the committed rows: they went to the server, not just a session.
    with _connect(postgres_endpoint, database) as conn:
        read = conn.execute("SELECT id, email, attrs FROM contacts ORDER BY id").fetchall()
        current = conn.execute("SELECT current_database()").fetchone()

    assert read == rows
    assert current == (database,)


def test_database_is_gone_after_drop(postgres_endpoint: tuple[str, int, str], unique_name: str) -> None:
    with _connect(postgres_endpoint, "postgres") as admin:
        admin.autocommit = True
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(unique_name)))
        admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(unique_name)))
        left = admin.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [unique_name]).fetchone()
    assert left == (0,)
