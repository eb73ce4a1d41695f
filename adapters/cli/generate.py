"""`touchstream generate`: the realistic dataset as files."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import typer

from ..synthetic.generator import GeneratorConfig, estimated_events, write_dataset
from .progress import progress_bar


def run(
    *,
    customers: int,
    accounts: int,
    days: int,
    seed: int,
    out: Path,
    truth: Path,
    start: datetime | None = None,
) -> dict[str, object]:
    try:
        config = GeneratorConfig(customers=customers, accounts=accounts, days=days, seed=seed)
        if start is not None:
            config = dataclasses.replace(config, start=start.replace(tzinfo=UTC))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    with progress_bar("generate", estimated_events(config)) as advance:
        summary = write_dataset(config, out, truth, progress=advance)
    typer.echo(f"wrote {summary['events']} events to {out} and the ground truth to {truth}")
    return summary
