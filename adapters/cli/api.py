"""`touchstream api`: serve the query API and the dashboard; `touchstream api tokens add` mints tokens.

Only typer is imported at module level, so `touchstream --help` stays instant.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="The query API and live dashboard: role-shaped 360 views, read models, signals (docs/api.md).",
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
)
tokens_app = typer.Typer(help="Signed API tokens that carry a role.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")

RolesOption = Annotated[
    Path | None,
    typer.Option("--roles", help="TOML file adding roles ([roles.<name>]); default: TOUCHSTREAM_API_ROLES"),
]


def _roles_file(roles: Path | None) -> Path | None:
    """--roles, else TOUCHSTREAM_API_ROLES (read by the settings, applied by the composition root)."""
    return roles


@app.callback()
def api(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8081,
    roles: RolesOption = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve the query API and the dashboard (http://HOST:PORT/dashboard) on the read store that
    TOUCHSTREAM_MODE picks (embedded: chDB in the data folder; production: the ClickHouse server and Kafka).
    """
    if ctx.invoked_subcommand is not None:
        return
    from ..api.compose import build_api
    from ..web.server import serve

    app_ = build_api(roles_file=_roles_file(roles))
    typer.echo(f"query API and dashboard on http://{host}:{port}/dashboard (OpenAPI: /docs)", err=True)
    serve(app_, host=host, port=port, log_level=log_level)


@tokens_app.command("add")
def tokens_add(
    role: Annotated[str, typer.Option(help="the role the token carries (sales, marketing, support, …)")],
    subject: Annotated[str, typer.Option(help="who holds it (for logs and the dashboard)")] = "",
    days: Annotated[
        float, typer.Option(min=0.001, max=30, help="valid for this many days (at most 30)")
    ] = 30.0,
    roles: RolesOption = None,
    output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Mint a token: `touchstream api tokens add --role sales --subject alice`. It is printed once and
    not stored; it is valid until it expires (30 days at most), is revoked (`tokens revoke`), or the API
    secret is rotated."""
    import getpass
    import json

    from ..api.compose import signer_for
    from ..bootstrap import bootstrap

    signer = signer_for(bootstrap(), _roles_file(roles))
    if role not in signer.roles:
        raise typer.BadParameter(f"unknown role {role!r}; known: {', '.join(sorted(signer.roles))}")
    who = subject or getpass.getuser()
    token = signer.mint(role, who, days * 86400)
    if output == "json":
        principal = signer.verify(token)
        answer = {
            "token": token,
            "token_id": principal.token_id,
            "role": role,
            "subject": who,
            "expires_at": principal.expires_at,
        }
        sys.stdout.write(json.dumps(answer) + "\n")
    else:
        sys.stdout.write(token + "\n")


@tokens_app.command("revoke")
def tokens_revoke(
    token: Annotated[str, typer.Argument(help="the token to revoke ('-' reads it from standard input)")],
    roles: RolesOption = None,
) -> None:
    """Revoke one token now: its id goes to `revoked-tokens` in the data folder, which every API process
    re-reads when it changes. `touchstream api tokens revoke tsa_…` (or `- < token.txt`, keeping it out
    of the shell history). To end every token at once, rotate the API secret instead."""
    from ..api.auth import TokenError
    from ..api.compose import signer_for
    from ..bootstrap import bootstrap

    presented = sys.stdin.readline().strip() if token == "-" else token
    signer = signer_for(bootstrap(), _roles_file(roles))
    try:
        principal = signer.revoke(presented)
    except TokenError as exc:
        raise typer.BadParameter(f"{exc}: nothing to revoke", param_hint="TOKEN") from None
    typer.echo(
        f"revoked token {principal.token_id} ({principal.role.name}, {principal.subject}); it would have "
        "expired at " + str(principal.expires_at),
        err=True,
    )
