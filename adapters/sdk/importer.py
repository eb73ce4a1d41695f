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
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ...events import Event, EventParseError, Limits, PhoneRegions, parse_event
from .publisher import Publisher

CHECKPOINT_VERSION = 1
_FINGERPRINT_BYTES = 1 << 20


class ImportRefused(Exception):
    """The checkpoint belongs to another file or destination: resuming would skip the wrong lines."""


# --- CSV mapping -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvMapping:
    """How a CSV row becomes an event. Paths are dotted envelope paths (`payload.ticket_id`,
    `identifiers.email`); a path ending in `:json` takes the cell as JSON (lists, objects). Empty cells
    are left out, so optional fields stay absent."""

    columns: dict[str, tuple[str, ...]]
    constants: dict[str, Any] = field(default_factory=dict)
    type_name: str | None = None
    type_column: str | None = None
    type_names: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    schema_version: int | None = None

    @classmethod
    def load(cls, path: Path) -> CsvMapping:
        """Read a mapping from JSON or TOML (by the file's suffix)."""
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CsvMapping:
        known = {"columns", "constants", "type", "type_column", "type_names", "values", "schema_version"}
        if unknown := set(raw) - known:
            raise ValueError(f"unknown mapping keys {sorted(unknown)}; expected some of {sorted(known)}")
        if not raw.get("type") and not raw.get("type_column"):
            raise ValueError("a mapping needs `type` (one event type) or `type_column`")
        columns = {
            column: (target,) if isinstance(target, str) else tuple(target)
            for column, target in raw.get("columns", {}).items()
        }
        return cls(
            columns=columns,
            constants=dict(raw.get("constants", {})),
            type_name=raw.get("type"),
            type_column=raw.get("type_column"),
            type_names=dict(raw.get("type_names", {})),
            values={path: dict(table) for path, table in raw.get("values", {}).items()},
            schema_version=raw.get("schema_version"),
        )

    def to_event_dict(self, row: dict[str, str]) -> dict[str, Any]:
        event: dict[str, Any] = {}
        for path, constant in self.constants.items():
            _put(event, path, constant)
        for column, targets in self.columns.items():
            cell = (row.get(column) or "").strip()
            if not cell:
                continue
            for target in targets:
                path, _, kind = target.partition(":")
                value: Any = self.values.get(path, {}).get(cell, cell)
                if kind == "json":
                    try:
                        value = json.loads(cell)
                    except ValueError as exc:
                        raise ValueError(f"column {column!r}: not JSON ({exc})") from None
                _put(event, path, value)
        type_name = self.type_name
        if self.type_column:
            cell = (row.get(self.type_column) or "").strip()
            type_name = self.type_names.get(cell, cell) or type_name
        if type_name:
            event["type"] = type_name
        if self.schema_version is not None:
            event.setdefault("schema_version", self.schema_version)
        return event


