"""The SQL door's pure checker (adapters/api/sql_door.py): what it lets through, what it rebuilds, what it
refuses and how it says so. The hostile corpus against real engines is tests/faults/test_hostile_sql.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import assume, example, given, settings, strategies as st
from sqlglot.tokenizer_core import Token, TokenType

from touchstream.adapters.api.sql_door import (
    ALLOWED_FUNCTIONS,
    DOOR_VIEWS,
    Limits,
    SqlRefused,
    canonical,
    check,
    door_user_statements,
    engine_refusal,
    server_manages_users,
)
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.projections.roles import ROLES, VIEW_ENDPOINTS
from touchstream.streams.ports import ReadStoreError

DOC = Path(__file__).resolve().parents[2] / "docs" / "queries.md"
# Enough of a schema for the checker: every door view with the columns these tests name.
SCHEMA = {
    view: ["contact_id", "account_id", "email", "first_name", "kind", "department", "summary", "amount", "x"]
    for view in DOOR_VIEWS
}


@pytest.mark.parametrize("sql", re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S))
def test_every_documented_query_passes_the_door_as_admin(sql: str) -> None:
    columns = {view: ["*"] for view in DOOR_VIEWS}
    assert check(sql, ROLES["admin"], columns) == " ".join(check(sql, ROLES["admin"], columns).split())


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT kind, count() FROM active_signals GROUP BY kind ORDER BY kind",
        "select kind from active_signals where kind in ('a', 'b') limit 3 ;",
        "WITH 1 AS one SELECT one",
        "WITH s AS (SELECT kind FROM active_signals) SELECT count() FROM s",
        "SELECT countIf(kind = 'x'), uniqExact(department), toStartOfMonth(now()) FROM active_signals",
        "SELECT quantile(0.5)(x) FROM (SELECT 1 AS x)",
        "SELECT arrayMap(x -> x + 1, [1, 2]), tuple(1, 2).1",
        "SELECT a.kind FROM active_signals AS a ANY LEFT JOIN active_signals AS b USING kind",
        "SELECT kind FROM active_signals UNION ALL SELECT kind FROM active_signals",
        "SELECT 'it''s', 'back\\\\slash', 'naïve ☕'",
        "(SELECT 1)",
    ],
)
def test_ordinary_queries_pass(sql: str) -> None:
    assert check(sql, ROLES["admin"], SCHEMA)


def test_what_runs_is_rebuilt_from_the_checked_tokens() -> None:
    assert canonical("SELECT  1 ,\n\t2 ;")[0] == "SELECT 1 , 2"
    # Strings are re-quoted: the engine reads exactly the literal the checker read.
    assert canonical("SELECT $$a'b$$")[0] == "SELECT 'a\\'b'"
    assert canonical("SELECT 'a\\' , file(\\'x\\') , \\''")[0] == "SELECT 'a\\' , file(\\'x\\') , \\''"
    assert canonical("SELECT `kind` FROM t")[0] == "SELECT `kind` FROM t"


def test_refusals_name_what_and_why() -> None:
    with pytest.raises(SqlRefused) as refused:
        check("SELECT file('/etc/shadow')", ROLES["admin"], SCHEMA)
    assert str(refused.value).startswith("function file(): it reads or writes files on the server")
    with pytest.raises(SqlRefused, match=r"table sales_pipeline: the marketing role may not read it"):
        check("SELECT count() FROM sales_pipeline", ROLES["marketing"], SCHEMA)
    with pytest.raises(SqlRefused, match=r"readable: .*campaign_engagement"):
        check("SELECT count() FROM sales_pipeline", ROLES["marketing"], SCHEMA)
    with pytest.raises(SqlRefused, match="column email of customer_360_current: the analyst role"):
        check("SELECT lower(email) AS e FROM customer_360_current", ROLES["analyst"], SCHEMA)
    with pytest.raises(SqlRefused, match="SELECT \\*"):
        check("SELECT * FROM customer_360_current", ROLES["marketing"], SCHEMA)
    with pytest.raises(SqlRefused, match="table nowhere: it is not a view the SQL door serves"):
        check("SELECT 1 FROM nowhere", ROLES["admin"], SCHEMA)


def test_every_view_of_the_matrix_is_a_door_view_and_admin_reads_them_all() -> None:
    assert set(VIEW_ENDPOINTS) <= DOOR_VIEWS
    for view in DOOR_VIEWS:
        assert check(f"SELECT * FROM {view}", ROLES["admin"], SCHEMA)


def test_no_dangerous_function_is_on_the_list() -> None:
    for name in (
        "file",
        "url",
        "s3",
        "remote",
        "remotesecure",
        "input",
        "dictget",
        "joinget",
        "sleep",
        "numbers",
        "getsetting",
        "executable",
        "range",
        "repeat",
        "format",
        "currentuser",
    ):
        assert name not in ALLOWED_FUNCTIONS, name


def test_engine_limits_become_refusals() -> None:
    limits = Limits()
    detail = "Code: 396. DB::Exception: Limit for result exceeded, max rows: 100.00 thousand"
    refusal = engine_refusal(detail, limits)
    assert refusal is not None
    assert "100000 rows" in str(refusal)
    assert "30 s" in str(engine_refusal("Timeout exceeded: elapsed 31 seconds", limits))
    assert engine_refusal("Unknown identifier: y", limits) is None


def test_which_servers_take_users_from_sql() -> None:
    assert not server_manages_users("18.16.1")
    assert not server_manages_users("20.4.9.110")
    assert server_manages_users("20.5.2.7")
    assert server_manages_users("24.8.4.13")
    assert not server_manages_users("nonsense")


def test_the_user_statements_parse_on_a_current_clickhouse() -> None:
    """chDB (ClickHouse 26) has no access control to run them, but its parser must accept every one:
    what comes back is a privilege or unknown-user error, never a syntax error."""
    statements = door_user_statements("touchstream_sql", "touchstream")
    assert "readonly = 1" in statements[0]
    assert "max_result_rows = 100000" in statements[0]
    assert statements[-1] == "GRANT SELECT ON touchstream.* TO touchstream_sql"
    with ChDBStore(None) as store:
        for statement in statements:
            with pytest.raises(ReadStoreError) as failed:
                store.execute(statement, {"password": "pw'; DROP TABLE x; --"})
            assert "SYNTAX_ERROR" not in failed.value.detail, statement
    with pytest.raises(ValueError, match="not a plain identifier"):
        door_user_statements("touchstream_sql; DROP", "touchstream")


def test_the_local_servers_profile_holds_the_doors_limits() -> None:
    """deploy/local/clickhouse.sh writes the read-only user's profile; it must say what Limits says."""
    script = (DOC.parents[1] / "deploy" / "local" / "clickhouse.sh").read_text()
    profile = script[script.index("<$SQL_USER>") : script.index("</$SQL_USER>")]
    assert "<readonly>1</readonly>" in profile
    for name, value in Limits().settings().items():
        assert f"<{name}>{value}</{name}>" in profile, name


