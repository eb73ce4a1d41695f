"""Analysts' commands: `touchstream customer show` (the 360 view as a role sees it) and `touchstream sql`
(read-only SQL over the read models). Both run against `bootstrap()`: chDB in the data folder by default,
the ClickHouse server in production mode. `--format json` prints machine-readable output.
"""

from __future__ import annotations

import csv
import io
import sys
from typing import Annotated, Any

import orjson
import typer

customer_app = typer.Typer(
    help="Customers: find one and show the 360 view a role sees.", no_args_is_help=True
)

READ_ONLY_STARTS = ("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN")


class NotReadOnly(ValueError):
    """The statement is not a single read-only query; the message says why."""


def _strip(sql: str) -> tuple[str, list[str]]:
    """The statement without comments, and its parts split at semicolons outside quotes."""
    out: list[str] = []
    parts: list[str] = []
    i, quote = 0, ""
    while i < len(sql):
        ch = sql[i]
        if quote:
            out.append(ch)
            if ch == "\\" and i + 1 < len(sql):
                out.append(sql[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
            out.append(ch)
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
            continue
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = len(sql) if end < 0 else end + 2
            out.append(" ")
            continue
        elif ch == ";":
            parts.append("".join(out))
            out = []
        else:
            out.append(ch)
        i += 1
    parts.append("".join(out))
    text = " ".join(p.strip() for p in parts if p.strip())
    return text, [p for p in parts if p.strip()]


def check_read_only(sql: str) -> str:
    """The statement to run if it is one SELECT / WITH / SHOW / DESCRIBE / EXISTS / EXPLAIN query; else
    raise NotReadOnly. The engine is also put in read-only mode, so this is the first of two fences."""
    text, parts = _strip(sql)
    if not parts:
        raise NotReadOnly("no statement given")
    if len(parts) > 1:
        raise NotReadOnly("one statement at a time")
    first = text.split(None, 1)[0].upper().lstrip("(")
    if first not in READ_ONLY_STARTS:
        raise NotReadOnly(f"only {', '.join(READ_ONLY_STARTS)} queries run here, not {first}")
    if " INTO OUTFILE " in f" {' '.join(text.upper().split())} ":
        raise NotReadOnly("INTO OUTFILE writes a file: not allowed here")
    return text


def open_read_only_store(runtime: Any) -> Any:
    """A read store that refuses writes itself: readonly=1 sent with every query to the server; on chDB
    `SET readonly = 1` on this store's own session."""
    if runtime.settings.embedded:
        store = runtime.read_store()
        store.execute("SET readonly = 1")
        return store
    from touchstream.adapters.clickhouse_server import ClickHouseServerStore

    s = runtime.settings
    return ClickHouseServerStore(
        s.clickhouse_host, s.clickhouse_port, s.clickhouse_database, settings={"readonly": 1}
    )


def run_sql(store: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    columns, rows = store.query_with_columns(check_read_only(sql))
    return [name for name, _ in columns], rows


def render_rows(columns: list[str], rows: list[tuple[Any, ...]], output: str) -> str:
    from touchstream.adapters.api_queries import jsonable

    if output == "json":
        data = [dict(zip(columns, (jsonable(v) for v in row), strict=True)) for row in rows]
        return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n"
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else _cell(jsonable(v)) for v in row])
        return buffer.getvalue()
    raise ValueError(f"unknown format {output!r}")


def _cell(value: Any) -> str:
    return orjson.dumps(value).decode() if isinstance(value, list | dict) else str(value)


def sql(
    statement: Annotated[str, typer.Argument(help="one SELECT, WITH, SHOW, DESCRIBE or EXISTS query")],
    output: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
) -> None:
    """Run read-only SQL against the read models (views: docs/queries.md) and print the answer.

    Example: `touchstream sql "SELECT kind, count() FROM active_signals GROUP BY kind" --format csv`.
    """
    from touchstream.adapters.bootstrap import bootstrap
    from touchstream.streams.ports import ReadStoreError

    if output not in ("table", "csv", "json"):
        raise typer.BadParameter("--format must be table, csv or json")
    try:
        check_read_only(statement)
    except NotReadOnly as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from None
    store = open_read_only_store(bootstrap())
    try:
        columns, rows = run_sql(store, statement)
    except ReadStoreError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    if output == "table":
        from rich.console import Console
        from rich.table import Table

        from touchstream.adapters.api_queries import jsonable

        table = Table(show_lines=False)
        for name in columns:
            table.add_column(name)
        for row in rows:
            table.add_row(*("" if v is None else _cell(jsonable(v)) for v in row))
        Console().print(table)
        return
    sys.stdout.write(render_rows(columns, rows, output))


def customer_view(
    store: Any, query: str, role: str, *, kind: str = "auto", timeline: int = 8, roles_file: Any = None
) -> dict[str, Any] | None:
    """The best match for `query`, shaped for `role`: `{"match", "view", "timeline"}` (None if no match)."""
    from touchstream.adapters import api_queries as q
    from touchstream.adapters.api_compose import signer_for
    from touchstream.adapters.bootstrap import bootstrap
    from touchstream.projections.roles import Shaper

    runtime = bootstrap()
    signer = signer_for(runtime, roles_file)
    if role not in signer.roles:
        raise typer.BadParameter(f"unknown role {role!r}; known: {', '.join(sorted(signer.roles))}")
    shaper = Shaper(signer.roles[role], signer.pseudonym_key)
    matches = q.find_customers(store, query, kind, 1, runtime.settings.default_region)
    if not matches:
        return None
    match = matches[0]
    document = q.profile_document(store, match.contact_id)
    if document is None:
        return None
    items: list[dict[str, Any]] = []
    if shaper.role.may("timeline") and timeline > 0:
        raw, _ = q.timeline(store, match.contact_id, limit=timeline)
        items = [shaper.timeline_item(i) for i in raw]
    return {
        "match": {"matched_on": match.matched_on, "score": match.score},
        "role": role,
        "view": shaper.profile(document),
        "timeline": items,
    }


def _panel(found: dict[str, Any]) -> Any:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    view = found["view"]
    contact = view.get("contact", {})
    name = " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if p)
    name = name or view.get("identity", {}).get("contact_id", "customer")
    parts: list[Any] = []
    hold = view.get("service_hold", {})
    if hold.get("service_hold"):
        parts.append(
            Text(f"SERVICE HOLD: {hold.get('service_hold_reason') or ''}", style="bold white on red")
        )
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", justify="right")
    grid.add_column()
    for section, fields in view.items():
        grid.add_row(Text(section.upper(), style="bold cyan"), "")
        for field, value in fields.items():
            grid.add_row(field, _short(value))
    parts.append(grid)
    if found["timeline"]:
        table = Table(title="latest touches", title_justify="left", show_edge=False)
        for column in ("occurred_at", "department", "summary"):
            table.add_column(column)
        for item in found["timeline"]:
            table.add_row(
                str(item.get("occurred_at", "")),
                str(item.get("department", "")),
                str(item.get("summary", "")),
            )
        parts.append(table)
    title = f"{name}  [dim]({found['role']} view, matched on {found['match']['matched_on']})[/]"
    return Panel(Group(*parts), title=title, title_align="left")


def _short(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            shown = "; ".join(
                " / ".join(str(v) for v in item.values() if v is not None) for item in value[:4]
            )
            return f"{len(value)}: {shown}" + (" …" if len(value) > 4 else "")
        return ", ".join(str(v) for v in value) or "—"
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value)


@customer_app.command("show")
def customer_show(
    query: Annotated[str, typer.Argument(help="email, phone, external id (system:id) or name")],
    role: Annotated[
        str, typer.Option(help="whose view: sales, marketing, support, contact_center, …")
    ] = "admin",
    kind: Annotated[str, typer.Option(help="auto, email, phone, external_id or name")] = "auto",
    timeline: Annotated[int, typer.Option(min=0, help="latest touches to show")] = 8,
    output: Annotated[str, typer.Option("--format", help="rich or json")] = "rich",
    roles: Annotated[Any, typer.Option("--roles", help="TOML file adding roles", parser=str)] = None,
) -> None:
    """Show a customer's 360 view as a role sees it.

    Example: `touchstream customer show jane@acme.com --role sales`."""
    from pathlib import Path

    from touchstream.adapters.bootstrap import bootstrap

    if kind not in ("auto", "email", "phone", "external_id", "name"):
        raise typer.BadParameter("--kind must be auto, email, phone, external_id or name")
    store = bootstrap().read_store()
    try:
        found = customer_view(
            store, query, role, kind=kind, timeline=timeline, roles_file=Path(roles) if roles else None
        )
    finally:
        store.close()
    if found is None:
        typer.echo(f"no customer matches {query!r}", err=True)
        raise typer.Exit(1)
    if output == "json":
        sys.stdout.write(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    from rich.console import Console

    Console().print(_panel(found))
