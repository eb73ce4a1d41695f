"""The SQL door: one read-only SELECT over the read-model views a role may read, checked by parsing.

Keyword filters lose to `INTO OUTFILE'x'` and a `#` comment hiding a `;`, and ClickHouse's `readonly`
does not stop the scalar `file()` function (chDB 26). So the door parses the statement (sqlglot, ClickHouse
dialect) and allows only what it recognises:

1. **Tokens.** The statement is tokenized; between tokens only ASCII whitespace may stand (so no comment of
   any kind: `--`, `/* */`, `#`, `#!`), and outside string literals only printable ASCII. What runs is
   rebuilt from those tokens — string literals re-quoted by us — so the engine reads exactly the tokens
   that were checked, never a different reading of the same bytes.
2. **Functions.** Every name followed by `(` must be a structural keyword (`IN (`, `FROM (` …) or on the
   allow-list below; everything else is refused by name, including `file`, `url`, `s3`, `remote*`,
   `input`, `dictGet*`, `joinGet`, `numbers` and every other table function.
3. **Shape.** Exactly one `SELECT` (or `WITH … SELECT`, `UNION`); no `INTO`, `SETTINGS`, `FORMAT`, query
   parameters, or `IN <table>`; tables only by bare name (no `db.table`, so no `system.*`), each a view the
   role may read (projections/roles.py `Role.may_read_view`) or a name the query defines with `WITH`.
4. **Columns.** Where the role may read only some columns of a view (`Role.readable_columns`), a `*` over
   it is refused and so is any identifier naming a hidden column.

Then the engine caps the answer (`Limits`: rows, bytes, time, rows read, memory) and is itself read-only:
the ClickHouse server's dedicated read-only user (deploy/local/clickhouse.sh), chDB's session settings.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp
from sqlglot.dialects.clickhouse import ClickHouse
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType

from ...projections.roles import RAW_TABLES, VIEW_ENDPOINTS, Role
from ...streams.ports import AbstractReadStore, ReadStoreError, check_identifier

__all__ = [
    "ALLOWED_FUNCTIONS",
    "DOOR_VIEWS",
    "Limits",
    "SqlRefused",
    "chdb_door",
    "check",
    "confirm_read_only",
    "door_user_statements",
    "ensure_door_user",
    "function_allowed",
    "limit_chdb_session",
    "open_door_store",
    "run",
    "schema",
    "server_manages_users",
]

MAX_STATEMENT = 20_000  # characters: an analyst's query, not a payload


class SqlRefused(ValueError):
    """The door refused a statement; the message names what was refused, why, and what to do instead."""

    def __init__(self, what: str, why: str, fix: str = "") -> None:
        self.what, self.why, self.fix = what, why, fix
        super().__init__(f"{what}: {why}" + (f" ({fix})" if fix else ""))


@dataclass(frozen=True)
class Limits:
    """What one query through the door may cost. The server applies them from the read-only user's
    profile (deploy/local/clickhouse.sh writes these numbers); chDB from the door session's settings."""

    max_result_rows: int = 100_000
    max_result_bytes: int = 100_000_000
    max_execution_time_s: int = 30
    max_rows_to_read: int = 500_000_000
    max_bytes_to_read: int = 50_000_000_000
    max_memory_usage: int = 2_000_000_000

    def settings(self) -> dict[str, int | str]:
        return {
            "max_result_rows": self.max_result_rows,
            "max_result_bytes": self.max_result_bytes,
            "result_overflow_mode": "throw",
            "max_execution_time": self.max_execution_time_s,
            "timeout_overflow_mode": "throw",
            "max_rows_to_read": self.max_rows_to_read,
            "max_bytes_to_read": self.max_bytes_to_read,
            "read_overflow_mode": "throw",
            "max_memory_usage": self.max_memory_usage,
        }


#: Every view and table the door can answer from (for some role).
DOOR_VIEWS: frozenset[str] = frozenset(VIEW_ENDPOINTS) | RAW_TABLES

# --- functions --------------------------------------------------------------------------------------------