_TRICKY = st.text(alphabet="ab1'\\\";#-/*` \n(),.$", max_size=40)


@settings(max_examples=300, deadline=None)
@given(tail=_TRICKY)
@example(tail="$$$$")  # a `$$…$$` string, rebuilt as '' (found by the search, kept)
def test_the_rebuilt_statement_reads_back_as_the_same_tokens(tail: str) -> None:
    """Whatever the door accepts, its rebuilt text tokenizes to the very tokens it checked: re-quoting
    never turns a string into code, nor code into a string or a comment."""
    try:
        text, tokens = canonical("SELECT " + tail)
    except SqlRefused:
        return
    again, retokens = canonical(text)
    assert again == text
    assert [_kind(t) for t in retokens] == [_kind(t) for t in tokens]


def _kind(token: Token) -> tuple[TokenType, str]:
    """A token's type and text; a `$$…$$` string is rebuilt as a plain quoted one (still a string)."""
    kind = TokenType.STRING if token.token_type == TokenType.HEREDOC_STRING else token.token_type
    return kind, token.text


_VISIBLE = st.characters(
    exclude_categories=("Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp", "Zs"), include_characters=" \t\n"
)


@settings(max_examples=60, deadline=None)
@given(value=st.text(_VISIBLE, max_size=30))
def test_a_string_the_door_quotes_is_the_string_clickhouse_reads(value: str) -> None:
    """The door's quoting and ClickHouse's reading agree (chDB), so the literal checked is the one run."""
    assume("$$" not in value and not value.endswith("$"))  # the heredoc below carries the value as-is
    text, _ = canonical(f"SELECT $${value}$$ AS v")
    with ChDBStore(None) as store:
        assert store.query(text) == [(value,)]
