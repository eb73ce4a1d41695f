"""Every `touchstream sql "..." --role R` and `curl .../v1/sql -d '{"sql": ...}'` line of docs/queries.md
runs through the SQL door (what the CLI and `POST /v1/sql` do) on chDB over the generator's data, as that
role (the API's as `analyst`, a role with the `sql` endpoint), and returns rows."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from unit.test_read_models_oracle import load

from touchstream.adapters.api.sql_door import run
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.projections.roles import ROLES
from touchstream.streams.ports import AbstractReadStore

DOC = Path(__file__).resolve().parents[2] / "docs" / "queries.md"
CONSOLE = re.findall(r"```console\n(.*?)```", DOC.read_text(), flags=re.S)
LINES = [shlex.split(line.removeprefix("$ ")) for block in CONSOLE for line in block.splitlines()]


def _example(argv: list[str]) -> tuple[str, str] | None:
    """(statement, role) of a CLI or API line of the SQL door, else None."""
    if argv[:2] == ["touchstream", "sql"]:
        return argv[2], argv[argv.index("--role") + 1] if "--role" in argv else "analyst"
    if argv[0] == "curl" and any(a.endswith("/v1/sql") for a in argv):
        return json.loads(argv[argv.index("-d") + 1])["sql"], "analyst"
    return None


EXAMPLES = [example for argv in LINES if (example := _example(argv)) is not None]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AbstractReadStore]:
    folder = tmp_path_factory.mktemp("queries_doc_door")
    with ChDBStore(str(folder / "chdb")) as opened:
        load(opened, folder / "log.sqlite")
        yield opened


def test_the_page_has_cli_and_api_examples() -> None:
    assert {role for _, role in EXAMPLES} >= {"sales", "analyst"}
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize(
    ("statement", "role"), EXAMPLES, ids=[f"{s.split('FROM', 1)[1].split()[0]}-{r}" for s, r in EXAMPLES]
)
def test_door_example_runs_as_its_role(store: AbstractReadStore, statement: str, role: str) -> None:
    columns, rows = run(store, statement, ROLES[role])
    assert columns
    assert rows, f"the example returns nothing on the generator's data:\n{statement}"
