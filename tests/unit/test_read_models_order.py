"""The read models do not depend on arrival order (chDB): the generator's data published in event time
order and, into another database, shuffled (each person's events still on one partition, but in any order,
some delivered twice), with the same merge and unmerge, gives the same answer from every view."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from unit.test_read_models_oracle import QUERIES, dataset, truth_resolver

from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.projections.config import ProjectionConfig
from touchstream.streams.embedded import run_until_caught_up
from touchstream.streams.ports import AbstractReadStore
from touchstream.streams.steps import write_merges

# Views that carry log positions, or follow the wall clock (identical only by accident).
POSITIONAL = {"touchpoints_current", "active_signals", "caller_leads"}
MERGES = [("P0000002", "P0000001", 1, "same person", 1), ("P0000004", "P0000003", 1, "same person", 2)]
UNMERGE = [("P0000004", "", 0, "same person", 3)]
# The default bounds: a late sales contact re-derives the warm touches beyond the kept context too.
CONFIG = ProjectionConfig()


def publish_and_project(store: AbstractReadStore, log_path: Path, records: list[dict[str, Any]]) -> None:
    data = dataset()
    prepare_read_store(store, CONFIG)
    with SQLiteEventLog(log_path, partitions=3) as log:
        owners = data.truth.events
        log.append([(owners[e["event_id"]][0].encode(), orjson.dumps(e)) for e in records])
        run_until_caught_up(log, store, resolve=truth_resolver(data), batch_size=500, config=CONFIG)
    write_merges(store, MERGES)
    write_merges(store, UNMERGE)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AbstractReadStore, AbstractReadStore]]:
    folder = tmp_path_factory.mktemp("order")
    raw = sorted(dataset().raw, key=lambda e: (e["occurred_at"], e["event_id"]))
    shuffled = list(raw)
    random.Random(16).shuffle(shuffled)
    retries = random.Random(17).sample(range(len(shuffled)), 40)
    for position in sorted(retries, reverse=True):  # a producer's retry, a few records later
        shuffled.insert(min(position + 3, len(shuffled)), shuffled[position])
    path = str(folder / "chdb")
    with ChDBStore(path, "in_order") as ordered, ChDBStore(path, "shuffled") as mixed:
        publish_and_project(ordered, folder / "ordered.sqlite", raw)
        publish_and_project(mixed, folder / "shuffled.sqlite", shuffled)
        yield ordered, mixed


def close_to(got: Any, expected: Any) -> Any:
    """Floats (the lead score, averages) to a millionth: rounding paths differ, values do not."""
    if isinstance(expected, float):
        return pytest.approx(expected, abs=1e-5)
    if isinstance(expected, tuple | list):
        return type(expected)(close_to(g, e) for g, e in zip(got, expected, strict=True))
    return expected


@pytest.mark.parametrize("view", sorted(set(QUERIES) - POSITIONAL))
def test_the_view_answers_the_same_in_any_arrival_order(
    stores: tuple[AbstractReadStore, AbstractReadStore], view: str
) -> None:
    ordered, mixed = stores
    expected = ordered.query(QUERIES[view])
    got = mixed.query(QUERIES[view])
    assert expected, f"{view} is empty: the comparison would prove nothing"
    assert len(got) == len(expected)
    assert got == close_to(got, expected)
