"""The resolve stage: a raw touchpoint in, the same touchpoint enriched with contact and account ids out,
keyed by contact id for `touchpoints.resolved`. Faust-free: the Faust agent and the embedded runner both
call `ResolveStage.process`.

The cache remembers only what resolution itself reported as settled (an identifier key claimed by a
contact, a phone only that contact holds, the contact's account), so a hit returns exactly what the master
record would have said. An event that carries details (names, a phone in a signature, consent) or any
identifier the cache has not seen goes to the master record. Merges and unmerges — seen here, or read from
`masterdata.events` for other workers' — drop every entry naming the contacts involved. Another worker's
merge not yet seen leaves an entry naming the merged contact, which still maps to its survivor.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from ..events import Event, ResolvedTouchpoint
from ..projections.identity import Evidence, IdentityConfig, Resolution, evidence_of
from ..projections.merges import MERGE_TYPES

RESOLVED_TOPIC = "touchpoints.resolved"
DEFAULT_CACHE_SIZE = 200_000


class ResolveConflict(Exception):
    """A batch lost a race with another writer: nothing of it was written; run it again."""


#: Attempts at one batch that keeps losing races before the error is let out (the caller retries later).
MAX_BATCH_ATTEMPTS = 20


class Resolver(Protocol):
    """The master record as this stage sees it (adapters/master_record/application.py's MasterRecord)."""

    identity: IdentityConfig

    def resolve(
        self, event: Event, evidence: Evidence | None = None, raw: tuple[int, int] | None = None
    ) -> Resolution: ...


#: The valid events at some raw log positions, with their positions (those no longer readable are left out).
RawEvents = Callable[[Sequence[tuple[int, int]]], list[tuple[Event, int, int]]]


@dataclass(frozen=True)
class Resolved:
    """One touchpoint through the stage: the record for `touchpoints.resolved`, its key, and how."""

    key: bytes
    touchpoint: ResolvedTouchpoint
    resolution: Resolution
    cached: bool
    # The calls of an anonymous caller's contact this event merged into its person, handed to the person
    # (same key): appended after the touchpoint.
    reattributed: tuple[ResolvedTouchpoint, ...] = ()


class IdentityCache:
    """identifier key -> contact (or account) id, LRU-bounded, with a reverse index for invalidation."""

    def __init__(self, max_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.max_size = max_size
        self._ids: OrderedDict[str, UUID] = OrderedDict()
        self._accounts: dict[UUID, UUID | None] = {}  # contact -> its account
        self._keys_of: dict[UUID, set[str]] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def knows(self, key: str) -> bool:
        """Whether `key` is cached, without counting as a use."""
        return key in self._ids

    def get(self, key: str) -> UUID | None:
        found = self._ids.get(key)
        if found is not None:
            self._ids.move_to_end(key)
        return found

    def account_of(self, contact_id: UUID) -> tuple[bool, UUID | None]:
        return (contact_id in self._accounts, self._accounts.get(contact_id))

    def put(self, key: str, owner: UUID) -> None:
        old = self._ids.get(key)
        if old is not None and old != owner:
            self._keys_of.get(old, set()).discard(key)
        self._ids[key] = owner
        self._ids.move_to_end(key)
        self._keys_of.setdefault(owner, set()).add(key)
        while len(self._ids) > self.max_size:
            evicted, who = self._ids.popitem(last=False)
            self._keys_of.get(who, set()).discard(evicted)

    def drop(self, key: str) -> None:
        owner = self._ids.pop(key, None)
        if owner is not None:
            self._keys_of.get(owner, set()).discard(key)

    def put_account(self, contact_id: UUID, account_id: UUID | None) -> None:
        self._accounts[contact_id] = account_id
        self._keys_of.setdefault(contact_id, set())

    def invalidate(self, ids: Iterable[UUID]) -> None:
        for owner in ids:
            for key in self._keys_of.pop(owner, set()):
                self._ids.pop(key, None)
            self._accounts.pop(owner, None)


class ResolveStage:
    def __init__(
        self, resolver: Resolver, cache_size: int = DEFAULT_CACHE_SIZE, raw_events: RawEvents | None = None
    ) -> None:
        self.resolver = resolver
        # Where an anonymous caller's calls are read again when its contact merges into its person (None:
        # they stay with the merged contact, as before re-attribution existed).
        self.raw_events = raw_events
        self.cache = IdentityCache(cache_size)
        self.hits = 0
        self.misses = 0

    def process(
        self, event: Event, raw_partition: int | None = None, raw_offset: int | None = None
    ) -> Resolved:
        """Resolve one touchpoint and build its record for `touchpoints.resolved`."""
        return self._process(event, evidence_of(event, self.resolver.identity), raw_partition, raw_offset)

    def _process(
        self, event: Event, ev: Evidence, raw_partition: int | None, raw_offset: int | None
    ) -> Resolved:
        resolution = self._from_cache(ev)
        cached = resolution is not None
        if resolution is None:
            raw = None if raw_partition is None or raw_offset is None else (raw_partition, raw_offset)
            resolution = self.resolver.resolve(event, ev, raw)
            self._remember(ev, resolution)
        contact_id = str(resolution.contact_id) if resolution.contact_id else None
        account_id = str(resolution.account_id) if resolution.account_id else None
        touchpoint = ResolvedTouchpoint(event, contact_id, account_id, raw_partition, raw_offset)
        owner = resolution.contact_id or resolution.account_id
        key = str(owner).encode() if owner else event.identifiers.strongest().encode()
        again: tuple[ResolvedTouchpoint, ...] = ()
        if resolution.reattribute and self.raw_events is not None:
            again = tuple(
                ResolvedTouchpoint(call, contact_id, account_id, partition, offset, reattributed=True)
                for call, partition, offset in self.raw_events(resolution.reattribute)
            )
        return Resolved(key, touchpoint, resolution, cached, again)

    def process_batch(self, items: Sequence[tuple[Event, int | None, int | None]]) -> list[Resolved]:
        """`process` for each (event, raw partition, raw offset) in order, as one unit of work when the
        master record offers one (`batch()`: each aggregate read once, one transaction at the end).
        The answers are the ones `process` gives event by event. When the batch loses a race, or fails
        in any way, the cache entries it learned are dropped (they may name what was never written) and
        a lost race is run again from a fresh read."""
        batch = getattr(self.resolver, "batch", None)
        if batch is None:
            return [self.process(event, partition, offset) for event, partition, offset in items]
        for _ in range(MAX_BATCH_ATTEMPTS - 1):
            try:
                return self._process_in(batch, items)
            except ResolveConflict:
                continue
        return self._process_in(batch, items)

    def _process_in(
        self,
        batch: Callable[[], AbstractContextManager[None]],
        items: Sequence[tuple[Event, int | None, int | None]],
    ) -> list[Resolved]:
        try:
            with batch():
                evidence = [evidence_of(event, self.resolver.identity) for event, _, _ in items]
                prefetch = getattr(self.resolver, "prefetch", None)
                if prefetch is not None:
                    prefetch([ev for ev in evidence if not self._surely_cached(ev)])
                return [
                    self._process(event, ev, partition, offset)
                    for (event, partition, offset), ev in zip(items, evidence, strict=True)
                ]
        except BaseException:
            self.cache = IdentityCache(self.cache.max_size)
            raise

    def _surely_cached(self, ev: Evidence) -> bool:
        """Whether the cache as it stands answers `ev` (the master record is then not asked, so there is
        nothing to read ahead for it). Entries learned earlier in the same batch may answer more."""
        if ev.has_observations:
            return False
        keys = (*(ev.strong or ev.role or ()), *ev.phones, *ev.account_external, *ev.account_domains)
        return bool(keys) and all(self.cache.knows(k) for k in keys)

    def _from_cache(self, ev: Evidence) -> Resolution | None:
        if ev.has_observations:
            self.misses += 1
            return None
        person = ev.strong or ev.role or ()
        person_keys = (*person, *ev.phones)
        contacts = {self.cache.get(k) for k in person_keys}
        if not person_keys or len(contacts) != 1 or None in contacts:
            self.misses += 1
            return None
        (contact_id,) = contacts
        assert contact_id is not None
        known, account_id = self.cache.account_of(contact_id)
        accounts = [self.cache.get(k) for k in (*ev.account_external, *ev.account_domains)]
        if not known or any(a is None or a != account_id for a in accounts):
            self.misses += 1
            return None
        self.hits += 1
        return Resolution(contact_id=contact_id, account_id=account_id, is_new=False)

    def _remember(self, ev: Evidence, resolution: Resolution) -> None:
        touched = [m.merged for m in resolution.merges] + [m.survivor for m in resolution.merges]
        self.cache.invalidate(touched)
        for key in ev.phones:
            if key not in resolution.contact_keys:
                self.cache.drop(key)  # now shared by several contacts: only the master record may choose
        contact_id = resolution.contact_id
        if contact_id is None:
            return
        for key in resolution.contact_keys:
            self.cache.put(key, contact_id)
        if resolution.account_id is not None:
            for key in resolution.account_keys:
                self.cache.put(key, resolution.account_id)
        self.cache.put_account(contact_id, resolution.account_id)

    def on_masterdata(self, message: Mapping[str, Any]) -> None:
        """Feed `masterdata.events` here: another worker's merge or unmerge drops what it made stale."""
        if message.get("type") in MERGE_TYPES:
            ids = [message.get("aggregate_id"), message.get("data", {}).get("merged_id")]
            self.cache.invalidate(UUID(str(i)) for i in ids if i)
