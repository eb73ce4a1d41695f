"""The master record's aggregates: Contact, Account, IdentifierClaim, WeakIndex, DuplicateSuspect.

`eventsourcing.domain` is pure, so they live with the other rules. Each command method records events and
changes nothing when it raises. State is kept in JSON-friendly shapes (str-keyed dicts, lists, UUIDs,
datetimes) because snapshots are transcoded by the library's JSON transcoder.

Each change is an event class with its own `apply` (the library's explicit style), not a method under
`@event`: the decorator's way filters the event's attributes against the method's signature and binds the
method again for every event triggered or replayed, 3-4x the cost of the explicit way (10.5 vs 2.9 us to
trigger one), and resolving a touchpoint triggers several and replays more. Creation stays decorated
(`@event("Registered") __init__`): once per aggregate. Topics and fields are unchanged, so every stored
event loads as before (tests/unit/test_master_record_events.py holds that contract).

Merges are events on both contacts (the merged one points at its survivor; the survivor records what it
absorbed); claims are never rewritten, so an unmerge gives the merged contact back its own identifiers.

Long because the library stores every recorded event under a topic naming this module and class
(`touchstream.projections.master_record:Contact.IdentifiersAttached`, ...): moving an aggregate to another
module would orphan its stored events and snapshots.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from .identity import (
    SURVIVOR_RULE,
    claim_id,
    new_account_id,
    new_contact_id,
    suspect_id,
    weak_index_id,
)
from .survivorship import AttributeHistory, Observation, SurvivorshipRules, slot_of

_A = TypeVar("_A", bound=Aggregate)


def _new(cls: type[_A], created: str, aggregate_id: UUID, **fields: Any) -> _A:
    """`cls(**fields)` with the id given: the library's metaclass call maps arguments to the signature
    and asks `create_id` with filtered keywords on every creation; `Aggregate._create` (its explicit way
    to create) with the id from `create_id` called directly does neither: 11 vs 22 us a contact, and
    resolving a new person creates several aggregates. The created event is the same class with the same
    fields."""
    return cls._create(getattr(cls, created), id=aggregate_id, **fields)


# How a recorded event is named on masterdata.events (default: aggregate name + event name).
_PUBLISHED_NAMES = {
    "Contact.Absorbed": "ContactsMerged",
    "Contact.MergeUndone": "ContactsUnmerged",
    "DuplicateSuspect.Raised": "DuplicateSuspected",
    "DuplicateSuspect.Withdrawn": "DuplicateSuspectWithdrawn",
}


def published_type(qualname: str) -> str:
    """`Contact.AttributeChanged` -> `ContactAttributeChanged`: the name downstream systems see."""
    return _PUBLISHED_NAMES.get(qualname, qualname.replace(".", ""))


class ContactMerged(Exception):
    """A command reached a contact that was merged: callers follow `survivor_id`."""

    def __init__(self, contact_id: UUID, survivor_id: UUID) -> None:
        super().__init__(f"contact {contact_id} was merged into {survivor_id}")
        self.survivor_id = survivor_id


#: Raw log positions an anonymous caller's contact keeps (its calls, re-attributed when it is merged into
#: its person); calls beyond these stay with the merged contact (docs/identity.md, rule 5).
MAX_KEPT_CALLS = 500


class Contact(Aggregate):
    """A person: identifiers, attributes with provenance, an account link, consent, merged-into."""

    @staticmethod
    def create_id(anchor: str) -> UUID:
        return new_contact_id(anchor)

    @classmethod
    def new(
        cls,
        anchor: str,
        first_seen: datetime,
        role: bool = False,
        event_id: str = "",
        contact_id: UUID | None = None,
    ) -> Contact:
        """`contact_id`: `create_id(anchor)`, when the caller has it already (a resolution plan does)."""
        return _new(
            cls,
            "Registered",
            contact_id or cls.create_id(anchor),
            anchor=anchor,
            first_seen=first_seen,
            role=role,
            event_id=event_id,
        )

    @event("Registered")
    def __init__(self, anchor: str, first_seen: datetime, role: bool = False, event_id: str = "") -> None:
        self.anchor = anchor
        self.first_seen = first_seen
        self.role = role
        self.identifiers: list[str] = []
        self.weak: list[str] = []
        self.account_id: UUID | None = None
        self.account_basis: str | None = None
        self.suggested_account_id: UUID | None = None
        self.observations: dict[str, dict[str, dict[str, Any]]] = {}
        self.current: dict[str, dict[str, Any]] = {}
        self.merged_into: UUID | None = None
        self.absorbed: dict[str, dict[str, Any]] = {}
        self.consent: dict[str, dict[str, Any]] = {}
        self.erasure_requested = False
        # An anonymous caller's calls (raw log positions) and those a survivor took over, by merging event
        # (read through `_kept` and `_taken`: a contact snapshotted before they existed has neither).
        self.kept_calls: list[list[int]] = []
        self.calls_taken: dict[str, list[list[int]]] = {}

    # --- identifiers ---------------------------------------------------------------------------------------

    def attach(self, strong: list[str], weak: list[str], event_id: str) -> None:
        self._check_active()
        strong = [k for k in strong if k not in self.identifiers]
        weak = [k for k in weak if k not in self.weak]
        if strong or weak:
            self.trigger_event(self.IdentifiersAttached, strong=strong, weak=weak, event_id=event_id)

    class IdentifiersAttached(Aggregate.Event):
        strong: list[str]
        weak: list[str]
        event_id: str

        def apply(self, aggregate: Contact) -> None:
            aggregate.identifiers.extend(self.strong)
            aggregate.weak.extend(self.weak)

    @property
    def email_count(self) -> int:
        return sum(1 for k in self.identifiers if k.startswith("email:"))

    # --- accounts ------------------------------------------------------------------------------------------

    def link_account(self, account_id: UUID, basis: str, event_id: str) -> None:
        self._check_active()
        if account_id != self.account_id:
            self.trigger_event(
                self.AccountLinked,
                account_id=account_id,
                previous=self.account_id,
                basis=basis,
                event_id=event_id,
            )

    class AccountLinked(Aggregate.Event):
        account_id: UUID
        previous: UUID | None
        basis: str
        event_id: str

        def apply(self, aggregate: Contact) -> None:
            aggregate.account_id = self.account_id
            aggregate.account_basis = self.basis

    def suggest_account(self, account_id: UUID, company: str, event_id: str) -> None:
        if account_id != self.suggested_account_id and self.account_id is None:
            self.trigger_event(
                self.AccountSuggested, account_id=account_id, company=company, event_id=event_id
            )

    class AccountSuggested(Aggregate.Event):
        account_id: UUID
        company: str
        event_id: str

        def apply(self, aggregate: Contact) -> None:
            aggregate.suggested_account_id = self.account_id

    # --- attributes and survivorship -----------------------------------------------------------------------

    def history(self, attribute: str) -> AttributeHistory:
        slots = self.observations.get(attribute, {})
        return AttributeHistory({slot: Observation.from_dict(o) for slot, o in slots.items()})

    def observe(self, observation: Observation, rules: SurvivorshipRules) -> bool:
        """Keep the observation; returns True when it changed the attribute's current value."""
        self._check_active()
        if not self.history(observation.attribute).add(observation):
            return False
        self.trigger_event(self.AttributeObserved, observation=observation.to_dict())
        return self._recompute(observation.attribute, rules, observation.event_id or "")

    class AttributeObserved(Aggregate.Event):
        observation: dict[str, Any]

        def apply(self, aggregate: Contact) -> None:
            # The slot from the stored dict (`to_dict`'s keys): building an Observation here was a tenth
            # of the bulk scan's replay of every contact.
            observation = self.observation
            slot = slot_of(observation.get("manual", False), observation["source"], observation["value"])
            aggregate.observations.setdefault(observation["attribute"], {})[slot] = observation

    def _recompute(self, attribute: str, rules: SurvivorshipRules, event_id: str) -> bool:
        choice = self.history(attribute).current(rules)
        old = self.current.get(attribute, {}).get("value")
        new = choice.observation.value if choice else None
        if new == old:
            return False
        provenance = {**choice.observation.to_dict(), "rule": choice.rule} if choice else {}
        self.trigger_event(
            self.AttributeChanged,
            attribute=attribute,
            old_value=old,
            new_value=new,
            provenance=provenance,
            event_id=event_id,
        )
        return True

    class AttributeChanged(Aggregate.Event):
        attribute: str
        old_value: str | None
        new_value: str | None
        provenance: dict[str, Any]
        event_id: str

        def apply(self, aggregate: Contact) -> None:
            if self.new_value is None:
                aggregate.current.pop(self.attribute, None)
            else:
                aggregate.current[self.attribute] = self.provenance

    def value(self, attribute: str) -> str | None:
        found = self.current.get(attribute)
        return None if found is None else str(found["value"])

    # --- consent and erasure -------------------------------------------------------------------------------

    def record_consent(self, purpose: str, granted: bool, at: datetime, source: str, event_id: str) -> None:
        self._check_active()
        known = self.consent.get(purpose)
        if known is None or known["at"] < at:  # the latest statement wins, whatever order it arrived in
            self.trigger_event(
                self.ConsentChanged, purpose=purpose, granted=granted, at=at, source=source, event_id=event_id
            )

    class ConsentChanged(Aggregate.Event):
        purpose: str
        granted: bool
        at: datetime
        source: str
        event_id: str

        def apply(self, aggregate: Contact) -> None:
            aggregate.consent[self.purpose] = {"granted": self.granted, "at": self.at, "source": self.source}

    def request_erasure(self, at: datetime, event_id: str) -> None:
        if not self.erasure_requested:
            self.trigger_event(self.ErasureRequested, at=at, event_id=event_id)

    class ErasureRequested(Aggregate.Event):
        at: datetime
        event_id: str

        def apply(self, aggregate: Contact) -> None:
            aggregate.erasure_requested = True

    # --- an anonymous caller's calls ---------------------------------------------------------------------

    def keep_call(self, partition: int, offset: int, event_id: str) -> None:
        """Remember where an event resolved to this anonymous caller's contact sits in the raw log. A write
        to the contact, so the master record's optimistic concurrency orders it against a merge: a call
        kept before the merge is taken by the survivor (`take_calls`); a later one finds the contact
        merged and follows the survivor."""
        self._check_active()
        position, kept = [partition, offset], self._kept()
        if position not in kept and len(kept) < MAX_KEPT_CALLS:
            self.trigger_event(self.CallKept, partition=partition, offset=offset, event_id=event_id)

    class CallKept(Aggregate.Event):
        partition: int
        offset: int
        event_id: str

        def apply(self, aggregate: Contact) -> None:
            aggregate.kept_calls = [*aggregate._kept(), [self.partition, self.offset]]

    def take_calls(self, merged: Contact, event_id: str) -> None:
        """The survivor of an anonymous caller's merge records the calls it takes over, under the event
        that made the merge: resolving that event again (a retried batch) answers the same positions."""
        if merged._kept():
            self.trigger_event(
                self.CallsTaken, merged_id=merged.id, positions=merged._kept(), event_id=event_id
            )

    class CallsTaken(Aggregate.Event):
        merged_id: UUID
        positions: list[list[int]]
        event_id: str

        def apply(self, aggregate: Contact) -> None:
            taken = aggregate._taken()
            aggregate.calls_taken = {**taken, self.event_id: [*taken.get(self.event_id, []), *self.positions]}

    def calls_taken_by(self, event_id: str) -> tuple[tuple[int, int], ...]:
        return tuple(sorted((int(p), int(o)) for p, o in self._taken().get(event_id, [])))

    def _kept(self) -> list[list[int]]:
        return list(getattr(self, "kept_calls", []))

    def _taken(self) -> dict[str, list[list[int]]]:
        return dict(getattr(self, "calls_taken", {}))

    # --- merges --------------------------------------------------------------------------------------------

    def _check_active(self) -> None:
        if self.merged_into is not None:
            raise ContactMerged(self.id, self.merged_into)

    def merge_into(
        self, survivor: Contact, reason: str, identifiers: list[str], event_id: str, actor: str
    ) -> None:
        """Record this contact's merge into `survivor`, and the survivor's absorption of it (save both)."""
        self._check_active()
        survivor._check_active()
        if survivor.id == self.id:
            raise ValueError("a contact cannot be merged into itself")
        self.trigger_event(
            self.MergedInto,
            survivor_id=survivor.id,
            reason=reason,
            identifiers=identifiers,
            event_id=event_id,
        )
        survivor._absorb(self, reason, identifiers, event_id, actor)

    class MergedInto(Aggregate.Event):
        survivor_id: UUID
        reason: str
        identifiers: list[str]
        event_id: str

        def apply(self, aggregate: Contact) -> None:
            aggregate.merged_into = self.survivor_id

    def _absorb(
        self, merged: Contact, reason: str, identifiers: list[str], event_id: str, actor: str
    ) -> None:
        observations = [o for slots in merged.observations.values() for o in slots.values()]
        self.trigger_event(
            self.Absorbed,
            merged_id=merged.id,
            reason=reason,
            identifiers=identifiers,
            moved=[k for k in merged.identifiers if k not in self.identifiers],
            weak=[k for k in merged.weak if k not in self.weak],
            observations=observations,
            account_id=merged.account_id if self.account_id is None else None,
            survivor_rule=SURVIVOR_RULE,
            event_id=event_id,
            actor=actor,
        )

    class Absorbed(Aggregate.Event):
        merged_id: UUID
        reason: str
        identifiers: list[str]
        moved: list[str]
        weak: list[str]
        observations: list[dict[str, Any]]
        account_id: UUID | None
        survivor_rule: str
        event_id: str
        actor: str

        def apply(self, aggregate: Contact) -> None:
            aggregate._take_in(self.merged_id, self.moved, self.weak, self.observations, self.account_id)

    def _take_in(
        self,
        merged_id: UUID,
        moved: list[str],
        weak: list[str],
        observations: list[dict[str, Any]],
        account_id: UUID | None,
    ) -> None:
        """What absorbing a merged contact changes here (`Absorbed`)."""
        self.identifiers.extend(moved)
        self.weak.extend(weak)
        kept: dict[str, list[str]] = {}
        for data in observations:
            obs = Observation.from_dict(data)
            if AttributeHistory(
                {s: Observation.from_dict(o) for s, o in self.observations.get(obs.attribute, {}).items()}
            ).add(obs):
                self.observations.setdefault(obs.attribute, {})[obs.slot] = data
                kept.setdefault(obs.attribute, []).append(obs.slot)
        self.absorbed[str(merged_id)] = {
            "moved": moved,
            "weak": weak,
            "slots": kept,
            "account_id": account_id,
        }
        if account_id is not None:
            self.account_id, self.account_basis = account_id, "merge"

    def settle(self, rules: SurvivorshipRules, event_id: str) -> list[str]:
        """Recompute every attribute after a merge or unmerge; returns the attributes that changed."""
        names = sorted(set(self.observations) | set(self.current))
        return [name for name in names if self._recompute(name, rules, event_id)]

    def unmerge(self, survivor: Contact, actor: str, note: str) -> None:
        """An operator's undo: this contact stands alone again; the survivor keeps what it learned since."""
        if self.merged_into != survivor.id:
            raise ValueError(f"contact {self.id} is not merged into {survivor.id}")
        self.trigger_event(self.Unmerged, survivor_id=survivor.id, actor=actor, note=note)
        survivor.trigger_event(survivor.MergeUndone, merged_id=self.id, actor=actor, note=note)

    class Unmerged(Aggregate.Event):
        survivor_id: UUID
        actor: str
        note: str

        def apply(self, aggregate: Contact) -> None:
            aggregate.merged_into = None

    class MergeUndone(Aggregate.Event):
        merged_id: UUID
        actor: str
        note: str

        def apply(self, aggregate: Contact) -> None:
            aggregate._give_back(self.merged_id)

    def _give_back(self, merged_id: UUID) -> None:
        """What undoing a merge takes out of this survivor (`MergeUndone`)."""
        record = self.absorbed.pop(str(merged_id), None) or {}
        moved, weak = set(record.get("moved", [])), set(record.get("weak", []))
        self.identifiers = [k for k in self.identifiers if k not in moved]
        self.weak = [k for k in self.weak if k not in weak]
        for attribute, slots in record.get("slots", {}).items():
            for slot in slots:
                self.observations.get(attribute, {}).pop(slot, None)
        if record.get("account_id") is not None and self.account_basis == "merge":
            self.account_id, self.account_basis = None, None


