"""The linker's kept entries (adapters/master_record/link_cache.py): a scan that reads them decides exactly
as one that replays every contact, and the entry format is pinned so a change to what a link record holds
cannot reuse rows made by the old code without the format number changing too.

The cache against each store (kept on save, stale and foreign rows ignored, written back) is in
tests/contract/test_master_record_contract.py.
"""

from __future__ import annotations

from uuid import UUID

from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.master_record.link_cache import (
    ENTRY_FORMAT,
    MemoryLinkCache,
    decode,
    encode,
    entry_of,
)
from touchstream.adapters.master_record.linkage import Thresholds, scan
from touchstream.adapters.synthetic.noisy import NoisyConfig, noisy_dataset
from touchstream.events import parse_event
from touchstream.projections.linkage import LinkRecord

ANNIE = {
    "event_id": "5bf3f74d-cacc-4ec8-a02f-c22a4a7347fa",
    "type": "ContactDetailsObserved",
    "schema_version": 1,
    "occurred_at": "2026-01-01T00:00:40Z",
    "recorded_at": "2026-01-01T00:00:40Z",
    "source": "crm_import",
    "identifiers": {"external_ids": {"crm_import": "CR-5089602"}, "email": "Baker.Annie@outlook.com"},
    "payload": {
        "first_name": "Ánnie",
        "last_name": "Baker-Smith",
        "date_of_birth": "1978-06-21",
        "address": {
            "lines": ["201 Cherry Way"],
            "city": "Manchester",
            "postal_code": "M9 3UQ",
            "country": "GB",
        },
        "phone": "+442079460083",
        "company": "Nimbus Brewing Ltd.",
    },
}


def _resolved(people: int, seed: int) -> MasterRecord:
    master = MasterRecord.from_url("memory://")
    for raw in noisy_dataset(NoisyConfig(people=people, seed=seed)).events:
        master.resolve(parse_event(raw))
    return master


def test_a_scan_from_kept_entries_decides_as_a_scan_that_replays_every_contact() -> None:
    kept, replayed = _resolved(people=150, seed=8), _resolved(people=150, seed=8)
    replayed.link_cache = MemoryLinkCache(replayed)  # nothing kept: every contact is replayed
    thresholds = Thresholds(suspect=0.5, merge=0.99)
    warm, warm_linker = scan(kept, thresholds=thresholds)
    cold, cold_linker = scan(replayed, thresholds=thresholds)
    assert warm.merges > 0
    assert warm.suspects > 0
    counted = ("contacts", "pairs", "em_iterations", "suspects", "merges", "withdrawn", "households")
    assert {n: getattr(warm, n) for n in counted} == {n: getattr(cold, n) for n in counted}
    assert warm_linker.records == cold_linker.records  # contact ids come from the events: comparable
    assert warm_linker.model == cold_linker.model

    def decided(master: MasterRecord) -> set[tuple[object, ...]]:
        return {(s.contact_id, s.other_id, s.reason, s.status) for s in master.suspects(None)}

    assert decided(kept) == decided(replayed)
    written_back = replayed.link_cache.fresh([UUID(key) for key in cold_linker.versions])
    assert set(written_back) == {UUID(key) for key in cold_linker.versions}


def test_the_entry_format_is_pinned() -> None:
    """If this fails, what a link record holds has changed: raise ENTRY_FORMAT (rows of the old format are
    then replayed, not trusted) and write the new expectation here."""
    master = MasterRecord.from_url("memory://")
    contact_id = master.resolve(parse_event(ANNIE)).contact_id
    assert contact_id is not None
    entry = entry_of(master.contact(contact_id))
    assert ENTRY_FORMAT == 1
    assert entry.record == LinkRecord(
        id=str(contact_id),
        first_name=("annie",),
        last_name=("baker smith",),
        date_of_birth=("1978-06-21",),
        postcode=("M93UQ",),
        street=("201 cherry way",),
        city=("manchester",),
        phone=("+442079460083",),
        email=("baker.annie@outlook.com",),
        company=("nimbus brewing ltd",),
        strong=frozenset({"email:baker.annie@outlook.com", "ext:crm_import:CR-5089602"}),
    )
    assert decode(contact_id, entry.version, encode(entry)) == entry