_AGGREGATES = """
count sum avg min max any anyLast argMin argMax uniq uniqExact uniqCombined uniqHLL12 groupArray
groupUniqArray groupArrayArray groupUniqArrayArray quantile quantiles quantileExact quantilesExact median
stddevPop stddevSamp varPop varSamp covarPop covarSamp corr topK sumWithOverflow avgWeighted
"""
_COMBINATORS = ("", "If", "Distinct", "Array", "OrNull", "OrDefault", "ArrayIf", "DistinctIf")
_SCALARS = """
if multiIf coalesce ifNull nullIf isNull isNotNull assumeNotNull toNullable
toString toFixedString toInt8 toInt16 toInt32 toInt64 toUInt8 toUInt16 toUInt32 toUInt64 toFloat32 toFloat64
toDecimal32 toDecimal64 toDecimal128 toInt32OrNull toInt64OrNull toInt64OrZero toFloat64OrNull
toFloat64OrZero toDateOrNull toDateTimeOrNull toDate toDateTime toTypeName cast
toStartOfDay toStartOfWeek toStartOfMonth toStartOfQuarter toStartOfYear toStartOfHour toStartOfMinute
toMonday toYear toMonth toQuarter toDayOfWeek toDayOfMonth toDayOfYear toHour toMinute toYYYYMM toYYYYMMDD
toRelativeDayNum toRelativeMonthNum toUnixTimestamp now today yesterday dateDiff formatDateTime
addSeconds addMinutes addHours addDays addWeeks addMonths addQuarters addYears subtractSeconds
subtractMinutes subtractHours subtractDays subtractWeeks subtractMonths subtractQuarters subtractYears
toIntervalDay toIntervalMonth toIntervalWeek toIntervalHour
lower upper lowerUTF8 upperUTF8 length lengthUTF8 empty notEmpty concat substring substringUTF8 trim
trimBoth trimLeft trimRight position positionCaseInsensitive positionUTF8 positionCaseInsensitiveUTF8
like notLike ilike match extract extractAll replaceOne replaceAll replaceRegexpOne replaceRegexpAll
splitByChar splitByString startsWith endsWith lcase ucase left right
round floor ceil abs greatest least intDiv intDivOrZero modulo plus minus multiply divide negate sign
exp log sqrt pow power
equals notEquals less greater lessOrEquals greaterOrEquals and or not xor in notIn
tuple tupleElement array arrayJoin has hasAny hasAll indexOf arrayElement arrayFilter arrayMap
arrayCount arrayExists arrayAll arraySum arrayMin arrayMax arrayAvg arraySort arrayReverseSort
arrayDistinct arrayUniq arrayStringConcat arraySlice arrayConcat arrayFlatten arrayCompact
emptyArrayString emptyArrayUInt64 arrayEnumerate
visitParamExtractString visitParamExtractInt visitParamExtractUInt visitParamExtractFloat
visitParamExtractBool visitParamExtractRaw visitParamHas JSONExtractString JSONExtractInt
JSONExtractFloat JSONExtractBool JSONExtractRaw JSONHas JSONLength
formatReadableSize formatReadableQuantity
"""
#: Lower-cased names of the functions the door allows (ClickHouse resolves some names case-blind; the
#: door compares lower-case, so a name is allowed only if every spelling of it is harmless).
ALLOWED_FUNCTIONS: frozenset[str] = frozenset(
    {f"{base}{c}".lower() for base in _AGGREGATES.split() for c in _COMBINATORS}
    | {name.lower() for name in _SCALARS.split()}
)

# Words that stand before "(" without being a function call.
_STRUCTURAL_WORDS = """IN NOT AS FROM JOIN USING AND OR SELECT WHERE PREWHERE HAVING BY ON EXISTS WHEN
THEN ELSE CASE LIMIT OFFSET DISTINCT ALL WITH UNION INTERSECT EXCEPT OVER IS LIKE ILIKE BETWEEN
INTERVAL GLOBAL"""
_STRUCTURAL = frozenset(_STRUCTURAL_WORDS.split())

