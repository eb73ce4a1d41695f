"""Bulk import on the embedded log: bad lines reported not fatal, resumable, never a duplicate."""

from __future__ import annotations

import csv
import multiprocessing
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from touchstream.adapters.cli.imports import import_command
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.sdk.importer import (
    CsvMapping,
    ImportOptions,
    ImportRefused,
    ImportReport,
    import_file,
)
from touchstream.adapters.sdk.publisher import Publisher, PublishError
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate
from touchstream.streams.ports import LogUnavailable

BAD_EVERY = 50


def corrupt(event: dict[str, Any], kind: int) -> bytes:
    """Four ways an old CRM export goes wrong."""
    if kind == 0:
        return orjson.dumps(event)[:-7]  # cut short
    if kind == 1:
        return orjson.dumps({**event, "type": "TicketOpend"})
    if kind == 2:
        return orjson.dumps({**event, "identifiers": {}})
    return orjson.dumps({**event, "occurred_at": "yesterday"})


def write_jsonl(path: Path, events: Sequence[dict[str, Any]], bad_every: int = BAD_EVERY) -> list[int]:
    """Write the events one a line, every `bad_every`-th line corrupted; returns the bad line numbers."""
    bad: list[int] = []
    with path.open("wb") as out:
        for index, event in enumerate(events):
            line = index + 1
            if line % bad_every == 0:
                bad.append(line)
                out.write(corrupt(event, len(bad) % 4) + b"\n")
            else:
                out.write(orjson.dumps(event) + b"\n")
    return bad


def ids_on(log: SQLiteEventLog) -> list[str]:
    return [
        orjson.loads(record.value)["event_id"]
        for partition in range(log.partitions)
        for record in log.read(partition, 0, 1_000_000)
    ]


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return list(generate(GeneratorConfig(customers=120, accounts=15, days=30)))[:1000]


def _options(tmp_path: Path, **changes: Any) -> ImportOptions:
    values: dict[str, Any] = {
        "errors_path": tmp_path / "errors.csv",
        "checkpoint_path": tmp_path / "checkpoint.json",
        "target": "embedded-test",
        "chunk_lines": 100,
    }
    return ImportOptions(**{**values, **changes})


def _import(path: Path, log: SQLiteEventLog, options: ImportOptions) -> ImportReport:
    return import_file(path, Publisher(log, batch_size=1000), options)


