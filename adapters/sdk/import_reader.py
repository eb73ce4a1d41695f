"""An import's rows read and validated in a second process while the first publishes.

Validating a row (pydantic, email and phone normalisation) costs about as much as sealing and appending
its event, so on one core the import does both in turn; here a spawned process reads the file and
validates chunk after chunk, at most `AHEAD` chunks ahead, and the importing process only publishes them
and moves its checkpoint, as before. The chunks arrive in file order, so resuming, the in-flight chunk's
watermarks and the error report work as they do in one process. A failure in the reading process is
raised in the importing one (the same exception when it can be pickled); a reading process that died
without a word raises `ImportReaderDied`; a stopped import stops the reading process.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Generator
from dataclasses import dataclass

from ..gc_pace import pace_garbage_collector
from ..pickling import picklable
from .import_rows import RowReader, RowSource, ValidatedChunk, validated_chunks

AHEAD = 2  # chunks validated and waiting: enough to keep both processes busy, little memory
_POLL = 0.5  # seconds between looks at the reading process while waiting for its next chunk
_DONE = "done"


class ImportReaderDied(RuntimeError):
    """The reading process ended without finishing or saying why (killed, out of memory)."""


@dataclass(frozen=True)
class _Failed:
    error: BaseException


def chunks_read_aside(
    source: RowSource, reader: RowReader, chunk_lines: int
) -> Generator[ValidatedChunk, None, None]:
    """`validated_chunks(source, reader, chunk_lines)`, computed in a second process."""
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[ValidatedChunk | _Failed | str] = context.Queue(maxsize=AHEAD)
    child = context.Process(
        target=_read,
        args=(source, reader, chunk_lines, results),
        name="touchstream-import-reader",
        daemon=True,
    )
    child.start()
    try:
        while True:
            message = _next(results, child)
            if isinstance(message, _Failed):
                raise message.error
            if isinstance(message, str):  # _DONE
                return
            yield message
    finally:
        if child.is_alive():
            child.terminate()
        child.join(timeout=10)
        results.close()
        results.cancel_join_thread()


def _next(
    results: multiprocessing.Queue[ValidatedChunk | _Failed | str], child: multiprocessing.process.BaseProcess
) -> ValidatedChunk | _Failed | str:
    while True:
        try:
            return results.get(timeout=_POLL)
        except queue.Empty:
            if child.is_alive():
                continue
        try:  # it may have put its last message just before it ended
            return results.get(timeout=_POLL)
        except queue.Empty:
            raise ImportReaderDied(
                f"the import's reading process ended unexpectedly (exit code {child.exitcode}); "
                "run the same command again to resume, or pass --processes 1"
            ) from None


def _read(
    source: RowSource,
    reader: RowReader,
    chunk_lines: int,
    results: multiprocessing.Queue[ValidatedChunk | _Failed | str],
) -> None:
    pace_garbage_collector()  # as the importing process's entry point does (adapters/gc_pace.py)
    try:
        for chunk in validated_chunks(source, reader, chunk_lines):
            results.put(chunk)
        results.put(_DONE)
    except BaseException as exc:
        results.put(_Failed(exc if picklable(exc) else RuntimeError(f"{type(exc).__name__}: {exc}")))
