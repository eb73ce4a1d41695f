"""Bulk import of history (JSONL, or CSV with a column mapping) through the Publisher, resumable.

How a rerun neither loses nor duplicates:
- Every row has a stable event_id: its own, or a uuid5 of the row's bytes in a namespace named after the
  file, so the same row always becomes the same event.
- Lines go out in chunks. Before a chunk is sent, the checkpoint records the log's end offsets (the
  watermarks) and the chunk's line range ("in flight"); once every event of the chunk is acknowledged, the
  chunk's rejected lines are appended to the error report and the checkpoint moves past the chunk.
- A rerun skips the lines before the checkpoint. If a chunk was in flight when the run died, the rerun
  reads the log from the watermarks to its end and does not resend the events it finds there.
- The error report is truncated back to the size the checkpoint recorded, so a line is reported once.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ...events import PhoneRegions
from .import_reader import chunks_read_aside
from .import_rows import CsvMapping, Rejected, RowReader, RowSource, ValidatedChunk, validated_chunks
from .publisher import Publisher

__all__ = ["CsvMapping", "ImportOptions", "ImportRefused", "ImportReport", "count_lines", "import_file"]

CHECKPOINT_VERSION = 1
_FINGERPRINT_BYTES = 1 << 20


class ImportRefused(Exception):
    """The checkpoint belongs to another file or destination: resuming would skip the wrong lines."""


# --- the import --------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    lines: int = 0  # rows read in this run
    published: int = 0
    rejected: int = 0
    already_on_log: int = 0  # in flight when an earlier run died, and found on the log
    resumed_from_line: int = 0  # the lines up to here were done by an earlier run


@dataclass(frozen=True)
class ImportOptions:
    errors_path: Path
    checkpoint_path: Path
    target: str  # names the destination log; a checkpoint is only valid for the same one
    mapping: CsvMapping | None = None
    id_namespace: str | None = None  # default: the file's name
    chunk_lines: int = 5_000
    restart: bool = False
    # How phones without a country code are read, per source (`identity_config.phone_regions(settings)`);
    # None: the publisher's default region.
    regions: PhoneRegions | None = None
    # 2: a second process reads and validates the rows while this one publishes (adapters/sdk/
    # import_reader.py), when more than one chunk is left; 1: this process does both in turn.
    processes: int = 1


def fingerprint(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = hashlib.sha256(handle.read(_FINGERPRINT_BYTES)).hexdigest()
        handle.seek(max(0, size - _FINGERPRINT_BYTES))
        tail = hashlib.sha256(handle.read()).hexdigest()
    return {"name": path.name, "size": size, "head_sha256": head, "tail_sha256": tail}


def count_lines(path: Path) -> int:
    lines, last = 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def import_file(
    path: Path,
    publisher: Publisher,
    options: ImportOptions,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Publish every valid row of `path`; rejected rows go to the error report (line, reason)."""
    run = _Run(path, publisher, options)
    return run.go(progress or (lambda _n: None))