@pytest.mark.parametrize("processes", [1, 2])
def test_bad_lines_are_reported_and_a_rerun_publishes_nothing(
    tmp_path: Path, events: list[dict[str, Any]], processes: int
) -> None:
    path = tmp_path / "export.jsonl"
    bad = write_jsonl(path, events)
    log = SQLiteEventLog(tmp_path / "raw.sqlite", partitions=12)
    report = _import(path, log, _options(tmp_path, processes=processes))
    assert (report.published, report.rejected) == (len(events) - len(bad), len(bad))
    assert sorted(ids_on(log)) == sorted(e["event_id"] for i, e in enumerate(events) if i + 1 not in bad)

    with (tmp_path / "errors.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["line"]) for row in rows] == bad
    reasons = " | ".join(row["reason"] for row in rows)
    for expected in ("not valid JSON", "unknown event type 'TicketOpend'", "identifiers", "occurred_at"):
        assert expected in reasons

    again = _import(path, log, _options(tmp_path, processes=processes))
    assert (again.published, again.rejected, again.resumed_from_line) == (0, 0, len(events))
    assert len(ids_on(log)) == len(events) - len(bad)
    assert len(list(csv.DictReader((tmp_path / "errors.csv").open(encoding="utf-8")))) == len(bad)


@pytest.mark.parametrize("processes", [1, 2])
def test_an_interrupted_import_resumes_without_duplicates(
    tmp_path: Path, events: list[dict[str, Any]], processes: int
) -> None:
    path = tmp_path / "export.jsonl"
    bad = write_jsonl(path, events)
    log = SQLiteEventLog(tmp_path / "raw.sqlite", partitions=12)

    def interrupt_after_three_chunks(_lines: int, calls: list[int] = []) -> None:  # noqa: B006
        calls.append(1)
        if len(calls) > 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_file(
            path,
            Publisher(log),
            _options(tmp_path, processes=processes),
            progress=interrupt_after_three_chunks,
        )
    assert 0 < len(ids_on(log)) < len(events) - len(bad)

    report = _import(path, log, _options(tmp_path, processes=processes))
    assert report.resumed_from_line == 300
    published = ids_on(log)
    assert len(published) == len(set(published)) == len(events) - len(bad)
    with (tmp_path / "errors.csv").open(encoding="utf-8") as handle:
        assert [int(row["line"]) for row in csv.DictReader(handle)] == bad


class AckLostLog(SQLiteEventLog):
    """Writes the records, then fails as if the acknowledgement was lost on the way back."""

    fail_on_append: int | None = None

    def append(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[tuple[int, int]]:
        placed = super().append(records)
        if self.fail_on_append is not None:
            self.fail_on_append -= 1
            if self.fail_on_append == 0:
                raise LogUnavailable("acknowledgement lost")
        return placed


@pytest.mark.parametrize("processes", [1, 2])
def test_a_chunk_in_flight_when_the_run_died_is_not_sent_twice(
    tmp_path: Path, events: list[dict[str, Any]], processes: int
) -> None:
    path = tmp_path / "export.jsonl"
    bad = write_jsonl(path, events)
    log = AckLostLog(tmp_path / "raw.sqlite", partitions=12)
    log.fail_on_append = 5
    try:
        _import(path, log, _options(tmp_path, processes=processes))
    except PublishError:  # the failed run's frames still alive here, as in a caller's handler
        readers = [p for p in multiprocessing.active_children() if p.name == "touchstream-import-reader"]
    else:
        raise AssertionError("the lost acknowledgement was not reported")
    assert readers == []  # the reading process stopped with the import, not when collected
    written = len(ids_on(log))
    assert written == 500 - 10  # the fifth chunk is on the log although the run never heard so

    log.fail_on_append = None
    report = _import(path, log, _options(tmp_path, processes=processes))
    assert report.resumed_from_line == 400
    assert report.already_on_log == 98
    published = ids_on(log)
    assert len(published) == len(set(published)) == len(events) - len(bad)
    with (tmp_path / "errors.csv").open(encoding="utf-8") as handle:
        assert [int(row["line"]) for row in csv.DictReader(handle)] == bad


def test_a_checkpoint_of_another_file_or_destination_is_refused(
    tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    path = tmp_path / "export.jsonl"
    write_jsonl(path, events[:200])
    log = SQLiteEventLog(tmp_path / "raw.sqlite", partitions=12)
    _import(path, log, _options(tmp_path))
    with pytest.raises(ImportRefused, match="--restart"):
        _import(path, log, _options(tmp_path, target="somewhere-else"))
    write_jsonl(path, events[:201])
    with pytest.raises(ImportRefused):
        _import(path, log, _options(tmp_path))
    assert _import(path, log, _options(tmp_path, restart=True)).published == 197


def test_a_checkpoint_is_refused_when_its_destination_was_emptied(
    tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    """The same command after the data directory was deleted: the checkpoint names the same destination,
    but the lines it counts as done are not on the new log. Resuming would publish nothing."""
    path = tmp_path / "export.jsonl"
    bad = write_jsonl(path, events[:300])
    _import(path, SQLiteEventLog(tmp_path / "raw.sqlite", partitions=12), _options(tmp_path))
    fresh = SQLiteEventLog(tmp_path / "made-again.sqlite", partitions=12)
    with pytest.raises(ImportRefused, match=r"fewer records than when .* pass --restart"):
        _import(path, fresh, _options(tmp_path))
    assert ids_on(fresh) == []
    assert _import(path, fresh, _options(tmp_path, restart=True)).published == 300 - len(bad)
    assert _import(path, fresh, _options(tmp_path)).resumed_from_line == 300  # resumes on the new log


MAPPING = """
type_column = "Kind"
schema_version = 1

[type_names]
"Ticket" = "TicketOpened"
"Survey" = "NpsSubmitted"

[columns]
"Id" = "payload.ticket_id"
"Survey" = "payload.survey_id"
"Subject" = "payload.subject"
"Priority" = "payload.priority"
"Score" = "payload.score"
"E-mail" = "identifiers.email"
"Phone" = "identifiers.phone"
"Created" = ["occurred_at", "recorded_at"]
"Extra" = "identifiers.external_ids:json"

[constants]
source = "legacy_crm"
"payload.channel" = "email"

[values."payload.priority"]
"Urgent" = "P1"
"Normal" = "P3"
"""

CSV_TEXT = """Kind,Id,Survey,Subject,Priority,Score,E-mail,Phone,Created,Extra
Ticket,T-1,,"Login, fails",Urgent,,Jane@Acme.com,(415) 555-0134,2025-03-01T10:00:00Z,"{""zendesk"": ""881""}"
Ticket,T-2,,Invoice,Normal,,bob@acme.com,,2025-03-02T10:00:00Z,
Ticket,T-3,,No priority,Whenever,,carl@acme.com,,2025-03-02T11:00:00Z,
Ticket,T-4,,Bad json,Normal,,dora@acme.com,,2025-03-02T11:00:00Z,{broken
Call,C-1,,,,,erin@acme.com,,2025-03-03T09:00:00Z,
Ticket,T-5,,"Two
lines",Normal,,finn@acme.com,,2025-03-02T11:00:00Z,
"""


def test_csv_with_a_toml_mapping_and_deterministic_ids(tmp_path: Path) -> None:
    (tmp_path / "map.toml").write_text(MAPPING, encoding="utf-8")
    path = tmp_path / "legacy.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    mapping = CsvMapping.load(tmp_path / "map.toml")
    first = SQLiteEventLog(tmp_path / "a.sqlite", partitions=12)
    report = _import(path, first, _options(tmp_path, mapping=mapping))
    assert (report.published, report.rejected) == (2, 4)
    values = [orjson.loads(r.value) for p in range(12) for r in first.read(p, 0, 100)]
    jane = next(v for v in values if v["payload"]["ticket_id"] == "T-1")
    assert jane["identifiers"] | {"account_external_ids": {}} == {
        "email": "jane@acme.com",
        "phone": "+14155550134",
        "external_ids": {"zendesk": "881"},
        "account_external_ids": {},
    }
    assert jane["payload"]["subject"] == "Login, fails"
    assert (jane["payload"]["priority"], jane["source"], jane["occurred_at"]) == (
        "P1",
        "legacy_crm",
        "2025-03-01T10:00:00Z",
    )

    with (tmp_path / "errors.csv").open(encoding="utf-8") as handle:
        errors = {int(row["line"]): row["reason"] for row in csv.DictReader(handle)}
    assert set(errors) == {4, 5, 6, 8}  # the last row spans lines 7-8: reported where it ends
    assert "payload.priority" in errors[4]
    assert "column 'Extra': not JSON" in errors[5]
    assert "unknown event type 'Call'" in errors[6]
    assert "payload.subject: control character" in errors[8]

    second = SQLiteEventLog(tmp_path / "b.sqlite", partitions=12)
    _import(path, second, _options(tmp_path, mapping=mapping, restart=True))
    assert sorted(ids_on(first)) == sorted(ids_on(second))
    assert all(uuid.UUID(i).version == 5 for i in ids_on(first))


def test_the_command_reports_and_exits_2_when_lines_were_rejected(
    tmp_path: Path, events: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer

    app = typer.Typer()
    app.command("import")(import_command)
    app.command("noop")(lambda: None)  # two commands, so `import` is addressed by name as in the real CLI
    monkeypatch.setenv("TOUCHSTREAM_MODE", "embedded")
    path = tmp_path / "export.jsonl"
    bad = write_jsonl(path, events[:300])
    runner = CliRunner()
    result = runner.invoke(app, ["import", str(path), "--embedded-dir", str(tmp_path / "log")])
    assert result.exit_code == 2, result.output
    assert f"{300 - len(bad)} published, {len(bad)} rejected" in result.output
    assert (tmp_path / "export.jsonl.errors.csv").exists()
    result = runner.invoke(app, ["import", str(path), "--embedded-dir", str(tmp_path / "log")])
    assert result.exit_code == 0, result.output
    assert "0 published, 0 rejected" in result.output
    path.write_bytes(path.read_bytes() + b"\n")  # another file now: its checkpoint no longer fits
    result = runner.invoke(app, ["import", str(path), "--embedded-dir", str(tmp_path / "log")])
    assert result.exit_code == 1
    assert "import stopped" in result.output
    assert "--restart" in result.output
