"""docs/events.md stays true to the catalogue: every type, version and vocabulary value is documented,
and its code example runs."""

from __future__ import annotations

import enum
import inspect
import re
from pathlib import Path

from touchstream.events import EVENT_TYPES, enums

DOC = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text(encoding="utf-8")


def test_every_type_is_documented_with_its_version() -> None:
    for name, cls in EVENT_TYPES.items():
        assert re.search(rf"^\| {name} \| {cls.current_version()} \|", DOC, re.M), name


def test_every_vocabulary_value_is_documented() -> None:
    for name, vocabulary in inspect.getmembers(enums, inspect.isclass):
        if issubclass(vocabulary, enum.Enum) and vocabulary.__module__ == enums.__name__:
            line = next(line for line in DOC.splitlines() if line.startswith(f"- **{name}**"))
            assert all(f"`{member.value}`" in line for member in vocabulary), name


def test_the_python_example_runs() -> None:
    block = re.search(r"```python\n(.*?)```", DOC, re.S)
    assert block is not None
    exec(compile(block.group(1), "docs/events.md", "exec"), {})


def test_the_json_example_is_a_valid_event() -> None:
    from touchstream.events import parse_event

    block = re.search(r"```json\n(.*?)```", DOC, re.S)
    assert block is not None
    assert parse_event(block.group(1)).identifiers.phone == "+14155550134"
