"""`touchstream schemas export|check` as a producer team would use them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
from event_examples import wire_event
from typer.testing import CliRunner

from touchstream.adapters.cli.main import app
from touchstream.events import EVENT_TYPES

runner = CliRunner()


def test_help_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "touchstream.adapters.cli.main", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("demo", "generate", "schemas"):
        assert command in done.stdout


def test_export_writes_a_valid_schema_per_type_that_accepts_real_events(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schemas", "export", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (tmp_path / "s").glob("*.json"))
    assert len(files) == len(EVENT_TYPES) + 1
    schema = json.loads((tmp_path / "s" / "TicketOpened.v1.json").read_text())
    jsonschema.validate(wire_event("TicketOpened", 1), schema)


def test_check_passes_on_the_same_catalogue_and_fails_on_a_breaking_change(tmp_path: Path) -> None:
    old = tmp_path / "old"
    assert runner.invoke(app, ["schemas", "export", str(old)]).exit_code == 0
    ok = runner.invoke(app, ["schemas", "check", str(old)])
    assert ok.exit_code == 0
    assert "compatible" in ok.output

    # An old producer's schema had a field the catalogue no longer has: the check must refuse.
    path = old / "NpsSubmitted.v1.json"
    schema = json.loads(path.read_text())
    schema["$defs"]["NpsSubmittedPayload"]["properties"]["channel"] = {"type": "string"}
    path.write_text(json.dumps(schema))
    broken = runner.invoke(app, ["schemas", "check", str(old)])
    assert broken.exit_code == 1
    assert "BREAKING NpsSubmitted.v1.json: payload.channel: removed" in broken.output


def test_check_explains_a_wrong_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schemas", "check", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    flat = " ".join(result.output.replace("│", " ").split())  # the error panel wraps long lines
    assert "is not a folder of exported schemas" in flat
