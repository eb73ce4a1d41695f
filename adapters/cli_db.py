"""`touchstream db migrate` and `touchstream rebuild`: the read store's schema and its recomputation.

Embedded mode (the default) works on the chDB folder and the SQLite log under the data dir; production
(TOUCHSTREAM_MODE=production) migrates the ClickHouse server from the settings. Rebuilding production
reads `touchpoints.resolved`, which the Faust topology brings; until then `rebuild` is embedded only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from touchstream.adapters.read_store import AbstractReadStore

app = typer.Typer(help="The read store: schema migrations and rebuilds.", no_args_is_help=True)


def open_store(chdb: Path | None) -> AbstractReadStore:
    from touchstream.adapters.config import load_settings

    settings = load_settings()
    if settings.embedded or chdb is not None:
        from touchstream.adapters.chdb_store import ChDBStore

        folder = chdb or settings.data_dir / "chdb"
        folder.mkdir(parents=True, exist_ok=True)
        return ChDBStore(str(folder))
    from touchstream.adapters.clickhouse_server import ClickHouseServerStore

    return ClickHouseServerStore(
        settings.clickhouse_host,
        settings.clickhouse_port,
        settings.clickhouse_database,
        create_database=True,
    )


ChDBOption = Annotated[
    Path | None, typer.Option(help="chDB folder (embedded; default: <data dir>/chdb); forces embedded")
]


@app.command()
def migrate(chdb: ChDBOption = None) -> None:
    """Apply the pending schema migrations (idempotent) and load the config tables.

    Example: `touchstream db migrate` (or with `TOUCHSTREAM_MODE=production` for the ClickHouse server).
    """
    from touchstream.adapters.migrate import load_config
    from touchstream.adapters.migrate import migrate as apply

    with open_store(chdb) as store:
        applied = apply(store, on_applied=lambda m: typer.echo(f"applied {m.version}: {m.name}"))
        load_config(store)
    typer.echo(f"{len(applied)} migration(s) applied; the schema is current")


@app.command()
def rebuild(
    model: Annotated[
        list[str] | None, typer.Option(help="touchpoints or customer_360 (repeatable; default: all)")
    ] = None,
    log: Annotated[Path | None, typer.Option(help="SQLite log (default: <data dir>/log.sqlite)")] = None,
    partitions: Annotated[int, typer.Option(min=1, help="partitions of the log")] = 3,
    chdb: ChDBOption = None,
) -> None:
    """Recompute read models from offset 0 of the log into new tables and swap them in; live processing
    continues meanwhile.

    Example: `touchstream rebuild --model customer_360`.
    """
    from touchstream.adapters.config import load_settings
    from touchstream.adapters.event_log import SQLiteEventLog
    from touchstream.adapters.migrate import migrate as apply
    from touchstream.adapters.progress import progress_bar
    from touchstream.streams.rebuild import rebuild as run_rebuild
    from touchstream.streams.rebuild import tables_of

    settings = load_settings()
    if not settings.embedded and chdb is None:
        raise typer.BadParameter(
            "rebuild reads the embedded log for now; production rebuilds need the resolved topic"
        )
    try:
        tables_of(model)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    path = log or settings.data_dir / "log.sqlite"
    if not path.exists():
        raise typer.BadParameter(f"no log at {path}")
    with SQLiteEventLog(path, partitions=partitions) as opened, open_store(chdb) as store:
        apply(store)
        total = sum(opened.end_offset(p) for p in range(opened.partitions))
        with progress_bar("rebuild", total) as advance:
            result = run_rebuild(opened, store, models=model, progress=advance)
    typer.echo(
        f"rebuilt {', '.join(result.tables)} from {result.stats.records} records in {result.passes} pass(es)"
    )