class Account(Aggregate):
    """An organization: domains, external ids, name, contacts; provisional until a system of record
    names it."""

    @staticmethod
    def create_id(anchor: str) -> UUID:
        return new_account_id(anchor)

    @classmethod
    def new(cls, anchor: str, provisional: bool, name: str | None = None, event_id: str = "") -> Account:
        return _new(
            cls,
            "Opened",
            cls.create_id(anchor),
            anchor=anchor,
            provisional=provisional,
            name=name,
            event_id=event_id,
        )

    @event("Opened")
    def __init__(self, anchor: str, provisional: bool, name: str | None = None, event_id: str = "") -> None:
        self.anchor = anchor
        self.provisional = provisional
        self.name = name
        self.domains: list[str] = []
        self.external_ids: dict[str, str] = {}
        self.company_keys: list[str] = []
        self.contacts: dict[str, bool] = {}

    def claim(self, keys: list[str], event_id: str) -> None:
        fresh = [k for k in keys if not self._holds(k)]
        if fresh:
            self.trigger_event(self.KeysClaimed, keys=fresh, event_id=event_id)
        if self.provisional and self.external_ids:
            self.trigger_event(self.Confirmed, event_id=event_id)

    def _holds(self, key: str) -> bool:
        kind, _, rest = key.partition(":")
        if kind == "domain":
            return rest in self.domains
        if kind == "account":
            return rest.split(":", 1)[0] in self.external_ids
        return key in self.company_keys

    class KeysClaimed(Aggregate.Event):
        keys: list[str]
        event_id: str

        def apply(self, aggregate: Account) -> None:
            for key in self.keys:
                kind, _, rest = key.partition(":")
                if kind == "domain":
                    aggregate.domains.append(rest)
                elif kind == "account":
                    system, _, value = rest.partition(":")
                    aggregate.external_ids[system] = value
                else:
                    aggregate.company_keys.append(key)

    class Confirmed(Aggregate.Event):
        event_id: str

        def apply(self, aggregate: Account) -> None:
            aggregate.provisional = False

    def join(self, contact_id: UUID) -> None:
        if str(contact_id) not in self.contacts:
            self.trigger_event(self.ContactJoined, contact_id=contact_id)

    class ContactJoined(Aggregate.Event):
        contact_id: UUID

        def apply(self, aggregate: Account) -> None:
            aggregate.contacts[str(self.contact_id)] = True

    def leave(self, contact_id: UUID) -> None:
        if str(contact_id) in self.contacts:
            self.trigger_event(self.ContactLeft, contact_id=contact_id)

    class ContactLeft(Aggregate.Event):
        contact_id: UUID

        def apply(self, aggregate: Account) -> None:
            aggregate.contacts.pop(str(self.contact_id), None)


