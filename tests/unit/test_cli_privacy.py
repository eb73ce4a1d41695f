"""`touchstream privacy rotate-kek`: every data key re-wrapped with a new key-encryption key; the logs read
as before, the old KEK opens nothing, and a KEK given by the environment is never replaced behind the
operator's back."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import orjson
import pytest
from event_examples import wire_event
from typer.testing import CliRunner

from touchstream.adapters import bootstrap as composition
from touchstream.adapters.bootstrap import KEK_FILE, Runtime
from touchstream.adapters.cli.main import app
from touchstream.adapters.config import load_settings
from touchstream.adapters.keys.store import SQLiteKeyStore
from touchstream.adapters.sdk.publisher import Publisher
from touchstream.streams.topology import RAW

EMAIL = "rotation.person@rotate-example.com"


def events_on_the_log(runtime: Runtime) -> list[dict[str, object]]:
    with runtime.log(RAW) as log:
        return [orjson.loads(r.value) for p in range(log.partitions) for r in log.read(p, 0, 1000)]


def test_rotation_rewraps_every_key_and_the_logs_still_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("TOUCHSTREAM_DATA_DIR", str(data))
    monkeypatch.delenv("TOUCHSTREAM_MODE", raising=False)
    monkeypatch.delenv("TOUCHSTREAM_KEY_ENCRYPTION_KEY", raising=False)
    runtime = Runtime(load_settings())
    event = wire_event("EmailOpened", 1, event_id=str(uuid.uuid4()), identifiers={"email": EMAIL})
    with Publisher(runtime.log(RAW), close_log=True) as publisher:
        publisher.send(event)
    old_id, old_key = (data / KEK_FILE).read_text().split()
    assert old_id == "kek-1"
    with runtime.log(RAW).inner as stored:  # as stored: sealed
        (record,) = [r for p in range(stored.partitions) for r in stored.read(p, 0, 10)]
    assert EMAIL.encode() not in record.value

    rotated = CliRunner().invoke(app, ["privacy", "rotate-kek"], env={"TOUCHSTREAM_DATA_DIR": str(data)})
    assert rotated.exit_code == 0, rotated.output
    assert "1 data key(s) re-wrapped with kek-2 (was kek-1)" in rotated.output
    new_id, new_key = (data / KEK_FILE).read_text().split()
    assert (new_id, new_key != old_key) == ("kek-2", True)
    assert oct((data / KEK_FILE).stat().st_mode & 0o777) == "0o600"

    composition._SEALERS.clear()  # a process started after the rotation
    (opened,) = events_on_the_log(Runtime(load_settings()))
    assert opened["identifiers"]["email"] == EMAIL  # type: ignore[index]
    old = SQLiteKeyStore(data / "keys.sqlite", base64.b64decode(old_key), old_id)
    try:
        subject = orjson.loads(record.value)["sealed"]["subject"]
        with pytest.raises(Exception):  # noqa: B017, PT011 — the old KEK unwraps nothing (no key, or a bad tag)
            old.data_key(subject, create=False)
    finally:
        old.close()


def test_a_kek_from_the_environment_needs_its_successor_named(tmp_path: Path) -> None:
    env = {
        "TOUCHSTREAM_DATA_DIR": str(tmp_path / "data"),
        "TOUCHSTREAM_KEY_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    refused = CliRunner().invoke(app, ["privacy", "rotate-kek"], env=env)
    assert refused.exit_code == 2
    assert "--new-key and --new-key-id" in refused.output
