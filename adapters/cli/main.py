"""The `touchstream` command: one entry point for operators, analysts and the demo.

Each command only parses its options, builds what it needs and hands over; the work lives in the other
modules. Heavy imports happen inside commands so `--help` stays instant.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from . import (
    api as cli_api,
    db as cli_db,
    dlq as cli_dlq,
    gateway as cli_gateway,
    imports as cli_import,
    privacy as cli_privacy,
    query as cli_query,
    relay as cli_relay,
    run as cli_embedded,
    schemas as cli_schemas,
    stewards as cli_stewards,
    topics as cli_topics,
    up as cli_up,
    worker as cli_worker,
)

app = typer.Typer(
    name="touchstream",
    help=(
        "Touchstream: one event-sourced truth about every customer, for marketing, sales and support.\n\n"
        "Start with `touchstream demo` (nothing but Python needed), then `touchstream generate --help`."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)
app.add_typer(cli_schemas.app, name="schemas")
app.add_typer(cli_topics.app, name="topics")
app.add_typer(cli_dlq.app, name="dlq")
app.add_typer(cli_stewards.app, name="stewards")
app.add_typer(cli_privacy.app, name="privacy")
app.add_typer(cli_gateway.app, name="gateway")
app.add_typer(cli_db.app, name="db")
app.command("rebuild")(cli_db.rebuild)
app.command("run")(cli_embedded.run)
app.command("up")(cli_up.up)
app.add_typer(cli_api.app, name="api")
app.add_typer(cli_query.customer_app, name="customer")
app.command("sql")(cli_query.sql)
app.command("worker")(cli_worker.worker)
app.command("relay")(cli_relay.relay)
app.command("import")(cli_import.import_command)


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=1, help="people in the generated story")] = 300,
    accounts: Annotated[int, typer.Option(min=1, help="companies they work for")] = 40,
    days: Annotated[int, typer.Option(min=1, help="days of history")] = 120,
    seed: Annotated[int, typer.Option(help="same seed, same data")] = 7,
    workdir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            "--workdir",
            help="where the logs, chDB and the master record go (default: TOUCHSTREAM_DATA_DIR, the folder "
            "every other command reads)",
        ),
    ] = None,
    serve: Annotated[
        bool, typer.Option(help="end by serving the live dashboard on 127.0.0.1 (Ctrl-C stops it)")
    ] = True,
    port: Annotated[int, typer.Option(min=1, max=65535, help="the dashboard's port")] = 8081,
) -> None:
    """Run Touchstream end to end on the embedded default: generate a story, publish it to the embedded
    log, project it into chDB, and print what each department now sees.

    Needs no Java, Kafka or ClickHouse server. It ends by serving the live dashboard and printing its URL
    (`--no-serve` to stop after the summary). Example: `touchstream demo --customers 1000 --days 180`.
    """
    from . import demo as cli_demo

    cli_demo.run(
        customers=customers,
        accounts=accounts,
        days=days,
        seed=seed,
        workdir=workdir,
        serve_port=port if serve else None,
    )


@app.command()
def generate(
    customers: Annotated[int, typer.Option(min=1, help="people (contacts and consumers)")] = 1000,
    accounts: Annotated[int, typer.Option(min=1, help="companies; people spread across them")] = 100,
    days: Annotated[int, typer.Option(min=1, help="days of history, from --start")] = 180,
    seed: Annotated[int, typer.Option(help="same seed, byte-identical output")] = 1,
    start: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"], help="first day (UTC); default 2026-01-01. Keep start+days before today"
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="events, one JSON per line")] = Path(
        "events.jsonl"
    ),
    truth: Annotated[
        Path, typer.Option(help="ground truth: who each identifier and event belongs to")
    ] = Path("truth.jsonl"),
) -> None:
    """Write a realistic, deterministic JSONL of events telling multi-department customer stories,
    with the messiness of real CRMs (email case, personal addresses, phone formats, business cards,
    free-mail domains, a support email carrying a new phone), plus a ground-truth file.

    Example: `touchstream generate --customers 500 --accounts 50 --days 90 --seed 3 -o ev.jsonl`.
    """
    from . import generate as cli_generate

    cli_generate.run(
        customers=customers, accounts=accounts, days=days, seed=seed, out=out, truth=truth, start=start
    )


def main() -> None:
    from ..gc_pace import pace_garbage_collector
    from ..log_privacy import mask_every_record
    from .errors import quiet_client_logs

    mask_every_record()  # logs never print personal values (docs/privacy.md)
    quiet_client_logs()
    pace_garbage_collector()
    try:
        app()
    except Exception as exc:  # typer already turned usage errors into exit status 2
        from .errors import explain

        line = explain(exc)
        if line is None:
            raise  # not a condition we know: a bug, keep its traceback
        typer.echo(f"touchstream: {line}", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
