"""`touchstream dlq`: inspect dead letters, fix the mapping, replay them to the raw topic."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .topics import Bootstrap, EmbeddedDir, Prefix

if TYPE_CHECKING:
    from collections.abc import Callable

    from ...streams.ports import AbstractEventLog
    from ...streams.validate import DeadLetter

app = typer.Typer(
    help="Dead letters: raw records that are not valid events, kept with their bytes and the reason.",
    no_args_is_help=True,
)

Reason = Annotated[str | None, typer.Option(help="only letters whose reason contains this text")]
EventType = Annotated[str | None, typer.Option("--type", help="only letters of this event type")]

EXIT_STILL_INVALID = 2


def _log(base: str, bootstrap: str | None, prefix: str | None, embedded_dir: Path | None) -> AbstractEventLog:
    from .topics import resolve_log

    return resolve_log(base, bootstrap=bootstrap, prefix=prefix, embedded_dir=embedded_dir)[0]


def _selector(reason: str | None, event_type: str | None) -> Callable[[DeadLetter], bool]:
    def select(letter: DeadLetter) -> bool:
        if reason and reason.lower() not in letter.reason.lower():
            return False
        return not (event_type and letter.event_type != event_type)

    return select


@app.command("list")
def list_letters(
    reason: Reason = None,
    event_type: EventType = None,
    pending: Annotated[bool, typer.Option("--pending", help="hide letters already replayed")] = False,
    limit: Annotated[int, typer.Option(min=1, help="show at most this many")] = 100,
    bootstrap: Bootstrap = None,
    prefix: Prefix = None,
    embedded_dir: EmbeddedDir = None,
) -> None:
    """List dead letters, oldest first per partition. Example: `touchstream dlq list --reason email`."""
    from rich.console import Console
    from rich.table import Table

    from ...streams.topology import DLQ, DLQ_REPLAYED
    from ...streams.validate import dead_letters, replayed_ids

    select = _selector(reason, event_type)
    with (
        _log(DLQ, bootstrap, prefix, embedded_dir) as dlq,
        _log(DLQ_REPLAYED, bootstrap, prefix, embedded_dir) as replayed_log,
    ):
        replayed = replayed_ids(replayed_log)
        matching = [
            letter
            for letter in dead_letters(dlq)
            if select(letter) and not (pending and letter.id in replayed)
        ]
    table = Table(title=f"{len(matching)} dead letters", title_justify="left")
    for column in ("id", "dead-lettered at", "type", "event id", "reason", "replayed"):
        table.add_column(column)
    for letter in matching[:limit]:
        table.add_row(
            letter.id,
            letter.dead_lettered_at.isoformat(timespec="seconds"),
            letter.event_type or "",
            str(letter.error.get("event_id") or ""),
            letter.reason[:120],
            "yes" if letter.id in replayed else "",
        )
    Console(width=200).print(table)


@app.command("show")
def show(
    letter_id: Annotated[str, typer.Argument(help="the id from `dlq list` (topic/partition/offset)")],
    bootstrap: Bootstrap = None,
    prefix: Prefix = None,
    embedded_dir: EmbeddedDir = None,
) -> None:
    """Print one dead letter in full: source, error with every problem, and the original record."""
    import json

    from ...streams.topology import DLQ
    from ...streams.validate import dead_letters

    with _log(DLQ, bootstrap, prefix, embedded_dir) as dlq:
        found = next((letter for letter in dead_letters(dlq) if letter.id == letter_id), None)
    if found is None:
        typer.echo(f"no dead letter {letter_id}", err=True)
        raise typer.Exit(1)
    full = json.loads(found.to_bytes())
    full["original"] = found.original.decode("utf-8", "replace")
    typer.echo(json.dumps(full, indent=2, ensure_ascii=False))


@app.command("replay")
def replay(
    mapping: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="JSON/TOML: [fields] old.path = new.path, [types], [set]"
        ),
    ] = None,
    reason: Reason = None,
    event_type: EventType = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only say what would be replayed")] = False,
    bootstrap: Bootstrap = None,
    prefix: Prefix = None,
    embedded_dir: EmbeddedDir = None,
) -> None:
    """Re-validate dead letters (after the mapping's renames) and publish the valid ones to the raw
    topic. Each replayed letter is recorded, so running it again replays nothing twice. Exit code 2 when
    some letters are still invalid. Example: `touchstream dlq replay --mapping fix.toml --type LeadCreated`.
    """
    from ...streams.topology import DLQ, DLQ_REPLAYED, RAW
    from ..sdk.dlq_replay import ReplayMapping, replay as run_replay
    from ..sdk.publisher import Publisher

    try:
        fix = ReplayMapping.load(mapping) if mapping else None
    except (ValueError, OSError) as exc:  # not TOML / JSON, not UTF-8, unknown keys, unreadable
        raise typer.BadParameter(f"{mapping}: {exc}", param_hint="--mapping") from None
    with (
        _log(DLQ, bootstrap, prefix, embedded_dir) as dlq,
        _log(DLQ_REPLAYED, bootstrap, prefix, embedded_dir) as replayed_log,
        Publisher(_log(RAW, bootstrap, prefix, embedded_dir), close_log=True) as publisher,
    ):
        report = run_replay(
            dlq, replayed_log, publisher, mapping=fix, select=_selector(reason, event_type), dry_run=dry_run
        )
    verb = "would replay" if dry_run else "replayed"
    typer.echo(
        f"{verb} {len(report.replayed)}, still invalid {len(report.still_invalid)}, "
        f"replayed before {report.already_replayed}"
    )
    for letter, error in report.still_invalid[:20]:
        typer.echo(f"  {letter.id}: {error}", err=True)
    if report.still_invalid:
        raise typer.Exit(EXIT_STILL_INVALID)
