"""The collector's pace for batch work (adapters/gc_pace.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from touchstream.adapters.gc_pace import MIDDLE_THRESHOLD, YOUNG_THRESHOLD, pace_garbage_collector


@pytest.fixture
def restored_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_thresholds")
def test_young_and_middle_generations_are_collected_less_often_and_the_oldest_keeps_its_ratio() -> None:
    gc.set_threshold(700, 10, 7)
    pace_garbage_collector()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, MIDDLE_THRESHOLD, 7)


@pytest.mark.usefixtures("restored_thresholds")
def test_cyclic_garbage_is_still_collected_at_that_pace() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    collected: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            collected.append(info["collected"])

    pace_garbage_collector()
    gc.collect()
    gc.callbacks.append(count)
    try:
        for _ in range(YOUNG_THRESHOLD * 3):
            Node()
    finally:
        gc.callbacks.remove(count)
    assert sum(collected) > 0
