"""The import's second process (adapters/sdk/import_reader.py): it reads and validates the rows while the
importing process publishes; the chunks arrive as one process makes them, its failures are raised in the
importing process, and it stops with the import."""

from __future__ import annotations

import multiprocessing
import os
import signal
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.sdk import importer
from touchstream.adapters.sdk.import_reader import ImportReaderDied, chunks_read_aside
from touchstream.adapters.sdk.import_rows import RowReader, RowSource, validated_chunks
from touchstream.adapters.sdk.publisher import Publisher
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate

pytestmark = [pytest.mark.timeout(120)]

READER = RowReader(uuid.UUID(int=7))


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Events one a line, every 25th line not JSON."""
    path = tmp_path_factory.mktemp("export") / "export.jsonl"
    events = list(generate(GeneratorConfig(customers=60, accounts=8, days=20)))[:600]
    lines = [b"{not json" if i % 25 == 24 else orjson.dumps(e) for i, e in enumerate(events)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _bad_lines(path: Path, after: int = 0) -> list[int]:
    lines = path.read_bytes().splitlines()
    return [n for n, line in enumerate(lines, start=1) if n > after and line == b"{not json"]


def _valid(path: Path) -> int:
    return len(path.read_bytes().splitlines()) - len(_bad_lines(path))


def _readers() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name == "touchstream-import-reader"]


def test_the_chunks_are_the_ones_one_process_makes(export: Path) -> None:
    here = list(validated_chunks(RowSource(export, after_line=40), READER, 50))
    aside = list(chunks_read_aside(RowSource(export, after_line=40), READER, 50))
    assert [(c.first_line, c.last_line, c.lines) for c in aside] == [
        (c.first_line, c.last_line, c.lines) for c in here
    ]
    assert [c.events for c in aside] == [c.events for c in here]
    assert [c.rejected for c in aside] == [c.rejected for c in here]
    assert [r[0] for c in aside for r in c.rejected] == _bad_lines(export, after=40)
    assert not _readers()


def test_the_import_uses_it_when_more_than_one_chunk_is_left(
    export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[RowSource] = []

    def spy(source: RowSource, reader: RowReader, chunk_lines: int) -> Any:
        used.append(source)
        return chunks_read_aside(source, reader, chunk_lines)

    monkeypatch.setattr(importer, "chunks_read_aside", spy)

    def run(processes: int, chunk_lines: int, name: str) -> importer.ImportReport:
        options = importer.ImportOptions(
            errors_path=tmp_path / f"{name}.errors.csv",
            checkpoint_path=tmp_path / f"{name}.checkpoint.json",
            target=name,
            chunk_lines=chunk_lines,
            processes=processes,
        )
        log = SQLiteEventLog(tmp_path / f"{name}.sqlite", partitions=3)
        return importer.import_file(export, Publisher(log), options)

    valid = _valid(export)
    assert run(processes=1, chunk_lines=100, name="one").published == valid
    assert run(processes=2, chunk_lines=1_000, name="one-chunk").published == valid
    assert used == []
    assert run(processes=2, chunk_lines=100, name="two").published == valid
    assert used == [RowSource(export, 0, None)]


def test_a_failure_there_is_raised_here(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        list(chunks_read_aside(RowSource(tmp_path), READER, 50))
    assert not _readers()


def test_a_reading_process_that_dies_is_reported_with_the_way_on(export: Path) -> None:
    chunks = chunks_read_aside(RowSource(export), READER, 10)
    next(chunks)
    (reader,) = _readers()
    assert reader.pid is not None
    os.kill(reader.pid, signal.SIGKILL)
    with pytest.raises(ImportReaderDied, match=r"exit code -9.*run the same command again"):
        for _ in chunks:
            pass


def test_a_stopped_import_stops_the_reading_process(export: Path) -> None:
    chunks = chunks_read_aside(RowSource(export), READER, 10)
    next(chunks)
    assert len(_readers()) == 1
    chunks.close()
    assert not _readers()
