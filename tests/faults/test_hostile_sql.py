"""A hostile-SQL corpus against the SQL door, on chDB (the embedded default) and on the ClickHouse 18.16
server (as its read-only user): file reads and writes, comments, unicode and whitespace tricks, several
statements, settings, dictionaries, system tables, table functions, huge and slow queries, and reads
outside the caller's role. Every case must be refused with a message naming what was refused; a canary
file's content never appears in any answer or message, no file is written, no table changes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from unit.test_api_fixtures import load_story, open_door_when_ready, sql_password, story_config

from touchstream.adapters.api.sql_door import (
    Limits,
    SqlRefused,
    confirm_read_only,
    ensure_door_user,
    open_door_store,
    run,
)
from touchstream.adapters.bootstrap import Runtime
from touchstream.adapters.config import load_settings
from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore
from touchstream.projections.roles import ROLES
from touchstream.streams.ports import AbstractReadStore, ReadStoreError

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Case:
    name: str
    sql: str  # {canary} and {out} are filled in per engine
    says: str  # a fragment the refusal must contain (what was refused)
    role: str = "admin"  # the most privileged role unless the case is about roles


CORPUS: tuple[Case, ...] = (
    # --- reading files --------------------------------------------------------------------------------
    Case("file scalar", "SELECT file('{canary}')", "function file()"),
    Case("file table", "SELECT * FROM file('{canary}', 'LineAsString')", "function file()"),
    Case("file with structure", "SELECT * FROM file('{canary}', 'TSV', 'line String')", "function file()"),
    Case("FILE upper case", "SELECT FILE('{canary}')", "function FILE()"),
    Case("file backquoted", "SELECT `file`('{canary}')", "function file()"),
    Case("file double-quoted", "SELECT \"file\"('{canary}')", "function file()"),
    Case("file spaced", "SELECT file ( '{canary}' )", "function file()"),
    Case("file over lines", "SELECT file\n(\n'{canary}'\n)", "function file()"),
    Case("file nested", "SELECT length(file('{canary}'))", "function file()"),
    Case("file in WHERE", "SELECT event_id FROM touchpoints WHERE summary = file('{canary}')", "file()"),
    Case("file in a subquery", "SELECT * FROM (SELECT file('{canary}') AS x)", "function file()"),
    Case("input", "SELECT * FROM input('x String')", "function input()"),
    Case("executable", "SELECT * FROM executable('cat {canary}', 'LineAsString', 'x String')", "executable"),
    Case("url", "SELECT * FROM url('http://127.0.0.1:18123/?query=SELECT+1', 'TSV', 'x String')", "url()"),
    Case("s3", "SELECT * FROM s3('http://127.0.0.1:1/b/k', 'CSV')", "function s3()"),
    Case("remote", "SELECT * FROM remote('127.0.0.1:19000', system.one)", "function remote()"),
    Case("remoteSecure", "SELECT * FROM remoteSecure('127.0.0.1', 'system', 'one')", "remoteSecure()"),
    Case("cluster", "SELECT * FROM cluster('default', system.one)", "function cluster()"),
    Case("mysql", "SELECT * FROM mysql('127.0.0.1:3306', 'db', 't', 'u', 'p')", "function mysql()"),
    Case("heredoc hiding nothing", "SELECT $$x$$, file('{canary}')", "function file()"),
    # --- writing files --------------------------------------------------------------------------------
    Case("into outfile", "SELECT 1 INTO OUTFILE '{out}'", "INTO OUTFILE: it writes a file"),
    Case("into outfile, no space", "SELECT 1 INTO OUTFILE'{out}'", "INTO"),
    Case("into outfile, lower case", "select 1 into outfile '{out}' format CSV", "INTO"),
    Case("into outfile, tab", "SELECT 1 INTO\tOUTFILE '{out}'", "INTO"),
    Case(
        "insert into function",
        "INSERT INTO FUNCTION file('{out}', 'CSV', 'x UInt8') SELECT 1",
        "INSERT statement",
    ),
    # --- comments ---------------------------------------------------------------------------------------
    Case("hash comment hides ;", "SELECT 1 # ; INSERT INTO FUNCTION file('{out}') SELECT 1", "comment"),
    Case("dash comment then ;", "SELECT 1 -- harmless\n; DROP TABLE touchpoints", "comment"),
    Case("block comment then ;", "SELECT 1 /* ; */ ; DROP TABLE touchpoints", "comment"),
    Case("leading block comment", "/* hidden */ SELECT file('{canary}')", "comment"),
    Case("shebang comment", "SELECT 1 #!/bin/sh", "comment"),
    Case("comment as space", "SELECT/**/file('{canary}')", "comment"),
    Case("dash comment hides OUTFILE", "SELECT 1 --\nINTO OUTFILE '{out}'", "comment"),
    # --- several statements ---------------------------------------------------------------------------
    Case("two selects", "SELECT 1; SELECT 2", "one statement"),
    Case("select then drop", "SELECT 1;DROP TABLE touchpoints", "one statement"),
    Case("double semicolon", "SELECT 1;;", "one statement"),
    # --- unicode and whitespace tricks ----------------------------------------------------------------
    Case("no-break space", "SELECT\u00a0file('{canary}')", "U+00A0"),
    Case("zero-width space", "SELECT\u200bfile('{canary}')", "U+200B"),
    Case("fullwidth letters", "SELECT \uff46\uff49\uff4c\uff45('{canary}')", "U+FF46"),
    Case("line separator", "SELECT file\u2028('{canary}')", "U+2028"),
    Case("bidi override in a string", "SELECT 'abc\u202e', 1", "U+202E"),
    Case("NUL byte", "SELECT\x00file('{canary}')", "U+0000"),
    Case("vertical tab", "SELECT\x0bfile('{canary}')", "U+000B"),
    Case("quoted name with a dot", "SELECT * FROM `system.one`", "quoted name"),
    # --- settings and output formats -----------------------------------------------------------------
    Case("settings readonly", "SELECT 1 SETTINGS readonly = 0", "SETTINGS"),
    Case("settings lift a limit", "SELECT count() FROM touchpoints SETTINGS max_result_rows = 0", "SETTINGS"),
    Case("SET statement", "SET readonly = 0", "SET"),
    Case("getSetting", "SELECT getSetting('readonly')", "function getSetting()"),
    Case("format", "SELECT 1 FORMAT TabSeparated", "FORMAT"),
    Case("query parameter", "SELECT {{x:String}}", "parameters"),
    # --- dictionaries ---------------------------------------------------------------------------------
    Case("dictGet", "SELECT dictGet('d', 'a', toUInt64(1))", "function dictGet()"),
    Case("dictGetString", "SELECT dictGetString('d', 'a', toUInt64(1))", "dictGetString()"),
    Case("dictionary table", "SELECT * FROM dictionary('d')", "function dictionary()"),
    Case("joinGet", "SELECT joinGet('j', 'v', 1)", "function joinGet()"),
    # --- system tables and other databases ------------------------------------------------------------
    Case("system.users", "SELECT * FROM system.users", "system.users"),
    Case("system.processes", "SELECT query FROM system.processes", "system.processes"),
    Case("system.tables", "SELECT name FROM system.tables", "system.tables"),
    Case("backquoted system", "SELECT * FROM `system`.`one`", "db.table"),
    Case("another database", "SELECT * FROM default.touchpoints", "db.table"),
    Case("IN a table", "SELECT 1 FROM touchpoints WHERE contact_id IN contact_merges", "IN <table>"),
    Case("IN a system table", "SELECT 1 FROM touchpoints WHERE contact_id IN system.one", "IN <table>"),
    # --- huge and slow ---------------------------------------------------------------------------------
    Case(
        "huge cross join",
        "SELECT a.event_id, b.summary FROM touchpoints AS a CROSS JOIN touchpoints AS b",
        "exceeds the door's limit",
    ),
    Case("range", "SELECT arrayJoin(range(1000000000))", "function range()"),
    Case("repeat", "SELECT repeat('x', 1000000000)", "function repeat()"),
    Case("numbers", "SELECT count() FROM numbers(10000000000000)", "function numbers()"),
    Case("sleep", "SELECT sleep(3)", "function sleep()"),
    Case("sleepEachRow", "SELECT sleepEachRow(1) FROM touchpoints", "function sleepEachRow()"),
    Case("system.numbers", "SELECT count() FROM system.numbers", "system.numbers"),
    # --- anything but reading --------------------------------------------------------------------------
    Case("drop", "DROP TABLE touchpoints", "only SELECT"),
    Case("alter delete", "ALTER TABLE touchpoints DELETE WHERE 1", "only SELECT"),
    Case("create as select", "CREATE TABLE x ENGINE = Memory AS SELECT 1", "only SELECT"),
    Case("truncate", "TRUNCATE TABLE signals", "only SELECT"),
    Case("optimize", "OPTIMIZE TABLE touchpoints FINAL", "OPTIMIZE statement"),
    Case("system shutdown", "SYSTEM SHUTDOWN", "SYSTEM statement"),
    Case("kill", "KILL QUERY WHERE 1", "KILL statement"),
    Case("attach", "ATTACH TABLE x", "ATTACH statement"),
    Case("show", "SHOW TABLES", "only SELECT"),
    Case("empty", "  ", "empty"),
    # --- outside the caller's role ---------------------------------------------------------------------
    Case("analyst reads an email", "SELECT email FROM customer_360_current", "column email", "analyst"),
    Case("analyst reads everything", "SELECT * FROM support_tickets", "SELECT *", "analyst"),
    Case("marketing reads ticket text", "SELECT summary FROM timeline", "column summary", "marketing"),
    Case("marketing reads amounts", "SELECT amount FROM sales_pipeline", "table sales_pipeline", "marketing"),
    Case("sales reads raw touchpoints", "SELECT summary FROM touchpoints", "table touchpoints", "sales"),
    Case(
        "support reads pipeline", "SELECT open_pipeline FROM customer_360_current", "open_pipeline", "support"
    ),
)


def test_the_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 40
    assert len({c.name for c in CORPUS}) == len(CORPUS)


@dataclass
class Door:
    store: AbstractReadStore  # the door's own connection
    writer: AbstractReadStore  # the pipeline's connection, which may write
    canary: Path
    out_dir: Path
    runtime: Runtime  # how the door was opened (to open another with other limits)


def _fill(case: Case, door: Door) -> str:
    return case.sql.format(canary=door.canary, out=door.out_dir / "written.csv")


def _walk(door: Door) -> None:
    """Every case refused with its message; no canary content anywhere; nothing written or changed."""
    secret = door.canary.read_text()
    door.out_dir.mkdir(parents=True, exist_ok=True)
    before = door.store.query("SELECT count() FROM touchpoints")[0][0]
    assert before * before > Limits().max_result_rows, "the story is too small for the huge-answer case"
    files_before = sorted(os.listdir(door.out_dir))
    said: list[str] = []
    for case in CORPUS:
        with pytest.raises(SqlRefused) as refused:
            run(door.store, _fill(case, door), ROLES[case.role])
        message = str(refused.value)
        assert case.says in message, (case.name, message)
        assert secret not in message
        said.append(message)
    # A string that merely mentions the canary is answered, and the answer holds the text, not the file.
    columns, rows = run(door.store, f"SELECT 'a\\' , file(\\'{door.canary}\\') , \\'' AS s", ROLES["admin"])
    assert columns == ["s"]
    assert secret not in repr(rows)
    assert str(door.canary) in rows[0][0]
    assert door.store.query("SELECT count() FROM touchpoints")[0][0] == before
    assert sorted(os.listdir(door.out_dir)) == files_before
    assert not (door.out_dir / "written.csv").exists()
    assert all(secret not in m for m in said)


def _canary(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"canary-{uuid.uuid4().hex[:8]}.txt"
    path.write_text(f"CANARY-{uuid.uuid4().hex}\n")
    return path


# --- chDB -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chdb_door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    folder = tmp_path_factory.mktemp("hostile_chdb")
    settings = load_settings({"TOUCHSTREAM_MODE": "embedded", "TOUCHSTREAM_DATA_DIR": str(folder)})
    runtime = Runtime(settings)
    with runtime.read_store() as writer:
        load_story(writer, folder, story_config(customers=20, accounts=4))
        door = open_door_store(runtime)
        try:
            yield Door(door, writer, _canary(folder / "files"), folder / "files", runtime)
        finally:
            door.close()


def test_every_hostile_statement_is_refused_on_chdb(chdb_door: Door) -> None:
    _walk(chdb_door)


def test_the_chdb_door_session_is_read_only_and_capped(chdb_door: Door) -> None:
    """The second fence, reached only if the parser were fooled: the session itself refuses."""
    secret = chdb_door.canary.read_text()
    for statement in (
        f"SELECT * FROM file('{chdb_door.canary}', 'LineAsString')",
        "CREATE TABLE sneaky (a UInt8) ENGINE = Memory",
        "SET max_result_rows = 0",
    ):
        with pytest.raises(ReadStoreError, match=r"(?i)readonly") as failed:
            chdb_door.store.query(statement)
        assert secret not in str(failed.value)
    limits = dict(chdb_door.store.query("SELECT name, value FROM system.settings WHERE name LIKE 'max_%'"))
    assert limits["max_result_rows"] == "100000"
    assert limits["max_execution_time"] == "30"


# --- the ClickHouse 18.16 server, as the read-only user ---------------------------------------------------


def _user_files() -> Path:
    cache = Path(os.environ.get("TOUCHSTREAM_CACHE", str(Path.home() / ".cache" / "touchstream")))
    return cache / "run" / "clickhouse" / "user_files"


@pytest.fixture(scope="module")
def server_door(
    clickhouse_endpoint: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Door]:
    host, port = clickhouse_endpoint
    folder = tmp_path_factory.mktemp("hostile_server")
    database = "t_hostile_" + uuid.uuid4().hex[:10]
    password = sql_password()
    settings = replace(
        load_settings(
            {
                "TOUCHSTREAM_MODE": "production",
                "TOUCHSTREAM_DATA_DIR": str(folder),
                "TOUCHSTREAM_CLICKHOUSE_HOST": host,
                "TOUCHSTREAM_CLICKHOUSE_PORT": str(port),
                "TOUCHSTREAM_CLICKHOUSE_DATABASE": database,
            }
        ),
        clickhouse_sql_password=password,
    )
    # The canary sits where the server's file() would look (its user_files), so a leak would be real.
    user_files = _user_files()
    canary_dir = user_files if user_files.is_dir() else folder / "files"
    canary = _canary(canary_dir)
    with ClickHouseServerStore(host, port, database, create_database=True) as writer:
        try:
            load_story(writer, folder, story_config(customers=20, accounts=4))
            door = open_door_when_ready(Runtime(settings))
            try:
                # Nothing may appear beside the canary, in the folder where file() would write.
                yield Door(door, writer, canary, canary_dir, Runtime(settings))
            finally:
                door.close()
        finally:
            writer.execute(f"DROP DATABASE IF EXISTS {database}")
            canary.unlink(missing_ok=True)


@pytest.mark.integration
def test_every_hostile_statement_is_refused_on_the_server(server_door: Door) -> None:
    _walk(server_door)


@pytest.mark.integration
def test_the_server_user_is_read_only_and_capped(server_door: Door) -> None:
    secret = server_door.canary.read_text()
    for statement in (
        f"SELECT * FROM file('{server_door.canary.name}', 'TSV', 'line String')",
        "CREATE TABLE sneaky (a UInt8) ENGINE = Memory",
        "SET max_result_rows = 0",
    ):
        with pytest.raises(ReadStoreError, match=r"(?i)readonly") as failed:
            server_door.store.query(statement)
        assert secret not in str(failed.value)
    limits = dict(server_door.store.query("SELECT name, value FROM system.settings WHERE name LIKE 'max_%'"))
    assert limits["max_result_rows"] == "100000"
    assert limits["max_execution_time"] == "30"


@pytest.mark.integration
def test_the_door_never_runs_as_default(server_door: Door) -> None:
    settings = replace(load_settings({"TOUCHSTREAM_MODE": "production"}), clickhouse_sql_password="")
    with pytest.raises(SqlRefused, match="read-only user"):
        open_door_store(Runtime(settings))
    as_default = replace(settings, clickhouse_sql_user="default", clickhouse_sql_password="x")
    with pytest.raises(SqlRefused, match="never as `default`"):
        open_door_store(Runtime(as_default))


def test_a_writable_connection_is_refused(chdb_door: Door) -> None:
    """confirm_read_only: a connection that could write never answers through the door."""
    with pytest.raises(SqlRefused, match="not read-only"):
        confirm_read_only(chdb_door.writer)


@pytest.mark.integration
def test_migrate_says_where_the_door_user_comes_from(server_door: Door) -> None:
    """18.16 takes users from users.xml only: `db migrate` says so instead of failing on CREATE USER."""
    said = ensure_door_user(server_door.writer, load_settings({"TOUCHSTREAM_MODE": "production"}))
    assert said.startswith("SQL door: ClickHouse 18.16")
    assert "deploy/local/clickhouse.sh" in said
    embedded = ensure_door_user(server_door.writer, load_settings({"TOUCHSTREAM_MODE": "embedded"}))
    assert "read-only, capped session" in embedded


LITERALS = (
    "a'b",
    "back\\slash",
    "\\'",
    "tab\tand\nnewline",
    "naïve ☕ 東京",
    "'; DROP TABLE x; --",
    "#/* -- */",
    "",
)


@pytest.mark.integration
@pytest.mark.parametrize("engine", ["chdb", "server"])
def test_the_literal_checked_is_the_literal_run(engine: str, request: pytest.FixtureRequest) -> None:
    """The door re-quotes every string it lets through; 18.16 and chDB read back exactly that value."""
    door: Door = request.getfixturevalue(f"{engine}_door")
    for value in LITERALS:
        # Written the way a user would (ClickHouse escapes), read back through the door.
        written = (
            "'"
            + value.replace("\\", "\\\\").replace("'", "\\'").replace("\t", "\\t").replace("\n", "\\n")
            + "'"
        )
        columns, rows = run(door.store, f"SELECT {written} AS v", ROLES["analyst"])
        assert (columns, rows) == (["v"], [(value,)]), value


def test_the_chdb_session_caps_what_a_query_may_read(chdb_door: Door) -> None:
    """The read cap is the engine's, reached by an allowed query: refused, and named."""
    capped = open_door_store(chdb_door.runtime, Limits(max_rows_to_read=10))
    try:
        with pytest.raises(SqlRefused, match=r"the query: reads more than 10 rows"):
            run(
                capped,
                "SELECT sum(length(summary)) FROM touchpoints",
                ROLES["admin"],
                limits=Limits(max_rows_to_read=10),
            )
        # The session is usable again afterwards (chDB's leftover output is drained).
        assert run(capped, "SELECT 1 AS one", ROLES["admin"]) == (["one"], [(1,)])
    finally:
        capped.close()
