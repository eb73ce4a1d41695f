"""An erased contact is forgotten by the ClickHouse 18.16 server with the same SQL as chDB: every table read
WITHOUT FINAL (all row versions, before any merge) and every view holds none of their personal values, the
other contact keeps theirs, and every count and funnel is what it was."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from unit.test_forget_read_store import OTHER_NAME, PERSONAL, SUBJECT, Projector, counts, readable_text

from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.projections.config import DEFAULT_CONFIG

pytestmark = pytest.mark.integration


@pytest.fixture
def server(clickhouse_endpoint: tuple[str, int], unique_name: str) -> Iterator[ClickHouseServerStore]:
    host, port = clickhouse_endpoint
    database = "t_forget_" + unique_name[-12:]
    with ClickHouseServerStore(host, port, database, create_database=True) as store:
        try:
            prepare_read_store(store, DEFAULT_CONFIG)
            Projector(store).tell_the_story()
            yield store
        finally:
            store.execute(f"DROP DATABASE IF EXISTS {database}")


@pytest.mark.timeout(240)
def test_the_server_forgets_with_the_same_sql(server: ClickHouseServerStore) -> None:
    assert server.query("SELECT version()")[0][0].startswith("18.16")
    before = counts(server)
    text = readable_text(server)
    assert all(value in text for value in PERSONAL)  # the search sees them while they are there
    report = server.forget_contacts([SUBJECT])
    assert report.forgotten == (SUBJECT,)
    assert report.rows("touchpoints") > 0
    text = readable_text(server)
    assert [value for value in PERSONAL if value in text] == []
    assert OTHER_NAME in text
    assert counts(server) == before
    # The replaced parts are unreadable at once and leave the disk after the server's old_parts_lifetime.
    changed = [t.table for t in report.tables if t.rows]
    assert {"customer_360", "projection_state", "touchpoints"} <= set(changed)
    assert report.inactive_parts == server.inactive_parts(changed)
