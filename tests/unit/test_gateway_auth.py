"""API keys: minted once, stored only as a digest, scoped to a source, departments and event types."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from touchstream.adapters.cli_gateway import app
from touchstream.adapters.gateway_auth import KeyFileError, Keyring, add_key, digest, load_keys


def test_a_minted_key_is_stored_only_as_its_digest(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    secret, key = add_key(path, name="zendesk-prod", source="Zendesk", departments=["support"])
    text = path.read_text()
    assert secret not in text
    assert digest(secret) in text
    assert secret.startswith("tsk_")
    assert len(secret) > 40
    assert key.source == "zendesk"
    assert path.stat().st_mode & 0o077 == 0
    keyring = Keyring.from_file(path)
    assert keyring.identify(secret) == key
    assert keyring.identify(secret + "x") is None
    assert keyring.identify(None) is None


def test_scope_names_what_is_outside_it(tmp_path: Path) -> None:
    _, key = add_key(
        tmp_path / "k.toml", name="k", source="zendesk", departments=["support"], event_types=["TicketOpened"]
    )
    assert key.allows("zendesk", "support", "TicketOpened") is None
    assert "source 'zendesk', not 'hubspot'" in (key.allows("hubspot", "support", "TicketOpened") or "")
    assert "department 'sales'" in (key.allows("zendesk", "sales", "TicketOpened") or "")
    assert "'NpsSubmitted' events" in (key.allows("zendesk", "support", "NpsSubmitted") or "")


def test_a_bad_keys_file_is_refused_with_the_entry_named(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text('[[keys]]\nname = "a"\nsource = "x"\nsha256 = "abc"\n')
    with pytest.raises(KeyFileError, match=r"keys\[0\]: sha256 must be 64 hex digits"):
        load_keys(path)
    path.write_text(
        '[[keys]]\nname = "a"\nsource = "x"\nsha256 = "' + "a" * 64 + '"\ndepartments = ["sails"]\n'
    )
    with pytest.raises(KeyFileError, match=r"departments has unknown values \['sails'\]"):
        load_keys(path)
    add_key(tmp_path / "two.toml", name="same", source="x")
    with pytest.raises(KeyFileError, match="exists already"):
        add_key(tmp_path / "two.toml", name="same", source="x")


def test_keys_add_command_prints_the_key_once_and_appends_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    runner = CliRunner()
    for name in ("hubspot-prod", "zendesk-prod"):
        scope = ["--department", "marketing", "--type", "EmailOpened", "--type", "EmailClicked"]
        source = name.split("-")[0]
        done = runner.invoke(
            app, ["keys", "add", "--name", name, "--source", source, "--keys", str(path), *scope]
        )
        assert done.exit_code == 0, done.output
    entries = tomllib.loads(path.read_text())["keys"]
    assert [e["name"] for e in entries] == ["hubspot-prod", "zendesk-prod"]
    assert entries[0]["event_types"] == ["EmailClicked", "EmailOpened"]
    secret = done.stdout.strip().splitlines()[-1]
    assert Keyring.from_file(path).identify(secret) is not None
    refused = runner.invoke(
        app, ["keys", "add", "--name", "x", "--source", "x", "--keys", str(path), "--type", "Nope"]
    )
    assert refused.exit_code != 0
    assert "unknown values ['Nope']" in refused.output


def test_serving_needs_a_keys_file() -> None:
    done = CliRunner().invoke(app, ["--port", "8099"])
    assert done.exit_code != 0
    assert "--keys" in done.output
