"""`touchstream import FILE`: backfill history from a JSONL or CSV export, resumable, with an error report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .topics import Bootstrap, EmbeddedDir, Prefix

EXIT_REJECTED = 2


def import_command(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="JSONL (one event a line) or CSV")
    ],
    mapping: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="CSV column mapping (JSON or TOML); implies CSV"),
    ] = None,
    errors: Annotated[Path | None, typer.Option(help="error report (default: FILE.errors.csv)")] = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="resume point (default: FILE.checkpoint.json)")
    ] = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="ignore the checkpoint; start at line 1")
    ] = False,
    id_namespace: Annotated[
        str | None, typer.Option(help="names the ids of rows without event_id (default: the file's name)")
    ] = None,
    chunk: Annotated[int, typer.Option(min=1, help="lines per acknowledged chunk")] = 5_000,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            max=2,
            help="2: a second process reads and validates lines while this one publishes (used when more "
            "than one chunk is left); 1: one process does both",
        ),
    ] = 2,
    bootstrap: Bootstrap = None,
    prefix: Prefix = None,
    embedded_dir: EmbeddedDir = None,
) -> None:
    """Publish every valid event of FILE to touchpoints.raw; bad lines go to an error report (line, reason)
    instead of stopping the import. Interrupted? Run the same command again: it resumes after the last
    acknowledged chunk and publishes nothing twice. Exit code 2 when some lines were rejected.

    Example: `touchstream import crm-tickets.csv --mapping tickets.toml --bootstrap 127.0.0.1:19092`.
    """
    from dataclasses import replace

    from ...streams.ports import LogUnavailable
    from ...streams.topology import RAW
    from ..config import load_settings
    from ..master_record.identity_config import phone_regions
    from ..sdk.importer import (
        CsvMapping,
        ImportOptions,
        ImportRefused,
        count_lines,
        import_file,
    )
    from ..sdk.publisher import Publisher, PublishError
    from .progress import progress_bar
    from .topics import resolve_log

    try:
        csv_mapping = CsvMapping.load(mapping) if mapping else None
    except (ValueError, OSError) as exc:  # not TOML / JSON, not UTF-8, unknown keys, unreadable
        raise typer.BadParameter(f"{mapping}: {exc}", param_hint="--mapping") from None
    log, target = resolve_log(RAW, bootstrap=bootstrap, prefix=prefix, embedded_dir=embedded_dir)
    options = ImportOptions(
        errors_path=errors or file.with_name(file.name + ".errors.csv"),
        checkpoint_path=checkpoint or file.with_name(file.name + ".checkpoint.json"),
        target=target,
        mapping=csv_mapping,
        id_namespace=id_namespace,
        chunk_lines=chunk,
        restart=restart,
        processes=processes,
    )
    regions = phone_regions(load_settings())
    options = replace(options, regions=regions)
    try:
        with (
            Publisher(log, batch_size=chunk, regions=regions, close_log=True) as publisher,
            progress_bar("import", count_lines(file)) as advance,
        ):
            report = import_file(file, publisher, options, progress=advance)
    except (ImportRefused, PublishError, LogUnavailable) as exc:
        # The checkpoint already says where to resume; the operator needs the reason, not a traceback.
        typer.echo(f"import stopped: {exc}", err=True)
        typer.echo("fix the cause and run the same command again to resume", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"{report.published} published, {report.rejected} rejected, {report.already_on_log} already on "
        f"the log (resumed after line {report.resumed_from_line}) -> {target}"
    )
    if report.rejected:
        typer.echo(f"rejected lines and reasons: {options.errors_path}", err=True)
        raise typer.Exit(EXIT_REJECTED)
