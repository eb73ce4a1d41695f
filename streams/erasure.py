"""Erasure, the step: when a batch's `ErasureRequested` touchpoints are written, forget their contacts in
every store (docs/privacy.md).

The order matters. The fold has already written the tombstone (`erased = 1`, counts and dates kept), so:

1. the master record names the scope: the contact, every contact merged into it, the identifier keys they
   ever held and the aggregates that hold those keys;
2. the key store destroys the data keys of the subjects those identifiers (and aggregates) name — from
   now on every copy of their records on every log opens as a redacted event (crypto-shredding);
3. the master record replaces the personal values of those aggregates (the contact stays: its id, its
   merges, the fact that it asked to be forgotten);
4. the read store deletes the older row versions and blanks the personal columns of the facts;
5. this process drops the keys and identities it cached.

Every step is idempotent, so a batch retried after a crash erases again, harmlessly; keys are destroyed
once per request, so a request carried out again after its person came back spares their new key. Both
runtimes call `Eraser.erase` after their project step's write; a rebuild into shadow tables does not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol
from uuid import UUID

from ..events import Identifiers, ResolvedTouchpoint
from ..projections.identity import email_key, external_key, phone_key
from .ports import AbstractReadStore, ReadStoreError

log = logging.getLogger("touchstream.erasure")

ERASURE_TYPE = "ErasureRequested"


@dataclass(frozen=True)
class ErasureScope:
    """What the master record holds of one person, as its erasure must reach it."""

    contact_ids: tuple[UUID, ...]  # the survivor first, then every contact merged into it
    identifier_keys: tuple[str, ...]  # every identifier key they held (`email:…`, `phone:…`, `ext:…`)
    aggregate_ids: tuple[UUID, ...]  # the contacts, the claims / weak indexes and the suspects naming them
    suspect_ids: tuple[UUID, ...] = ()  # the steward queue's entries that name the contacts


@dataclass(frozen=True)
class ErasureRequest:
    contact_id: str
    event_id: str
    requested_by: str
    # The person identifiers the request itself names (`email:…`): their subjects' keys are destroyed
    # even where the master record no longer holds them (someone forgotten came back and asks again).
    identifier_keys: tuple[str, ...] = ()


@dataclass
class ErasureOutcome:
    request: ErasureRequest
    contacts: int = 0
    keys_destroyed: int = 0
    values_replaced: int = 0
    rows_forgotten: int = 0
    notes: list[str] = field(default_factory=list)


class ErasureTarget(Protocol):
    """The master record's part."""

    def erasure_scope(self, contact_id: UUID) -> ErasureScope: ...

    def forget(self, scope: ErasureScope) -> int: ...


class SubjectKeys(Protocol):
    """The key store's part (`adapters/keys`)."""

    def shred(
        self, subjects: Collection[str], *, requested_by: str, reason: str, once_per_reason: bool = False
    ) -> int: ...


class Forgetful(Protocol):
    """What caches personal data in this process: the sealer's keys, the resolver's identities."""

    def forget(self, subjects: Collection[str]) -> None: ...


def erasure_requests(items: Iterable[tuple[ResolvedTouchpoint, int, int]]) -> list[ErasureRequest]:
    """The batch's erasure requests that name a contact, in order, once each."""
    seen: set[str] = set()
    requests = []
    for touchpoint, _, _ in items:
        event = touchpoint.event
        if event.type != ERASURE_TYPE or touchpoint.contact_id is None or touchpoint.contact_id in seen:
            continue
        seen.add(touchpoint.contact_id)
        requests.append(
            ErasureRequest(
                touchpoint.contact_id,
                str(event.event_id),
                event.actor or f"source:{event.source}",
                person_keys(event.identifiers),
            )
        )
    return requests


def person_keys(identifiers: Identifiers) -> tuple[str, ...]:
    """An event's person identifiers as identifier keys (the account's are left out)."""
    keys = [email_key(identifiers.email)] if identifiers.email else []
    keys += [external_key(system, value) for system, value in sorted(identifiers.external_ids.items())]
    if identifiers.phone:
        keys.append(phone_key(identifiers.phone))
    return tuple(keys)