_WHY_NOT = (
    (re.compile(r"^(file|filesystem.*|readfile|user_files.*)$"), "it reads or writes files on the server"),
    (
        re.compile(
            r"^(url|s3.*|remote.*|cluster.*|mysql|postgresql|jdbc|odbc|hdfs.*|azure.*|gcs|iceberg.*|"
            r"deltalake.*|hudi.*|mongodb|redis|sqlite|executable.*)$"
        ),
        "it reaches other servers or programs",
    ),
    (
        re.compile(r"^(dictget.*|dicthas|dictisin|dictgethierarchy|dictionary|joinget.*)$"),
        "it reads dictionaries",
    ),
    (
        re.compile(r"^(input|numbers.*|zeros.*|generaterandom.*|values|merge|null|view|format|system.*)$"),
        "it is a table function",
    ),
    (
        re.compile(r"^(sleep.*|throwif|range|repeat|replicate|randomstring.*|leftpad.*|rightpad.*)$"),
        "it can stall the server or exhaust its memory",
    ),
    (
        re.compile(
            r"^(getsetting|currentuser|currentdatabase|hostname|version|uptime|getmacro|fqdn|"
            r"servertimezone|tcpport|getserverport|buildid|displayname)$"
        ),
        "it describes the server",
    ),
)


def function_allowed(name: str) -> bool:
    return name.lower() in ALLOWED_FUNCTIONS


def _function_refusal(name: str) -> SqlRefused:
    lowered = name.lower()
    why = next(
        (reason for pattern, reason in _WHY_NOT if pattern.match(lowered)), "it is not on the door's list"
    )
    return SqlRefused(
        f"function {name}()",
        why,
        "allowed: aggregates, conversions, dates, strings, arrays (docs/security.md)",
    )


# --- tokens -----------------------------------------------------------------------------------------------

_DIALECT = ClickHouse()
_SPACE = frozenset(" \t\r\n")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REFUSED_WORDS = {
    "INTO": ("INTO", "it writes the answer to a file or a table"),
    "OUTFILE": ("INTO OUTFILE", "it writes a file on the machine"),
    "INFILE": ("FROM INFILE", "it reads a file on the machine"),
    "SETTINGS": ("SETTINGS", "a query may not change the door's limits"),
    "FORMAT": ("FORMAT", "the door chooses the output format (--format)"),
}


# Unicode categories refused everywhere: controls, format (zero-width, bidi overrides), private use,
# surrogates, and separators other than the ASCII space (no-break and ideographic spaces, line separators).
_INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp", "Zs"})


def _quote(text: str) -> str:
    """A ClickHouse string literal holding exactly `text` (escapes every quote and backslash)."""
    for ch in text:
        if ch not in _SPACE and ch != " " and unicodedata.category(ch) in _INVISIBLE:
            raise SqlRefused(
                f"character U+{ord(ch):04X} in a string", "control and invisible characters are not allowed"
            )
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _gap(text: str, start: int) -> None:
    """What stands between two tokens must be plain whitespace: anything else is a comment or a trick."""
    for offset, ch in enumerate(text):
        if ch in _SPACE:
            continue
        rest = text[offset:]
        if rest.startswith(("--", "/*", "#")):
            raise SqlRefused(
                f"comment at character {start + offset}", "comments are not allowed", "remove it"
            )
        raise SqlRefused(
            f"character U+{ord(ch):04X} at {start + offset}", "only ASCII whitespace may separate words"
        )


