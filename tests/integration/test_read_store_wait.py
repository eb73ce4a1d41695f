"""A worker starting while its ClickHouse server is unreachable waits for it instead of exiting (found by the
cluster suite: a replacement worker started while a replica was killed died on `CREATE DATABASE`).

The server here is a ClickHouse of this module's own (deploy/local/clickhouse.sh on free ports), stopped
while the preparation starts, and started only once the preparation has been refused and has backed off:
no sleep decides the order.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dedicated_servers import DedicatedClickHouse, free_ports

from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore
from touchstream.adapters.storage.migrate import (
    MIGRATIONS_TABLE,
    ReadStoreNotReady,
    prepare_when_ready,
)
from touchstream.projections.migrations import MIGRATIONS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DATABASE = "waited_for"
REFUSALS = 2  # the server is started on the preparation's second retry


def test_preparation_waits_for_a_server_that_refuses_then_comes_up(tmp_path: Path) -> None:
    server = DedicatedClickHouse(tmp_path / "clickhouse-cache")
    retries: list[tuple[int, str, float]] = []

    def open_store() -> ClickHouseServerStore:
        return ClickHouseServerStore(server.host, server.port, DATABASE, create_database=True)

    def on_retry(attempt: int, exc: Exception, pause_s: float) -> None:
        retries.append((attempt, str(exc), pause_s))
        if attempt == REFUSALS:
            server.up()  # blocks until the server answers; the preparation then retries once more

    try:
        attempts = prepare_when_ready(open_store, timeout_s=240.0, first_delay_s=0.1, on_retry=on_retry)
        assert attempts == REFUSALS + 1
        assert [a for a, _, _ in retries] == [1, 2]
        assert all("CREATE DATABASE" in text for _, text, _ in retries), retries
        assert retries[1][2] > retries[0][2], "the pause grows between attempts"
        with open_store() as store:
            applied = {int(r[0]) for r in store.query(f"SELECT DISTINCT version FROM {MIGRATIONS_TABLE}")}
            assert applied == {m.version for m in MIGRATIONS}
            assert store.query("SELECT count() FROM stage_probabilities")[0][0] > 0
    finally:
        server.purge()


def test_a_server_that_never_answers_is_named_once_the_deadline_is_spent() -> None:
    (port,) = free_ports(1)  # nothing listens there
    retries: list[int] = []

    def open_store() -> ClickHouseServerStore:
        return ClickHouseServerStore("127.0.0.1", port, DATABASE, create_database=True, connect_timeout=1.0)

    with pytest.raises(ReadStoreNotReady) as refused:
        prepare_when_ready(
            open_store, timeout_s=1.0, first_delay_s=0.2, on_retry=lambda n, exc, pause: retries.append(n)
        )
    assert retries, "it retried before giving up"
    message = str(refused.value)
    assert "not ready after" in message
    assert "CREATE DATABASE" in message
    assert "refused" in message.lower() or "connection" in message.lower(), message
