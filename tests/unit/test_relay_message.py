"""The relay's message is read from the stored state without building the domain event
(adapters/master_record/relay.py, `message_of`): these tests hold it byte for byte equal to the message
built from the event the library's mapper gives, over a master record with every kind of event the noisy
data makes, a linkage scan, a steward's merge and unmerge, and a forgotten contact.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, strategies as st

from touchstream.adapters.keys.store import SQLiteKeyStore
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.master_record.linkage import Thresholds, scan
from touchstream.adapters.master_record.relay import (
    TRANSCODINGS,
    MasterDataRelay,
    _event_id_text,
    masterdata_event_id,
    message_of,
)
from touchstream.adapters.synthetic.noisy import NoisyConfig, noisy_dataset
from touchstream.events import parse_event
from touchstream.projections.master_record import published_type
from touchstream.streams.embedded import LogProducer
from touchstream.streams.sealed_log import MasterdataCodec, SealedLog, SealingProducer
from touchstream.streams.sealing import Sealer

_ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def message_from_the_mapper(app: MasterRecord, notification: Any) -> bytes:
    """The message as the relay built it from the domain event before (the oracle)."""
    event = app.mapper.to_domain_event(notification)
    qualname = type(event).__qualname__
    event_id = masterdata_event_id(notification.originator_id, notification.originator_version)
    message = {
        "event_id": str(event_id),
        "type": published_type(qualname),
        "aggregate_type": qualname.split(".", 1)[0],
        "aggregate_id": str(notification.originator_id),
        "aggregate_version": notification.originator_version,
        "notification_id": notification.id,
        "recorded_at": getattr(event, "timestamp", None),
        "data": {k: v for k, v in vars(event).items() if k not in _ENVELOPE},
    }
    return orjson.dumps(message)


def test_the_message_equals_the_one_built_from_the_domain_event(tmp_path: Path) -> None:
    app = MasterRecord.from_url(f"sqlite:///{tmp_path / 'master.sqlite'}")
    try:
        for raw in noisy_dataset(NoisyConfig(people=60, seed=3)).events:
            app.resolve(parse_event(raw))
        scan(app, thresholds=Thresholds(suspect=0.5, merge=0.99))
        contacts = [s.contact_id for s in app.suspects(None)]
        assert len(contacts) >= 3, "the data should raise suspects"
        survivor = app.merge(contacts[0], contacts[1], actor="steward")
        merged = contacts[1] if survivor == contacts[0] else contacts[0]
        app.unmerge(merged, actor="steward", note="not the same person")
        app.forget(app.erasure_scope(contacts[2]))

        notifications = app.recorder.select_notifications(0, 100_000)
        kinds = {n.topic.rpartition(":")[2] for n in notifications}
        for expected in ("Contact.Absorbed", "Contact.MergeUndone", "DuplicateSuspect.Raised"):
            assert expected in kinds
        assert any(b"[erased]" in n.state for n in notifications)
        for notification in notifications:
            out = message_of(notification)
            assert out.value() == message_from_the_mapper(app, notification), notification.topic
            assert out.key == str(notification.originator_id).encode()
            assert dict(out.headers) == {
                "event_id": out.message["event_id"].encode(),
                "type": out.message["type"].encode(),
            }
    finally:
        app.close()


@given(st.uuids(), st.integers(min_value=1, max_value=10**9))
def test_the_event_id_text_is_the_name_based_uuid(aggregate_id: uuid.UUID, version: int) -> None:
    assert _event_id_text(aggregate_id, version) == str(masterdata_event_id(aggregate_id, version))


def test_every_transcoding_the_master_record_registers_is_read_back() -> None:
    app = MasterRecord.from_url("memory://")
    assert set(app.mapper.transcoder.names) == set(TRANSCODINGS)  # type: ignore[attr-defined]
    assert app.mapper.compressor is None
    assert app.mapper.cipher is None


class Recording:
    """kafka-python's producer as far as the relay uses it, keeping what it was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []

    def send(self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]) -> Any:
        self.sent.append((key, value))
        return self

    def get(self, timeout: float | None = None) -> None:
        return None

    def flush(self, timeout: float | None = None) -> None:
        return None


def test_sealing_producers_seal_the_objects_as_the_codec_seals_their_bytes(tmp_path: Path) -> None:
    """The embedded log and Kafka's sealing producer take the relay's messages as objects; what they
    store opens to the messages the plain relay sends, and holds no identifier in the clear."""
    app = MasterRecord.from_url(f"sqlite:///{tmp_path / 'master.sqlite'}")
    keys = SQLiteKeyStore(tmp_path / "keys.db", b"k" * 32, "kek-1")
    try:
        for raw in noisy_dataset(NoisyConfig(people=10, seed=5)).events:
            app.resolve(parse_event(raw))
        codec = MasterdataCodec(Sealer(keys, b"p" * 32))
        plain, kafka = Recording(), Recording()
        embedded = SQLiteEventLog(tmp_path / "masterdata.sqlite", partitions=1)
        for name, producer in (
            ("plain", plain),
            ("kafka", SealingProducer(kafka, codec)),
            ("embedded", LogProducer(SealedLog(embedded, codec))),
        ):
            relay = MasterDataRelay(app, producer, name=name, batch_size=50)
            while relay.run_once():
                pass
        stored = [r.value for r in embedded.read(0, 0, 100_000)]
        assert len(plain.sent) == len(kafka.sent) == len(stored) > 50
        emails = {e for _, v in plain.sent for e in _emails_in(orjson.loads(v)["data"])}
        assert emails
        for sealed in ([v for _, v in kafka.sent], stored):
            assert all("sealed_data" in m and "data" not in m for m in map(orjson.loads, sealed))
            assert not any(email.encode() in v for v in sealed for email in emails)
            assert codec.open(sealed) == [v for _, v in plain.sent]
        assert [k for k, _ in kafka.sent] == [k for k, _ in plain.sent]
    finally:
        keys.close()
        app.close()


def _emails_in(value: Any) -> set[str]:
    if isinstance(value, dict):
        return {e for v in value.values() for e in _emails_in(v)}
    if isinstance(value, list):
        return {e for v in value for e in _emails_in(v)}
    return {value.rsplit(":", 1)[-1]} if isinstance(value, str) and "@" in value else set()
