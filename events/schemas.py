"""JSON Schemas for producers in any language, and the check that a change would not break them.

Pure functions over dicts; reading and writing files is the CLI's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .catalogue import EVENT_TYPES
from .envelope import Event
from .upcasting import can_upcast

Schema = dict[str, Any]
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Fields a producer must always send, even where Python fills a default: the reader dispatches on them.
# (`department` may be omitted: the reader fills in the type's home department.)
WIRE_REQUIRED = ("type", "schema_version")


def _wire_schema(model: type[Event], title: str) -> Schema:
    schema = model.model_json_schema(mode="validation")
    required = list(schema.get("required", []))
    for name in WIRE_REQUIRED:
        if name not in required and name in schema.get("properties", {}):
            required.append(name)
    schema["required"] = [name for name in required if name != "department"]
    return {"$schema": SCHEMA_DIALECT, "title": title, **{k: v for k, v in schema.items() if k != "title"}}


def schema_file_name(type_name: str, version: int) -> str:
    return f"{type_name}.v{version}.json"


def export_schemas() -> dict[str, Schema]:
    """File name -> JSON Schema: one per event type at its current version, plus the bare envelope."""
    envelope = _wire_schema(Event, "Envelope")
    envelope["properties"]["type"] = {"type": "string", "enum": sorted(EVENT_TYPES)}
    envelope["properties"]["payload"] = {
        "type": "object",
        "description": "the type's payload; see <Type>.vN.json",
    }
    envelope["$defs"].pop("Payload", None)
    files = {"envelope.json": envelope}
    for name, cls in sorted(EVENT_TYPES.items()):
        files[schema_file_name(name, cls.current_version())] = _wire_schema(cls, name)
    return files


@dataclass(frozen=True)
class Break:
    """A change that would make a payload valid under the old schema invalid under the new one."""

    file: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path or '$'}: {self.reason}"


def _resolve(node: Schema, root: Schema) -> Schema:
    while "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        node = root.get("$defs", {}).get(name, {})
    return node


def _variants(node: Schema, root: Schema) -> list[Schema]:
    node = _resolve(node, root)
    if "anyOf" in node:
        return [v for branch in node["anyOf"] for v in _variants(branch, root)]
    return [node]


def _kind(node: Schema) -> str:
    if "const" in node:
        return "const"
    if "enum" in node:
        return "enum"
    return str(node.get("type", "any"))


def _compare(old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str) -> list[str]:
    """Reasons why a value accepted by `old` would be refused by `new` (a conservative structural check)."""
    reasons: list[str] = []
    new_variants = _variants(new, new_root)
    for old_v in _variants(old, old_root):
        kind = _kind(old_v)
        matches = [n for n in new_variants if _kind(n) in (kind, "any")]
        if kind in ("enum", "const"):
            matches = matches or [n for n in new_variants if _kind(n) in ("enum", "const", "string")]
        if not matches:
            reasons.append(f"{path or '$'}: type {kind} is no longer accepted")
            continue
        new_v = matches[0]
        if kind in ("enum", "const") and _kind(new_v) in ("enum", "const"):
            old_values = old_v.get("enum", [old_v.get("const")])
            new_values = new_v.get("enum", [new_v.get("const")])
            lost = [v for v in old_values if v not in new_values]
            if lost:
                reasons.append(f"{path or '$'}: values {lost} are no longer accepted")
        elif kind == "object":
            reasons += _compare_objects(old_v, new_v, old_root, new_root, path)
        elif kind == "array" and "items" in old_v and "items" in new_v:
            reasons += _compare(old_v["items"], new_v["items"], old_root, new_root, path + "[]")
    return reasons


def _compare_objects(old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str) -> list[str]:
    reasons = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        reasons.append(f"{path}.{name}".lstrip(".") + ": newly required (give it a default)")
    for name, old_prop in old_props.items():
        where = f"{path}.{name}".lstrip(".")
        if name not in new_props:
            if new.get("additionalProperties") is False:
                reasons.append(f"{where}: removed (old producers still send it)")
            continue
        reasons += _compare(old_prop, new_props[name], old_root, new_root, where)
    return reasons


def check_compatibility(old_files: dict[str, Schema]) -> list[Break]:
    """Every way in which the current catalogue would refuse events that match the old schemas.

    An old version of a type stays compatible when an upcaster chain brings it to the current version.
    """
    current = export_schemas()
    breaks: list[Break] = []
    for file_name, old in sorted(old_files.items()):
        if file_name == "envelope.json":
            new = current["envelope.json"]
        else:
            type_name, _, version_text = file_name.removesuffix(".json").rpartition(".v")
            cls = EVENT_TYPES.get(type_name)
            if cls is None or not version_text.isdigit():
                breaks.append(Break(file_name, "", f"event type {type_name or file_name!r} was removed"))
                continue
            version, now = int(version_text), cls.current_version()
            if version != now:
                if version < now and can_upcast(type_name, version, now):
                    continue
                breaks.append(Break(file_name, "", f"v{version} has no upcaster to v{now}"))
                continue
            new = current[schema_file_name(type_name, now)]
        for reason in _compare(old, new, old, new, ""):
            where, _, why = reason.partition(": ")
            breaks.append(Break(file_name, where, why))
    return breaks
