"""Sealing events under per-subject keys (streams/sealing.py) with the SQLite key store: what is sealed
can be opened while the key lives, holds no personal value, fails loudly when tampered with, and reads as
the redacted tombstone once the key is shredded."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from touchstream.adapters.keys.store import SQLiteKeyStore
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate
from touchstream.events import Identifiers, parse_event
from touchstream.events.privacy import ERASED_SYSTEM, split_personal
from touchstream.streams.sealing import (
    Sealer,
    SealError,
    subject_of,
    subjects_of_identifiers,
)

PEPPER = b"p" * 32
KEK = b"k" * 32


class CountingStore(SQLiteKeyStore):
    """The SQLite store, counting the calls the sealer makes of it."""

    calls: list[str]

    def data_keys(self, subjects: Collection[str]) -> dict[str, tuple[str, bytes]]:
        self.calls.append("data_keys")
        return super().data_keys(subjects)

    def keys(self, key_ids: Collection[str]) -> dict[str, bytes]:
        self.calls.append("keys")
        return super().keys(key_ids)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingStore]:
    opened = CountingStore(tmp_path / "keys.db", KEK, "kek-1")
    opened.calls = []
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def dataset() -> list[dict[str, Any]]:
    return list(generate(GeneratorConfig.for_events(2000, seed=3)))


def event(email: str = "jane.doe@acme-widgets.com", **payload: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "FormSubmitted",
        "schema_version": 1,
        "occurred_at": "2026-01-01T00:00:00Z",
        "recorded_at": "2026-01-01T00:00:01Z",
        "source": "hubspot",
        "identifiers": {"email": email, "phone": "+14155550123", "account_domain": "acme-widgets.com"},
        "payload": {
            "form_id": "demo",
            "page_url": "https://example.com/demo?email=jane.doe%40acme-widgets.com",
            "first_name": "Janeway",
            "last_name": "Doughnutson",
            "message": "Please call me on my mobile",
            **payload,
        },
    }


def test_sealed_events_open_to_what_was_sealed(store: CountingStore, dataset: list[dict[str, Any]]) -> None:
    sealed = Sealer(store, PEPPER).seal_many(dataset)
    opened = Sealer(store, PEPPER).open_many(sealed)  # another process: nothing cached
    assert [orjson.loads(o) for o in opened] == dataset
    assert all(b'"sealed"' in s for s in sealed)  # every generated event names a person


def test_sealed_bytes_hold_no_personal_value(store: CountingStore, dataset: list[dict[str, Any]]) -> None:
    sealer = Sealer(store, PEPPER)
    for raw, sealed in zip(dataset, sealer.seal_many(dataset), strict=True):
        text = sealed.decode().lower()
        ids = raw["identifiers"]
        for value in (ids.get("email"), ids.get("phone"), *ids.get("external_ids", {}).values()):
            if value and value not in split_personal(raw)[0]["payload"].values():
                assert str(value).lower() not in text
        for name in ("first_name", "last_name", "message", "comment", "reason", "notes"):
            if isinstance(raw["payload"].get(name), str):
                assert f'"{raw["payload"][name].lower()}"' not in text


def test_a_handwritten_event_leaks_nothing(store: CountingStore) -> None:
    raw = event()
    sealed = Sealer(store, PEPPER).seal(raw)
    for value in ("jane.doe", "4155550123", "janeway", "doughnutson", "mobile"):
        assert value not in sealed.decode().lower()
    assert b"acme-widgets.com" in sealed  # the account's domain stays clear


def test_unsealed_records_pass_through_unchanged(store: CountingStore) -> None:
    old = orjson.dumps(event())
    assert Sealer(store, PEPPER).open_many([old]) == [old]
    assert store.calls == []


def test_an_event_naming_only_an_account_is_not_sealed(store: CountingStore) -> None:
    raw = {**event(), "identifiers": {"account_domain": "acme-widgets.com"}}
    assert orjson.loads(Sealer(store, PEPPER).seal(raw)) == raw


def test_one_store_call_per_batch(store: CountingStore, dataset: list[dict[str, Any]]) -> None:
    sealed = Sealer(store, PEPPER).seal_many(dataset)
    assert store.calls == ["data_keys"]
    store.calls.clear()
    Sealer(store, PEPPER).open_many(sealed)
    assert store.calls == ["keys"]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: {**r, "sealed": {**r["sealed"], "data": _flip(r["sealed"]["data"])}},
        lambda r: {**r, "event_id": "5b0c3f4e-7a51-4d0e-9a43-2f4b8d1c6e90"},  # moved to another event
        lambda r: {**r, "sealed": {**r["sealed"], "nonce": _flip(r["sealed"]["nonce"])}},
        lambda r: {**r, "sealed": {**r["sealed"], "v": 9}},
    ],
)
def test_tampering_fails_loudly(store: CountingStore, tamper: Any) -> None:
    sealer = Sealer(store, PEPPER)
    record = orjson.loads(sealer.seal(event()))
    with pytest.raises(SealError):
        sealer.open(orjson.dumps(tamper(record)))


def _flip(text: str) -> str:
    data = bytearray(base64.b64decode(text))
    data[0] ^= 1
    return base64.b64encode(bytes(data)).decode()


def test_a_shredded_subject_reads_redacted(store: CountingStore) -> None:
    sealer = Sealer(store, PEPPER)
    jane, other = sealer.seal_many([event(), event("someone.else@acme-widgets.com")])
    subject = orjson.loads(jane)["sealed"]["subject"]
    assert store.shred([subject], requested_by="dpo@us", reason="GDPR art. 17") == 1
    sealer.forget([subject])
    gone, kept = (orjson.loads(b) for b in sealer.open_many([jane, other]))
    erased = parse_event(gone)
    assert erased.identifiers.external_ids == {ERASED_SYSTEM: subject}
    assert erased.identifiers.account_domain == "acme-widgets.com"
    assert "Janeway" not in orjson.dumps(gone).decode()
    assert kept["identifiers"]["email"] == "someone.else@acme-widgets.com"


def test_a_missing_key_without_an_erasure_is_an_error(store: CountingStore, tmp_path: Path) -> None:
    sealed = Sealer(store, PEPPER).seal(event())
    empty = SQLiteKeyStore(tmp_path / "other.db", KEK, "kek-1")
    with pytest.raises(SealError, match="right key store"):
        Sealer(empty, PEPPER).open(sealed)


def test_a_subject_seen_after_erasure_gets_a_new_key(store: CountingStore) -> None:
    sealer = Sealer(store, PEPPER)
    before = sealer.seal(event())
    subject = orjson.loads(before)["sealed"]["subject"]
    store.shred([subject], requested_by="dpo@us", reason="asked")
    sealer.forget([subject])
    after = sealer.seal(event())
    assert orjson.loads(after)["sealed"]["key"] != orjson.loads(before)["sealed"]["key"]
    assert [r.subject for r in store.reissued()] == [subject]
    assert store.reissued_after_erasure == 1
    old, new = (orjson.loads(b) for b in Sealer(store, PEPPER).open_many([before, after]))
    assert old["identifiers"]["external_ids"] == {ERASED_SYSTEM: subject}
    assert new["identifiers"]["email"] == "jane.doe@acme-widgets.com"


def test_the_cache_keeps_a_key_until_forgotten_or_expired(store: CountingStore) -> None:
    now = [0.0]
    sealer = Sealer(store, PEPPER, ttl=30.0, clock=lambda: now[0])
    sealed = sealer.seal(event())
    subject = orjson.loads(sealed)["sealed"]["subject"]
    store.shred([subject], requested_by="dpo@us", reason="asked")  # as another process would
    assert "external_ids" not in orjson.loads(sealer.open(sealed))["identifiers"]  # cached: still opens
    now[0] = 31.0
    assert orjson.loads(sealer.open(sealed))["identifiers"]["external_ids"] == {ERASED_SYSTEM: subject}
    sealer2 = Sealer(store, PEPPER, clock=lambda: 0.0)
    fresh = sealer2.seal(event("third@acme-widgets.com"))
    store.shred([orjson.loads(fresh)["sealed"]["subject"]], requested_by="dpo@us", reason="asked")
    sealer2.forget([orjson.loads(fresh)["sealed"]["subject"]])
    assert "email" not in orjson.loads(sealer2.open(fresh))["identifiers"]


def test_one_mailbox_is_one_subject_however_spelled() -> None:
    def subject(**ids: Any) -> str | None:
        return subject_of(Identifiers.model_validate(ids), PEPPER)

    assert subject(email="Jane.Doe+news@googlemail.com") == subject(email="janedoe@gmail.com")
    assert subject(email="jane@acme.com") != subject(email="john@acme.com")
    assert subject(external_ids={"salesforce": "003000000000004"}) == subject(
        external_ids={"salesforce": "003000000000004AAA"}
    )
    assert subject(account_domain="acme.com") is None


def test_erasure_finds_the_subjects_from_the_master_records_keys() -> None:
    def subject(**ids: Any) -> str | None:
        return subject_of(Identifiers.model_validate(ids), PEPPER)

    keys = [
        "email:janedoe@gmail.com",
        "role:support@acme.com",
        "named:email:smiths@gmail.com|mary",
        "ext:salesforce:003000000000004AAA",
        "phone:+14155550123",
        "domain:acme.com",
        "account:salesforce:001000000000009AAA",
        "name:jane doe|acme",
    ]
    assert subjects_of_identifiers(keys, PEPPER) == {
        subject(email="Jane.Doe@gmail.com"),
        subject(email="support@acme.com"),
        subject(email="smiths@gmail.com"),
        subject(external_ids={"salesforce": "003000000000004"}),
        subject(phone="+1 415 555 0123"),
    }


def test_an_invalid_identifier_set_is_still_sealed_by_its_readable_part(store: CountingStore) -> None:
    raw = event()
    raw["identifiers"] = {**raw["identifiers"], "phone": "not a phone at all, nope"}
    sealed = Sealer(store, PEPPER).seal(raw)
    assert b"jane.doe" not in sealed
    assert orjson.loads(Sealer(store, PEPPER).open(sealed)) == raw


def test_a_short_pepper_is_refused(store: CountingStore) -> None:
    with pytest.raises(ValueError, match="pepper"):
        Sealer(store, os.urandom(8))
