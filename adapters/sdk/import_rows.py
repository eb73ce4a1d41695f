"""An import's rows and how they become events: JSONL lines, or CSV rows through a column mapping, read in
chunks and validated, the same in whichever process reads them (adapters/sdk/import_reader.py)."""

from __future__ import annotations

import csv
import json
import tomllib
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ...events import Event, EventParseError, Limits, PhoneRegions, parse_event
from .publisher import EncodedEvent

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


@dataclass(frozen=True)
class RowSource:
    """Where the rows come from: the file, the last line already done, and the CSV mapping (None: JSONL)."""

    path: Path
    after_line: int = 0
    mapping: CsvMapping | None = None

    def rows(self) -> Iterator[Row]:
        if self.mapping is not None:
            return _csv_rows(self.path, self.after_line, self.mapping)
        return _jsonl_rows(self.path, self.after_line)


Rejected = tuple[int, str, str, str]  # line, event_id, event type, reason


@dataclass(frozen=True)
class RowReader:
    """How a row becomes an event: a row without an event_id gets a uuid5 of its bytes in `namespace`;
    phones without a country code are read with `regions`, else `default_region`."""

    namespace: uuid.UUID
    regions: PhoneRegions | None = None
    default_region: str | None = None
    limits: Limits = field(default_factory=Limits)

    def event(self, row: Row) -> Event:
        if row.data is None or len(row.raw) > self.limits.max_event_bytes:
            return parse_event(row.raw)  # raises the precise reason (not JSON, not an object, too big)
        if "__mapping_error__" in row.data:
            raise ValueError(row.data["__mapping_error__"])
        data = row.data
        if not data.get("event_id"):
            data = {**data, "event_id": str(uuid.uuid5(self.namespace, row.raw.decode("utf-8", "replace")))}
        return parse_event(
            data, default_region=self.default_region, regions=self.regions, now=datetime.now(UTC)
        )

    def chunk(self, rows: list[Row]) -> ValidatedChunk:
        events: list[EncodedEvent] = []
        rejected: list[Rejected] = []
        for row in rows:
            try:
                events.append(EncodedEvent.of(self.event(row)))
            except EventParseError as exc:
                rejected.append((row.line, exc.event_id or "", exc.event_type or "", str(exc)))
            except ValueError as exc:
                rejected.append((row.line, "", "", str(exc)))
        return ValidatedChunk(rows[0].line, rows[-1].line, len(rows), events, rejected)


@dataclass(frozen=True)
class ValidatedChunk:
    """A chunk of rows read and validated: the lines it spans, its valid events (encoded: bytes cross to
    the importing process at a fraction of a model's cost) and its rejected rows."""

    first_line: int
    last_line: int
    lines: int
    events: list[EncodedEvent]
    rejected: list[Rejected]


def validated_chunks(
    source: RowSource, reader: RowReader, chunk_lines: int
) -> Generator[ValidatedChunk, None, None]:
    """The source's rows in chunks of `chunk_lines`, each validated, in file order."""
    chunk: list[Row] = []
    for row in source.rows():
        chunk.append(row)
        if len(chunk) >= chunk_lines:
            yield reader.chunk(chunk)
            chunk = []
    if chunk:
        yield reader.chunk(chunk)
