"""`schemas check`: a change that would break existing producers is caught; a safe one is not."""

from __future__ import annotations

import copy
from typing import Any

from touchstream.events.schemas import check_compatibility, export_schemas


def _payload_def(files: dict[str, Any], file_name: str, def_name: str) -> dict[str, Any]:
    defs: dict[str, Any] = files[file_name]["$defs"]
    return dict(defs[def_name])


def test_the_current_catalogue_is_compatible_with_itself() -> None:
    assert check_compatibility(export_schemas()) == []


def test_a_field_removed_from_the_catalogue_breaks_old_producers() -> None:
    old = copy.deepcopy(export_schemas())
    payload = old["EmailClicked.v1.json"]["$defs"]["EmailClickedPayload"]
    payload["properties"]["tracking_code"] = {"type": "string"}
    breaks = check_compatibility(old)
    assert [(b.file, b.path) for b in breaks] == [("EmailClicked.v1.json", "payload.tracking_code")]
    assert "removed" in breaks[0].reason


def test_a_retyped_field_breaks() -> None:
    old = copy.deepcopy(export_schemas())
    payload = old["WebinarAttended.v1.json"]["$defs"]["WebinarAttendedPayload"]
    payload["properties"]["minutes_attended"] = {"type": "string"}
    breaks = check_compatibility(old)
    assert [(b.file, b.path) for b in breaks] == [("WebinarAttended.v1.json", "payload.minutes_attended")]


def test_a_new_required_field_without_default_breaks() -> None:
    old = copy.deepcopy(export_schemas())
    payload = old["TicketOpened.v1.json"]["$defs"]["TicketOpenedPayload"]
    payload["required"].remove("channel")
    breaks = check_compatibility(old)
    assert [(b.file, b.path) for b in breaks] == [("TicketOpened.v1.json", "payload.channel")]
    assert "newly required" in breaks[0].reason


def test_an_enum_value_taken_away_breaks() -> None:
    old = copy.deepcopy(export_schemas())
    old["TicketOpened.v1.json"]["$defs"]["TicketPriority"]["enum"].append("P0")
    breaks = check_compatibility(old)
    assert any("P0" in b.reason for b in breaks)


def test_a_removed_type_breaks() -> None:
    old = copy.deepcopy(export_schemas())
    old["FaxReceived.v1.json"] = {"type": "object"}
    assert [b.file for b in check_compatibility(old)] == ["FaxReceived.v1.json"]


def test_an_old_version_with_an_upcaster_is_still_accepted() -> None:
    old = copy.deepcopy(export_schemas())
    v2 = old.pop("OpportunityCreated.v2.json")
    v1 = copy.deepcopy(v2)
    v1["$defs"]["OpportunityCreatedPayload"]["properties"]["amount"] = {"type": "number"}
    old["OpportunityCreated.v1.json"] = v1
    assert check_compatibility(old) == []


def test_an_old_version_without_an_upcaster_breaks() -> None:
    old = copy.deepcopy(export_schemas())
    old["EmailOpened.v0.json"] = old["EmailOpened.v1.json"]
    assert [b.reason for b in check_compatibility(old)] == ["v0 has no upcaster to v1"]
