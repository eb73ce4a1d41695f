"""A batch's ids reach ClickHouse in `IN` lists cut to fit `max_query_size` (256 KiB): a batch of any size
projects, where one of more than ~6,500 events was refused whole ("Max query size exceeded")."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.streams.project import AppliedEvents
from touchstream.streams.steps import load_states

MANY = 20_000  # ~800 KB of quoted uuids in one list


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChDBStore]:
    with ChDBStore(str(tmp_path_factory.mktemp("long-in") / "chdb")) as opened:
        prepare_read_store(opened)
        yield opened


def test_a_batch_longer_than_one_query_is_checked_and_loaded(store: ChDBStore) -> None:
    ids = [str(uuid.uuid4()) for _ in range(MANY)]
    assert AppliedEvents(store).known(ids) == set()
    assert load_states(store, set(ids)) == {}


def test_query_chunked_concatenates_every_chunks_rows(
    store: ChDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    real = store.query

    def counting(sql: str, params: object = None) -> list[tuple[object, ...]]:
        asked.append(len(params["ids"]))  # type: ignore[index]
        return real(sql, params)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "in_chunk", 3)
    monkeypatch.setattr(store, "query", counting)
    rows = store.query_chunked(
        "SELECT number FROM numbers(100) WHERE number IN %(ids)s AND number < %(top)s ORDER BY number",
        "ids",
        [1, 2, 3, 5, 8, 13, 21, 34],
        {"top": 30},
    )
    assert rows == [(1,), (2,), (3,), (5,), (8,), (13,), (21,)]
    assert asked == [3, 3, 2]
