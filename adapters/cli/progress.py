"""Progress bars with rate and time left, for long work on a terminal."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:>9,.0f}/s")


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yields `advance(n)`; shows done/total, the rate and the time remaining."""
    with progress_bars((description, total)) as (advance,):
        yield advance


@contextmanager
def progress_bars(*tasks: tuple[str, int | None]) -> Iterator[list[Callable[[int], None]]]:
    """One bar per (description, total), shown together (work that runs side by side); yields their
    `advance(n)` functions in the same order."""
    with Progress(
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ) as bar:
        ids = [bar.add_task(description, total=total) for description, total in tasks]
        yield [functools.partial(bar.advance, task) for task in ids]
