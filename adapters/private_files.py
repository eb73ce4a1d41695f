"""Files only their owner reads: secrets, key files, revocation lists and the gateway's stores.

Everything is created 0600 (folders 0700) from the first byte: a file written with the process umask and
chmod-ed afterwards is readable by anyone for a moment, and a crash in between leaves it that way.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) 0700; an existing folder keeps its mode (it may be shared on
    purpose, e.g. a mounted volume); the files in it are private anyway."""
    if not path.exists():
        path.mkdir(parents=True, mode=DIR_MODE, exist_ok=True)
        path.chmod(DIR_MODE)  # mkdir's mode is masked by the umask
    return path


def touch_private(path: Path) -> Path:
    """Create `path` empty and 0600 if it does not exist (before a library such as SQLite opens it)."""
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    return path


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, mode 0600 from creation on."""
    private_dir(path.parent)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp creates 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def create_private(path: Path, text: str) -> bool:
    """Write `path` with `text`, 0600, unless it exists; complete from the first moment it exists (a
    hard link of a finished temporary file). Of processes racing to make the same secret, one wins and
    every other reads its value. Returns whether this call made it."""
    private_dir(path.parent)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, FILE_MODE)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        Path(temporary).unlink(missing_ok=True)


def readable_by_others(path: Path) -> bool:
    """Whether group or others may read `path` (a secret so exposed is refused at start-up)."""
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
