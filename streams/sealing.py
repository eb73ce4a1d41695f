"""Crypto-shredding: an event's personal part sealed with its subject's data key, opened when read.

`Sealer.seal` turns an event's JSON dict into bytes holding the clear part as it was plus
`"sealed": {"v": 1, "subject", "key", "nonce", "data"}`, where `data` is AES-GCM over the personal part
(`events/privacy.py` says which that is) with a 96-bit random nonce and, as associated data, the event id,
the subject and the key id (a sealed part moved onto another event, or relabelled, fails to open).
`Sealer.open` gives the whole event back while its key lives, and its `redacted` form once the key was
shredded; a record that was never sealed passes through unchanged, so old logs still read.

The subject is a keyed hash (HMAC-SHA256 with a pepper the deployment keeps secret) of the event's
strongest person identifier in the master record's canonical spelling (`email:`, `ext:`, `phone:`), so
the key store and the sealed records never hold an identifier, and erasure finds a contact's subjects from
its identifier keys (`subjects_of_identifiers`). An event naming no person (account identifiers only) has
no subject and is not sealed.

Keys are cached in this process (bounded, `ttl` seconds, default 30): a shred done by another process is
seen here within the TTL, and until then this process may still open, and seal with, the shredded key
(what it seals then is unreadable afterwards, as it should be). `forget(subjects)` drops them at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import ValidationError

from ..events.parsing import address_country
from ..events.privacy import join_personal, redacted, split_personal
from ..events.values import Identifiers, PhoneRegions
from ..projections.identity import canonical_key

SEAL_VERSION = 1
# Identifier kinds that name a person; `domain:` and `account:` name a company.
PERSON_KINDS = ("email:", "ext:", "phone:", "unparsed-phone:")
_NAMED = "named:"  # a shared address as used by one of its people: `named:email:x@y|mary`
_ROLE = "role:"  # a role address (support@acme.com): its events are sealed under `email:`


class KeyStore(Protocol):
    """Where data keys live, one live key per subject (`adapters/keys/store.py`)."""

    def data_key(self, subject: str, create: bool) -> tuple[str, bytes] | None:
        """(key id, 32-byte key) of the subject's live key; a new one when there is none and `create`
        (a new generation when the subject was erased before: never the old key back); else None."""
        ...

    def data_keys(self, subjects: Collection[str]) -> dict[str, tuple[str, bytes]]:
        """`data_key(subject, create=True)` for many subjects at once (one transaction for the new ones)."""
        ...

    def keys(self, key_ids: Collection[str]) -> dict[str, bytes]:
        """The live keys among `key_ids`; a shredded or unknown id is absent."""
        ...

    def shred(
        self, subjects: Collection[str], *, requested_by: str, reason: str, once_per_reason: bool = False
    ) -> int:
        """Destroy every key of these subjects, audited; returns how many keys were destroyed.
        `once_per_reason`: leave alone a subject this `reason` (an erasure request's id) already shredded,
        so a request carried out again after its person came back spares the person's new key."""
        ...

    def is_shredded(self, subject: str) -> bool:
        """True when an erasure destroyed a key of this subject (it may hold a newer key since)."""
        ...


class SealError(ValueError):
    """A sealed record that cannot be opened: tampered with, truncated, or its key is missing without an
    erasure to explain it (a wrong or empty key store must fail loudly, never redact everything)."""


def subject_key(key: str, pepper: bytes) -> str:
    """The subject for one canonical identifier key (`email:jdoe@gmail.com`)."""
    return hmac.new(pepper, key.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def subject_of(identifiers: Identifiers, pepper: bytes) -> str | None:
    """The subject of an event: its strongest person identifier, canonical and keyed; None when it names
    only an account."""
    strongest = identifiers.strongest()
    if not strongest.startswith(PERSON_KINDS):
        return None
    return subject_key(canonical_key(strongest), pepper)


def subjects_of_identifiers(keys: Iterable[str], pepper: bytes) -> set[str]:
    """Every subject a contact's events can be sealed under, from the master record's identifier keys
    (`email:…`, `role:…`, `named:email:…|first`, `ext:system:id`, `phone:+…`); other kinds are skipped.
    A shared address (`named:`) or phone yields the subject of everyone writing from it: erasing one of
    them shreds what the others sent from it too, which errs on the side of the erased person."""
    subjects: set[str] = set()
    for key in keys:
        if key.startswith(_NAMED):
            key = key[len(_NAMED) :].rsplit("|", 1)[0]
        if key.startswith(_ROLE):
            key = "email:" + key[len(_ROLE) :]
        if key.startswith(PERSON_KINDS):
            subjects.add(subject_key(canonical_key(key), pepper))
    return subjects


class _Cache:
    """A bounded LRU of keys with a time to live."""

    def __init__(self, size: int, ttl: float, clock: Callable[[], float]) -> None:
        self._items: OrderedDict[str, tuple[float, str, str, AESGCM]] = OrderedDict()
        self._size, self._ttl, self._clock = size, ttl, clock

    def get(self, name: str) -> tuple[str, str, AESGCM] | None:
        item = self._items.get(name)
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._items[name]
            return None
        self._items.move_to_end(name)
        return item[1], item[2], item[3]

    def put(self, name: str, subject: str, key_id: str, cipher: AESGCM) -> None:
        self._items[name] = (self._clock() + self._ttl, subject, key_id, cipher)
        self._items.move_to_end(name)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def drop_subjects(self, subjects: Collection[str]) -> None:
        for name in [n for n, item in self._items.items() if item[1] in subjects]:
            del self._items[name]


class Sealer:
    """Seals events before they reach a log and opens them when read (see the module docstring)."""

    def __init__(
        self,
        store: KeyStore,
        pepper: bytes,
        *,
        regions: PhoneRegions | None = None,
        cache_size: int = 50_000,
        ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(pepper) < 16:
            raise ValueError("the subject pepper must be at least 16 random bytes")
        self._store, self._pepper = store, pepper
        self._regions = regions or PhoneRegions()
        self._by_subject = _Cache(cache_size, ttl, clock)  # subject -> its live key, for sealing
        self._by_key = _Cache(cache_size, ttl, clock)  # key id -> key, for opening
        self._subjects: OrderedDict[tuple[str, bytes], str | None] = OrderedDict()
        self._subjects_size = cache_size

    # --- sealing ------------------------------------------------------------------------------------------

    def seal(self, raw: Mapping[str, Any]) -> bytes:
        return self.seal_many([raw])[0]

    def seal_many(self, raws: Sequence[Mapping[str, Any]]) -> list[bytes]:
        """Each event as sealed bytes; one key-store call per subject not cached."""
        return [orjson.dumps(sealed) for sealed in self.seal_dicts(raws)]

    def seal_dicts(self, raws: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """As `seal_many`, as dicts (to embed in another record, e.g. a resolved touchpoint)."""
        subjects = [self.subject_of_raw(raw) for raw in raws]
        ciphers = self._sealing_keys({s for s in subjects if s is not None})
        out: list[dict[str, Any]] = []
        for raw, subject in zip(raws, subjects, strict=True):
            if "sealed" in raw:
                raise SealError(f"event {raw.get('event_id')} is sealed already")
            if subject is None:
                out.append(dict(raw))
                continue
            key_id, cipher = ciphers[subject]
            clear, personal = split_personal(raw)
            nonce = os.urandom(12)
            data = cipher.encrypt(nonce, orjson.dumps(personal), _aad(raw.get("event_id"), subject, key_id))
            clear["sealed"] = {
                "v": SEAL_VERSION,
                "subject": subject,
                "key": key_id,
                "nonce": base64.b64encode(nonce).decode("ascii"),
                "data": base64.b64encode(data).decode("ascii"),
            }
            out.append(clear)
        return out

    def subject_of_raw(self, raw: Mapping[str, Any]) -> str | None:
        """The subject of an event as sent (identifiers normalized first, so `Ada@X.com` and `ada@x.com`
        are one subject); None when it names no person or no identifier of it can be read."""
        given = raw.get("identifiers")
        if not isinstance(given, dict):
            return None
        region = self._regions.region_for(raw.get("source"), address_country(raw))
        # The same person's identifiers recur on every event: validating them is most of a seal's cost.
        memo = (region, orjson.dumps(given, option=orjson.OPT_SORT_KEYS))
        if memo in self._subjects:
            return self._subjects[memo]
        subject = self._subject_of_identifiers(given, region)
        self._subjects[memo] = subject
        if len(self._subjects) > self._subjects_size:
            self._subjects.popitem(last=False)
        return subject

    def _subject_of_identifiers(self, given: dict[str, Any], region: str) -> str | None:
        context = {"default_region": region}
        # A whole set that does not validate still names its person by the pieces that do.
        tries = [given] + [{k: given[k]} for k in ("email", "external_ids", "phone") if k in given]
        for attempt in tries:
            try:
                identifiers = Identifiers.model_validate(attempt, context=context)
            except ValidationError:
                continue
            return subject_of(identifiers, self._pepper)
        return None

    def _sealing_keys(self, subjects: Collection[str]) -> dict[str, tuple[str, AESGCM]]:
        """The live key of each subject: cached, else one store call for all the others."""
        ciphers: dict[str, tuple[str, AESGCM]] = {}
        for subject in subjects:
            cached = self._by_subject.get(subject)
            if cached is not None:
                ciphers[subject] = cached[1], cached[2]
        missing = [s for s in subjects if s not in ciphers]
        found = self._store.data_keys(missing) if missing else {}
        for subject in missing:
            if subject not in found:
                raise SealError(f"the key store gave no key for subject {subject}")
            key_id, key = found[subject]
            ciphers[subject] = key_id, AESGCM(key)
            self._by_subject.put(subject, subject, key_id, ciphers[subject][1])
            self._by_key.put(key_id, subject, key_id, ciphers[subject][1])
        return ciphers

    # --- opening ------------------------------------------------------------------------------------------

    def open(self, value: bytes) -> bytes:
        return self.open_many([value])[0]

    def open_many(self, values: Sequence[bytes]) -> list[bytes]:
        """Each record opened (the event's JSON), or unchanged when it was never sealed; one key-store
        call per batch for the keys not cached. Raises SealError for a record that cannot be opened."""
        out: list[bytes] = list(values)
        todo: dict[int, dict[str, Any]] = {}
        for i, value in enumerate(values):
            if b'"sealed"' in value:
                record = orjson.loads(value)
                if isinstance(record, dict) and "sealed" in record:
                    todo[i] = record
        for i, opened in zip(todo, self.open_dicts(list(todo.values())), strict=True):
            out[i] = orjson.dumps(opened)
        return out

    def open_dicts(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """As `open_many`, on dicts."""
        seals = [_seal_of(r) for r in records]
        ciphers = self._ciphers({s["key"]: s["subject"] for s in seals if s})
        shredded: dict[str, bool] = {}
        out: list[dict[str, Any]] = []
        for record, seal in zip(records, seals, strict=True):
            if seal is None:
                out.append(dict(record))
                continue
            cipher = ciphers.get(seal["key"])
            if cipher is not None:
                out.append(_opened(record, seal, cipher))
                continue
            subject = seal["subject"]
            if subject not in shredded:
                shredded[subject] = self._store.is_shredded(subject)
            if not shredded[subject]:
                raise SealError(
                    f"event {record.get('event_id')}: key {seal['key']} is missing and subject {subject} "
                    "was never erased; is this the right key store?"
                )
            out.append(redacted(record, subject=subject))
        return out

    def _ciphers(self, subject_by_key: Mapping[str, str]) -> dict[str, AESGCM]:
        """The live keys of this batch: cached ones, then one store call for the rest."""
        ciphers: dict[str, AESGCM] = {}
        for key_id in subject_by_key:
            cached = self._by_key.get(key_id)
            if cached is not None:
                ciphers[key_id] = cached[2]
        wanted = [k for k in subject_by_key if k not in ciphers]
        for key_id, key in (self._store.keys(wanted) if wanted else {}).items():
            if key_id not in subject_by_key:
                continue
            ciphers[key_id] = AESGCM(key)
            self._by_key.put(key_id, subject_by_key[key_id], key_id, ciphers[key_id])
        return ciphers

    def forget(self, subjects: Collection[str]) -> None:
        """Drop these subjects' keys from this process's cache now (after shredding them here)."""
        wanted = set(subjects)
        self._by_subject.drop_subjects(wanted)
        self._by_key.drop_subjects(wanted)


def _aad(event_id: Any, subject: str, key_id: str) -> bytes:
    return f"{event_id}|{subject}|{key_id}".encode()


def _seal_of(record: Mapping[str, Any]) -> dict[str, Any] | None:
    seal = record.get("sealed")
    if seal is None:
        return None
    if (
        not isinstance(seal, dict)
        or seal.get("v") != SEAL_VERSION
        or not all(isinstance(seal.get(k), str) for k in ("subject", "key", "nonce", "data"))
    ):
        raise SealError(f"event {record.get('event_id')}: not a version-{SEAL_VERSION} seal")
    return seal


def _opened(record: Mapping[str, Any], seal: Mapping[str, Any], cipher: AESGCM) -> dict[str, Any]:
    try:
        nonce, data = base64.b64decode(seal["nonce"]), base64.b64decode(seal["data"])
        plain = cipher.decrypt(nonce, data, _aad(record.get("event_id"), seal["subject"], seal["key"]))
    except (InvalidTag, ValueError) as exc:
        raise SealError(
            f"event {record.get('event_id')}: the sealed part does not open (tampered with or damaged)"
        ) from exc
    clear = {k: v for k, v in record.items() if k != "sealed"}
    return join_personal(clear, orjson.loads(plain))
