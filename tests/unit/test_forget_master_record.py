"""The master record forgets a contact's personal values (SQLite): the aggregates still load with their
versions, and neither a query of any table nor a raw byte search of the database files finds a value.

The byte search is shown to find every value before the forgetting, so an empty result after it means
something: SQLite stores the JSON states uncompressed, and each value is long and unique.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest
from event_examples import wire_event
from eventsourcing.persistence import StoredEvent

from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.master_record.forget import ERASED, forget_contact_values, scrub
from touchstream.events import parse_event
from touchstream.projections.identity import claim_id, weak_index_id
from touchstream.projections.master_record import Contact

EMAIL = "zelda.quintessa.forget7731@erasure-proof.example"
PHONE = "+14155550187"
FIRST, LAST = "Zeldaquintessa", "Forgetmenot-Vandermeer"
JOB = "Chief Holography Wrangler Extraordinaire"
PERSONAL = (EMAIL, PHONE, FIRST, LAST, JOB)
OTHER_EMAIL = "bartholomew.keepsake@unforgotten.example"


def observed(app: MasterRecord, email: str, payload: dict[str, Any], phone: str | None = None) -> UUID:
    identifiers = {"email": email, **({"phone": phone} if phone else {})}
    event = parse_event(
        wire_event(
            "ContactDetailsObserved", 1, event_id=str(uuid.uuid4()), identifiers=identifiers, payload=payload
        ),
        now=None,
    )
    contact = app.resolve(event).contact_id
    assert contact is not None
    return contact


def story(app: MasterRecord) -> tuple[UUID, list[UUID]]:
    """The subject (with enough changes for a snapshot) and another contact; the subject's aggregates."""
    contact = observed(app, EMAIL, {"first_name": FIRST, "last_name": LAST}, "415.555.0187")
    for n in range(90):  # job changes: more than the contact's snapshotting interval of events
        observed(app, EMAIL, {"job_title": JOB if n % 2 else f"{JOB} the {n}th"})
    observed(app, OTHER_EMAIL, {"first_name": "Bartholomew"})
    found = app.contact(contact)
    aggregates = [contact, *(claim_id(k) for k in found.identifiers), *(weak_index_id(k) for k in found.weak)]
    return contact, aggregates