class IdentifierClaim(Aggregate):
    """'This identifier belongs to that contact (or account)'. Its id is derived from the identifier, so
    the first claim wins: a second creator's save collides on version 1 and re-reads."""

    @staticmethod
    def create_id(key: str) -> UUID:
        return claim_id(key)

    @classmethod
    def new(cls, key: str, owner_id: UUID, owner_kind: str, event_id: str = "") -> IdentifierClaim:
        return _new(
            cls,
            "Claimed",
            cls.create_id(key),
            key=key,
            owner_id=owner_id,
            owner_kind=owner_kind,
            event_id=event_id,
        )

    @event("Claimed")
    def __init__(self, key: str, owner_id: UUID, owner_kind: str, event_id: str = "") -> None:
        self.key = key
        self.owner_id = owner_id
        self.owner_kind = owner_kind
        self.merges = 0

    def count_merge(self, survivor_id: UUID, merged_id: UUID) -> None:
        self.trigger_event(self.MergeCaused, survivor_id=survivor_id, merged_id=merged_id)

    class MergeCaused(Aggregate.Event):
        survivor_id: UUID
        merged_id: UUID

        def apply(self, aggregate: IdentifierClaim) -> None:
            aggregate.merges += 1


class WeakIndex(Aggregate):
    """The contacts a weak identifier (a phone, a name at a company) was seen with."""

    @staticmethod
    def create_id(key: str) -> UUID:
        return weak_index_id(key)

    @classmethod
    def new(cls, key: str) -> WeakIndex:
        return _new(cls, "Created", cls.create_id(key), key=key)

    @event("Created")
    def __init__(self, key: str) -> None:
        self.key = key
        self.holders: list[UUID] = []

    def add(self, contact_id: UUID) -> None:
        if contact_id not in self.holders:
            self.trigger_event(self.HolderAdded, contact_id=contact_id)

    class HolderAdded(Aggregate.Event):
        contact_id: UUID

        def apply(self, aggregate: WeakIndex) -> None:
            aggregate.holders.append(self.contact_id)


