"""`touchstream topics`: apply the declared topic set to a Kafka cluster, and show it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ...streams.ports import AbstractEventLog

app = typer.Typer(
    help="The Kafka topics Touchstream owns: partitions, replication, retention and cleanup policy.",
    no_args_is_help=True,
)

Bootstrap = Annotated[
    str | None,
    typer.Option(help="Kafka bootstrap servers (default: TOUCHSTREAM_KAFKA_BOOTSTRAP or 127.0.0.1:19092)"),
]
Prefix = Annotated[
    str | None, typer.Option(help="prefix for every topic name (default: TOUCHSTREAM_TOPIC_PREFIX)")
]
EmbeddedDir = Annotated[
    Path | None,
    typer.Option(help="embedded log folder, when not on Kafka (default: $TOUCHSTREAM_DATA_DIR/log)"),
]


def _where(bootstrap: str | None, prefix: str | None) -> tuple[str, str]:
    from ..config import load_settings

    settings = load_settings()
    return bootstrap or settings.kafka_bootstrap, settings.topic_prefix if prefix is None else prefix


def _retention(ms: int) -> str:
    if ms < 0:
        return "forever"
    days = ms / 86_400_000
    return f"{days:g} days" if days >= 1 else f"{ms} ms"


@app.command("create")
def create(
    bootstrap: Bootstrap = None,
    prefix: Prefix = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only say what would change")] = False,
) -> None:
    """Create missing topics, align drifted retention / cleanup settings and add missing partitions.

    Safe to run again: an up-to-date cluster prints "unchanged" for every topic. Replication is
    min(3, brokers). Example: `touchstream topics create --bootstrap 127.0.0.1:19092`.
    """
    from ..logs.topics import create_topics

    server, prefix = _where(bootstrap, prefix)
    changes = create_topics(server, prefix=prefix, dry_run=dry_run)
    for change in changes:
        typer.echo(("would be " if dry_run and change.action != "unchanged" else "") + str(change))
    if any(change.action == "cannot fix" for change in changes):
        raise typer.Exit(1)


@app.command("list")
def list_topics(
    bootstrap: Bootstrap = None,
    prefix: Prefix = None,
    offline: Annotated[bool, typer.Option("--offline", help="show the declaration only")] = False,
) -> None:
    """Show the declared topics and, unless --offline, how the cluster differs from them."""
    from rich.console import Console
    from rich.table import Table

    from ...streams.topology import TOPICS, topic_name
    from ..logs.topics import create_topics

    server, prefix = _where(bootstrap, prefix)
    state: dict[str, list[str]] = {}
    if not offline:
        for change in create_topics(server, prefix=prefix, dry_run=True):
            text = "missing" if change.action == "created" else change.action
            state.setdefault(change.topic, []).append(text)
    table = Table(title_justify="left")
    for column in (
        "topic",
        "partitions",
        "retention",
        "cleanup",
        "purpose",
        *(() if offline else ("state",)),
    ):
        table.add_column(column)
    for spec in TOPICS:
        name = topic_name(spec.name, prefix)
        row = [name, str(spec.partitions), _retention(spec.retention_ms), spec.cleanup_policy, spec.purpose]
        table.add_row(*row, *(() if offline else (", ".join(state.get(name, [])),)))
    Console(width=160).print(table)


def resolve_log(
    base: str, *, bootstrap: str | None, prefix: str | None, embedded_dir: Path | None
) -> tuple[AbstractEventLog, str]:
    """The log of a declared topic for a command, and a name for it: Kafka when --bootstrap is given or
    TOUCHSTREAM_MODE=production, else the embedded log in --embedded-dir (default: the data dir's `log`)."""
    from ...streams.topology import topic_name
    from ..bootstrap import sealed
    from ..config import load_settings
    from ..logs.topics import open_log

    settings = load_settings()
    prefix = settings.topic_prefix if prefix is None else prefix
    if bootstrap or (settings.mode == "production" and embedded_dir is None):
        server = bootstrap or settings.kafka_bootstrap
        log = sealed(open_log(base, bootstrap=server, prefix=prefix), base, settings)
        return log, f"kafka://{server}/{topic_name(base, prefix)}"
    folder = (embedded_dir or settings.data_dir / "log").resolve()
    log = sealed(open_log(base, prefix=prefix, embedded_dir=folder), base, settings)
    return log, f"embedded://{folder / topic_name(base, prefix)}"
