"""`touchstream db migrate` and `touchstream rebuild`: the read store's schema and its recomputation.

Both go through `bootstrap()`: the embedded default works on chDB and the SQLite logs under the data dir;
TOUCHSTREAM_MODE=production uses the ClickHouse server and the Kafka topics from the settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .run import PARALLEL_FROM

if TYPE_CHECKING:
    from ...streams.rebuild import RebuildResult

app = typer.Typer(help="The read store: schema migrations and rebuilds.", no_args_is_help=True)


@app.command()
def migrate(
    cluster: Annotated[
        str,
        typer.Option(
            help="a ClickHouse cluster (remote_servers) name: Replicated* tables ON CLUSTER behind "
            "Distributed ones (docs/deploy.md); needs TOUCHSTREAM_MODE=production "
            "(default: TOUCHSTREAM_CLICKHOUSE_CLUSTER)"
        ),
    ] = "",
) -> None:
    """Create what the stores need (the master record's PostgreSQL database in production), apply the
    pending read-store migrations (idempotent) and load the config tables.

    Example: `touchstream db migrate` (or with `TOUCHSTREAM_MODE=production` for the ClickHouse server;
    add `--cluster touchstream` for a sharded, replicated cluster such as deploy/local/cluster's).
    """
    from ..api.sql_door import ensure_door_user
    from ..bootstrap import bootstrap
    from ..storage.migrate import load_config, migrate as apply

    runtime = bootstrap()
    cluster = cluster or runtime.settings.clickhouse_cluster
    if cluster and runtime.settings.embedded:
        raise typer.BadParameter(
            "a cluster needs ClickHouse servers: set TOUCHSTREAM_MODE=production", param_hint="--cluster"
        )
    typer.echo(runtime.prepare_master_record())
    with runtime.read_store() as store:
        if cluster:
            from ..storage.clickhouse_server import ClickHouseServerStore
            from ..storage.cluster_ddl import ClusterDDLError, migrate_cluster

            assert isinstance(store, ClickHouseServerStore)  # production mode's store
            try:
                applied = migrate_cluster(
                    store, cluster, on_applied=lambda m: typer.echo(f"applied {m.version}: {m.name}")
                )
            except ClusterDDLError as exc:
                raise typer.BadParameter(str(exc), param_hint="--cluster") from None
        else:
            applied = apply(store, on_applied=lambda m: typer.echo(f"applied {m.version}: {m.name}"))
        load_config(store)
        typer.echo(f"{len(applied)} migration(s) applied; the schema is current")
        typer.echo(ensure_door_user(store, runtime.settings))  # the SQL door's read-only user


def rebuild(
    model: Annotated[
        list[str] | None, typer.Option(help="touchpoints or customer_360 (repeatable; default: all)")
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=2,
            help="2: open and parse the resolved log in this process while a second one folds and writes "
            "(both cores; the same tables); 1: one process. Default: 2 on the embedded default for "
            f"{PARALLEL_FROM:,} resolved records or more, else 1; production mode uses 1",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="records per batch")] = 5_000,
) -> None:
    """Recompute read models from offset 0 of `touchpoints.resolved` (and the DLQ) into new tables and
    swap them in with RENAME; live processing continues meanwhile. Identity is not resolved again.

    Works on the embedded logs and chDB by default, on Kafka and the ClickHouse server with
    TOUCHSTREAM_MODE=production. Example: `touchstream rebuild --model customer_360`.
    """
    from ...streams.rebuild import rebuild as run_rebuild, tables_of
    from ...streams.topology import DLQ, RESOLVED
    from ..bootstrap import bootstrap
    from ..storage.migrate import migrate as apply
    from .progress import progress_bar

    try:
        tables_of(model)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    runtime = bootstrap()
    if processes == 2 and not runtime.settings.embedded:
        raise typer.BadParameter("two processes rebuild the embedded default only", param_hint="--processes")
    if runtime.settings.embedded:
        with runtime.log(RESOLVED) as resolved:
            total = sum(resolved.end_offset(p) for p in range(resolved.partitions))
        if (processes or (2 if total >= PARALLEL_FROM else 1)) == 2:
            from ..parallel_rebuild import rebuild_in_two_processes

            with progress_bar("rebuild", total) as advance:
                _rebuilt(rebuild_in_two_processes(runtime.settings, model, batch_size, advance))
            return
    with runtime.log(RESOLVED) as resolved, runtime.stored_log(DLQ) as dlq, runtime.read_store() as store:
        apply(store)  # first: a read store that is down is the error a user sees
        total = sum(resolved.end_offset(p) for p in range(resolved.partitions))
        with progress_bar("rebuild", total) as advance:
            _rebuilt(
                run_rebuild(resolved, store, models=model, dlq=dlq, progress=advance, batch_size=batch_size)
            )


def _rebuilt(result: RebuildResult) -> None:
    typer.echo(
        f"rebuilt {', '.join(result.tables)} from {result.stats.records} records in {result.passes} pass(es)"
    )
