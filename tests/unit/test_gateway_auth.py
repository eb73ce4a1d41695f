"""API keys: minted once, stored only as a digest, scoped to a source, departments and event types."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from touchstream.adapters.cli.gateway import app
from touchstream.adapters.gateway.auth import (
    PRIVILEGED_TYPES,
    TYPE_DEPARTMENT,
    KeyFileError,
    Keyring,
    add_key,
    digest,
    load_keys,
)
from touchstream.events import EVENT_TYPES


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


def test_grants_follow_the_types_own_department_and_name_privileged_types(tmp_path: Path) -> None:
    _, key = add_key(
        tmp_path / "k.toml", name="k", source="zendesk", departments=["support"], event_types=["OrderPlaced"]
    )
    assert key.allows("zendesk", "support", "TicketOpened") is None
    assert key.allows("zendesk", "support", "NpsSubmitted") is None  # a department grants all its types
    assert key.allows("zendesk", "commerce", "OrderPlaced") is None  # a type granted by name
    assert "source 'zendesk', not 'hubspot'" in (key.allows("hubspot", "support", "TicketOpened") or "")
    # The producer's label does not change what the type is; a foreign label needs that department.
    assert "EmailOpened is a marketing event" in (key.allows("zendesk", "support", "EmailOpened") or "")
    assert "department 'sales'" in (key.allows("zendesk", "sales", "TicketOpened") or "")
    _, every = add_key(tmp_path / "k.toml", name="all", source="x")  # by default: departments ["*"]
    assert every.allows("x", "sales", "OpportunityWon") is None
    for privileged in sorted(PRIVILEGED_TYPES):
        assert f"{privileged} is privileged" in (every.allows("x", "system", privileged) or "")
    assert set(EVENT_TYPES) >= PRIVILEGED_TYPES, "every privileged name is a catalogued type"
    assert {"ErasureRequested", "ConsentGiven", "ConsentWithdrawn"} <= PRIVILEGED_TYPES


def test_every_catalogued_type_has_the_department_of_its_module() -> None:
    """The grant's department is the catalogue's: the module a type is defined in names it."""
    module_department = {"marketing": "marketing", "sales": "sales", "commerce": "commerce"}
    for name, cls in EVENT_TYPES.items():
        module = cls.__module__.rsplit(".", 1)[-1]
        if module in module_department:
            assert TYPE_DEPARTMENT[name] == module_department[module], name
        elif module == "support":
            assert TYPE_DEPARTMENT[name] in ("support", "contact_center"), name
        else:
            assert (module, TYPE_DEPARTMENT[name]) == ("masterdata", "system"), name


def test_a_star_in_event_types_or_a_key_without_grants_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    entry = '[[keys]]\nname = "a"\nsource = "x"\nsha256 = "' + "a" * 64 + '"\n'
    path.write_text(entry + 'departments = ["marketing"]\nevent_types = ["*"]\n')
    with pytest.raises(KeyFileError, match=r'keys\[0\]: event_types = \["\*"\] is not a grant'):
        load_keys(path)
    path.write_text(entry)
    with pytest.raises(KeyFileError, match="grants nothing"):
        load_keys(path)


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
