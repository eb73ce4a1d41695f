"""docs/architecture.md draws the rooms of adapters/ one line each: the drawing and the tree agree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def drawn_rooms() -> set[str]:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    (tree,) = re.findall(r"```text\nadapters/\n(.*?)```", doc, re.DOTALL)
    return set(re.findall(r"^  (\w+)/", tree, re.MULTILINE))


def test_every_room_of_adapters_is_drawn_and_every_drawn_room_exists() -> None:
    on_disk = {p.parent.name for p in (ROOT / "adapters").glob("*/__init__.py")}
    assert drawn_rooms() == on_disk


def test_the_readme_names_every_room() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (row,) = [line for line in readme.splitlines() if line.startswith("| `adapters/` |")]
    assert set(re.findall(r"`(\w+)/`", row)) - {"adapters"} == drawn_rooms()
