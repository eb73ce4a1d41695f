"""`pip install .` ships one `touchstream` namespace and nothing called `events` at the top level."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_the_wheel_holds_only_the_touchstream_namespace(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
        timeout=280,
    )
    (wheel,) = tmp_path.glob("touchstream-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/", 1)[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"touchstream"}
    for room in ("events", "projections", "streams", "adapters"):
        assert f"touchstream/{room}/__init__.py" in names
        assert f"touchstream/{room}/py.typed" in names
    assert "touchstream/events/catalogue.py" in names
    # Every sub-package of the code folders is listed in pyproject.toml's packages, so it ships.
    for init in sorted(REPO.glob("*/*/__init__.py")):
        room = init.parent.relative_to(REPO)
        if room.parts[0] in {"events", "projections", "streams", "adapters"}:
            assert f"touchstream/{room.as_posix()}/__init__.py" in names, room