def _put(target: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value


# --- rows --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    line: int  # 1-based line of the file where the row ends
    raw: bytes  # the row's own bytes: hashed into the event_id when the row has none
    data: dict[str, Any] | None  # decoded, or None when the bytes are not a JSON object


def _jsonl_rows(path: Path, after_line: int) -> Iterator[Row]:
    with path.open("rb") as handle:
        for line_no, line in enumerate(handle, start=1):
            if line_no <= after_line or not line.strip():
                continue
            raw = line.rstrip(b"\r\n")
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                data = None
            yield Row(line_no, raw, data if isinstance(data, dict) else None)


def _csv_rows(path: Path, after_line: int, mapping: CsvMapping) -> Iterator[Row]:
    # surrogateescape: a byte that is not UTF-8 costs its own row an error, not the whole import a crash.
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as handle:
        reader = csv.DictReader(handle)
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. a cell over the csv module's field limit; the reader goes on
                line = reader.reader.line_num  # DictReader's own line_num is not updated on an error
                if line > after_line:
                    error = {"__mapping_error__": f"not a CSV row: {exc}"}
                    yield Row(line, f"csv-error:{line}".encode(), error)
                continue
            if reader.line_num <= after_line:
                continue
            values = [record.get(name) or "" for name in reader.fieldnames or ()]
            try:
                raw = orjson.dumps(values)
            except orjson.JSONEncodeError:  # lone surrogates: the row had bytes that are not UTF-8
                raw = "\x1f".join(values).encode("utf-8", "surrogateescape")
                error = {"__mapping_error__": "not UTF-8: re-export the file as UTF-8"}
                yield Row(reader.line_num, raw, error)
                continue
            try:
                yield Row(reader.line_num, raw, mapping.to_event_dict(record))
            except ValueError as exc:
                yield Row(reader.line_num, raw, {"__mapping_error__": str(exc)})


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
        self.limits = Limits()
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
        if self.options.mapping is not None:
            rows = _csv_rows(self.path, done_line, self.options.mapping)
        else:
            rows = _jsonl_rows(self.path, done_line)
        chunk: list[Row] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= self.options.chunk_lines:
                progress(self._chunk(chunk, done_line, seen) - done_line)
                done_line, chunk = chunk[-1].line, []
        if chunk:
            progress(self._chunk(chunk, done_line, seen) - done_line)
        return self.report

    # --- one chunk: validate, mark in flight, publish, report, move the checkpoint --------------------
    def _chunk(self, rows: list[Row], done_line: int, seen: set[str]) -> int:
        events: list[Event] = []
        errors: list[tuple[int, str, str, str]] = []
        for row in rows:
            try:
                event = self._event(row)
            except EventParseError as exc:
                errors.append((row.line, exc.event_id or "", exc.event_type or "", str(exc)))
                continue
            except ValueError as exc:
                errors.append((row.line, "", "", str(exc)))
                continue
            if str(event.event_id) in seen:
                self.report.already_on_log += 1
            else:
                events.append(event)
        log = self.publisher.log
        watermarks = [log.end_offset(p) for p in range(log.partitions)]
        in_flight = {"first_line": rows[0].line, "last_line": rows[-1].line, "watermarks": watermarks}
        self._save_checkpoint(done_line, in_flight)
        for event in events:
            self.publisher.send(event)
        self.publisher.flush()  # raises PublishError: the checkpoint still says "in flight"
        self._write_errors(errors)
        self.log_end = [log.end_offset(p) for p in range(log.partitions)]
        self._save_checkpoint(rows[-1].line, None)
        self.report.lines += len(rows)
        self.report.published += len(events)
        self.report.rejected += len(errors)
        return rows[-1].line

    def _event(self, row: Row) -> Event:
        if row.data is None or len(row.raw) > self.limits.max_event_bytes:
            return parse_event(row.raw)  # raises the precise reason (not JSON, not an object, too big)
        if "__mapping_error__" in row.data:
            raise ValueError(row.data["__mapping_error__"])
        data = row.data
        if not data.get("event_id"):
            data = {**data, "event_id": str(uuid.uuid5(self.namespace, row.raw.decode("utf-8", "replace")))}
        if self.options.regions is not None:
            return parse_event(data, regions=self.options.regions, now=datetime.now(UTC))
        return self.publisher.validate(data)

    # --- the error report ------------------------------------------------------------------------------
    def _open_error_report(self) -> None:
        path = self.options.errors_path
        if self.errors_bytes == 0 or not path.exists():
            with path.open("w", encoding="utf-8", newline="") as handle:
                csv.writer(handle).writerow(["line", "event_id", "event_type", "reason"])
            self.errors_bytes = path.stat().st_size
        else:
            os.truncate(path, self.errors_bytes)  # drop what a dead run wrote after its last checkpoint

    def _write_errors(self, errors: list[tuple[int, str, str, str]]) -> None:
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
