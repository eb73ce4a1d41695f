"""Analysts' commands: `touchstream customer show` (the 360 view as a role sees it) and `touchstream sql`
(the SQL door: one checked, capped, read-only query over the views a role may read; adapters/api/sql_door.py).
Both ask the query API (`api_door`): the running `touchstream up`'s when one holds the data folder (chDB
takes one process per path), else the same API built in this process over `bootstrap()`'s store (chDB in
the data folder by default, the ClickHouse server in production mode; the SQL door as its read-only user).
One query path, one rendering: both doors print the same. `--format json` prints machine-readable output.
"""

from __future__ import annotations

import contextlib
import csv
import io
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer

customer_app = typer.Typer(
    help="Customers: find one and show the 360 view a role sees.", no_args_is_help=True
)

#: `touchstream sql` answers as this role unless told otherwise: the analyst reads aggregates and
#: pseudonymous columns only, never a name, an email or free text (least privilege for an analyst's door).
SQL_DEFAULT_ROLE = "analyst"


def _role(name: str, roles_file: Any) -> Any:
    from ..api.compose import load_roles
    from ..config import load_settings

    roles = load_roles(roles_file or load_settings().api_roles_file)
    if name not in roles:
        raise typer.BadParameter(f"unknown role {name!r}; known: {', '.join(sorted(roles))}")
    return roles[name]


def render_rows(columns: list[str], rows: list[tuple[Any, ...]], output: str) -> str:
    from ..api.queries import jsonable

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


@contextlib.contextmanager
def api_door(role: str, roles_file: Path | None, *, sql: bool = False) -> Iterator[Any]:
    """A `TouchstreamClient` speaking for `role`: to the running `touchstream up` when one holds this data
    folder (chDB takes one process per path), else to the same API built in this process over the store
    opened directly. One query path either way, so both doors answer and print alike.

    The token is minted with the data folder's own signer and lives five minutes. With `sql`, a role
    without the API's SQL endpoint gets an admin token instead, and names itself in each query (the
    operator's door: `touchstream sql --role` takes any role, the door checks that role's views)."""
    import httpx  # here, not at the top: every command would pay ~0.1 s to import it

    from ..api.compose import build_api, signer_for
    from ..bootstrap import bootstrap
    from ..sdk.client import TouchstreamClient
    from .up import running_api

    runtime = bootstrap()
    signer = signer_for(runtime, roles_file)
    if role not in signer.roles:
        raise typer.BadParameter(f"unknown role {role!r}; known: {', '.join(sorted(signer.roles))}")
    if sql and not signer.roles[role].may("sql"):
        role = next((name for name, r in signer.roles.items() if r.sees_everything), role)
    token = signer.mint(role, "touchstream-cli", 300)
    remote = running_api(runtime.settings.data_dir) if runtime.settings.embedded else None
    if remote is not None:
        with TouchstreamClient(remote, token) as client:
            try:
                yield client
            except httpx.HTTPError as exc:
                typer.echo(
                    f"touchstream: the running `touchstream up` ({remote}) did not answer: {exc} — "
                    "is it still running?",
                    err=True,
                )
                raise typer.Exit(1) from None
        return
    with warnings.catch_warnings():  # starlette's note about a future httpx is not the user's concern
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    with (
        TestClient(build_api(runtime, roles_file=roles_file), base_url="http://touchstream.local") as http,
        TouchstreamClient("http://touchstream.local", token, http=http) as client,
    ):
        yield client


def _refused(exc: Any) -> NoReturn:
    """The API's refusal as the CLI says it: one line; 2 for what the caller may not do, 1 otherwise."""
    from ...streams.ports import ReadStoreError

    for prefix in ("the read store failed: ", "the read store is unavailable: "):
        if exc.status == 503 and exc.message.startswith(prefix):
            # Named by cli_errors.explain like any store failure (a server down, chDB held elsewhere).
            raise ReadStoreError("read store", "", exc.message.removeprefix(prefix))
    if exc.status in (400, 403) and (exc.status == 403 or exc.message.startswith("refused")):
        message = exc.message if exc.message.startswith("refused") else f"refused: {exc.message}"
        typer.echo(message, err=True)
        raise typer.Exit(2)
    typer.echo(f"touchstream: {exc.message or exc.error}", err=True)
    raise typer.Exit(1)


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
    no settings; the answer is capped. Asks the running `touchstream up` when one holds the data folder.
    Example: `touchstream sql "SELECT kind, count() FROM active_signals GROUP BY kind" --format csv`.
    """
    from ..api.sql_door import SqlRefused, canonical
    from ..sdk.client import ApiClientError

    if output not in ("table", "csv", "json"):
        raise typer.BadParameter("--format must be table, csv or json")
    try:
        canonical(statement)  # refuse the obvious before opening anything
    except SqlRefused as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from None
    with api_door(role, Path(roles) if roles else None, sql=True) as api:
        try:
            columns, rows = api.sql(statement, role=role)
        except ApiClientError as exc:
            _refused(exc)
    if output != "table":
        sys.stdout.write(render_rows(columns, [tuple(row) for row in rows], output))
        return
    from rich.console import Console
    from rich.table import Table

    from ..api.queries import jsonable

    table = Table(show_lines=False)
    for name in columns:
        table.add_column(name)
    for row in rows:
        table.add_row(*("" if v is None else _cell(jsonable(v)) for v in row))
    Console().print(table)


def customer_view(
    api: Any, query: str, role: Any, *, kind: str = "auto", timeline: int = 8
) -> dict[str, Any] | None:
    """The best match for `query` as the API answers it for `role` (a Role): `{"match", "role", "view",
    "timeline"}` (None if no match). `api` is a `TouchstreamClient` (see `api_door`)."""
    if role.pseudonymize:
        # As in the API: a pseudonymizing role must not link an email, phone or name to a pseudonym.
        raise typer.BadParameter(
            f"the {role.name} role sees pseudonyms only: look customers up with the API by pseudonym, "
            "or pass a role that may see who they are"
        )
    found = api.get("/v1/customers/search", {"q": query, "kind": kind, "limit": 1})["results"]
    if not found:
        return None
    match = found[0]
    contact_id = str(match["contact_id"])
    view = api.get(f"/v1/customers/{contact_id}")
    items: list[dict[str, Any]] = []
    if role.may("timeline") and timeline > 0:
        items = api.get(f"/v1/customers/{contact_id}/timeline", {"limit": timeline})["items"]
    return {
        "match": {"matched_on": match["matched_on"], "score": match["score"]},
        "role": role.name,
        "view": view,
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

    Asks the running `touchstream up` when one holds the data folder. Example:
    `touchstream customer show jane@acme.com --role sales`."""
    from ..sdk.client import ApiClientError

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
    roles_file = Path(roles) if roles else None
    who = _role(role, roles_file)
    with api_door(role, roles_file) as api:
        try:
            found = customer_view(api, query, who, kind=kind, timeline=timeline)
        except ApiClientError as exc:
            _refused(exc)
    if found is None:
        typer.echo(f"no customer matches {query!r}", err=True)
        raise typer.Exit(1)
    if output == "json":
        sys.stdout.write(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    from rich.console import Console

    Console().print(_panel(found))
