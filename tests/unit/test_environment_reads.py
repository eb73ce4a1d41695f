"""Settings (adapters/config.py) is the one reader of the environment: a setting read anywhere else drifts
from what the composition root decided (a DSN that does not follow its port, a region a parse picked up
behind the caller's back)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("events", "projections", "streams", "adapters")
ALLOWED = {Path("adapters/config.py")}


def environment_reads(path: Path) -> list[int]:
    """Lines that touch os.environ, os.getenv or os.putenv."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "putenv", "environb"}:
            lines.append(node.lineno)
        names = {alias.name for alias in node.names} if isinstance(node, ast.ImportFrom) else set()
        if isinstance(node, ast.ImportFrom) and node.module == "os" and names & {"environ", "getenv"}:
            lines.append(node.lineno)
    return lines


def test_only_the_settings_read_the_environment() -> None:
    found = {
        str(path.relative_to(ROOT)): reads
        for room in ROOMS
        for path in sorted((ROOT / room).rglob("*.py"))
        if path.relative_to(ROOT) not in ALLOWED and (reads := environment_reads(path))
    }
    assert found == {}, f"read the environment outside adapters/config.py (lines): {found}"


def test_the_check_sees_a_read() -> None:
    probe = ROOT / "build" / "environment-probe.py"
    probe.parent.mkdir(exist_ok=True)
    probe.write_text("import os\nregion = os.environ.get('X')\n", encoding="utf-8")
    try:
        assert environment_reads(probe) == [2]
    finally:
        probe.unlink()
