"""What the linker reads of the master record: the contacts as the model sees them, in bulk or one by one,
and the ids of every contact and suspect (adapters/master_record/linkage.py acts on them)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from ...projections.master_record import Contact, DuplicateSuspect
from .application import MasterRecord
from .bulk_read import events_of_many
from .link_cache import LinkEntry, entry_of, link_record

__all__ = [
    "contact_id_pages",
    "contact_ids",
    "entries_for_linkage",
    "fresh_suspect",
    "link_record",
    "read_for_linkage",
    "read_many_for_linkage",
    "suspect_ids",
]


def contact_ids(master: MasterRecord) -> Iterator[UUID]:
    """Every contact ever registered, oldest first (from the notification log)."""
    for page in contact_id_pages(master):
        yield from page


def contact_id_pages(master: MasterRecord) -> Iterator[list[UUID]]:
    """`contact_ids` a page of the notification log at a time."""
    topic = get_topic(Contact.Registered)  # type: ignore[attr-defined]
    start = 1
    while True:
        batch = master.recorder.select_notifications(start, 1000, topics=[topic])
        yield [UUID(str(note.originator_id)) for note in batch]
        if len(batch) < 1000:
            return
        start = batch[-1].id + 1


# Contact events that change nothing `link_record` reads (which value of an attribute is current, the
# account, consent): the linker's reads neither decode nor apply them (the profile's largest cost was
# replaying every event of every contact; these are ~40 % of them, and the largest).
_NOT_COMPARED = frozenset(
    get_topic(getattr(Contact, name))
    for name in ("AttributeChanged", "AccountLinked", "AccountSuggested", "ConsentChanged")
)


def read_for_linkage(master: MasterRecord, contact_id: UUID) -> Contact:
    """The contact as the model sees it: every stored event replayed but those in `_NOT_COMPARED`, so its
    observations, identifiers, weak keys, merge, role and erasure are the full read's (`link_record` of
    both is equal: tests/unit/test_linkage.py), its `version` the stored one, and its current values and
    account are not to be used. Reads from version 1 (no snapshot): contacts are short."""
    return _replayed(master, contact_id, master.recorder.select_events(contact_id))


def read_many_for_linkage(master: MasterRecord, contact_ids: Sequence[UUID]) -> list[Contact]:
    """`read_for_linkage` of each of `contact_ids`, in their order, their events read in a few statements
    (`bulk_read.events_of_many`) instead of one a contact."""
    stored = events_of_many(master, contact_ids)
    return [_replayed(master, contact_id, stored.get(contact_id, ())) for contact_id in contact_ids]


def entries_for_linkage(master: MasterRecord, contact_ids: Sequence[UUID]) -> list[LinkEntry]:
    """What the linker indexes of each of `contact_ids`, in their order: the kept entry when it is as new
    as the contact (link_cache.py), else the contact replayed (`read_many_for_linkage`), its entry written
    back for the next reader."""
    kept = master.link_cache.fresh(contact_ids)
    replayed = [entry_of(c) for c in read_many_for_linkage(master, [i for i in contact_ids if i not in kept])]
    master.link_cache.put(replayed)
    kept.update((e.contact_id, e) for e in replayed)
    return [kept[i] for i in contact_ids]


def _replayed(master: MasterRecord, contact_id: UUID, stored_events: Iterable[StoredEvent]) -> Contact:
    contact: Contact | None = None
    for stored in stored_events:
        if stored.topic in _NOT_COMPARED:
            if contact is not None:
                contact.version = stored.originator_version
            continue
        event = master.mapper.to_domain_event(stored)
        if not isinstance(event, Contact.Event):
            raise TypeError(f"{contact_id} is not a contact ({stored.topic})")
        contact = event.mutate(contact)
    if contact is None:
        raise KeyError(f"no contact {contact_id}")
    return contact


def fresh_suspect(raised: DuplicateSuspect) -> DuplicateSuspect:
    """An unsaved suspect raised again (a failed write collected the events of the one given)."""
    return DuplicateSuspect.new(
        contact_id=raised.contact_id,
        other_id=raised.other_id,
        reason=raised.reason,
        identifier=raised.identifier,
        event_id=raised.raised_by,
    )


def suspect_ids(master: MasterRecord) -> set[UUID]:
    """The id of every duplicate suspect ever raised (from the notification log)."""
    topic = get_topic(DuplicateSuspect.Raised)  # type: ignore[attr-defined]
    found: set[UUID] = set()
    start = 1
    while True:
        notes = master.recorder.select_notifications(start, 1000, topics=[topic])
        found.update(UUID(str(note.originator_id)) for note in notes)
        if len(notes) < 1000:
            return found
        start = notes[-1].id + 1