def _tokens(sql: str) -> list[Token]:
    try:
        return list(_DIALECT.tokenize(sql))
    except (SqlglotError, ValueError, RecursionError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise SqlRefused("the statement", f"cannot be read: {first}") from None


def canonical(sql: str) -> tuple[str, list[Token]]:
    """The statement rebuilt from its tokens (whitespace collapsed, strings re-quoted), and the tokens.
    Refuses comments, stray characters, non-ASCII outside strings, query parameters and `;` inside."""
    if len(sql) > MAX_STATEMENT:
        raise SqlRefused("the statement", f"is longer than {MAX_STATEMENT} characters")
    for offset, ch in enumerate(sql):
        if ch not in _SPACE and unicodedata.category(ch) in _INVISIBLE:
            raise SqlRefused(
                f"character U+{ord(ch):04X} at {offset}",
                "control, invisible and non-ASCII space characters are not allowed anywhere",
            )
    tokens = _tokens(sql)
    end = len(sql)
    if tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        end = tokens.pop().start  # one trailing ";" is harmless; any other is a second statement
        _gap(sql[end + 1 :], end + 1)
    if not tokens:
        raise SqlRefused("the statement", "is empty", "give one SELECT")
    # Checked on the first token: sqlglot reads what follows a leading command word as one string.
    if tokens[0].token_type not in (TokenType.SELECT, TokenType.WITH, TokenType.L_PAREN):
        raise SqlRefused(f"{tokens[0].text.upper()} statement", "only SELECT (or WITH … SELECT) is allowed")
    parts: list[str] = []
    position = 0
    for index, token in enumerate(tokens):
        _gap(sql[position : token.start], position)
        if parts and token.start > position:
            parts.append(" ")
        source = sql[token.start : token.end + 1]
        kind = token.token_type
        if kind in (TokenType.STRING, TokenType.HEREDOC_STRING):
            parts.append(_quote(token.text))
        elif kind == TokenType.IDENTIFIER:
            if not _IDENTIFIER.match(token.text):
                raise SqlRefused(f"quoted name {source}", "names may hold ASCII letters, digits and _ only")
            parts.append(f"`{token.text}`")
        else:
            if kind.name.endswith("STRING") and kind not in (TokenType.HEX_STRING, TokenType.BIT_STRING):
                raise SqlRefused(f"literal {source}", "only plain 'quoted' strings are allowed")
            if "'" in source or '"' in source or "`" in source:
                raise SqlRefused(f"literal {source}", "only plain 'quoted' strings are allowed")
            bad = next((ch for ch in source if not (" " < ch < "\x7f" or ch in _SPACE)), None)
            if bad is not None:
                raise SqlRefused(
                    f"character U+{ord(bad):04X} in {source!r}",
                    "outside strings only printable ASCII is allowed",
                )
            if kind == TokenType.SEMICOLON:
                raise SqlRefused("a second statement after ';'", "the door runs one statement at a time")
            if kind in (TokenType.L_BRACE, TokenType.R_BRACE, TokenType.PLACEHOLDER, TokenType.PARAMETER):
                raise SqlRefused(f"{source!r}", "query parameters and placeholders are not allowed")
            word = source.upper()
            if word == "INTO" and index + 1 < len(tokens) and tokens[index + 1].text.upper() == "OUTFILE":
                word = "OUTFILE"
            if word in _REFUSED_WORDS:
                what, why = _REFUSED_WORDS[word]
                raise SqlRefused(what, why)
            parts.append(source)
        position = token.end + 1
    _gap(sql[position:end], position)
    return "".join(parts), tokens


def _check_calls(tokens: Sequence[Token]) -> None:
    for token, after in itertools.pairwise(tokens):
        if after.token_type != TokenType.L_PAREN:
            continue
        name = token.text
        if not name or not (name[0].isalpha() or name[0] == "_"):
            continue  # an operator, a bracket or a literal before "(": not a call by name
        if token.token_type != TokenType.IDENTIFIER and name.upper() in _STRUCTURAL:
            continue
        if not function_allowed(name):
            raise _function_refusal(name)


# --- the statement ----------------------------------------------------------------------------------------


def _parse(text: str) -> exp.Expression:
    try:
        statements = [s for s in _DIALECT.parse(text) if s is not None]
    except (SqlglotError, ValueError, RecursionError) as exc:
        first = (str(exc).splitlines() or ["syntax error"])[0]
        raise SqlRefused("the statement", f"is not a query the door understands: {first}") from None
    if len(statements) != 1:
        raise SqlRefused("the statement", "the door runs exactly one statement")
    root = statements[0]
    inner = root
    while isinstance(inner, exp.Subquery):  # "(SELECT …)" is a SELECT too
        inner = inner.this
    if not isinstance(inner, exp.Select | exp.SetOperation) or not isinstance(root, exp.Expression):
        raise SqlRefused(f"{root.key.upper()} statement", "only SELECT (or WITH … SELECT) is allowed")
    return root


def _cte_names(root: exp.Expression) -> set[str]:
    return {cte.alias_or_name for cte in root.find_all(exp.CTE) if cte.alias_or_name}


def check(
    sql: str, role: Role, columns: Mapping[str, Sequence[str]], *, views: Iterable[str] | None = None
) -> str:
    """The statement to run for `role`, or SqlRefused. `columns` is the schema (view -> its columns) the
    statement will run against; `views` narrows what may be read (default: every door view)."""
    text, tokens = canonical(sql)
    _check_calls(tokens)
    root = _parse(text)
    known = DOOR_VIEWS if views is None else frozenset(views) & DOOR_VIEWS
    defined = _cte_names(root)
    readable = sorted(v for v in known if role.may_read_view(v) and v in columns)
    used: set[str] = set()
    for node in root.walk():
        if isinstance(node, exp.DDL | exp.DML | exp.Command | exp.Into | exp.Placeholder | exp.Parameter):
            raise SqlRefused(node.key.upper(), "only reading is allowed")
        if isinstance(node, exp.Select):
            for clause in ("settings", "format", "into", "options"):
                if node.args.get(clause):
                    what, why = _REFUSED_WORDS.get(clause.upper(), (clause.upper(), "not allowed"))
                    raise SqlRefused(what, why)
        if isinstance(node, exp.In) and node.args.get("field") is not None:
            raise SqlRefused("IN <table>", "reads a table by name", "write IN (SELECT … FROM view)")
        if isinstance(node, exp.Table):
            name = node.this
            if not isinstance(name, exp.Identifier):
                raise SqlRefused(f"table function {node.sql('clickhouse')}", "it is a table function")
            if node.args.get("db") is not None or node.args.get("catalog") is not None:
                raise SqlRefused(
                    f"{node.sql('clickhouse')}",
                    "names with a database (db.table, system.*) are not allowed",
                    "read the read-model views by their bare names",
                )
            table = name.name
            if table in defined:
                continue
            if table not in known or table not in columns:
                # Unknown here, or a view no one has placed in the matrix (roles.VIEW_ENDPOINTS) yet.
                raise SqlRefused(
                    f"table {table}",
                    "it is not a view the SQL door serves",
                    f"readable by {role.name}: {', '.join(readable) or 'nothing'}",
                )
            if not role.may_read_view(table):
                raise SqlRefused(
                    f"table {table}",
                    f"the {role.name} role may not read it through SQL",
                    f"readable: {', '.join(readable) or 'nothing'}",
                )
            used.add(table)
    _check_columns(root, role, columns, used)
    return text


def _check_columns(
    root: exp.Expression, role: Role, columns: Mapping[str, Sequence[str]], used: set[str]
) -> None:
    hidden: dict[str, str] = {}
    for view in sorted(used):
        allowed = set(role.readable_columns(view, columns[view]))
        for column in columns[view]:
            if column not in allowed:
                hidden.setdefault(column, view)
    if not hidden:
        return
    for node in root.walk():
        if isinstance(node, exp.Star) and not isinstance(node.parent, exp.Count):
            raise SqlRefused(
                "SELECT *",
                f"the {role.name} role may not read every column of {', '.join(sorted(used))}",
                "name the columns",
            )
        if (
            isinstance(node, exp.Identifier)
            and not isinstance(node.parent, exp.Table)
            and node.name in hidden
        ):
            raise SqlRefused(
                f"column {node.name} of {hidden[node.name]}", f"the {role.name} role may not read it"
            )


def engine_refusal(detail: str, limits: Limits) -> SqlRefused | None:
    """The engine's own refusal (a limit reached, read-only mode) as a door refusal, else None."""
    lowered = detail.lower()
    if "limit for result exceeded" in lowered or "too_many_rows_or_bytes" in lowered:
        return SqlRefused(
            "the answer",
            f"exceeds the door's limit ({limits.max_result_rows} rows, {limits.max_result_bytes} bytes)",
            "aggregate or add LIMIT",
        )
    if "timeout exceeded" in lowered or "too_slow" in lowered or "estimated query execution time" in lowered:
        return SqlRefused(
            "the query", f"runs longer than the door's {limits.max_execution_time_s} s", "narrow it"
        )
    if (
        "limit for rows" in lowered
        or "limit for (uncompressed) bytes" in lowered
        or "too_many_rows" in lowered
    ):
        return SqlRefused("the query", f"reads more than {limits.max_rows_to_read} rows", "narrow it")
    if "memory limit" in lowered:
        return SqlRefused(
            "the query", f"needs more than {limits.max_memory_usage} bytes of memory", "narrow it"
        )
    if "readonly" in lowered or "read-only" in lowered:
        return SqlRefused("the statement", "the engine is read-only here")
    return None


# --- running a checked statement ----------------------------------------------------------------------------


def schema(store: AbstractReadStore) -> dict[str, list[str]]:
    """view -> its columns, in the store's current database (what `check` measures a statement against)."""
    found: dict[str, list[str]] = {}
    for table, column in store.query(
        "SELECT table, name FROM system.columns WHERE database = currentDatabase()"
    ):
        found.setdefault(str(table), []).append(str(column))
    return found


def confirm_read_only(store: AbstractReadStore) -> None:
    """Refuse to answer through a connection that could write: the engine must say readonly is on."""
    rows = store.query("SELECT value FROM system.settings WHERE name = 'readonly'")
    if not rows or str(rows[0][0]) not in ("1", "2"):
        raise SqlRefused(
            "the door's connection",
            "is not read-only",
            "connect as the read-only user (TOUCHSTREAM_CLICKHOUSE_SQL_USER, docs/security.md)",
        )


def limit_chdb_session(store: AbstractReadStore, limits: Limits) -> None:
    """chDB has no users: the door's own session gets the limits, then readonly=1, which freezes them (a
    read-only session may change no setting)."""
    for name, value in limits.settings().items():
        store.execute(f"SET {name} = {value!r}" if isinstance(value, str) else f"SET {name} = {int(value)}")
    store.execute("SET readonly = 1")


def run(
    store: AbstractReadStore,
    sql: str,
    role: Role,
    *,
    limits: Limits | None = None,
    views: Iterable[str] | None = None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Check `sql` for `role` against the store's schema and run it: (column names, rows). Raises
    SqlRefused (the door or the engine's limits said no) or ReadStoreError (the engine failed)."""
    limits = limits or Limits()
    statement = check(sql, role, schema(store), views=views)
    try:
        columns, rows = store.query_with_columns(statement)
    except ReadStoreError as exc:
        _drain(store)
        refusal = engine_refusal(exc.detail, limits)
        if refusal is not None:
            raise refusal from None
        raise
    return [name for name, _ in columns], rows


def _drain(store: AbstractReadStore) -> None:
    """chDB 4.x leaves the partial output of a query that failed mid-stream (a limit reached) in the
    session, where it would prefix the next answer; one throw-away query takes it out."""
    with contextlib.suppress(ReadStoreError):
        store.query("SELECT 1")


# --- the read-only user on servers that take users from SQL ------------------------------------------------


def server_manages_users(version: str) -> bool:
    """Whether `CREATE USER` / `CREATE SETTINGS PROFILE` work: SQL-driven access control came in 20.5.
    Older servers (Debian's 18.16) take users from users.xml only (deploy/local/clickhouse.sh)."""
    head = version.split(".")
    try:
        return (int(head[0]), int(head[1])) >= (20, 5)
    except (ValueError, IndexError):
        return False


def door_user_statements(user: str, database: str, limits: Limits | None = None) -> list[str]:
    """The statements that make (or refresh) the SQL door's user on a server that manages users in SQL:
    a settings profile with readonly=1 and the limits, the user with that profile and `%(password)s`,
    and SELECT on the read models' database only. Run them as an administrator."""
    check_identifier(user)
    check_identifier(database)
    settings = ", ".join(
        f"{name} = {value!r}" if isinstance(value, str) else f"{name} = {int(value)}"
        for name, value in {"readonly": 1, **(limits or Limits()).settings()}.items()
    )
    return [
        f"CREATE SETTINGS PROFILE OR REPLACE {user} SETTINGS {settings}",
        f"CREATE USER IF NOT EXISTS {user} IDENTIFIED WITH sha256_password BY %(password)s "
        f"SETTINGS PROFILE '{user}'",
        f"ALTER USER {user} IDENTIFIED WITH sha256_password BY %(password)s SETTINGS PROFILE '{user}'",
        f"REVOKE ALL ON *.* FROM {user}",
        f"GRANT SELECT ON {database}.* TO {user}",
    ]


def ensure_door_user(store: AbstractReadStore, settings: Any) -> str:
    """Make the SQL door's read-only user where the server takes users from SQL (`touchstream db
    migrate` calls this with its administrative store); say what was done, or why not."""
    user = settings.clickhouse_sql_user
    if settings.embedded:
        return "SQL door: chDB has no users; `touchstream sql` runs in a read-only, capped session"
    version = str(store.query("SELECT version()")[0][0])
    if not server_manages_users(version):
        return (
            f"SQL door: ClickHouse {version} takes users from its config files, not SQL; declare the "
            f"read-only user {user} there (deploy/local/clickhouse.sh does; docs/security.md)"
        )
    if not settings.clickhouse_sql_password:
        return (
            f"SQL door: set TOUCHSTREAM_CLICKHOUSE_SQL_PASSWORD to create the read-only user {user} "
            "(it is not created without a password)"
        )
    for statement in door_user_statements(user, settings.clickhouse_database):
        store.execute(statement, {"password": settings.clickhouse_sql_password})
    return f"SQL door: read-only user {user} ready (SELECT on {settings.clickhouse_database} only)"


def open_door_store(runtime: Any, limits: Limits | None = None) -> AbstractReadStore:
    """A read store for the SQL door that cannot write and is capped (adapters/api/sql_door.py): on the
    server, a connection as the dedicated read-only user (its profile holds readonly=1 and the limits);
    on chDB, a session given the limits and then readonly=1. Raises SqlRefused if it is not read-only."""
    s = runtime.settings
    store: AbstractReadStore
    if s.embedded:
        store = runtime.read_store()
        try:
            limit_chdb_session(store, limits or Limits())
        except BaseException:
            store.close()
            raise
    else:
        if not s.clickhouse_sql_password or s.clickhouse_sql_user == "default":
            raise SqlRefused(
                "the ClickHouse connection",
                "the SQL door runs only as its read-only user, with a password, never as `default`",
                "set TOUCHSTREAM_CLICKHOUSE_SQL_USER and TOUCHSTREAM_CLICKHOUSE_SQL_PASSWORD; "
                "`deploy/local/clickhouse.sh sql-password` prints the local one",
            )
        from ..storage.clickhouse_server import ClickHouseServerStore

        store = ClickHouseServerStore(
            s.clickhouse_host,
            s.clickhouse_port,
            s.clickhouse_database,
            user=s.clickhouse_sql_user,
            password=s.clickhouse_sql_password,
        )
    try:
        confirm_read_only(store)
    except BaseException:
        store.close()
        raise
    return store


def chdb_door(store: AbstractReadStore, limits: Limits | None = None) -> AbstractReadStore:
    """A freshly opened chDB store made into the door's session: limits, then readonly=1, confirmed."""
    try:
        limit_chdb_session(store, limits or Limits())
        confirm_read_only(store)
    except BaseException:
        store.close()
        raise
    return store
