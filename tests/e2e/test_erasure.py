"""A customer who asks to be forgotten is forgotten everywhere (docs/privacy.md), embedded mode, end to end.

One person is seeded across marketing, sales and support — with a dead letter and a merge — beside a
control customer, then erased. Every store is searched for their email, names and phone: the logs (read
through the raw files and through their readers), every chDB table without FINAL, every table of the
master record and of the key store, every file of the data folder byte by byte, and the service logs. Zero
hits; the control customer is untouched; counts that identify no one are unchanged.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from event_examples import wire_event

from touchstream.adapters.bootstrap import Runtime
from touchstream.adapters.config import load_settings
from touchstream.adapters.sdk.publisher import Publisher
from touchstream.adapters.storage.migrate import prepare_read_store
from touchstream.streams.topology import DLQ, RAW, RESOLVED

pytestmark = [pytest.mark.timeout(600)]

EMAIL = "quillon.zaxtrabeth@zaxtra-widgets.example"
FIRST, LAST = "Quillon", "Zaxtrabeth"
PHONE_DIGITS = "4155550199"
SECRETS = [EMAIL, "quillon.zaxtrabeth", FIRST, LAST, PHONE_DIGITS]
CONTROL = "ada.keepme@lovelace-works.example"


def event(
    type_name: str, identifiers: dict[str, Any], payload: dict[str, Any] | None = None, day: int = 1
) -> dict[str, Any]:
    base = wire_event(type_name, 1, event_id=str(uuid.uuid4()), identifiers=identifiers)
    base["occurred_at"] = base["recorded_at"] = f"2026-03-{day:02d}T10:00:00Z"
    if payload is not None:
        base["payload"] = {**base["payload"], **payload}
    return base


def history() -> list[dict[str, Any]]:
    person = {"email": EMAIL, "phone": f"+1 {PHONE_DIGITS[:3]} {PHONE_DIGITS[3:6]} {PHONE_DIGITS[6:]}"}
    return [
        event("FormSubmitted", person, {"first_name": FIRST, "last_name": LAST}, day=1),
        event("LeadCreated", {"email": EMAIL}, day=2),
        event("TicketOpened", {"email": EMAIL}, {"subject": f"{FIRST} {LAST} cannot sign in"}, day=3),
        event("ContactDetailsObserved", {"email": EMAIL}, {"first_name": FIRST, "job_title": "CTO"}, day=4),
        # A second record of the same person, known only by a support-desk id, then tied to the email:
        # the master record merges the two contacts.
        event("TicketOpened", {"external_ids": {"zendesk": "zd-4471"}}, {"ticket_id": "T-9"}, day=5),
        event(
            "TicketUpdated",
            {"email": EMAIL, "external_ids": {"zendesk": "zd-4471"}},
            {"ticket_id": "T-9"},
            day=6,
        ),
        event("EmailOpened", {"email": CONTROL}, day=2),
    ]


def dead_letter() -> bytes:
    broken = event("TicketOpened", {"email": EMAIL}, {"subject": f"{FIRST} again"}, day=7)
    del broken["payload"]["ticket_id"]
    return orjson.dumps(broken)


def erasure() -> dict[str, Any]:
    return event(
        "ErasureRequested", {"email": EMAIL}, {"request_id": "gdpr-77", "requested_by": "dpo"}, day=9
    )


def hits(text: str | bytes) -> list[str]:
    haystack = text.decode("latin-1") if isinstance(text, bytes) else text
    return [s for s in SECRETS if s.lower() in haystack.lower()]


def chdb_rows(runtime: Runtime) -> dict[str, str]:
    with runtime.read_store() as store:
        tables = [
            r[0] for r in store.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
        ]
        out = {}
        for table in tables:
            engine = store.query(
                f"SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = '{table}'"
            )
            if engine and "View" in str(engine[0][0]):
                continue
            out[table] = repr(store.query(f"SELECT * FROM {table}"))
        return out


def sqlite_dump(path: Path) -> str:
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return repr({t: list(db.execute(f'SELECT * FROM "{t}"')) for t in tables})


def log_records(runtime: Runtime, topic: str) -> list[bytes]:
    with runtime.log(topic) as log:
        return [r.value for p in range(log.partitions) for r in log.read(p, 0, 100_000)]


def test_an_erased_customer_leaves_no_personal_value_in_any_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TOUCHSTREAM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TOUCHSTREAM_MODE", raising=False)
    runtime = Runtime(load_settings())
    with runtime.read_store() as store:
        prepare_read_store(store)
    with Publisher(runtime.log(RAW), close_log=True) as publisher:
        publisher.send_all(history())
    with runtime.log(RAW) as raw:
        raw.append([(None, dead_letter())])

    def run() -> None:
        with runtime.read_store() as store, runtime.embedded_pipeline(store) as pipeline:
            pipeline.run_until_caught_up()

    run()
    with runtime.read_store() as store:
        before = store.query("SELECT count() FROM touchpoints FINAL")[0][0]
        merges = store.query("SELECT count() FROM contact_merges FINAL")[0][0]
        letters = store.query("SELECT count() FROM dead_letters FINAL")[0][0]
        assert (before, letters) == (len(history()), 1)
        assert merges >= 1, "the two records of the person were merged"
        seen = repr(store.query(f"SELECT * FROM customer_360 FINAL WHERE email = '{EMAIL}'"))
        assert FIRST in seen, "before the erasure the 360 view knows the person"
    # The logs never held them in the clear, even before the erasure.
    for path in (tmp_path / "data" / "log").glob("*.sqlite"):
        assert hits(path.read_bytes()) == [], path.name

    with Publisher(runtime.log(RAW), close_log=True) as publisher:
        publisher.send(erasure())
    run()

    with runtime.read_store() as store:
        assert store.query("SELECT count() FROM touchpoints FINAL")[0][0] == before + 1
        assert store.query("SELECT count() FROM dead_letters FINAL")[0][0] == 1
        assert store.query("SELECT count() FROM customer_360 FINAL WHERE erased = 1")[0][0] >= 1
        control = repr(store.query(f"SELECT email FROM customer_360 FINAL WHERE email = '{CONTROL}'"))
        assert CONTROL in control, "the control customer is untouched"
    found = {table: hits(rows) for table, rows in chdb_rows(runtime).items()}
    assert {t: h for t, h in found.items() if h} == {}
    for topic in (RAW, RESOLVED, DLQ):  # read back through the readers: opened, and redacted
        for value in log_records(runtime, topic):
            assert hits(value) == [], (topic, value[:300])
    data = tmp_path / "data"
    assert hits(sqlite_dump(data / "master-record.sqlite")) == []
    assert hits(sqlite_dump(data / "keys.sqlite")) == []
    leaked = {str(p.relative_to(data)): hits(p.read_bytes()) for p in data.rglob("*") if p.is_file()}
    assert {p: h for p, h in leaked.items() if h} == {}
    assert hits(caplog.text) == []

    # A full rebuild from the log still works, and the erased person's events come back as a tombstone.
    rebuilt = cli(["rebuild"], tmp_path)
    assert rebuilt.exit_code == 0, rebuilt.output
    with runtime.read_store() as store:
        assert store.query("SELECT count() FROM touchpoints FINAL")[0][0] == before + 1
    found = {table: hits(rows) for table, rows in chdb_rows(runtime).items()}
    assert {t: h for t, h in found.items() if h} == {}

    # The audit says who asked, when, and how many keys went; it names no one.
    audit = cli(["privacy", "audit"], tmp_path)
    assert audit.exit_code == 0, audit.output
    assert "by dpo" in audit.output or "by source:" in audit.output, audit.output
    assert "ErasureRequested" in audit.output
    assert hits(audit.output) == []


def cli(args: list[str], tmp_path: Path) -> Any:
    from typer.testing import CliRunner

    from touchstream.adapters.cli.main import app

    env = {"TOUCHSTREAM_DATA_DIR": str(tmp_path / "data")}
    return CliRunner().invoke(app, args, env=env)


def embedded_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setenv("TOUCHSTREAM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TOUCHSTREAM_MODE", raising=False)
    runtime = Runtime(load_settings())
    with runtime.read_store() as store:
        prepare_read_store(store)
    return runtime


def publish_and_run(runtime: Runtime, events: list[dict[str, Any]]) -> None:
    with Publisher(runtime.log(RAW), close_log=True) as publisher:
        publisher.send_all(events)
    with runtime.read_store() as store, runtime.embedded_pipeline(store) as pipeline:
        pipeline.run_until_caught_up()


def coming_back() -> dict[str, Any]:
    return event("FormSubmitted", {"email": EMAIL}, {"first_name": FIRST, "last_name": LAST}, day=20)


def test_someone_forgotten_who_comes_back_is_a_new_subject_and_is_flagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = embedded_runtime(tmp_path, monkeypatch)
    publish_and_run(runtime, [*history()[:4], erasure()])
    again = coming_back()
    publish_and_run(runtime, [again])

    audit = cli(["privacy", "audit"], tmp_path)
    assert "1 erased subject(s) seen again" in audit.output, audit.output
    # The old records stay unreadable: the new key opens only what was sealed with it.
    records = [orjson.loads(value) for value in log_records(runtime, RAW)]
    old = [r for r in records if r["event_id"] != again["event_id"]]
    assert len(old) == 5
    assert all(hits(orjson.dumps(r)) == [] for r in old), "what was erased stays erased"
    (new,) = [r for r in records if r["event_id"] == again["event_id"]]
    assert new["identifiers"]["email"] == EMAIL, "the new subject's own event opens with its new key"
    with runtime.read_store() as store:
        profile = store.query(
            "SELECT erased, first_name, email FROM customer_360 FINAL WHERE contact_id IN "
            f"(SELECT contact_id FROM touchpoints FINAL WHERE event_id = '{again['event_id']}')"
        )
    assert profile == [(1, "", "")], "the returning person does not bring the tombstone back to life"


def test_a_request_carried_out_again_spares_the_key_of_a_person_who_came_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = embedded_runtime(tmp_path, monkeypatch)
    request = erasure()
    publish_and_run(runtime, [*history()[:4], request])
    again = coming_back()
    publish_and_run(runtime, [again])

    def returned_record() -> bytes:
        (value,) = [v for v in log_records(runtime, RAW) if orjson.loads(v)["event_id"] == again["event_id"]]
        return value

    assert EMAIL in hits(returned_record())
    publish_and_run(runtime, [request])  # the same request delivered again: it was carried out already
    assert EMAIL in hits(returned_record()), "a copy of the old request destroyed the new key"
    publish_and_run(runtime, [erasure()])  # a new request forgets them again
    assert hits(returned_record()) == []
