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

from touchstream.adapters.api.auth import TokenSigner
from touchstream.adapters.api.sql_door import SqlRefused, check, open_door_store
from touchstream.adapters.bootstrap import bootstrap
from touchstream.adapters.cli import api as cli_api, query as cli_query
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


@pytest.mark.parametrize("role", sorted(r for r in ROLES if not ROLES[r].pseudonymize))
def test_customer_show_json_is_the_role_shaped_view(store: AbstractReadStore, role: str) -> None:
    jane = pick_contact(store)
    shown = run("customer", "show", jane["email"], "--role", role, "--format", "json")
    assert shown.exit_code == 0, shown.output
    found = json.loads(shown.output)
    assert found["match"] == {"matched_on": "email", "score": 1.0}
    assert {f for section in found["view"].values() for f in section} == set(ROLES[role].fields)


def test_customer_show_never_links_an_email_to_a_pseudonym(store: AbstractReadStore) -> None:
    jane = pick_contact(store)
    shown = runner.invoke(app, ["customer", "show", jane["email"], "--role", "analyst", "--format", "json"])
    assert shown.exit_code == 2
    assert "pseudonyms only" in shown.output
    assert jane["contact_id"] not in shown.output


def test_customer_show_without_a_role_refuses_never_admin(store: AbstractReadStore) -> None:
    jane = pick_contact(store)
    shown = runner.invoke(app, ["customer", "show", jane["email"], "--format", "json"])
    assert shown.exit_code == 2
    assert "--role is required" in shown.output
    assert jane["email"] not in shown.output


def test_customer_show_says_when_nobody_matches(store: AbstractReadStore) -> None:
    missing = runner.invoke(app, ["customer", "show", "nobody@nowhere.example", "--role", "sales"])
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
    refused = runner.invoke(app, ["sql", "--role", "admin", "--", statement])
    assert refused.exit_code == 2
    assert "refused" in refused.output
    assert store.query("SELECT count() FROM touchpoints")[0][0] == before


def test_sql_answers_per_role(store: AbstractReadStore) -> None:
    jane = pick_contact(store)
    by_email = f"SELECT email FROM customer_360_current WHERE email = '{jane['email']}'"
    assert jane["email"] in run("sql", by_email, "--role", "sales", "--format", "csv").output
    refused = runner.invoke(app, ["sql", by_email, "--role", "analyst"])
    assert refused.exit_code == 2, refused.output
    assert "column email of customer_360_current" in refused.output
    assert jane["email"] not in refused.stdout
    forecast = runner.invoke(app, ["sql", "SELECT count() FROM sales_forecast", "--role", "support"])
    assert forecast.exit_code == 2
    assert "table sales_forecast: the support role may not read it" in forecast.output
    hidden = runner.invoke(
        app, ["sql", "SELECT open_pipeline FROM customer_360_current", "--role", "marketing"]
    )
    assert hidden.exit_code == 2
    assert "column open_pipeline of customer_360_current: the marketing role may not read it" in hidden.output
    assert runner.invoke(app, ["sql", "SELECT 1", "--role", "janitor"]).exit_code != 0


def test_the_door_session_refuses_writes_and_files_even_if_the_check_were_fooled(
    store: AbstractReadStore,
) -> None:
    door = open_door_store(bootstrap())
    try:
        with pytest.raises(Exception, match=r"(?i)readonly"):
            door.query("SELECT * FROM file('/etc/hostname', 'LineAsString')")
        with pytest.raises(Exception, match=r"(?i)readonly"):
            door.execute("SET max_result_rows = 0")
        assert door.query("SELECT count() FROM customer_360_current")[0][0] > 0
    finally:
        door.close()
    with pytest.raises(SqlRefused, match="function file"):
        check("SELECT file('/etc/hostname')", ROLES["admin"], {})


def test_tokens_add_prints_a_token_that_verifies(store: AbstractReadStore) -> None:
    minted = run("api", "tokens", "add", "--role", "support", "--subject", "sue", "--format", "json")
    assert minted.exit_code == 0, minted.output
    body = json.loads(minted.output)
    principal = TokenSigner(SECRET).verify(body["token"])
    assert (principal.role.name, principal.subject) == ("support", "sue")
    unknown = runner.invoke(app, ["api", "tokens", "add", "--role", "janitor"])
    assert unknown.exit_code != 0


def test_customer_show_finds_whom_the_api_search_finds(store: AbstractReadStore) -> None:
    """One query path: for an email, a phone, a name and a partial email, the CLI's match is the API's
    first result (the CLI asks the same API, here built in process over the same store)."""
    from fastapi.testclient import TestClient

    from touchstream.adapters.api.compose import build_api, signer_for

    jane = pick_contact(store, "phone != ''")
    queries = [jane["email"], jane["phone"], f"{jane['first_name']} {jane['last_name']}", jane["email"][:6]]
    runtime = bootstrap()
    headers = {"Authorization": f"Bearer {signer_for(runtime).mint('support', 'test', 60)}"}
    with TestClient(build_api(runtime)) as api:
        for query in queries:
            found = api.get("/v1/customers/search", params={"q": query}, headers=headers).json()["results"]
            shown = run("customer", "show", query, "--role", "support", "--format", "json")
            assert shown.exit_code == 0, (query, shown.output)
            answer = json.loads(shown.output)
            assert answer["view"]["identity"]["contact_id"] == found[0]["contact_id"], query
            assert answer["match"] == {"matched_on": found[0]["matched_on"], "score": found[0]["score"]}
