"""The master record: the eventsourcing Application that holds contacts, accounts, claims and suspects.

Persistence is the library's own, chosen by config: a URL becomes the library's environment keys
(`sqlite:///path` for the embedded default, `postgresql://user@host:port/db` in production, `memory://` for
fast tests). Resolution is read -> decide (pure, projections/identity.py) -> save everything in one atomic
write; when another worker wrote first (the library's IntegrityError on a version), it reads again and
decides again, so concurrent workers never create the same person twice.

Long because `MasterRecord` is one eventsourcing `Application`: the resolve path (read a snapshot, decide,
carry out the plan, one event or a batch) and the steward's commands (merge, unmerge, correct, dismiss)
share its repository, its conflict retry (`_retrying`) and the merge helpers; carrying out a plan is
already split into short methods.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from urllib.parse import unquote, urlsplit
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, TrackingRecorder, Transcoder
from eventsourcing.utils import get_topic

from ...events import Event
from ...projections.identity import (
    ANONYMOUS_CALLER,
    SUSPECT_REASONS,
    AccountFacts,
    ContactFacts,
    Evidence,
    IdentityConfig,
    Known,
    Plan,
    Resolution,
    canonical_key,
    claim_id,
    decide as decide_plan,
    evidence_of,
    first_name_key,
    phone_key,
    settled_keys,
    suspect_id,
    weak_index_id,
)
from ...projections.master_record import (
    Account,
    Contact,
    DuplicateSuspect,
    IdentifierClaim,
    WeakIndex,
)
from ...projections.survivorship import MANUAL_CONFIDENCE, Observation, SurvivorshipRules
from ...streams.erasure import ErasureScope
from ...streams.resolve import ResolveConflict
from ..config import Settings
from .bulk_read import read_many
from .identity_config import identity_config
from .kept import DEFAULT_KEPT, KeptAggregates
from .link_cache import LinkEntry, entry_of, link_cache_for
from .suspect_index import SuspectIndex
from .transcoder import OrjsonTranscoder

MAX_ATTEMPTS = 40


def _project(aggregate: Any, domain_events: Any) -> Any:
    """The library's `project_aggregate` minus its per-event `isinstance(event, CanMutateProtocol)`, a
    runtime-protocol check that cost ~20 µs per event replayed (8 % of a run). Passed to the supported
    `Repository.get(projector_func=...)`; every event class of our aggregates is checked once, at import,
    to have the `mutate` that loop calls (`_check_mutable_events`)."""
    for domain_event in domain_events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


def _check_mutable_events() -> None:
    for cls in (Contact, Account, DuplicateSuspect, IdentifierClaim, WeakIndex):
        if not callable(getattr(cls.Event, "mutate", None)):
            raise TypeError(f"{cls.__name__}.Event has no mutate(): the master record cannot replay it")


@dataclass
class _Batch:
    """One unit of work: every aggregate read or changed by the batch's events (so each event sees what
    the ones before it did, exactly as if they had been saved), written in one transaction at the end."""

    loaded: dict[UUID, Aggregate] = field(default_factory=dict)
    touched: dict[UUID, Aggregate] = field(default_factory=dict)
    absent: set[UUID] = field(default_factory=set)  # looked for by `prefetch` and not stored


class BatchConflict(ResolveConflict):
    """Another writer saved one of the batch's aggregates first: nothing of the batch was written; read
    again and run the whole batch again."""


# A phone seen only as an identifier (caller id) fills an empty phone attribute, at low confidence.
IDENTIFIER_PHONE_CONFIDENCE = 0.3

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")
Touched = dict[UUID, Aggregate]


def _touch(touched: Touched, *aggregates: Aggregate) -> None:
    """Remember what a command changed, so it is saved in one atomic write."""
    for aggregate in aggregates:
        touched[aggregate.id] = aggregate


#: The library's PostgreSQL recorder with a batch bound as typed arrays (pg_recorder.py), by its topic.
ARRAY_INSERT_RECORDER = "touchstream.adapters.master_record.pg_recorder:ArrayInsertRecorder"


def persistence_env(url: str) -> dict[str, str]:
    """The library's environment for a store URL (its own recorders; on PostgreSQL a subclass that binds a
    batch's events differently, chosen through the library's own setting)."""
    parts = urlsplit(url)
    if parts.scheme == "memory":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if parts.scheme == "sqlite":
        path = unquote(url.split("://", 1)[1].removeprefix("/")) or ":memory:"
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    if parts.scheme in ("postgresql", "postgres"):
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "touchstream",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            # The library insists on the key; empty means trust or peer authentication.
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_CONNECT_TIMEOUT": "10",
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_LOCK_TIMEOUT": "10",
            # The library's recorder, binding a batch as typed arrays (pg_recorder.py: ~4x faster).
            "APPLICATION_RECORDER_TOPIC": ARRAY_INSERT_RECORDER,
        }
        return env
    raise ValueError(f"unknown master-record store {url!r}: use memory://, sqlite:///PATH or postgresql://…")


# PostgreSQL's catalog does not serialize concurrent CREATE TABLE/FUNCTION IF NOT EXISTS ("tuple concurrently
# updated"): workers starting together take this advisory lock while the library creates its tables.
_SCHEMA_LOCK_KEY = zlib.crc32(b"touchstream.master_record.schema")


@contextmanager
def _schema_lock(env: Mapping[str, str]) -> Iterator[None]:
    if env.get("PERSISTENCE_MODULE") != "eventsourcing.postgres":
        yield
        return
    import psycopg  # here: the embedded default (SQLite) need not pay ~70 ms to import it

    with psycopg.connect(
        host=env["POSTGRES_HOST"],
        port=int(env["POSTGRES_PORT"]),
        user=env["POSTGRES_USER"],
        password=env.get("POSTGRES_PASSWORD") or None,
        dbname=env["POSTGRES_DBNAME"],
        connect_timeout=int(env.get("POSTGRES_CONNECT_TIMEOUT", "10")),
        autocommit=True,
    ) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK_KEY,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK_KEY,))


@dataclass
class _Snapshot:
    """What one read found: the aggregates, and the facts `decide()` sees."""

    claims: dict[str, IdentifierClaim] = field(default_factory=dict)
    contacts: dict[UUID, Contact] = field(default_factory=dict)
    accounts: dict[UUID, Account] = field(default_factory=dict)
    weak: dict[str, WeakIndex] = field(default_factory=dict)
    known: Known = field(default_factory=Known)


class MasterRecord(Application[UUID]):
    """Contacts, accounts, identifier claims, weak indexes and duplicate suspects, event-sourced."""

    name = "MasterRecord"
    # Contacts and accounts can collect thousands of events; snapshots keep a read to a few rows. They are
    # taken by `save` below from the aggregate in memory: the library's own interval snapshots read the
    # aggregate back from the store first (a fifth of a batch's save), and check each event against a
    # runtime protocol.
    is_snapshotting_enabled = True
    SNAPSHOT_EVERY: ClassVar[dict[type[Any], int]] = {Contact: 50, Account: 50, WeakIndex: 100}

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        identity: IdentityConfig | None = None,
        survivorship: SurvivorshipRules | None = None,
        settings: Settings | None = None,
        kept_aggregates: int | None = None,
    ) -> None:
        """`identity` wins; else it is built from `settings` (thresholds, lists); else the defaults with
        the maintained domain lists. Nothing is read from the environment here. `kept_aggregates`: how
        many aggregates batches keep for the next (kept.py; else `settings.master_record_kept`); 0
        reads every batch's from the store."""
        if kept_aggregates is None:
            kept_aggregates = settings.master_record_kept if settings is not None else DEFAULT_KEPT
        with _schema_lock(env or {}):
            super().__init__(dict(env) if env is not None else None)
            self.link_cache = link_cache_for(self)  # the linker's entries, kept by `save`
            self.kept = KeptAggregates(self, kept_aggregates)
            self.suspect_index = SuspectIndex(self)  # what an erasure reads of the steward queue
        self.identity = identity or identity_config(settings)
        self.rules = survivorship or SurvivorshipRules()
        self.conflicts = 0  # saves that lost a race and were retried (a gauge for the operator)
        self._batch: _Batch | None = None
        # The linker's entries of the contacts the last save wrote (made once, by `save`, for the link cache
        # too): the linker indexes these without reading them back or making them again.
        self.recently_saved: dict[UUID, LinkEntry] = {}
        self.store_url: str | None = None  # set by `from_url`; erasure rewrites the store there

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON transcoding, its bytes written by orjson (transcoder.py)."""
        transcoder = OrjsonTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> MasterRecord:
        app = cls(persistence_env(url), **kwargs)
        app.store_url = url
        return app

    # --- reading -----------------------------------------------------------------------------------------

    def _find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        batch = self._batch
        if batch is not None and aggregate_id in batch.loaded:
            found: Aggregate = batch.loaded[aggregate_id]
        elif batch is not None and aggregate_id in batch.absent:
            return None
        else:
            try:
                found = self.repository.get(aggregate_id, projector_func=_project)
            except AggregateNotFoundError:
                return None
            if batch is not None:
                batch.loaded[aggregate_id] = found
        if not isinstance(found, cls):
            raise TypeError(f"{aggregate_id} is a {type(found).__name__}, not a {cls.__name__}")
        return found

    def contact(self, contact_id: UUID, follow: bool = True) -> Contact:
        """A contact, followed to its survivor unless `follow` is False (merged ids map to survivors)."""
        found = self._find(Contact, contact_id)
        if found is None:
            raise KeyError(f"no contact {contact_id}")
        seen = {found.id}
        while follow and found.merged_into is not None:
            found = self._find(Contact, found.merged_into) or found
            if found.id in seen:
                raise RuntimeError(f"merge cycle at {found.id}")
            seen.add(found.id)
        return found

    def account(self, account_id: UUID) -> Account:
        found = self._find(Account, account_id)
        if found is None:
            raise KeyError(f"no account {account_id}")
        return found

    def owner_of(self, key: str) -> UUID | None:
        """Who an identifier key names now (a contact followed to its survivor, or an account); any
        spelling of the key works (`canonical_key`)."""
        claim = self._find(IdentifierClaim, claim_id(canonical_key(key)))
        if claim is None:
            return None
        if claim.owner_kind == "contact":
            return self.contact(claim.owner_id).id
        return claim.owner_id

    def erasure_scope(self, contact_id: UUID) -> ErasureScope:
        """The contact (followed to its survivor), every contact merged into it, the identifier keys they
        held and the aggregates that hold those keys: what an erasure must reach (streams/erasure.py)."""
        survivor = self.contact(contact_id)
        contacts: list[Contact] = []
        pending = [survivor]
        while pending:
            contact = pending.pop()
            if any(c.id == contact.id for c in contacts):
                continue
            contacts.append(contact)
            for merged in contact.absorbed:
                found = self._find(Contact, UUID(merged))
                if found is not None:
                    pending.append(found)
        strong = sorted({k for c in contacts for k in c.identifiers})
        weak = sorted({k for c in contacts for k in c.weak})
        ids = {c.id for c in contacts}
        aggregates: list[UUID] = [c.id for c in contacts]
        for key in strong:
            claim = self._find(IdentifierClaim, claim_id(key))
            if claim is not None and claim.owner_id in ids:
                aggregates.append(claim.id)
        for key in weak:
            index = self._find(WeakIndex, weak_index_id(key))
            if index is not None and set(index.holders) <= ids:  # a number others share stays theirs
                aggregates.append(index.id)
        suspects = self._suspects_naming(ids)
        return ErasureScope(
            tuple(c.id for c in contacts), tuple(strong + weak), tuple(aggregates + suspects), tuple(suspects)
        )

    def _suspects_naming(self, contact_ids: set[UUID]) -> list[UUID]:
        """The steward queue's entries that name any of `contact_ids` (their identifier says which name or
        number that person had): from the index beside the queue (suspect_index.py)."""
        return self.suspect_index.naming(contact_ids)

    def forget(self, scope: ErasureScope) -> int:
        """Replace the personal values the scope's aggregates recorded (snapshots included); the
        aggregates, their versions and their non-personal fields stay. Returns how many values went."""
        from .forget import forget_contact_values

        if self.store_url is None:
            raise RuntimeError("this master record was not opened from a URL: nothing to forget in")
        if scope.suspect_ids:
            self._retrying(lambda: self._withdraw_suspects(scope.suspect_ids))
        replaced = forget_contact_values(self.store_url, scope.aggregate_ids)
        if self._batch is not None:
            for aggregate_id in scope.aggregate_ids:
                self._batch.loaded.pop(aggregate_id, None)
        self.kept.drop(scope.aggregate_ids)
        return replaced

    def _withdraw_suspects(self, ids: Sequence[UUID]) -> None:
        """The open ones among these suspects leave the queue: one of their contacts is forgotten, and a
        tombstone is no one to merge. Read from the store, not a batch's memory (this runs outside one)."""
        found = read_many(self, ids, _project).values()
        withdrawn = [s for s in found if isinstance(s, DuplicateSuspect) and s.status == "open"]
        for suspect in withdrawn:
            suspect.withdraw("a contact it names was erased", event_id="")
        if withdrawn:
            self.save(*withdrawn)

    def holders_of(self, key: str) -> list[UUID]:
        index = self._find(WeakIndex, weak_index_id(key))
        return [] if index is None else sorted({self.contact(h).id for h in index.holders}, key=str)

    def _read(self, ev: Evidence) -> _Snapshot:
        snap = _Snapshot()
        owners: dict[str, UUID] = {}
        merges: dict[str, int] = {}
        for key in ev.lookup_keys():
            claim = self._find(IdentifierClaim, claim_id(key))
            if claim is None:
                continue
            snap.claims[key] = claim
            merges[key] = claim.merges
            if claim.owner_kind == "contact":
                owners[key] = self._survivor(claim.owner_id, snap).id
            else:
                owners[key] = claim.owner_id
                self._load_account(claim.owner_id, snap)
        holders: dict[str, frozenset[UUID]] = {}
        for key in ev.weak_keys():
            index = self._find(WeakIndex, weak_index_id(key))
            if index is not None:
                snap.weak[key] = index
                holders[key] = frozenset(self._survivor(h, snap).id for h in index.holders)
        for contact in list(snap.contacts.values()):
            if contact.account_id is not None:
                self._load_account(contact.account_id, snap)
        snap.known = Known(
            owners=owners,
            merges_caused=merges,
            holders=holders,
            contacts={cid: _facts(c) for cid, c in snap.contacts.items()},
            accounts={
                aid: AccountFacts(aid, frozenset(a.external_ids), a.provisional)
                for aid, a in snap.accounts.items()
            },
        )
        return snap

    def _survivor(self, contact_id: UUID, snap: _Snapshot) -> Contact:
        contact = snap.contacts.get(contact_id) or self.contact(contact_id, follow=False)
        snap.contacts[contact.id] = contact
        while contact.merged_into is not None:
            contact = snap.contacts.get(contact.merged_into) or self.contact(
                contact.merged_into, follow=False
            )
            snap.contacts[contact.id] = contact
        return contact

    def _load_account(self, account_id: UUID, snap: _Snapshot) -> None:
        if account_id not in snap.accounts:
            found = self._find(Account, account_id)
            if found is not None:
                snap.accounts[account_id] = found

    # --- batches -----------------------------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Resolve many events as one unit of work: `resolve` calls inside read each aggregate once,
        decide in order against what the earlier events did, and everything is written in one
        transaction when the block ends, with the versions read as the optimistic-concurrency guard. The
        decisions are the ones the events would get one by one. If another writer got there first,
        `BatchConflict` is raised and nothing of the batch is written; on any exception nothing is."""
        if self._batch is not None:
            raise RuntimeError("batches do not nest")
        self._batch = batch = _Batch()
        self.recently_saved = {}
        try:
            self.kept.begin()
            yield
            if batch.touched:
                try:
                    self.save(*batch.touched.values())
                except IntegrityError as exc:
                    self.conflicts += 1
                    raise BatchConflict(str(exc)) from exc
                for aggregate_id in self._forget_again(batch.touched.keys()):
                    batch.loaded.pop(aggregate_id, None)
            # Kept only once saved: what a failed batch read (taken out of `kept`) may hold changes that
            # were never written, and is read again from the store.
            self.kept.keep(batch.loaded.values())
        finally:
            self._batch = None

    def _forget_again(self, saved: Collection[UUID]) -> set[UUID]:
        """After a batch's save: those of `saved` that another process forgot while the batch ran. The
        batch held them in memory with the values since forgotten and wrote them back (its events, a
        snapshot, the linker's entry), so they are forgotten again. A forgetting locks writers out of
        the tables it rewrites (forget.py): it either saw this batch's rows or is counted by now. One
        that logged nothing (an older version's) is not acted on: which aggregates it meant is unknown."""
        forgotten = self.kept.forgotten_since_begin()
        again = set(saved) & forgotten if forgotten else set()
        if again and self.store_url is not None:
            from .forget import forget_contact_values

            forget_contact_values(self.store_url, again)
        return again

    def prefetch(self, evidence: Sequence[Evidence]) -> None:
        """Inside `batch()`: read, in a few statements, the aggregates that resolving these events will
        look at — their identifier claims and weak indexes, the contacts and accounts those name, and the
        survivors and accounts of those contacts (`bulk_read.read_many`). What `_find` then asks for is
        already in the batch; anything missed is still read one by one, so the decisions do not change."""
        batch = self._batch
        if batch is None:
            raise RuntimeError("prefetch() reads for a batch: call it inside `with batch():`")
        keys = {claim_id(k) for ev in evidence for k in ev.lookup_keys()}
        keys |= {weak_index_id(k) for ev in evidence for k in ev.weak_keys()}
        wanted = keys
        for _ in range(_PREFETCH_ROUNDS):
            found = self._read_ahead(wanted)
            if not found:
                return
            wanted = {named for aggregate in found.values() for named in _names(aggregate)}

    def _read_ahead(self, ids: Iterable[UUID]) -> dict[UUID, Aggregate]:
        """Inside `batch()`: those of `ids` the batch has not seen, read in one go (kept ones first, then
        `read_many`: two statements however many); absent ones are remembered as absent. Returns what
        was found. Outside a batch nothing is read ahead (`_find` reads each when asked)."""
        batch = self._batch
        if batch is None:
            return {}
        wanted = {i for i in ids if i not in batch.loaded and i not in batch.absent}
        if not wanted:
            return {}
        found = self.kept.take(wanted)
        if missing := wanted - found.keys():
            read = read_many(self, missing, _project)
            found.update(read)
            batch.absent.update(missing - read.keys())
        batch.loaded.update(found)
        return found

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """The library's save, then a snapshot of each aggregate whose new events crossed a multiple of
        its interval (`SNAPSHOT_EVERY`), taken from the aggregate as saved, and the linker's entry of each
        contact saved (link_cache.py). Returns None, not the library's recordings: no caller reads them."""
        due = [a for a in objs if isinstance(a, Aggregate) and _snapshot_due(a, self.SNAPSHOT_EVERY)]
        changed = [a for a in objs if isinstance(a, Contact) and a.pending_events]
        processing = _collected(objs, kwargs)
        if processing is None:
            super().save(*objs, **kwargs)
        else:  # the library's `save` from its collect step on (its deprecated `notify` does nothing)
            self._put(processing)
            self._take_snapshots(processing)
        if due and self.snapshots is not None:
            self.snapshots.put([type(a).Snapshot.take(a) for a in due])
        entries = [entry_of(c) for c in changed]
        self.link_cache.put(entries)
        self.recently_saved = {entry.contact_id: entry for entry in entries}

    def _put(self, processing: ProcessingEvent[UUID]) -> None:
        """The library's `_record` without the `Recording` and `Notification` it builds for each stored
        event (two frozen dataclasses: ~5 us an event, no caller reads them): the events mapped and
        inserted, and the repository's cache told, as `_record` does."""
        stored = [self.mapper.to_stored_event(event) for event in processing.events]
        self.recorder.insert_events(stored, tracking=processing.tracking, **processing.saved_kwargs)
        if self.repository.cache and not self.repository.fastforward:
            for aggregate_id, aggregate in processing.aggregates.items():
                self.repository.cache.put(aggregate_id, aggregate)

    def _save(self, *aggregates: Aggregate) -> None:
        batch = self._batch
        if batch is None:
            self.save(*aggregates)
            return
        for aggregate in aggregates:
            batch.loaded[aggregate.id] = batch.touched[aggregate.id] = aggregate

    # --- resolving ---------------------------------------------------------------------------------------

    def resolve(
        self, event: Event, evidence: Evidence | None = None, raw: tuple[int, int] | None = None
    ) -> Resolution:
        """The contact and account an event is about, creating, attaching, merging and suspecting as the
        rules say; safe to call from many processes at once, and again for the same event. `evidence` is
        `evidence_of(event, self.identity)` when the caller has it already; `raw` is where the event sits
        in the raw log (partition, offset), kept by an anonymous caller's contact (`Contact.keep_call`)."""
        ev = evidence if evidence is not None else evidence_of(event, self.identity)
        return self._retrying(lambda: self._resolve_once(ev, raw))

    def _retrying(self, attempt: Callable[[], T]) -> T:
        for tries in range(MAX_ATTEMPTS):
            try:
                return attempt()
            except IntegrityError:
                # Another worker saved first: what we read is stale. Read again (with jitter so racing
                # workers do not collide in lock step).
                self.conflicts += 1
                time.sleep(random.uniform(0, 0.002 * (tries + 1)))
        raise RuntimeError(f"gave up after {MAX_ATTEMPTS} conflicting attempts")

    def _resolve_once(self, ev: Evidence, raw: tuple[int, int] | None = None) -> Resolution:
        snap = self._read(ev)
        plan = decide_plan(ev, snap.known, self.identity)
        return self._carry_out(ev, plan, snap, raw)

    def _carry_out(
        self, ev: Evidence, plan: Plan, snap: _Snapshot, raw: tuple[int, int] | None = None
    ) -> Resolution:
        touched: Touched = {}
        contact: Contact | None = None
        if plan.contact_id is not None:
            if plan.is_new_contact:
                contact = Contact.new(
                    anchor=plan.anchor,
                    first_seen=ev.occurred_at,
                    role=plan.role_contact,
                    event_id=ev.event_id,
                    contact_id=plan.contact_id,  # the plan's new_contact_id(anchor)
                )
            else:
                contact = snap.contacts[plan.contact_id]
                if contact.erasure_requested:
                    return self._tombstone(contact)
            _touch(touched, contact)
            self._carry_out_contact(ev, plan, snap, contact, touched)
        account = self._carry_out_account(ev, plan, snap, contact, touched)
        changed = self._observe(ev, contact, bool(plan.merges)) if contact is not None else []
        anonymous = contact is not None and _anonymous(contact)
        if anonymous and raw is not None:
            assert contact is not None
            contact.keep_call(raw[0], raw[1], ev.event_id)
        if any(a.pending_events for a in touched.values()):  # a known person changes nothing: no write
            self._save(*touched.values())
        contact_keys, account_keys = settled_keys(ev, snap.known, plan)
        if anonymous:
            contact_keys = ()  # each call of an anonymous caller is kept: none may be answered by a cache
        if contact is not None and account is not None and account.id != contact.account_id:
            account_keys = ()  # the event names another account than the contact's: nothing to cache
        return Resolution(
            contact_id=contact.id if contact else None,
            account_id=contact.account_id if contact else (account.id if account else None),
            is_new=plan.is_new_contact,
            merges=plan.merges,
            suspects=plan.suspects,
            changed=tuple(changed),
            new_account=bool(plan.account and plan.account.is_new),
            provisional_account=bool(account and account.provisional),
            suggested_account_id=contact.suggested_account_id if contact else None,
            contact_keys=contact_keys,
            account_keys=account_keys,
            reattribute=contact.calls_taken_by(ev.event_id) if contact else (),
        )

    def _tombstone(self, contact: Contact) -> Resolution:
        """An event about someone who asked to be forgotten (an identifier of theirs is still claimed by the
        tombstone): attributed to the tombstone, and nothing of it is recorded (no identifier, no value,
        no merge), so the master record learns nothing personal again. The key store gives the returning
        subject a new key generation and lists it (`touchstream privacy audit`, docs/privacy.md)."""
        return Resolution(contact_id=contact.id, account_id=contact.account_id, is_new=False)

    def _carry_out_contact(
        self, ev: Evidence, plan: Plan, snap: _Snapshot, contact: Contact, touched: Touched
    ) -> None:
        for merge in plan.merges:
            self._merge(
                snap.contacts[merge.merged], contact, merge.reason, list(merge.identifiers), ev.event_id
            )
            _touch(touched, snap.contacts[merge.merged], contact)
            if merge.reason == ANONYMOUS_CALLER:
                contact.take_calls(snap.contacts[merge.merged], ev.event_id)
            self._move_membership(snap.contacts[merge.merged], contact, snap, touched)
            for key in merge.identifiers:
                claim = snap.claims.get(key)
                if claim is None:  # a phone (an anonymous caller's merge) is no claim and counts nothing
                    continue
                claim.count_merge(survivor_id=contact.id, merged_id=merge.merged)
                _touch(touched, claim)
        for key in plan.claims:
            claim = IdentifierClaim.new(key, contact.id, "contact", ev.event_id)
            _touch(touched, claim)
        contact.attach(list(plan.claims), list(plan.weak_adds), ev.event_id)
        for key in plan.weak_adds:
            index = snap.weak.get(key) or WeakIndex.new(key)
            index.add(contact.id)
            _touch(touched, index)
        # The steward queue's entries this plan may raise, withdraw or close, read at once (a merge asks
        # for one per reason: read one by one they were ~3 % of a worker's time).
        self._read_ahead(
            [suspect_id(s.contact_id, s.other_id, s.reason) for s in (*plan.suspects, *plan.withdrawals)]
            + [suspect_id(m.survivor, m.merged, r) for m in plan.merges for r in SUSPECT_REASONS]
        )
        for suspect in plan.suspects:
            if self._find(DuplicateSuspect, suspect_id(suspect.contact_id, suspect.other_id, suspect.reason)):
                continue  # already in the queue (or decided): one suspect per pair and reason
            raised = DuplicateSuspect.new(
                contact_id=suspect.contact_id,
                other_id=suspect.other_id,
                reason=suspect.reason,
                identifier=suspect.identifier,
                event_id=ev.event_id,
            )
            _touch(touched, raised)
        self._withdraw(plan, ev, touched)
        self._close_merged_pairs(plan, touched)

    def _close_merged_pairs(self, plan: Plan, touched: Touched) -> None:
        """A strong identifier merged a pair the steward queue still holds: the question is answered."""
        for merge in plan.merges:
            for reason in SUSPECT_REASONS:
                found = self._find(DuplicateSuspect, suspect_id(merge.survivor, merge.merged, reason))
                if found is not None and found.status == "open":
                    found.decide("merged", "resolver", f"merged by {', '.join(merge.identifiers)}")
                    _touch(touched, found)

    def _withdraw(self, plan: Plan, ev: Evidence, touched: Touched) -> None:
        """Suspects the event disproves leave the queue (only those raised on the same identifier)."""
        for gone in plan.withdrawals:
            found = self._find(DuplicateSuspect, suspect_id(gone.contact_id, gone.other_id, gone.reason))
            if found is not None and found.status == "open" and found.identifier == gone.identifier:
                found.withdraw(f"{gone.identifier} is shared by many people", ev.event_id)
                _touch(touched, found)

    def _carry_out_account(
        self, ev: Evidence, plan: Plan, snap: _Snapshot, contact: Contact | None, touched: Touched
    ) -> Account | None:
        target = plan.account
        if target is None:
            if contact is not None and plan.suggested_account is not None and ev.company:
                contact.suggest_account(plan.suggested_account, ev.company, ev.event_id)
            return None
        account = snap.accounts.get(target.account_id)
        if account is None:
            account = Account.new(target.anchor, target.provisional, target.name, ev.event_id)
        for key in target.claims:
            claim = IdentifierClaim.new(key, account.id, "account", ev.event_id)
            _touch(touched, claim)
        account.claim(list(target.claims), ev.event_id)
        _touch(touched, account)
        if contact is not None and plan.link_account is not None:
            previous = contact.account_id
            contact.link_account(plan.link_account, target.basis, ev.event_id)
            account.join(contact.id)
            if previous is not None and previous in snap.accounts:
                snap.accounts[previous].leave(contact.id)
                _touch(touched, snap.accounts[previous])
        return account

    def _merge(self, merged: Contact, survivor: Contact, reason: str, keys: list[str], event_id: str) -> None:
        merged.merge_into(survivor, reason, keys, event_id, actor="resolver")

    def _move_membership(self, merged: Contact, survivor: Contact, snap: _Snapshot, touched: Touched) -> None:
        """The merged contact leaves its account's list; the survivor joins it if it adopted the account."""
        if merged.account_id is None:
            return
        account = snap.accounts.get(merged.account_id) or self._find(Account, merged.account_id)
        if account is not None:
            account.leave(merged.id)
            if survivor.account_id == account.id:
                account.join(survivor.id)
            _touch(touched, account)

    def _observe(self, ev: Evidence, contact: Contact, merged: bool) -> list[str]:
        changed = [o.attribute for o in ev.observations if contact.observe(o, self.rules)]
        if ev.identifier_phone and contact.value("phone") is None and not contact.role:
            gap = Observation(
                attribute="phone",
                value=ev.identifier_phone,
                source=ev.source,
                department=ev.department,
                observed_at=ev.occurred_at,
                confidence=IDENTIFIER_PHONE_CONFIDENCE,
                event_id=ev.event_id,
            )
            if contact.observe(gap, self.rules):
                changed.append("phone")
                contact.attach([], [phone_key(ev.identifier_phone)], ev.event_id)
        if merged:
            changed += contact.settle(self.rules, ev.event_id)
        if ev.consent is not None:
            contact.record_consent(ev.consent[0], ev.consent[1], ev.occurred_at, ev.source, ev.event_id)
        if ev.erasure:
            contact.request_erasure(ev.occurred_at, ev.event_id)
        return list(dict.fromkeys(changed))

    # --- operators and data stewards ----------------------------------------------------------------------

    def merge(self, a: UUID, b: UUID, actor: str, reason: str = "steward") -> UUID:
        """Merge two contacts by hand; the oldest survives (the same rule as automatic merges)."""

        def attempt() -> UUID:
            touched: Touched = {}
            survivor = self._manual_merge(a, b, actor, reason, touched)
            self.save(*touched.values())
            return survivor

        return self._retrying(attempt)

    def _manual_merge(self, a: UUID, b: UUID, actor: str, reason: str, touched: Touched) -> UUID:
        first, second = self.contact(a), self.contact(b)
        if first.id == second.id:
            return first.id
        survivor, merged = sorted((first, second), key=lambda c: (c.first_seen, str(c.id)))
        merged.merge_into(survivor, reason, [], f"manual:{actor}", actor)
        _touch(touched, merged, survivor)
        self._move_membership(merged, survivor, _Snapshot(), touched)
        survivor.settle(self.rules, f"manual:{actor}")
        return survivor.id

    def unmerge(self, merged_id: UUID, actor: str, note: str = "") -> UUID:
        """Undo a merge: the merged contact stands alone with its own identifiers again; the survivor keeps
        whatever was learned since. Returns the former survivor's id."""

        def attempt() -> UUID:
            merged = self.contact(merged_id, follow=False)
            if merged.merged_into is None:
                raise ValueError(f"contact {merged_id} is not merged")
            survivor = self.contact(merged.merged_into, follow=False)
            merged.unmerge(survivor, actor, note)
            survivor.settle(self.rules, f"unmerge:{actor}")
            self.save(merged, survivor)
            return survivor.id

        return self._retrying(attempt)

    def correct(self, contact_id: UUID, attribute: str, value: str, actor: str) -> bool:
        """A manual correction: it beats every observation until a later correction."""

        def attempt() -> bool:
            contact = self.contact(contact_id)
            obs = Observation(
                attribute=attribute,
                value=value,
                source="steward",
                department="system",
                observed_at=datetime.now(UTC),
                confidence=MANUAL_CONFIDENCE,
                manual=True,
                actor=actor,
            )
            changed = contact.observe(obs, self.rules)
            self.save(contact)
            return changed

        return self._retrying(attempt)

    def suspects(
        self, status: str | None = "open", reason: Callable[[str], bool] | None = None
    ) -> Iterator[DuplicateSuspect]:
        """The steward queue: duplicate suspects in the order raised (from the notification log), only those
        raised for a reason `reason` accepts when given (told from the notification itself, before any
        read). Each page of the log is read in a few statements (`bulk_read.read_many`)."""
        topic = get_topic(DuplicateSuspect.Raised)  # type: ignore[attr-defined]
        start = 1
        while True:
            batch = self.recorder.select_notifications(start, 500, topics=[topic])
            wanted = [
                UUID(str(note.originator_id))
                for note in batch
                if reason is None or reason(str(getattr(self.mapper.to_domain_event(note), "reason", "")))
            ]
            found = self._find_many(DuplicateSuspect, wanted)
            for suspect_id_ in wanted:
                suspect = found.get(suspect_id_)
                if suspect is not None and (status is None or suspect.status == status):
                    yield suspect
            if len(batch) < 500:
                return
            start = batch[-1].id + 1

    def suspects_by_id(self, ids: Sequence[UUID]) -> dict[UUID, DuplicateSuspect]:
        """The steward-queue entries among `ids` (absent ones left out), read in one go."""
        return self._find_many(DuplicateSuspect, ids)

    def _find_many(self, cls: type[A], ids: Sequence[UUID]) -> dict[UUID, A]:
        """`_find` of each of `ids` (absent ones left out): what a batch holds from it, the rest read at
        once."""
        batch = self._batch
        unread = [i for i in ids if batch is None or (i not in batch.loaded and i not in batch.absent)]
        read: dict[UUID, Aggregate] = read_many(self, unread, _project) if unread else {}
        if batch is not None:
            batch.loaded.update(read)
            batch.absent.update(set(unread) - read.keys())
        found: dict[UUID, A] = {}
        for aggregate_id in ids:
            aggregate = read.get(aggregate_id)
            if aggregate is None and batch is not None:
                aggregate = batch.loaded.get(aggregate_id)
            if aggregate is None:
                continue
            if not isinstance(aggregate, cls):
                raise TypeError(f"{aggregate_id} is a {type(aggregate).__name__}, not a {cls.__name__}")
            found[aggregate_id] = aggregate
        return found

    def dismiss(self, suspect: UUID, actor: str, note: str = "") -> None:
        def attempt() -> None:
            found = self._find(DuplicateSuspect, suspect)
            if found is None:
                raise KeyError(f"no duplicate suspect {suspect}")
            found.decide("dismissed", actor, note)
            self.save(found)

        self._retrying(attempt)

    def merge_suspect(self, suspect: UUID, actor: str) -> UUID:
        """A steward agrees: merge the pair and close the suspect, in one write. Returns the survivor."""

        def attempt() -> UUID:
            found = self._find(DuplicateSuspect, suspect)
            if found is None:
                raise KeyError(f"no duplicate suspect {suspect}")
            found.decide("merged", actor)
            touched: Touched = {found.id: found}
            reason = f"steward:{found.reason}"
            survivor = self._manual_merge(found.contact_id, found.other_id, actor, reason, touched)
            self.save(*touched.values())
            return survivor

        return self._retrying(attempt)

    def merge_raised(self, suspect: DuplicateSuspect, actor: str, also: Sequence[Aggregate] = ()) -> Contact:
        """A suspect not yet saved, merged at once: raised, decided `merged` and its pair merged in one write
        with `also` (other unsaved aggregates), where saving it and then `merge_suspect` takes two. Returns
        the survivor as saved. No retry: when any of them was written meanwhile (the suspect by another
        process, or one of the pair), the library's IntegrityError is raised and nothing is written (the
        aggregates passed in are then spent: their events were collected)."""
        suspect.decide("merged", actor)
        touched: Touched = {a.id: a for a in also}
        touched[suspect.id] = suspect
        reason = f"steward:{suspect.reason}"
        survivor = self._manual_merge(suspect.contact_id, suspect.other_id, actor, reason, touched)
        self.save(*touched.values())
        found = touched.get(survivor)
        return found if isinstance(found, Contact) else self.contact(survivor, follow=False)

    def tracking_recorder(self) -> TrackingRecorder:
        """Where followers of this application (the relay) record their position, in the same database."""
        return self.factory.tracking_recorder()


def _collected(objs: Sequence[Any], kwargs: dict[str, Any]) -> ProcessingEvent[UUID] | None:
    """What the library's `ProcessingEvent.collect_events` gathers from aggregates, without its two
    runtime-protocol `isinstance` checks per object (~40 µs each on Python 3.11: an eighth of resolving
    touchpoints of new people, which saves ~3 aggregates each). None unless every object is an `Aggregate`,
    whose `collect_events` is the one the library would call; anything else goes through the library."""
    if not all(isinstance(o, Aggregate) for o in objs):
        return None
    processing: ProcessingEvent[UUID] = ProcessingEvent()
    for aggregate in objs:
        processing.events.extend(aggregate.collect_events())
        processing.aggregates[aggregate.id] = aggregate
    processing.saved_kwargs.update(kwargs)
    return processing


def _snapshot_due(aggregate: Aggregate, every: Mapping[type[Any], int]) -> bool:
    interval = every.get(type(aggregate))
    if interval is None or not aggregate.pending_events:
        return False
    before = aggregate.version - len(aggregate.pending_events)
    return aggregate.version // interval > before // interval


# claims/indexes -> their contacts and accounts -> survivors and accounts -> survivors' survivors.
_PREFETCH_ROUNDS = 4


def _names(aggregate: Aggregate) -> set[UUID]:
    """The aggregates resolution reads after this one (`_read`, `_survivor`, `_load_account`)."""
    if isinstance(aggregate, IdentifierClaim):
        return {aggregate.owner_id}
    if isinstance(aggregate, WeakIndex):
        return set(aggregate.holders)
    if isinstance(aggregate, Contact):
        return {i for i in (aggregate.merged_into, aggregate.account_id) if i is not None}
    return set()


def _anonymous(contact: Contact) -> bool:
    """A caller known by a weak identifier only (docs/identity.md, rule 5)."""
    return not contact.identifiers and not contact.role and not contact.erasure_requested


def _facts(contact: Contact) -> ContactFacts:
    return ContactFacts(
        contact_id=contact.id,
        first_seen=contact.first_seen,
        account_id=contact.account_id,
        emails=contact.email_count,
        role=contact.role,
        anonymous=_anonymous(contact),
        # A tombstone's names are gone ("[erased]"): it names no one, so no name can disagree with it and
        # make its address look shared (the returning person stays with the tombstone, docs/privacy.md).
        first_names=frozenset()
        if contact.erasure_requested
        else frozenset(
            first_name_key(str(seen.get("value", "")))
            for seen in contact.observations.get("first_name", {}).values()
        ),
    )


_check_mutable_events()
