"""API keys for the gateway: one per source system, stored hashed in a TOML file, each with a scope.

A key is `tsk_` + 32 random bytes (256 bits, URL-safe base64). It is stored only as its SHA-256 digest:
with that much entropy a fast hash cannot be brute-forced, so a slow password hash (scrypt, argon2) would
only add tens of milliseconds to every request without adding safety. Looking the digest up in a dict
leaks nothing useful: an attacker would need a pre-image of a stored digest.

The file (`touchstream gateway keys add` writes it; operators may edit it):

    [[keys]]
    name = "hubspot-prod"            # for logs and metrics; not secret
    source = "hubspot"               # events must carry this source; Segment calls get it
    departments = ["marketing"]      # or ["*"]
    event_types = ["*"]              # or a list of type names
    sha256 = "9f86d0..."             # the digest of the key; the key itself is shown once, never stored
"""

from __future__ import annotations

import hashlib
import json
import secrets
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from touchstream.events import EVENT_TYPES, Department

KEY_PREFIX = "tsk_"
ANY = "*"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def mint_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class ApiKey:
    """What one key may publish. `allows` answers None when in scope, else the reason it is not."""

    name: str
    source: str
    departments: frozenset[str]
    event_types: frozenset[str]
    sha256: str

    def allows(self, source: str, department: str, event_type: str) -> str | None:
        if source != self.source:
            return f"key {self.name!r} publishes for source {self.source!r}, not {source!r}"
        if ANY not in self.departments and department not in self.departments:
            allowed = ", ".join(sorted(self.departments))
            return f"key {self.name!r} may not publish for department {department!r} (allowed: {allowed})"
        if ANY not in self.event_types and event_type not in self.event_types:
            allowed = ", ".join(sorted(self.event_types))
            return f"key {self.name!r} may not publish {event_type!r} events (allowed: {allowed})"
        return None


class KeyFileError(ValueError):
    """The keys file is malformed; the message names the entry and field."""


class Keyring:
    """The keys a gateway accepts, by digest."""

    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self._by_digest: dict[str, ApiKey] = {}
        for key in keys:
            if key.sha256 in self._by_digest:
                raise KeyFileError(f"keys {self._by_digest[key.sha256].name!r} and {key.name!r} are the same")
            self._by_digest[key.sha256] = key

    def __len__(self) -> int:
        return len(self._by_digest)

    def identify(self, presented: str | None) -> ApiKey | None:
        if not presented:
            return None
        return self._by_digest.get(digest(presented.strip()))

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        return cls(load_keys(path))


def _strings(entry: dict[str, object], field: str, where: str, allowed: Sequence[str]) -> frozenset[str]:
    value = entry.get(field, [ANY])
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise KeyFileError(f"{where}: {field} must be a non-empty list of strings")
    unknown = sorted(set(value) - {ANY, *allowed})
    if unknown:
        raise KeyFileError(f"{where}: {field} has unknown values {unknown}")
    return frozenset(str(v) for v in value)


def _parse_entry(entry: object, index: int) -> ApiKey:
    where = f"keys[{index}]"
    if not isinstance(entry, dict):
        raise KeyFileError(f"{where}: expected a table")
    for field in ("name", "source", "sha256"):
        if not isinstance(entry.get(field), str) or not entry[field]:
            raise KeyFileError(f"{where}: {field} is required (a string)")
    sha = str(entry["sha256"]).lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise KeyFileError(f"{where}: sha256 must be 64 hex digits")
    return ApiKey(
        name=str(entry["name"]),
        source=str(entry["source"]).lower(),
        departments=_strings(entry, "departments", where, [d.value for d in Department]),
        event_types=_strings(entry, "event_types", where, sorted(EVENT_TYPES)),
        sha256=sha,
    )


def load_keys(path: Path) -> list[ApiKey]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the keys file: {exc.strerror or exc}") from None
    entries = data.get("keys", [])
    if not isinstance(entries, list):
        raise KeyFileError(f"{path}: `keys` must be an array of tables ([[keys]])")
    return [_parse_entry(entry, i) for i, entry in enumerate(entries)]


def _toml_list(values: Iterable[str]) -> str:
    # JSON string escapes are valid TOML basic-string escapes.
    return "[" + ", ".join(json.dumps(v) for v in sorted(values)) + "]"


def render_entry(key: ApiKey) -> str:
    return (
        "[[keys]]\n"
        f"name = {json.dumps(key.name)}\n"
        f"source = {json.dumps(key.source)}\n"
        f"departments = {_toml_list(key.departments)}\n"
        f"event_types = {_toml_list(key.event_types)}\n"
        f"sha256 = {json.dumps(key.sha256)}\n"
    )


def add_key(
    path: Path,
    *,
    name: str,
    source: str,
    departments: Sequence[str] = (ANY,),
    event_types: Sequence[str] = (ANY,),
) -> tuple[str, ApiKey]:
    """Mint a key, append its hashed entry to the file (created if missing); return the key (shown once)."""
    existing = load_keys(path) if path.exists() else []
    if any(k.name == name for k in existing):
        raise KeyFileError(f"{path}: a key named {name!r} exists already; choose another name")
    secret = mint_key()
    entry = {
        "name": name,
        "source": source,
        "departments": list(departments) or [ANY],
        "event_types": list(event_types) or [ANY],
        "sha256": digest(secret),
    }
    key = _parse_entry(entry, len(existing))  # the same checks as loading, before anything is written
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    separator = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + separator + render_entry(key), encoding="utf-8")
    path.chmod(0o600)
    return secret, key