class DuplicateSuspect(Aggregate):
    """Weak evidence that two contacts are one person, waiting for a data steward; never merged by itself.
    Status: open, merged, dismissed (a steward decided) or withdrawn (later evidence disproved it)."""

    @staticmethod
    def create_id(contact_id: UUID, other_id: UUID, reason: str) -> UUID:
        return suspect_id(contact_id, other_id, reason)

    @classmethod
    def new(
        cls, contact_id: UUID, other_id: UUID, reason: str, identifier: str, event_id: str
    ) -> DuplicateSuspect:
        return _new(
            cls,
            "Raised",
            cls.create_id(contact_id, other_id, reason),
            contact_id=contact_id,
            other_id=other_id,
            reason=reason,
            identifier=identifier,
            event_id=event_id,
        )

    @event("Raised")
    def __init__(self, contact_id: UUID, other_id: UUID, reason: str, identifier: str, event_id: str) -> None:
        self.contact_id = contact_id
        self.other_id = other_id
        self.reason = reason
        self.identifier = identifier
        self.raised_by = event_id
        self.status = "open"
        self.decided_by: str | None = None

    def decide(self, decision: str, actor: str, note: str = "") -> None:
        if self.status != "open":
            raise ValueError(f"suspect {self.id} is already {self.status}")
        if decision not in ("merged", "dismissed"):
            raise ValueError("decision must be 'merged' or 'dismissed'")
        self.trigger_event(self.Decided, decision=decision, actor=actor, note=note)

    class Decided(Aggregate.Event):
        decision: str
        actor: str
        note: str

        def apply(self, aggregate: DuplicateSuspect) -> None:
            aggregate.status = self.decision
            aggregate.decided_by = self.actor

    def withdraw(self, reason: str, event_id: str) -> None:
        """Later evidence disproved it (the shared phone is a switchboard): it leaves the steward queue. A
        steward's decision stands; only an open suspect is withdrawn."""
        if self.status == "open":
            self.trigger_event(self.Withdrawn, reason=reason, event_id=event_id)

    class Withdrawn(Aggregate.Event):
        reason: str
        event_id: str

        def apply(self, aggregate: DuplicateSuspect) -> None:
            aggregate.status = "withdrawn"
            aggregate.decided_by = "resolver"
