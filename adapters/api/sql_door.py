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

The door is four modules, and every name is importable from this one: the allow-list as data
(sql_allowlist.py), the token reading of steps 1 and 2 (sql_tokens.py), the checks of steps 3 and 4 and
running a statement (here), and the read-only, capped connections (sql_door_store.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlglot import exp
from sqlglot.errors import SqlglotError

from ...projections.roles import Role
from ...streams.ports import AbstractReadStore, ReadStoreError
from .sql_allowlist import ALLOWED_FUNCTIONS, DOOR_VIEWS, REFUSED_WORDS, SqlRefused, function_allowed
from .sql_door_store import (
    Limits,
    chdb_door,
    confirm_read_only,
    door_user_statements,
    ensure_door_user,
    limit_chdb_session,
    open_door_store,
    server_manages_users,
)
from .sql_tokens import DIALECT, canonical, check_calls

__all__ = [
    "ALLOWED_FUNCTIONS",
    "DOOR_VIEWS",
    "Limits",
    "SqlRefused",
    "canonical",
    "chdb_door",
    "check",
    "confirm_read_only",
    "door_user_statements",
    "engine_refusal",
    "ensure_door_user",
    "function_allowed",
    "limit_chdb_session",
    "open_door_store",
    "run",
    "schema",
    "server_manages_users",
]


def _parse(text: str) -> exp.Expression:
    try:
        statements = [s for s in DIALECT.parse(text) if s is not None]
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
    check_calls(tokens)
    root = _parse(text)
    known = DOOR_VIEWS if views is None else frozenset(views) & DOOR_VIEWS
    defined = _cte_names(root)
    readable = sorted(v for v in known if role.may_read_view(v) and v in columns)
    used: set[str] = set()
    for node in root.walk():
        _check_shape(node)
        if isinstance(node, exp.Table):
            table = _table_name(node)
            if table in defined:
                continue
            _check_table(table, role, known, columns, readable)
            used.add(table)
    _check_columns(root, role, columns, used)
    return text


def _check_shape(node: exp.Expr) -> None:
    """Reading only: no writes, commands, INTO, SETTINGS, FORMAT, parameters or `IN <table>`."""
    if isinstance(node, exp.DDL | exp.DML | exp.Command | exp.Into | exp.Placeholder | exp.Parameter):
        raise SqlRefused(node.key.upper(), "only reading is allowed")
    if isinstance(node, exp.Select):
        for clause in ("settings", "format", "into", "options"):
            if node.args.get(clause):
                what, why = REFUSED_WORDS.get(clause.upper(), (clause.upper(), "not allowed"))
                raise SqlRefused(what, why)
    if isinstance(node, exp.In) and node.args.get("field") is not None:
        raise SqlRefused("IN <table>", "reads a table by name", "write IN (SELECT … FROM view)")


def _table_name(node: exp.Table) -> str:
    """A table named bare (no table function, no database): its name."""
    name = node.this
    if not isinstance(name, exp.Identifier):
        raise SqlRefused(f"table function {node.sql('clickhouse')}", "it is a table function")
    if node.args.get("db") is not None or node.args.get("catalog") is not None:
        raise SqlRefused(
            f"{node.sql('clickhouse')}",
            "names with a database (db.table, system.*) are not allowed",
            "read the read-model views by their bare names",
        )
    return str(name.name)


def _check_table(
    table: str, role: Role, known: frozenset[str], columns: Mapping[str, Sequence[str]], readable: list[str]
) -> None:
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