class Eraser:
    """Forgets a contact everywhere (the steps in the module docstring). `subjects_of` maps the scope's
    identifier keys and aggregate ids to key-store subjects (the sealer's pepper makes them)."""

    def __init__(
        self,
        master_record: ErasureTarget,
        store: AbstractReadStore,
        *,
        keys: SubjectKeys | None = None,
        subjects_of: Callable[[ErasureScope], set[str]] | None = None,
        caches: Sequence[Forgetful] = (),
        on_contacts: Callable[[Collection[UUID]], None] | None = None,
        defer_part_drop: bool = False,
        mutation_wait_s: float = 30.0,
    ) -> None:
        """`defer_part_drop`: leave the erasures' mutations running and the data parts they replace until
        `flush()` (the embedded runner waits and drops once at the end of its run: chDB waits ~1 s per
        drop, and a mutation ~150 ms per data part of its table). Otherwise each erasure waits for them
        up to `mutation_wait_s` (`_drop_replaced_parts`)."""
        self.master_record = master_record
        self.store = store
        self.keys = keys
        self.subjects_of = subjects_of
        self.caches = list(caches)
        self.on_contacts = on_contacts
        self.defer_part_drop = defer_part_drop
        self.mutation_wait_s = mutation_wait_s
        self.tables_to_drop: set[str] = set()
        self.erased = 0

    def erase(self, requests: Sequence[ErasureRequest]) -> list[ErasureOutcome]:
        """Each request's keys and master-record values, then the read store once for all of them."""
        outcomes: list[ErasureOutcome] = []
        contacts: list[str] = []
        for request in requests:
            outcome, scope = self._erase_one(request)
            outcomes.append(outcome)
            contacts.extend(str(c) for c in scope.contact_ids)
        if not contacts:
            return outcomes
        report = self.store.forget_contacts(contacts, drop_parts=False)
        self.tables_to_drop.update(t.table for t in report.tables if t.rows)
        rows = sum(t.rows for t in report.tables)
        # The log line names the requests and the counts, never a personal value.
        log.info(
            "erasure of %d request(s) %s: %d key(s) destroyed, %d value(s) replaced, %d row(s) forgotten%s",
            len(outcomes),
            ", ".join(o.request.event_id for o in outcomes),
            sum(o.keys_destroyed for o in outcomes),
            sum(o.values_replaced for o in outcomes),
            rows,
            " (the read store's deletions queued: done when the run ends)" if self.defer_part_drop else "",
        )
        for outcome in outcomes:
            outcome.rows_forgotten = rows
        if not self.defer_part_drop:
            self._drop_replaced_parts()
        return outcomes

    def flush(self, timeout: float = 300.0) -> int:
        """Wait, up to `timeout` in all, for the erasures' mutations (queued by then: the engine keeps them
        through a restart) and drop the data parts they replaced (chDB). Raises `ReadStoreError` when they
        are not done by then, and keeps their tables for the next call."""
        if not self.tables_to_drop:
            return 0
        tables = sorted(self.tables_to_drop)
        deadline = time.monotonic() + timeout
        for table in tables:
            self.store.wait_for_mutations(table, timeout=max(deadline - time.monotonic(), 0.0))
        dropped = self.store.drop_inactive_parts(tables)
        self.tables_to_drop.difference_update(tables)
        return dropped

    def _drop_replaced_parts(self) -> None:
        """`flush`, bounded, and never the reason to hold the pipeline: a mutation not done in time (a
        replica stopped, or one waiting for a data part only a stopped replica holds) stays queued in the
        engine (through a restart too), which carries it out when it can; the warning names its tables,
        and a later erasure waits for them again. Holding the batch would not make it finish sooner."""
        try:
            self.flush(self.mutation_wait_s)
        except ReadStoreError as exc:
            log.warning(
                "erasure: the read store's deletions in %s are queued, not done after %gs; waited for "
                "again after the next erasure: %s",
                ", ".join(sorted(self.tables_to_drop)),
                self.mutation_wait_s,
                exc,
            )

    def _erase_one(self, request: ErasureRequest) -> tuple[ErasureOutcome, ErasureScope]:
        outcome = ErasureOutcome(request)
        scope = self.master_record.erasure_scope(UUID(request.contact_id))
        outcome.contacts = len(scope.contact_ids)
        named = replace(
            scope, identifier_keys=tuple(dict.fromkeys(scope.identifier_keys + request.identifier_keys))
        )
        subjects = self.subjects_of(named) if self.subjects_of is not None else set()
        if self.keys is not None and subjects:
            outcome.keys_destroyed = self.keys.shred(
                subjects,
                requested_by=request.requested_by,
                reason=f"{ERASURE_TYPE} {request.event_id}",
                once_per_reason=True,
            )
        outcome.values_replaced = self.master_record.forget(scope)
        for cache in self.caches:
            cache.forget(subjects)
        if self.on_contacts is not None:
            self.on_contacts(scope.contact_ids)
        self.erased += 1
        return outcome, scope
