"""`touchstream customer show` and `touchstream sql` against the embedded read store that bootstrap()
picks (chDB in TOUCHSTREAM_DATA_DIR), through typer's runner as a user types them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner
from unit.test_api_fixtures import SECRET, load_story, pick_contact

from touchstream.adapters import cli_api, cli_query
from touchstream.adapters.api_auth import TokenSigner
from touchstream.adapters.bootstrap import bootstrap
from touchstream.adapters.cli_query import NotReadOnly, check_read_only
from touchstream.projections.roles import ROLES
from touchstream.streams.ports import AbstractReadStore

# The wiring cli.py gets (see docs/api.md): the same sub-apps, mounted the same way.
app = typer.Typer()
app.add_typer(cli_query.customer_app, name="customer")
app.command("sql")(cli_query.sql)
app.add_typer(cli_api.app, name="api")
runner = CliRunner()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AbstractReadStore]:
    folder: Path = tmp_path_factory.mktemp("cli")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TOUCHSTREAM_MODE", "embedded")
        env.setenv("TOUCHSTREAM_DATA_DIR", str(folder))
        env.setenv("TOUCHSTREAM_API_SECRET", SECRET.decode())
        with bootstrap().read_store() as opened:
            load_story(opened, folder)
            yield opened


def run(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_customer_show_renders_the_role_shaped_panel(store: AbstractReadStore) -> None:
    jane = pick_contact(store)
    shown = run("customer", "show", jane["email"], "--role", "sales")
    assert shown.exit_code == 0, shown.output
    assert f"{jane['first_name']} {jane['last_name']}" in shown.output
    assert "PIPELINE" in shown.output
    assert "TICKETS" not in shown.output
    assert "latest touches" in shown.output


@pytest.mark.parametrize("role", sorted(ROLES))
def test_customer_show_json_is_the_role_shaped_view(store: AbstractReadStore, role: str) -> None:
    jane = pick_contact(store)
    shown = run("customer", "show", jane["email"], "--role", role, "--format", "json")
    assert shown.exit_code == 0, shown.output
    found = json.loads(shown.output)
    assert found["match"] == {"matched_on": "email", "score": 1.0}
    assert {f for section in found["view"].values() for f in section} == set(ROLES[role].fields)
    if ROLES[role].pseudonymize:
        assert jane["email"] not in shown.output
        assert jane["contact_id"] not in shown.output


def test_customer_show_says_when_nobody_matches(store: AbstractReadStore) -> None:
    missing = runner.invoke(app, ["customer", "show", "nobody@nowhere.example"])
    assert missing.exit_code == 1
    assert "no customer matches" in missing.output


def test_sql_prints_a_table_csv_or_json(store: AbstractReadStore) -> None:
    query = "SELECT kind, count() AS active FROM active_signals GROUP BY kind ORDER BY kind"
    expected = store.query(query)
    as_json = run("sql", query, "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    assert [(r["kind"], r["active"]) for r in json.loads(as_json.output)] == expected
    as_csv = run("sql", query, "--format", "csv")
    rows = list(csv.reader(io.StringIO(as_csv.output)))
    assert rows[0] == ["kind", "active"]
    assert [(k, int(n)) for k, n in rows[1:]] == expected
    table = run("sql", query)
    assert table.exit_code == 0
    assert expected[0][0] in table.output


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE touchpoints",
        "INSERT INTO signals SELECT * FROM signals",
        "SELECT 1; DROP TABLE touchpoints",
        "ALTER TABLE touchpoints DELETE WHERE 1",
        "SELECT 1 INTO OUTFILE 'x.csv'",
        "-- SELECT\nTRUNCATE TABLE signals",
        "",
    ],
)
def test_sql_refuses_anything_but_reading(store: AbstractReadStore, statement: str) -> None:
    before = store.query("SELECT count() FROM touchpoints")[0][0]
    refused = runner.invoke(app, ["sql", "--", statement])
    assert refused.exit_code == 2
    assert "refused" in refused.output
    assert store.query("SELECT count() FROM touchpoints")[0][0] == before


def test_the_read_only_check_and_the_engine_fence() -> None:
    assert check_read_only("  select 1 ; ") == "select 1"
    assert check_read_only("WITH x AS (SELECT 1) SELECT * FROM x")
    assert check_read_only("SELECT ';' AS semicolon /* ; */ -- ;") == "SELECT ';' AS semicolon"
    for sql in ("SHOW TABLES", "DESCRIBE TABLE signals", "EXISTS TABLE signals", "(SELECT 1)"):
        assert check_read_only(sql)
    with pytest.raises(NotReadOnly):
        check_read_only("OPTIMIZE TABLE signals FINAL")


def test_the_engine_refuses_writes_even_if_the_check_were_fooled(store: AbstractReadStore) -> None:
    readonly = cli_query.open_read_only_store(bootstrap())
    try:
        with pytest.raises(Exception, match=r"(?i)readonly"):
            readonly.query("SELECT * FROM file('/etc/hostname', 'LineAsString')")
        assert readonly.query("SELECT count() FROM customer_360_current")[0][0] > 0
    finally:
        readonly.close()


def test_tokens_add_prints_a_token_that_verifies(store: AbstractReadStore) -> None:
    minted = run("api", "tokens", "add", "--role", "support", "--subject", "sue", "--format", "json")
    assert minted.exit_code == 0, minted.output
    body = json.loads(minted.output)
    principal = TokenSigner(SECRET).verify(body["token"])
    assert (principal.role.name, principal.subject) == ("support", "sue")
    unknown = runner.invoke(app, ["api", "tokens", "add", "--role", "janitor"])
    assert unknown.exit_code != 0
