"""The embedded run resolves the log in the order it was appended, so `touchstream run --batch-size` changes
how fast it goes, never what it decides: the same merges and the same read models at any batch size.

(Before each record had its own timestamp, one append's records shared one, and the order a batch was
resolved in followed where the batch cut the partitions: 31k generated events gave 99 merges at 5,000 a
batch and 94 at 20,000.)"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from read_model_compare import COMPARED, Model, canonical, comparable

from touchstream.adapters.bootstrap import open_embedded_pipeline
from touchstream.adapters.sdk.publisher import Publisher
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate
from touchstream.streams.ports import LogRecord

CONFIG = GeneratorConfig(customers=80, accounts=10, days=40, seed=7)
BATCH_SIZES = (48, 5_000)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("published")
    # Several appends, as an import sends its chunks: each append's records go to every partition.
    with Publisher.for_embedded(folder / "log", batch_size=700) as publisher:
        for event in generate(CONFIG):
            publisher.send(event)
    return folder / "log"


@pytest.fixture(scope="module")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb") / "data"  # one chDB path per process: a database per run


def _run(published: Path, chdb_path: Path, folder: Path, batch_size: int) -> tuple[int, dict[str, Model]]:
    shutil.copytree(published, folder / "log")
    with (
        ChDBStore(str(chdb_path), database=f"batch_{batch_size}") as store,
        open_embedded_pipeline(
            folder / "log", store, f"sqlite:///{folder / 'master.sqlite'}", batch_size=batch_size
        ) as pipeline,
    ):
        prepare_read_store(store)
        resolved = pipeline.resolve_until_caught_up()
        pipeline.project_until_caught_up()
        models = {name: comparable(name, *store.query_with_columns(sql)) for name, sql in COMPARED.items()}
    return resolved.merges, canonical(models)


def test_any_batch_size_makes_the_same_merges_and_read_models(
    published: Path, chdb_path: Path, tmp_path: Path
) -> None:
    runs: dict[int, tuple[int, Any]] = {}
    for size in BATCH_SIZES:
        (tmp_path / str(size)).mkdir()
        runs[size] = _run(published, chdb_path, tmp_path / str(size), size)
    small, large = (runs[size] for size in BATCH_SIZES)
    assert small[0] > 0, "the story makes merges"
    assert small[0] == large[0]
    differ = sorted(name for name in small[1] if small[1][name] != large[1][name])
    assert not differ, f"read models differ between batch sizes {BATCH_SIZES}: {differ}"


def test_each_raw_record_is_read_and_opened_once(published: Path, chdb_path: Path, tmp_path: Path) -> None:
    """A round that leaves records for the next (appended after one left unread) keeps them: they were
    read and opened again, a quarter of every record at 5,000 a batch, half at 500."""
    shutil.copytree(published, tmp_path / "log")
    read: list[tuple[int, int]] = []
    with (
        ChDBStore(str(chdb_path), database="read_once") as store,
        open_embedded_pipeline(
            tmp_path / "log", store, f"sqlite:///{tmp_path / 'master.sqlite'}", batch_size=48
        ) as pipeline,
    ):
        reading = pipeline.raw.read

        def counted(partition: int, from_offset: int, max_records: int) -> list[LogRecord]:
            records = reading(partition, from_offset, max_records)
            read.extend((r.partition, r.offset) for r in records)
            return records

        pipeline.raw.read = counted  # type: ignore[method-assign]
        resolved = pipeline.resolve_until_caught_up()
    assert len(set(read)) == resolved.records > 48
    # Read again by design: an anonymous caller's calls, handed to the person they turned out to be.
    assert len(read) == resolved.records + resolved.reattributed
