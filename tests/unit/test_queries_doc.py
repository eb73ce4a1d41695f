"""Every ```sql example of docs/queries.md runs on chDB over the generator's data and returns rows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from unit.test_read_models_oracle import load

from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.projections.merges import MergeMap
from touchstream.projections.migrations import VIEWS
from touchstream.streams.ports import AbstractReadStore
from touchstream.streams.steps import write_merges

DOC = Path(__file__).resolve().parents[2] / "docs" / "queries.md"
BLOCKS = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AbstractReadStore]:
    folder = tmp_path_factory.mktemp("queries_doc")
    with ChDBStore(str(folder / "chdb")) as opened:
        load(opened, folder / "log.sqlite")
        a, b = (
            row[0]
            for row in opened.query("SELECT contact_id FROM customer_360 FINAL ORDER BY contact_id LIMIT 2")
        )
        write_merges(opened, MergeMap().merged(a, b, 1, "example"))
        yield opened


def test_the_page_has_examples_and_documents_every_view() -> None:
    assert len(BLOCKS) >= 15
    text = DOC.read_text()
    for view in VIEWS:
        assert f"`{view}`" in text, view


@pytest.mark.parametrize("sql", BLOCKS, ids=[b.split("FROM", 1)[1].split()[0] for b in BLOCKS])
def test_example_runs(store: AbstractReadStore, sql: str) -> None:
    rows = store.query(sql)
    assert rows, f"the example returns nothing on the generator's data:\n{sql}"
