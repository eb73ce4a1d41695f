"""API keys for the gateway: one per source system, stored hashed in a TOML file, each with its grants.

A key is `tsk_` + 32 random bytes (256 bits, URL-safe base64). It is stored only as its SHA-256 digest:
with that much entropy a fast hash cannot be brute-forced, so a slow password hash (scrypt, argon2) would
only add tens of milliseconds to every request without adding safety. Looking the digest up in a dict
leaks nothing useful: an attacker would need a pre-image of a stored digest.

The file (`touchstream gateway keys add` writes it; operators may edit it):

    [[keys]]
    name = "hubspot-prod"                # for logs and metrics; not secret
    source = "hubspot"                   # events must carry this source; Segment calls get it
    departments = ["marketing"]          # every ordinary type of these departments ("*": all of them)
    event_types = ["ConsentWithdrawn"]   # and these types by name: the only way to grant privileged ones
    sha256 = "9f86d0..."                 # the digest of the key; the key itself is shown once, never stored

What a key may send is decided by each event's *type*: the department a type belongs to is the catalogue's
(`home_department` of its class), never the `department` field the producer wrote, so a marketing key
cannot open a support ticket by labelling it "marketing". Privileged types (erasure, consent, merges) are
granted only by name: no department grant and no "*" covers them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ...events import EVENT_TYPES, Department
from ..private_files import write_private

KEY_PREFIX = "tsk_"
ANY = "*"

# Types that change or destroy what Touchstream knows about a person rather than record a touch: only a key
# that names them may send them. Merge types, should the catalogue gain any, are privileged by name.
PRIVILEGED_TYPES: frozenset[str] = frozenset(
    {"ErasureRequested", "ConsentGiven", "ConsentWithdrawn"} | {t for t in EVENT_TYPES if "Merge" in t}
)
# The department of every type, from the catalogue (the class's home department), not from the producer.
TYPE_DEPARTMENT: Mapping[str, str] = {name: cls.home_department.value for name, cls in EVENT_TYPES.items()}


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def mint_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _toml_list(values: Iterable[str]) -> str:
    # JSON string escapes are valid TOML basic-string escapes.
    return "[" + ", ".join(json.dumps(v) for v in sorted(values)) + "]"


@dataclass(frozen=True)
class ApiKey:
    """What one key may publish. `allows` answers None when granted, else the reason and the grant needed."""

    name: str
    source: str
    departments: frozenset[str]
    event_types: frozenset[str]
    sha256: str

    def may_send(self, event_type: str) -> bool:
        if event_type in self.event_types:
            return True
        if event_type in PRIVILEGED_TYPES:
            return False
        department = TYPE_DEPARTMENT.get(event_type)
        return department is not None and (ANY in self.departments or department in self.departments)

    def allows(self, source: str, department: str, event_type: str) -> str | None:
        """`department` is the one the event declares; the grant is checked on the type's own department,
        and a declared department other than the type's own must be one the key holds as well."""
        if source != self.source:
            return f"key {self.name!r} publishes for source {self.source!r}, not {source!r}"
        if not self.may_send(event_type):
            home = TYPE_DEPARTMENT.get(event_type, "?")
            if event_type in PRIVILEGED_TYPES:
                need = f"the explicit grant event_types = {_toml_list([event_type])}"
                what = f"{event_type} is privileged"
            else:
                need = f"departments = {_toml_list([home])} or event_types = {_toml_list([event_type])}"
                what = f"{event_type} is a {home} event"
            return (
                f"key {self.name!r} may not send {event_type}: {what}; it needs {need} "
                f"(touchstream gateway keys add --type {event_type})"
            )
        own = TYPE_DEPARTMENT.get(event_type)
        if department != own and ANY not in self.departments and department not in self.departments:
            return (
                f"key {self.name!r} may not label a {event_type} with department {department!r}: send "
                f"department {own!r} (the type's own), or grant the key departments = "
                f"{_toml_list([department])}"
            )
        return None


class Unauthorized(Exception):
    """No key came, or not a valid one: answer 401 with `headers` (WWW-Authenticate)."""

    headers: ClassVar[dict[str, str]] = {
        "WWW-Authenticate": 'Bearer realm="touchstream", Basic realm="touchstream"'
    }


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key an HTTP request presents, from its headers alone: `Authorization: Bearer <key>` or, as
    Segment's SDKs send it, `Authorization: Basic base64(<key>:)`. Never reads the body."""
    value = headers.get("authorization", "").strip()
    scheme, _, credentials = value.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        return credentials
    if scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return None


def authenticate_headers(keys: Keyring, headers: Mapping[str, str]) -> ApiKey:
    """Authenticate a request before anything reads its body; raise Unauthorized (401) otherwise.

    Every gateway endpoint calls this (or `Gateway.authenticate`) first, so an unauthenticated client costs
    the gateway no body read, no JSON parse and no decompression."""
    presented = presented_key(headers)
    key = keys.identify(presented)
    if key is None:
        why = "no API key came" if not presented else "the API key is not valid"
        raise Unauthorized(f"{why}: send Authorization: Bearer <key> (or Basic with the key as user name)")
    return key


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
    value = entry.get(field, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise KeyFileError(f"{where}: {field} must be a list of strings")
    unknown = sorted(set(value) - set(allowed))
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
    if ANY in (entry.get("event_types") or []):
        raise KeyFileError(
            f'{where}: event_types = ["*"] is not a grant: grant ordinary types by department '
            '(departments = ["*"] for all of them) and name privileged types one by one '
            f"({', '.join(sorted(PRIVILEGED_TYPES))})"
        )
    departments = _strings(entry, "departments", where, [ANY, *(d.value for d in Department)])
    event_types = _strings(entry, "event_types", where, sorted(EVENT_TYPES))
    if not departments and not event_types:
        raise KeyFileError(f"{where}: the key grants nothing: give it departments or event_types")
    return ApiKey(
        name=str(entry["name"]),
        source=str(entry["source"]).lower(),
        departments=departments,
        event_types=event_types,
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
    event_types: Sequence[str] = (),
) -> tuple[str, ApiKey]:
    """Mint a key, append its hashed entry to the file (created if missing); return the key (shown once).
    By default it may send every ordinary type; privileged types must be listed in `event_types`."""
    existing = load_keys(path) if path.exists() else []
    if any(k.name == name for k in existing):
        raise KeyFileError(f"{path}: a key named {name!r} exists already; choose another name")
    secret = mint_key()
    entry = {
        "name": name,
        "source": source,
        "departments": list(departments),
        "event_types": list(event_types),
        "sha256": digest(secret),
    }
    key = _parse_entry(entry, len(existing))  # the same checks as loading, before anything is written
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    separator = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    write_private(path, text + separator + render_entry(key))
    return secret, key