def table_text(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(str(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in tables).lower()


def file_bytes(folder: Path) -> bytes:
    return b"\n".join(p.read_bytes().lower() for p in folder.iterdir() if p.is_file())


@pytest.fixture
def app(tmp_path: Path) -> Iterator[MasterRecord]:
    application = MasterRecord.from_url(f"sqlite:///{tmp_path / 'master.sqlite'}")
    yield application
    application.close()


def test_values_go_and_the_aggregates_stay(app: MasterRecord, tmp_path: Path) -> None:
    contact, aggregates = story(app)
    path = tmp_path / "master.sqlite"
    with sqlite3.connect(path) as conn:
        assert conn.execute(
            "SELECT count(*) FROM stored_snapshots WHERE originator_id = ?", (contact.hex,)
        ).fetchone()[0]
        # The linker's kept entry holds values too: the searches below cover it.
        kept = conn.execute("SELECT state FROM link_records WHERE originator_id = ?", (contact.hex,))
        assert EMAIL.encode() in kept.fetchone()[0]
    before = app.repository.get(contact)
    text, raw = table_text(path), file_bytes(tmp_path)
    assert [v for v in PERSONAL if v.lower() not in text or v.lower().encode() not in raw] == []

    assert forget_contact_values(f"sqlite:///{path}", aggregates) > 0

    after = app.repository.get(contact)
    assert after.version == before.version
    assert after.first_seen == before.first_seen
    assert set(after.current) == set(before.current)  # which attributes it had, not their values
    assert {a["value"] for a in after.current.values()} == {ERASED}
    text, raw = table_text(path), file_bytes(tmp_path)
    assert [v for v in PERSONAL if v.lower() in text] == []
    assert [v for v in PERSONAL if v.lower().encode() in raw] == []
    assert OTHER_EMAIL in text  # only the subject's aggregates were touched
    assert contact not in app.link_cache.fresh([contact])  # its kept entry is gone: made again when read
    assert forget_contact_values(f"sqlite:///{path}", aggregates) == 0  # a second pass finds nothing


def test_typed_values_and_clear_fields_are_kept() -> None:
    state = {
        "originator_topic": "x:Contact",
        "first_seen": {"_type_": "datetime_iso", "_data_": "2026-03-02T10:00:00+00:00"},
        "observation": {"attribute": "first_name", "value": "Jane", "source": "hubspot", "confidence": 0.6},
        "strong": ["email:jane@x.io"],
    }
    scrubbed, count = scrub(state)
    assert count == 2
    assert scrubbed["observation"] == {
        "attribute": "first_name",
        "value": ERASED,
        "source": "hubspot",
        "confidence": 0.6,
    }
    assert scrubbed["strong"] == [ERASED]
    assert scrubbed["first_seen"] == state["first_seen"]
    keyed = {"first_name": {"0|crm|Jane Doe": {"value": "Jane Doe"}, "1|crm|Jane Doe": {"value": "Jane Doe"}}}
    assert scrub(keyed)[0] == {
        "first_name": {"0|crm|[erased]": {"value": ERASED}, "1|crm|[erased]": {"value": ERASED}}
    }


def test_a_snapshot_still_loads_whatever_its_values_spell(app: MasterRecord) -> None:
    """A survivor that took its account from the contact it absorbed has `account_basis` "merge": a value
    that spells part of the attribute name `merged_into`. Forgetting once renamed every key quoting a
    forgotten value, so the snapshot lost `merged_into` and every later read of that contact failed
    (seen in a two-worker run: the workers retried the batch for ever)."""
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    survivor, merged = Contact.new("email:ann@x.io", now), Contact.new("email:ann.b@x.io", now)
    merged.link_account(uuid.uuid4(), basis="domain", event_id="e1")
    merged.merge_into(
        survivor, reason="same person", identifiers=["email:ann@x.io"], event_id="e2", actor="x"
    )
    assert survivor.account_basis == "merge"
    stored = app.mapper.to_stored_event(Contact.Snapshot.take(survivor))  # type: ignore[attr-defined]
    scrubbed, count = scrub(orjson.loads(stored.state))
    assert count  # the anchor and the identifiers went
    forgotten = StoredEvent(
        stored.originator_id, stored.originator_version, stored.topic, orjson.dumps(scrubbed)
    )

    loaded = app.mapper.to_domain_event(forgotten).mutate(None)

    assert loaded.merged_into is None
    assert loaded.account_basis == "merge"  # names no one: kept, like the event's `basis`
    assert sorted(vars(loaded)) == sorted(vars(survivor))
    assert loaded.anchor == ERASED


def test_the_steward_queue_forgets_a_forgotten_contact(app: MasterRecord) -> None:
    """A suspect that names an erased contact leaves the queue (a tombstone is no one to merge) and keeps
    no identifier: it would say which name or number the forgotten person had."""
    shared = "+14155550199"
    gone = observed(app, "ann.erasable@acme-widgets.com", {"first_name": "Ann"}, shared)
    stays = observed(app, "ben.stays@acme-widgets.com", {"first_name": "Ben"}, shared)
    other = observed(app, "cy.other@acme-widgets.com", {"first_name": "Cy"}, "+14155550198")
    observed(app, "di.other@acme-widgets.com", {"first_name": "Di"}, "+14155550198")
    (suspect,) = [s for s in app.suspects() if gone in (s.contact_id, s.other_id)]
    assert {suspect.contact_id, suspect.other_id} == {gone, stays}

    scope = app.erasure_scope(gone)
    assert suspect.id in scope.aggregate_ids
    app.forget(scope)

    after = app.suspects_by_id([suspect.id])[suspect.id]
    assert (after.status, after.identifier) == ("withdrawn", ERASED)
    assert [s.other_id in (gone, stays) for s in app.suspects()] == [False]  # Cy and Di's stays open
    assert other in {s.contact_id for s in app.suspects()} | {s.other_id for s in app.suspects()}
