"""`touchstream gateway`: serve the HTTP gateway, and `touchstream gateway keys add` to mint API keys.

Only typer is imported at module level, so `touchstream --help` stays instant; uvicorn, FastAPI and the
Kafka client load when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="The HTTP gateway: upstream systems publish events (and Segment calls) over HTTP.",
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
)
keys_app = typer.Typer(help="API keys for the gateway (stored hashed in a TOML file).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@app.callback()
def gateway(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8080,
    keys: Annotated[Path | None, typer.Option(help="the API keys file (`gateway keys add`)")] = None,
    embedded_log: Annotated[
        Path | None, typer.Option(help="publish to the embedded SQLite log at this path")
    ] = None,
    kafka: Annotated[str | None, typer.Option(help="publish to Kafka at this bootstrap (host:port)")] = None,
    topic: Annotated[str | None, typer.Option(help="topic (default: touchpoints.raw, prefixed)")] = None,
    dedup_db: Annotated[
        Path | None, typer.Option(help="de-duplication store (default: gateway-dedup.sqlite in the data dir)")
    ] = None,
    dedup_window_hours: Annotated[float, typer.Option(min=0.01, help="how long ids are remembered")] = 168,
    max_batch: Annotated[int, typer.Option(min=1, help="most events in one request")] = 1000,
    max_bytes: Annotated[int, typer.Option(min=1024, help="largest request body")] = 8 * 1024 * 1024,
    retry_after: Annotated[int, typer.Option(min=1, help="Retry-After seconds on a 503")] = 5,
    kafka_timeout: Annotated[float, typer.Option(min=0.5, help="seconds to wait for Kafka's acks")] = 10.0,
    max_connections: Annotated[int, typer.Option(min=1, help="open connections before answering 503")] = 256,
    head_timeout: Annotated[float, typer.Option(min=0.1, help="seconds for a request's headers")] = 10.0,
    body_timeout: Annotated[float, typer.Option(min=0.1, help="seconds for a request's body (408)")] = 30.0,
    idle_timeout: Annotated[int, typer.Option(min=1, help="seconds an idle keep-alive stays open")] = 5,
) -> None:
    """Serve the gateway: `touchstream gateway --keys keys.toml --kafka 127.0.0.1:19092`.

    Without --kafka or --embedded-log it follows TOUCHSTREAM_MODE (embedded: a SQLite log in the data dir).
    """
    if ctx.invoked_subcommand is not None:
        return
    if keys is None:
        raise typer.BadParameter("--keys FILE is required (create one with `touchstream gateway keys add`)")
    if kafka and embedded_log:
        raise typer.BadParameter("choose one of --kafka and --embedded-log")
    from ..gateway.auth import KeyFileError
    from ..gateway.compose import build_gateway
    from ..web.server import ServerLimits, serve

    try:
        app_ = build_gateway(
            keys=keys,
            embedded_log=embedded_log,
            kafka=kafka,
            topic=topic,
            dedup_db=dedup_db,
            dedup_window_s=dedup_window_hours * 3600,
            max_batch=max_batch,
            max_bytes=max_bytes,
            retry_after=retry_after,
            kafka_timeout=kafka_timeout,
            body_timeout=body_timeout,
        )
    except KeyFileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--keys") from None
    typer.echo(f"gateway on http://{host}:{port} (OpenAPI at /docs)", err=True)
    limits = ServerLimits(
        max_connections=max_connections, head_timeout_s=head_timeout, idle_timeout_s=idle_timeout
    )
    serve(app_, host=host, port=port, limits=limits)


@keys_app.command("add")
def keys_add(
    name: Annotated[str, typer.Option(help="a name for this key, e.g. hubspot-prod")],
    source: Annotated[str, typer.Option(help="the source system its events carry, e.g. hubspot")],
    keys: Annotated[Path, typer.Option(help="the keys file (created if missing)")],
    department: Annotated[
        list[str] | None,
        typer.Option(help="it may send every ordinary type of this department (repeat; '*' for all)"),
    ] = None,
    event_type: Annotated[
        list[str] | None,
        typer.Option("--type", help="it may send this type (repeat); the only grant for privileged types"),
    ] = None,
) -> None:
    """Mint an API key, append its SHA-256 to the keys file, and print the key once.

    Example: `touchstream gateway keys add --name hubspot-prod --source hubspot --department marketing
    --type ConsentWithdrawn --keys keys.toml`. A type's department is the catalogue's; privileged types
    (ErasureRequested, ConsentGiven, ConsentWithdrawn) are granted only by --type.
    """
    from ..gateway.auth import KeyFileError, add_key

    if not department and not event_type:
        raise typer.BadParameter(
            "say what the key may send: --department marketing (repeat; '*' for every ordinary type) "
            "and/or --type ErasureRequested (repeat)"
        )
    try:
        secret, key = add_key(
            keys, name=name, source=source, departments=department or [], event_types=event_type or []
        )
    except KeyFileError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(
        f"added key {key.name!r} for source {key.source!r} to {keys}; store it now, it is not shown again:",
        err=True,
    )
    typer.echo(secret)