class _Run:
    def __init__(self, path: Path, publisher: Publisher, options: ImportOptions) -> None:
        self.path = path
        self.publisher = publisher
        self.options = options
        self.namespace = uuid.uuid5(
            uuid.NAMESPACE_URL, f"touchstream-import:{options.id_namespace or path.name}"
        )
        self.fingerprint = fingerprint(path)
        self.report = ImportReport()
        self.errors_bytes = 0
        self.log_end: list[int] = []  # the destination's end offsets after the last chunk done

    def go(self, progress: Callable[[int], None]) -> ImportReport:
        checkpoint = self._load_checkpoint()
        done_line = int(checkpoint.get("line", 0))
        self.report.resumed_from_line = done_line
        self.errors_bytes = int(checkpoint.get("errors_bytes", 0))
        self.log_end = list(checkpoint.get("log_end") or [])
        self._open_error_report()
        # Ids written since a dead run's in-flight watermarks are on the log already: never resend them.
        in_flight = checkpoint.get("in_flight")
        seen = self._ids_on_log_since(in_flight["watermarks"]) if in_flight else set()
        progress(done_line)
        source = RowSource(self.path, done_line, self.options.mapping)
        reader = self._reader()
        if self.options.processes > 1 and count_lines(self.path) - done_line > self.options.chunk_lines:
            chunks = chunks_read_aside(source, reader, self.options.chunk_lines)
        else:
            chunks = validated_chunks(source, reader, self.options.chunk_lines)
        with closing(chunks):  # a failed chunk stops the reading process now, not when collected
            for chunk in chunks:
                progress(self._chunk(chunk, done_line, seen) - done_line)
                done_line = chunk.last_line
        return self.report

    def _reader(self) -> RowReader:
        if self.options.regions is not None:
            return RowReader(self.namespace, self.options.regions)
        return RowReader(self.namespace, self.publisher.regions, self.publisher.default_region)

    # --- one chunk: mark in flight, publish, report, move the checkpoint -------------------------------
    def _chunk(self, chunk: ValidatedChunk, done_line: int, seen: set[str]) -> int:
        events = [event for event in chunk.events if str(event.event_id) not in seen]
        self.report.already_on_log += len(chunk.events) - len(events)
        log = self.publisher.log
        watermarks = [log.end_offset(p) for p in range(log.partitions)]
        in_flight = {"first_line": chunk.first_line, "last_line": chunk.last_line, "watermarks": watermarks}
        self._save_checkpoint(done_line, in_flight)
        for event in events:
            self.publisher.send_encoded(event)
        self.publisher.flush()  # raises PublishError: the checkpoint still says "in flight"
        self._write_errors(chunk.rejected)
        self.log_end = [log.end_offset(p) for p in range(log.partitions)]
        self._save_checkpoint(chunk.last_line, None)
        self.report.lines += chunk.lines
        self.report.published += len(events)
        self.report.rejected += len(chunk.rejected)
        return chunk.last_line

    # --- the error report ------------------------------------------------------------------------------
    def _open_error_report(self) -> None:
        path = self.options.errors_path
        if self.errors_bytes == 0 or not path.exists():
            with path.open("w", encoding="utf-8", newline="") as handle:
                csv.writer(handle).writerow(["line", "event_id", "event_type", "reason"])
            self.errors_bytes = path.stat().st_size
        else:
            os.truncate(path, self.errors_bytes)  # drop what a dead run wrote after its last checkpoint

    def _write_errors(self, errors: list[Rejected]) -> None:
        if not errors:
            return
        with self.options.errors_path.open("a", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows(errors)
            handle.flush()
            os.fsync(handle.fileno())
        self.errors_bytes = self.options.errors_path.stat().st_size

    # --- the checkpoint --------------------------------------------------------------------------------
    def _load_checkpoint(self) -> dict[str, Any]:
        path = self.options.checkpoint_path
        if self.options.restart or not path.exists():
            return {}
        checkpoint: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if checkpoint.get("file") != self.fingerprint or checkpoint.get("target") != self.options.target:
            raise ImportRefused(
                f"{path} belongs to another import ({checkpoint.get('file', {}).get('name')} into "
                f"{checkpoint.get('target')}); pass --restart to start over, or another --checkpoint"
            )
        self._refuse_a_reset_log(checkpoint.get("log_end") or [])
        return checkpoint

    def _refuse_a_reset_log(self, recorded: list[int]) -> None:
        """A log's end never moves back. Below what the checkpoint saw, the destination was emptied or made
        again (a new data directory, a recreated topic): resuming would skip lines it does not hold."""
        log = self.publisher.log
        for partition, then in enumerate(recorded[: log.partitions]):
            now = log.end_offset(partition)
            if now < then:
                raise ImportRefused(
                    f"{self.options.target} holds fewer records than when {self.options.checkpoint_path} "
                    f"was written (partition {partition}: {now}, then {then}): the log was emptied or "
                    "made again, so the lines the checkpoint counts as done are not on it; pass --restart "
                    "to import the whole file"
                )

    def _save_checkpoint(self, line: int, in_flight: dict[str, Any] | None) -> None:
        body = {
            "version": CHECKPOINT_VERSION,
            "file": self.fingerprint,
            "target": self.options.target,
            "line": line,
            "errors_bytes": self.errors_bytes,
            "in_flight": in_flight,
            "log_end": self.log_end,
        }
        path = self.options.checkpoint_path
        temporary = path.with_name(path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(body, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)  # atomic: a crash leaves the old checkpoint or the new one

    def _ids_on_log_since(self, watermarks: list[int]) -> set[str]:
        """Event ids appended since the in-flight chunk's watermarks (ours, and anyone else's)."""
        log = self.publisher.log
        seen: set[str] = set()
        for partition, start in enumerate(watermarks):
            position, end = start, log.end_offset(partition)
            while position < end and (batch := log.read(partition, position, 10_000)):
                for record in batch:
                    try:
                        seen.add(str(orjson.loads(record.value).get("event_id")))
                    except (orjson.JSONDecodeError, AttributeError):
                        continue  # not an event of ours; nothing to de-duplicate against
                position = batch[-1].offset + 1
        return seen
