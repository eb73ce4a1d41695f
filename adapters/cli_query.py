"""Analysts' commands: `touchstream customer show` (the 360 view as a role sees it) and `touchstream sql`
(the SQL door: one checked, capped, read-only query over the views a role may read; adapters/sql_door.py).
Both run against `bootstrap()`: chDB in the data folder by default, the ClickHouse server in production
mode (the SQL door as its read-only user). `--format json` prints machine-readable output.
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

#: `touchstream sql` answers as this role unless told otherwise: the analyst reads aggregates and
#: pseudonymous columns only, never a name, an email or free text (least privilege for an analyst's door).
SQL_DEFAULT_ROLE = "analyst"


def _role(name: str, roles_file: Any) -> Any:
    from touchstream.adapters.api_compose import load_roles

    roles = load_roles(roles_file)
    if name not in roles:
        raise typer.BadParameter(f"unknown role {name!r}; known: {', '.join(sorted(roles))}")
    return roles[name]


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
    statement: Annotated[str, typer.Argument(help="one SELECT (or WITH … SELECT) over the read-model views")],
    output: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
    role: Annotated[
        str, typer.Option(help="whose views and columns: analyst (default), sales, marketing, … admin")
    ] = SQL_DEFAULT_ROLE,
    roles: Annotated[Any, typer.Option("--roles", help="TOML file adding roles", parser=str)] = None,
) -> None:
    """Run one read-only query through the SQL door (docs/security.md) and print the answer.

    Only the views the role may read, only their columns the role may see; no files, no other servers,
    no settings; the answer is capped. Example:
    `touchstream sql "SELECT kind, count() FROM active_signals GROUP BY kind" --format csv`.
    """
    from pathlib import Path

    from touchstream.adapters.bootstrap import bootstrap
    from touchstream.adapters.sql_door import SqlRefused, canonical, open_door_store, run
    from touchstream.streams.ports import ReadStoreError

    if output not in ("table", "csv", "json"):
        raise typer.BadParameter("--format must be table, csv or json")
    who = _role(role, Path(roles) if roles else None)
    try:
        canonical(statement)  # refuse the obvious before opening anything
        store = open_door_store(bootstrap())
        try:
            columns, rows = run(store, statement, who)
        finally:
            store.close()
    except SqlRefused as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from None
    except ReadStoreError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
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
    if shaper.role.pseudonymize:
        # As in the API: a pseudonymizing role must not link an email, phone or name to a pseudonym.
        raise typer.BadParameter(
            f"the {role} role sees pseudonyms only: look customers up with the API by pseudonym, "
            "or pass a role that may see who they are"
        )
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
        str | None,
        typer.Option(help="whose view (required): sales, marketing, support, contact_center, admin, …"),
    ] = None,
    kind: Annotated[str, typer.Option(help="auto, email, phone, external_id or name")] = "auto",
    timeline: Annotated[int, typer.Option(min=0, help="latest touches to show")] = 8,
    output: Annotated[str, typer.Option("--format", help="rich or json")] = "rich",
    roles: Annotated[Any, typer.Option("--roles", help="TOML file adding roles", parser=str)] = None,
) -> None:
    """Show a customer's 360 view as a role sees it.

    Example: `touchstream customer show jane@acme.com --role sales`."""
    from pathlib import Path

    from touchstream.adapters.bootstrap import bootstrap

    if role is None:
        # Never a silent default: the least a caller must say is whose view they are allowed to see.
        typer.echo(
            "refused: --role is required (sales, marketing, support, contact_center, admin, or one from "
            "--roles); the view is shaped by it",
            err=True,
        )
        raise typer.Exit(2)
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
