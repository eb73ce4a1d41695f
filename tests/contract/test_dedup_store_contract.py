"""The gateway's de-duplication store contract, subclassed per backend (a SQLite file, SQLite in memory).

An id is remembered with the first body hash it was published with, for the window only; ids never
remembered are absent; asking is safe from several threads (the gateway asks from its log thread).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from touchstream.adapters.gateway.dedup import SQLiteDedupStore
from touchstream.streams.ports import AbstractDedupStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class DedupStoreContract:
    window_s = 60.0

    def create_store(self, tmp_path: Path, clock: Clock) -> AbstractDedupStore:
        raise NotImplementedError

    @pytest.fixture
    def clock(self) -> Clock:
        return Clock()

    @pytest.fixture
    def store(self, tmp_path: Path, clock: Clock) -> Iterator[AbstractDedupStore]:
        opened = self.create_store(tmp_path, clock)
        yield opened
        opened.close()

    def test_remembers_the_first_hash_and_nothing_else(self, store: AbstractDedupStore) -> None:
        assert store.seen(["a", "b"]) == {}
        store.remember([("a", "h1")])
        store.remember([("a", "h2"), ("b", "h3")])
        assert store.seen(["a", "b", "c"]) == {"a": "h1", "b": "h3"}
        assert store.seen([]) == {}

    def test_forgets_after_the_window(self, store: AbstractDedupStore, clock: Clock) -> None:
        store.remember([("a", "h1")])
        clock.now += self.window_s + 1
        assert store.seen(["a"]) == {}
        store.remember([("a", "h2")])  # a new window starts with the new body
        assert store.seen(["a"]) == {"a": "h2"}

    def test_many_ids_at_once(self, store: AbstractDedupStore) -> None:
        ids = [f"id-{n}" for n in range(5_000)]
        store.remember((i, "h") for i in ids)
        assert len(store.seen(ids)) == len(ids)

    def test_safe_from_several_threads(self, store: AbstractDedupStore) -> None:
        def work(n: int) -> None:
            store.remember([(f"t{n}-{i}", "h") for i in range(200)])
            assert len(store.seen([f"t{n}-{i}" for i in range(200)])) == 200

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(store.seen([f"t{n}-{i}" for n in range(4) for i in range(200)])) == 800


class TestSQLiteFile(DedupStoreContract):
    def create_store(self, tmp_path: Path, clock: Clock) -> AbstractDedupStore:
        return SQLiteDedupStore(tmp_path / "dedup.sqlite", window_s=self.window_s, clock=clock)


class TestSQLiteInMemory(DedupStoreContract):
    def create_store(self, tmp_path: Path, clock: Clock) -> AbstractDedupStore:
        return SQLiteDedupStore(":memory:", window_s=self.window_s, clock=clock)


del DedupStoreContract
