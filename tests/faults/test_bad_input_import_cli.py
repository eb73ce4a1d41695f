"""The hostile corpus through the bulk importer (JSONL and CSV) and the `touchstream` command: every bad
line is reported with its line number and reason while the good lines are published; every bad file or
argument ends the command with a non-zero exit and a clear message, never a traceback."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from faults.corpus import CONTROL_STRINGS, HOSTILE_NAMES, MALFORMED_BODIES, NOT_EVENTS, good
from typer.testing import CliRunner

from touchstream.adapters.cli.main import app
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.sdk.importer import CsvMapping, ImportOptions, import_file
from touchstream.adapters.sdk.publisher import Publisher

pytestmark = pytest.mark.timeout(120)


def _options(path: Path, mapping: CsvMapping | None = None) -> ImportOptions:
    return ImportOptions(
        errors_path=path.with_name(path.name + ".errors.csv"),
        checkpoint_path=path.with_name(path.name + ".checkpoint.json"),
        target="test",
        mapping=mapping,
        chunk_lines=4,
    )


def _published(log_path: Path) -> list[dict[str, object]]:
    with SQLiteEventLog(log_path) as log:
        return [json.loads(r.value) for p in range(log.partitions) for r in log.read(p, 0, 100_000)]


def _errors(path: Path) -> dict[int, str]:
    with path.with_name(path.name + ".errors.csv").open(encoding="utf-8", newline="") as handle:
        return {int(row["line"]): row["reason"] for row in csv.DictReader(handle)}


def test_a_hostile_jsonl_file_imports_its_good_lines_and_reports_each_bad_one(tmp_path: Path) -> None:
    bad = [b for b in (*MALFORMED_BODIES.values(), *NOT_EVENTS.values()) if b"\n" not in b and b.strip()]
    bad.append(orjson.dumps(good(source="'); DROP TABLE touchpoints; --")))
    bad.append(orjson.dumps({**good(), "payload": {"campaign_id": "nul\x00", "message_id": "m"}}))
    goods = [good(actor=name) for name in HOSTILE_NAMES]
    lines: list[bytes] = []
    bad_lines: set[int] = set()
    for n, item in enumerate(goods):
        lines.append(orjson.dumps(item))
        if n < len(bad):
            lines.append(bad[n])
            bad_lines.add(len(lines))
    for extra in bad[len(goods) :]:
        lines.append(extra)
        bad_lines.add(len(lines))
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with Publisher(SQLiteEventLog(tmp_path / "log.sqlite"), close_log=True) as publisher:
        report = import_file(path, publisher, _options(path))
    assert (report.published, report.rejected) == (len(goods), len(bad_lines))
    errors = _errors(path)
    assert set(errors) == bad_lines
    assert all(errors.values())
    stored = {e["event_id"]: e for e in _published(tmp_path / "log.sqlite")}
    assert [stored[g["event_id"]]["actor"] for g in goods] == list(HOSTILE_NAMES)


def test_a_hostile_csv_file_imports_its_good_rows_and_reports_each_bad_one(tmp_path: Path) -> None:
    mapping = CsvMapping.from_dict(
        {
            "type": "TicketOpened",
            "schema_version": 1,
            "columns": {
                "id": "payload.ticket_id",
                "subject": "payload.subject",
                "email": "identifiers.email",
                "at": ["occurred_at", "recorded_at"],
            },
            "constants": {"source": "zendesk", "payload.priority": "P3", "payload.channel": "email"},
        }
    )
    at = "2026-03-02T10:00:00Z"
    header = b"id,subject,email,at\r\n"

    def row(*cells: str) -> bytes:
        return ",".join('"' + c.replace('"', '""') + '"' for c in cells).encode() + b"\r\n"

    good_rows = [row(f"T-{n}", name, f"p{n}@example.com", at) for n, name in enumerate(HOSTILE_NAMES)]
    bad_rows = [
        row("T-x", "subject", "not an email", at),
        row("T-y", "subject", "a@example.com", "9999-12-31T00:00:00Z"),
        row("T-z", CONTROL_STRINGS[0], "b@example.com", at),
        b'"T-u","\xff\xfe not utf-8","c@example.com","' + at.encode() + b'"\r\n',
        b'"T-v","' + b"x" * 200_000 + b'","d@example.com","' + at.encode() + b'"\r\n',
        row("", "", "", ""),
    ]
    body = header
    bad_at: list[int] = []
    line = 1
    for n, good_row in enumerate(good_rows):
        body += good_row
        line += 1
        if n < len(bad_rows):
            body += bad_rows[n]
            line += 1
            bad_at.append(line)
    path = tmp_path / "tickets.csv"
    path.write_bytes(body)
    with Publisher(SQLiteEventLog(tmp_path / "log.sqlite"), close_log=True) as publisher:
        report = import_file(path, publisher, _options(path, mapping))
    errors = _errors(path)
    assert sorted(errors) == bad_at, errors
    assert "identifiers.email" in errors[bad_at[0]]
    assert "occurred_at" in errors[bad_at[1]]
    assert "control character" in errors[bad_at[2]]
    assert "not UTF-8" in errors[bad_at[3]]
    assert "field larger than field limit" in errors[bad_at[4]]
    assert (report.published, report.rejected) == (len(good_rows), len(bad_rows))
    subjects = sorted(e["payload"]["subject"] for e in _published(tmp_path / "log.sqlite"))  # type: ignore[index]
    assert subjects == sorted(HOSTILE_NAMES)


# --- the command line: bad files and arguments --------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TOUCHSTREAM_MODE", "embedded")
    monkeypatch.setenv("TOUCHSTREAM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TOUCHSTREAM_TOPIC_PREFIX", "")
    (tmp_path / "binary.bin").write_bytes(b"\xff\xfe\x00\x01" * 10)
    (tmp_path / "broken.toml").write_text("not toml = = \n")
    (tmp_path / "broken.json").write_text('{"columns": ')
    (tmp_path / "unknown.toml").write_text('renames = {}\ntype = "TicketOpened"\n')
    (tmp_path / "events.csv").write_text("a,b\n1,2\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "hostile.jsonl").write_bytes(
        MALFORMED_BODIES["invalid utf-8"] + b"\n" + b"[" * 100_000 + b"\n"
    )
    return tmp_path


# (arguments, expected exit code, words the message must hold)
BAD_COMMANDS: list[tuple[list[str], int, str]] = [
    (["import", "{d}/missing.jsonl"], 2, "does not exist"),
    (["import", "{d}/folder"], 2, "is a directory"),
    (["import", "{d}/events.csv", "--mapping", "{d}/broken.toml"], 2, "--mapping"),
    (["import", "{d}/events.csv", "--mapping", "{d}/broken.json"], 2, "--mapping"),
    (["import", "{d}/events.csv", "--mapping", "{d}/binary.bin"], 2, "utf-8"),
    (["import", "{d}/events.csv", "--mapping", "{d}/unknown.toml"], 2, "unknown mapping keys"),
    (["import", "{d}/binary.bin"], 2, "rejected"),
    (["import", "{d}/hostile.jsonl"], 2, "rejected"),
    (["import", "{d}/binary.bin", "--chunk", "0"], 2, "--chunk"),
    (["dlq", "replay", "--mapping", "{d}/broken.toml", "--embedded-dir", "{d}/log"], 2, "--mapping"),
    (["dlq", "show", "'); DROP TABLE touchpoints; --", "--embedded-dir", "{d}/log"], 1, "no dead letter"),
    (["schemas", "check", "{d}/binary.bin"], 2, "not a folder"),
    (["gateway", "--keys", "{d}/broken.toml", "--embedded-log", "{d}/gw.sqlite"], 2, "not valid TOML"),
    (["gateway", "--keys", "{d}/binary.bin", "--embedded-log", "{d}/gw.sqlite"], 2, "--keys"),
    (["gateway", "--keys", "{d}/missing.toml", "--embedded-log", "{d}/gw.sqlite"], 2, "cannot read"),
    (
        [
            "gateway",
            "keys",
            "add",
            "--name",
            "x",
            "--source",
            "x",
            "--department",
            "sales",
            "--keys",
            "{d}/broken.toml",
        ],
        2,
        "TOML",
    ),
    (["gateway", "keys", "add", "--name", "x", "--source", "x", "--keys", "{d}/k.toml"], 2, "--department"),
    (["generate", "--customers", "-5"], 2, "--customers"),
    (["generate", "--start", "2026-13-45"], 2, "--start"),
    (["no-such-command"], 2, "No such command"),
]


@pytest.mark.parametrize(
    ("arguments", "code", "words"), BAD_COMMANDS, ids=[" ".join(a[:3]) for a, _, _ in BAD_COMMANDS]
)
def test_bad_files_and_arguments_exit_non_zero_with_a_message(
    files: Path, arguments: list[str], code: int, words: str
) -> None:
    args = [a.format(d=files) for a in arguments]
    result = CliRunner().invoke(app, args)
    # An exception other than SystemExit escaping the command is a crash (a traceback for the user).
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == code, result.output
    flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())  # unwrap rich's error box
    assert words.lower() in flat.lower(), result.output
    assert "Traceback" not in result.output


@pytest.mark.timeout(60)
def test_the_installed_command_prints_no_traceback(files: Path) -> None:
    """The real process (rich tracebacks and all): the message on stderr, no traceback."""
    command = [str(Path(sys.executable).with_name("touchstream"))]
    for arguments in (
        ["import", f"{files}/events.csv", "--mapping", f"{files}/binary.bin"],
        ["gateway", "--keys", f"{files}/broken.toml", "--embedded-log", f"{files}/gw.sqlite"],
    ):
        done = subprocess.run(
            command + arguments, capture_output=True, text=True, timeout=50, check=False, env=dict(os.environ)
        )
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        assert "Error" in done.stderr, done.stderr
