"""Secrets, key files, revocation lists, stores and the data folder are private from the first byte, whatever
the process umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from touchstream.adapters.bootstrap import Runtime, key_encryption_key
from touchstream.adapters.config import load_settings
from touchstream.adapters.gateway.auth import add_key
from touchstream.adapters.gateway.dedup import SQLiteDedupStore
from touchstream.adapters.private_files import create_private, private_dir, touch_private, write_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the common default: files 0644, folders 0755
    try:
        yield
    finally:
        os.umask(old)


def test_the_helpers_make_private_files_and_folders(tmp_path: Path) -> None:
    folder = private_dir(tmp_path / "a" / "b")
    assert mode(folder) == 0o700
    assert mode(touch_private(folder / "store")) == 0o600
    write_private(folder / "secret", "x\n")
    assert mode(folder / "secret") == 0o600
    write_private(folder / "secret", "y\n")  # replaced atomically, still private, no temporary left
    assert (folder / "secret").read_text() == "y\n"
    assert sorted(p.name for p in folder.iterdir()) == ["secret", "store"]


def test_gateway_keys_and_dedup_store_are_0600(tmp_path: Path) -> None:
    add_key(tmp_path / "keys" / "keys.toml", name="k", source="x")
    assert mode(tmp_path / "keys" / "keys.toml") == 0o600
    assert mode(tmp_path / "keys") == 0o700
    store = SQLiteDedupStore(tmp_path / "dedup.sqlite")
    store.remember([("x 1", "h")])
    store.close()
    assert mode(tmp_path / "dedup.sqlite") == 0o600


def test_the_data_folder_is_made_0700(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOUCHSTREAM_DATA_DIR", str(tmp_path / "data"))
    Runtime(load_settings())
    assert mode(tmp_path / "data") == 0o700


def test_a_secret_made_by_two_processes_at_once_is_one_secret(tmp_path: Path) -> None:
    """`create_private` never replaces: the first maker wins, the others read its value (two processes
    starting on a fresh data folder, e.g. `touchstream run`'s two)."""
    assert create_private(tmp_path / "kek", "first\n")
    assert not create_private(tmp_path / "kek", "second\n")
    assert (tmp_path / "kek").read_text() == "first\n"
    assert mode(tmp_path / "kek") == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kek"], "no temporary file left"
    settings = load_settings({"TOUCHSTREAM_DATA_DIR": str(tmp_path / "data")})
    assert key_encryption_key(settings) == key_encryption_key(settings)
