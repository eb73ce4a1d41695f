"""The validator stage and the DLQ workflow (list, show, replay) on the embedded log."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from event_examples import wire_event
from typer.testing import CliRunner

from touchstream.adapters.cli.dlq import app
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.logs.topics import open_log
from touchstream.adapters.sdk.dlq_replay import ReplayMapping, replay
from touchstream.adapters.sdk.publisher import Publisher
from touchstream.streams.ports import AbstractEventLog, LogUnavailable
from touchstream.streams.topology import DLQ, DLQ_REPLAYED, RAW
from touchstream.streams.validate import (
    Validator,
    dead_letters,
    read_all,
    validate_until_caught_up,
)


def good(n: int) -> dict[str, Any]:
    return wire_event("EmailOpened", 1, event_id=f"00000000-0000-4000-8000-{n:012d}")


def renamed_field(n: int) -> bytes:
    """A producer that calls ticket_id `ticket`: fixable by a mapping."""
    event = wire_event("TicketOpened", 1, event_id=f"00000000-0000-4000-8000-{n:012d}")
    payload = dict(event["payload"])
    payload["ticket"] = payload.pop("ticket_id")
    return orjson.dumps({**event, "payload": payload})


def renamed_type(n: int) -> bytes:
    """A producer with its own type name: fixable by a mapping."""
    return orjson.dumps(
        wire_event("EmailOpened", 1, event_id=f"00000000-0000-4000-8000-{n:012d}", type="Open")
    )


BROKEN = b"\xff\xfe not even utf-8"


def fill_raw(raw: AbstractEventLog) -> None:
    records: list[tuple[bytes | None, bytes]] = [(b"k1", orjson.dumps(good(1))), (b"k1", renamed_field(2))]
    records += [(b"k2", renamed_type(3)), (None, BROKEN), (b"k2", orjson.dumps(good(4)))]
    raw.append(records)


@pytest.fixture
def logs(tmp_path: Path) -> dict[str, AbstractEventLog]:
    return {name: open_log(name, embedded_dir=tmp_path) for name in (RAW, DLQ, DLQ_REPLAYED)}


def test_invalid_records_go_to_the_dlq_with_their_bytes_error_and_source(
    logs: dict[str, AbstractEventLog],
) -> None:
    raw, dlq = logs[RAW], logs[DLQ]
    fill_raw(raw)
    passed: list[str] = []
    stats = validate_until_caught_up(
        raw,
        Validator(dlq, source_topic=RAW),
        on_valid=lambda batch: passed.extend(str(event.event_id) for _, event in batch),
    )
    assert (stats.records, stats.valid, stats.dead_lettered) == (5, 2, 3)
    assert sorted(passed) == [good(1)["event_id"], good(4)["event_id"]]

    letters = {letter.original: letter for letter in dead_letters(dlq)}
    assert set(letters) == {renamed_field(2), renamed_type(3), BROKEN}
    field_letter = letters[renamed_field(2)]
    assert field_letter.event_type == "TicketOpened"
    assert "payload.ticket_id" in field_letter.reason
    assert field_letter.source_topic == RAW
    assert field_letter.source_key == b"k1"
    [record] = [r for r in raw.read(field_letter.source_partition, 0, 10) if r.value == renamed_field(2)]
    assert field_letter.source_offset == record.offset
    assert "not UTF-8" in letters[BROKEN].reason

    envelope = json.loads(next(read_all(dlq)).value)
    assert {"id", "source", "dead_lettered_at", "error", "original_b64", "reason"} <= set(envelope)
    assert base64.b64decode(envelope["original_b64"]) in letters

    again = validate_until_caught_up(raw, Validator(dlq, source_topic=RAW))
    assert again.records == 0
    assert len(list(dead_letters(dlq))) == 3


class RefusingLog(SQLiteEventLog):
    def append(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[tuple[int, int]]:
        raise LogUnavailable("DLQ down")


def test_when_the_dlq_refuses_the_position_does_not_move(
    logs: dict[str, AbstractEventLog], tmp_path: Path
) -> None:
    raw = logs[RAW]
    fill_raw(raw)
    with pytest.raises(LogUnavailable):
        validate_until_caught_up(raw, Validator(RefusingLog(tmp_path / "dlq-down.sqlite"), source_topic=RAW))
    stats = validate_until_caught_up(raw, Validator(logs[DLQ], source_topic=RAW))
    assert stats.dead_lettered == 3  # nothing was skipped while the DLQ was down


def test_replay_fixes_what_the_mapping_fixes_and_never_twice(logs: dict[str, AbstractEventLog]) -> None:
    raw, dlq, replayed = logs[RAW], logs[DLQ], logs[DLQ_REPLAYED]
    fill_raw(raw)
    validate_until_caught_up(raw, Validator(dlq, source_topic=RAW))
    publisher = Publisher(raw)

    first = replay(
        dlq, replayed, publisher, mapping=ReplayMapping(fields={"payload.ticket": "payload.ticket_id"})
    )
    assert [str(event.event_id) for _, event in first.replayed] == [
        orjson.loads(renamed_field(2))["event_id"]
    ]
    assert len(first.still_invalid) == 2

    second = replay(dlq, replayed, publisher, mapping=ReplayMapping(types={"Open": "EmailOpened"}))
    assert [event.type for _, event in second.replayed] == ["EmailOpened"]
    assert second.already_replayed == 1

    third = replay(dlq, replayed, publisher, mapping=ReplayMapping(types={"Open": "EmailOpened"}))
    assert (len(third.replayed), third.already_replayed, len(third.still_invalid)) == (0, 2, 1)
    assert sum(raw.end_offset(p) for p in range(raw.partitions)) == 5 + 2

    stats = validate_until_caught_up(raw, Validator(dlq, source_topic=RAW))
    assert (stats.records, stats.valid) == (2, 2)  # the replayed events now pass the validator


def test_the_mapping_file_reads_as_toml_or_json(tmp_path: Path) -> None:
    (tmp_path / "fix.toml").write_text(
        '[fields]\n"payload.ticket" = "payload.ticket_id"\n[set]\nsource = "x"\n'
    )
    (tmp_path / "fix.json").write_text('{"types": {"Open": "EmailOpened"}}')
    toml = ReplayMapping.load(tmp_path / "fix.toml")
    assert toml.apply({"payload": {"ticket": "T"}}) == {"payload": {"ticket_id": "T"}, "source": "x"}
    assert ReplayMapping.load(tmp_path / "fix.json").apply({"type": "Open"}) == {"type": "EmailOpened"}
    (tmp_path / "bad.json").write_text('{"renames": {}}')
    with pytest.raises(ValueError, match="unknown mapping keys"):
        ReplayMapping.load(tmp_path / "bad.json")


def test_the_dlq_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOUCHSTREAM_MODE", "embedded")
    monkeypatch.setenv("TOUCHSTREAM_TOPIC_PREFIX", "")
    with open_log(RAW, embedded_dir=tmp_path) as raw, open_log(DLQ, embedded_dir=tmp_path) as dlq:
        fill_raw(raw)
        validate_until_caught_up(raw, Validator(dlq, source_topic=RAW))
        letter_id = next(letter.id for letter in dead_letters(dlq) if letter.event_type == "TicketOpened")
    where = ["--embedded-dir", str(tmp_path)]
    runner = CliRunner()

    listed = runner.invoke(app, ["list", *where])
    assert listed.exit_code == 0, listed.output
    assert "3 dead letters" in listed.output
    assert "1 dead letters" in runner.invoke(app, ["list", "--type", "TicketOpened", *where]).output
    assert "1 dead letters" in runner.invoke(app, ["list", "--reason", "utf-8", *where]).output

    shown = runner.invoke(app, ["show", letter_id, *where])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["original"] == renamed_field(2).decode()
    assert runner.invoke(app, ["show", "nope/0/0", *where]).exit_code == 1

    (tmp_path / "fix.toml").write_text('[fields]\n"payload.ticket" = "payload.ticket_id"\n')
    fixed = runner.invoke(app, ["replay", "--mapping", str(tmp_path / "fix.toml"), "--dry-run", *where])
    assert "would replay 1, still invalid 2" in fixed.output
    fixed = runner.invoke(app, ["replay", "--mapping", str(tmp_path / "fix.toml"), *where])
    assert fixed.exit_code == 2
    assert "replayed 1, still invalid 2, replayed before 0" in fixed.output
    again = runner.invoke(app, ["replay", "--mapping", str(tmp_path / "fix.toml"), *where])
    assert "replayed 0, still invalid 2, replayed before 1" in again.output
    assert "2 dead letters" in runner.invoke(app, ["list", "--pending", *where]).output
    with open_log(RAW, embedded_dir=tmp_path) as raw:
        assert sum(raw.end_offset(p) for p in range(raw.partitions)) == 6
