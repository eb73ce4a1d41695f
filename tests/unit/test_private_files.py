"""Secrets, key files, revocation lists, stores and the data folder are private from the first byte, whatever
the process umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from touchstream.adapters.bootstrap import Runtime
from touchstream.adapters.config import load_settings
from touchstream.adapters.gateway.auth import add_key
from touchstream.adapters.gateway.dedup import SQLiteDedupStore
from touchstream.adapters.private_files import private_dir, touch_private, write_private


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
