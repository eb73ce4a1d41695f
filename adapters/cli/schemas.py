"""`touchstream schemas`: JSON Schemas for producers, and the compatibility gate for changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="JSON Schemas of every event type, for producers in any language, and a compatibility check.",
    no_args_is_help=True,
)


@app.command("export")
def export(
    directory: Annotated[
        Path, typer.Argument(help="folder to write <Type>.v<N>.json and envelope.json into")
    ],
) -> None:
    """Write one JSON Schema (draft 2020-12) per event type at its current version, plus the envelope.

    Example: `touchstream schemas export schemas/ && ls schemas/`.
    """
    from ...events.schemas import export_schemas

    directory.mkdir(parents=True, exist_ok=True)
    files = export_schemas()
    for name, schema in files.items():
        (directory / name).write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    typer.echo(f"wrote {len(files)} schemas to {directory}")


@app.command("check")
def check(
    old_directory: Annotated[
        Path, typer.Argument(help="schemas exported before the change (e.g. from the last release)")
    ],
) -> None:
    """Fail (exit 1) when the current catalogue would refuse events valid under the old schemas:
    a removed or retyped field, a new required field without default, a removed type or enum value.
    An old version with an upcaster to the current one stays compatible.

    Example: `touchstream schemas export old/ && <change events/> && touchstream schemas check old/`.
    """
    from ...events.schemas import check_compatibility

    if not old_directory.is_dir():
        raise typer.BadParameter(
            f"{old_directory} is not a folder of exported schemas", param_hint="OLD_DIRECTORY"
        )
    old: dict[str, Any] = {}
    for path in sorted(old_directory.glob("*.json")):
        try:
            old[path.name] = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"{path} is not JSON: {exc}", param_hint="OLD_DIRECTORY") from None
    if not old:
        raise typer.BadParameter(f"no *.json schemas in {old_directory}", param_hint="OLD_DIRECTORY")
    breaks = check_compatibility(old)
    for item in breaks:
        typer.echo(f"BREAKING {item}", err=True)
    if breaks:
        typer.echo(f"{len(breaks)} breaking change(s) against {len(old)} old schemas", err=True)
        raise typer.Exit(1)
    typer.echo(f"compatible: {len(old)} old schemas still accepted")
