"""The same data through the same runner into the real ClickHouse 18.16 server and into chDB: every
analyst view gives the same answer on both (column names and types included)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from unit.test_read_models_oracle import BAD_RECORDS, QUERIES, load

from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore
from touchstream.adapters.storage.migrate import migrate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def answers(
    clickhouse_endpoint: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    host, port = clickhouse_endpoint
    folder = tmp_path_factory.mktemp("parity")
    database = "t_parity_" + folder.name.replace("-", "_")[-12:]
    with ClickHouseServerStore(host, port, database, create_database=True) as server:
        try:
            stats = load(server, folder / "server-log.sqlite")
            assert stats.dead_lettered == len(BAD_RECORDS)
            assert migrate(server) == []
            server_answers = {name: server.query_with_columns(sql) for name, sql in QUERIES.items()}
            with ChDBStore(str(folder / "chdb")) as embedded:
                load(embedded, folder / "chdb-log.sqlite")
                chdb_answers = {name: embedded.query_with_columns(sql) for name, sql in QUERIES.items()}
            yield server_answers, chdb_answers
        finally:
            server.execute(f"DROP DATABASE IF EXISTS {database}")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("view", sorted(QUERIES))
def test_the_server_answers_as_chdb_does(view: str, answers: tuple[dict[str, Any], dict[str, Any]]) -> None:
    server, embedded = answers
    (server_columns, server_rows), (chdb_columns, chdb_rows) = server[view], embedded[view]
    assert server_columns == chdb_columns
    assert len(server_rows) == len(chdb_rows)
    assert server_rows == chdb_rows
    if view not in ("active_signals", "caller_leads"):  # both follow the wall clock: old data has expired
        assert server_rows, f"{view} is empty: the comparison would prove nothing"
