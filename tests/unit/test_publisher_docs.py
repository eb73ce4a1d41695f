"""docs/ingestion.md stays true: its Publisher example runs, its mapping parses, its topics are declared."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from touchstream.adapters.sdk.importer import CsvMapping
from touchstream.streams.topology import TOPICS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "ingestion.md").read_text(encoding="utf-8")


def test_the_publisher_example_runs() -> None:
    block = re.search(r"```python\n(.*?)```", DOC, re.S)
    assert block is not None
    exec(compile(block.group(1), "docs/ingestion.md", "exec"), {})


def test_the_csv_mapping_example_is_a_valid_mapping() -> None:
    block = re.search(r"```toml\n(.*?)```", DOC, re.S)
    assert block is not None
    mapping = CsvMapping.from_dict(tomllib.loads(block.group(1)))
    row = {"Ticket ID": "T-9", "Priority": "Urgent", "Created": "2025-01-01T00:00:00Z", "Zendesk user": "77"}
    event = mapping.to_event_dict(row)
    assert event["payload"] == {"ticket_id": "T-9", "priority": "P1", "channel": "email"}
    assert event["identifiers"] == {"external_ids": {"zendesk": "77"}}
    assert event["occurred_at"] == event["recorded_at"]


def test_every_declared_topic_is_in_the_table() -> None:
    for spec in TOPICS:
        assert f"`{spec.name}`" in DOC, spec.name
