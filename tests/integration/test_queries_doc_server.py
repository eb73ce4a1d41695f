"""docs/queries.md on the ClickHouse 18.16 server (issue 16 item 6): every ```sql example runs verbatim and
returns rows, and every CLI and API line of the SQL door runs through the door as its role, over the
generator's data projected into a fresh server database — as tests/unit/test_queries_doc.py and
tests/unit/test_queries_doc_door.py do on chDB, with the same data, merge and queries."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from unit.test_queries_doc import BLOCKS
from unit.test_queries_doc_door import EXAMPLES
from unit.test_read_models_oracle import load

from touchstream.adapters.api.sql_door import run
from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore
from touchstream.projections.merges import MergeMap
from touchstream.projections.roles import ROLES
from touchstream.streams.ports import AbstractReadStore
from touchstream.streams.steps import write_merges

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(
    clickhouse_endpoint: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AbstractReadStore]:
    host, port = clickhouse_endpoint
    folder = tmp_path_factory.mktemp("queries_doc_server")
    database = "t_docs_" + uuid.uuid4().hex[:10]  # unique: other sessions may run this test on the server
    with ClickHouseServerStore(host, port, database, create_database=True) as store:
        try:
            load(store, folder / "log.sqlite")
            # The merge the chDB test makes, so the merge examples have something to show.
            a, b = (
                row[0]
                for row in store.query(
                    "SELECT contact_id FROM customer_360 FINAL ORDER BY contact_id LIMIT 2"
                )
            )
            write_merges(store, MergeMap().merged(a, b, 1, "example"))
            yield store
        finally:
            store.execute(f"DROP DATABASE IF EXISTS {database}")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("sql", BLOCKS, ids=[b.split("FROM", 1)[1].split()[0] for b in BLOCKS])
def test_example_runs_on_the_server(server: AbstractReadStore, sql: str) -> None:
    assert server.query(sql), f"the example returns nothing on the generator's data:\n{sql}"


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("statement", "role"), EXAMPLES, ids=[f"{s.split('FROM', 1)[1].split()[0]}-{r}" for s, r in EXAMPLES]
)
def test_door_example_runs_on_the_server_as_its_role(
    server: AbstractReadStore, statement: str, role: str
) -> None:
    columns, rows = run(server, statement, ROLES[role])
    assert columns
    assert rows, f"the example returns nothing on the generator's data:\n{statement}"
