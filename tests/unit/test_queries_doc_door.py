"""Every `touchstream sql "..." --role R` line of docs/queries.md runs through the SQL door (what the CLI
and the API's SQL endpoint do) on chDB over the generator's data, as that role, and returns rows."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from unit.test_read_models_oracle import load

from touchstream.adapters.chdb_store import ChDBStore
from touchstream.adapters.sql_door import run
from touchstream.projections.roles import ROLES
from touchstream.streams.ports import AbstractReadStore

DOC = Path(__file__).resolve().parents[2] / "docs" / "queries.md"
CONSOLE = re.findall(r"```console\n(.*?)```", DOC.read_text(), flags=re.S)
COMMANDS = [
    shlex.split(line.removeprefix("$ "))
    for block in CONSOLE
    for line in block.splitlines()
    if line.startswith("$ touchstream sql ")
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AbstractReadStore]:
    folder = tmp_path_factory.mktemp("queries_doc_door")
    with ChDBStore(str(folder / "chdb")) as opened:
        load(opened, folder / "log.sqlite")
        yield opened


def test_the_page_has_door_examples() -> None:
    assert len(COMMANDS) >= 2


@pytest.mark.parametrize("argv", COMMANDS, ids=[a[2].split("FROM", 1)[1].split()[0] for a in COMMANDS])
def test_door_example_runs_as_its_role(store: AbstractReadStore, argv: list[str]) -> None:
    statement = argv[2]
    role = argv[argv.index("--role") + 1] if "--role" in argv else "analyst"
    columns, rows = run(store, statement, ROLES[role])
    assert columns
    assert rows, f"the example returns nothing on the generator's data:\n{statement}"
