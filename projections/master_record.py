"""The master record's aggregates: Contact, Account, IdentifierClaim, WeakIndex, DuplicateSuspect.

`eventsourcing.domain` is pure, so they live with the other rules. Each command method records events and
changes nothing when it raises. State is kept in JSON-friendly shapes (str-keyed dicts, lists, UUIDs,
datetimes) because snapshots are transcoded by the library's JSON transcoder.

Merges are events on both contacts (the merged one points at its survivor; the survivor records what it
absorbed); claims are never rewritten, so an unmerge gives the merged contact back its own identifiers.

Long because the library stores every recorded event under a topic naming this module and class
(`touchstream.projections.master_record:Contact.IdentifiersAttached`, ...): moving an aggregate to another
module would orphan its stored events and snapshots.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
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
            self._attached(strong=strong, weak=weak, event_id=event_id)

    @event("IdentifiersAttached")
    def _attached(self, strong: list[str], weak: list[str], event_id: str) -> None:
        self.identifiers.extend(strong)
        self.weak.extend(weak)

    @property
    def email_count(self) -> int:
        return sum(1 for k in self.identifiers if k.startswith("email:"))

    # --- accounts ------------------------------------------------------------------------------------------

    def link_account(self, account_id: UUID, basis: str, event_id: str) -> None:
        self._check_active()
        if account_id != self.account_id:
            self._account_linked(
                account_id=account_id, previous=self.account_id, basis=basis, event_id=event_id
            )

    @event("AccountLinked")
    def _account_linked(self, account_id: UUID, previous: UUID | None, basis: str, event_id: str) -> None:
        self.account_id = account_id
        self.account_basis = basis

    def suggest_account(self, account_id: UUID, company: str, event_id: str) -> None:
        if account_id != self.suggested_account_id and self.account_id is None:
            self._account_suggested(account_id=account_id, company=company, event_id=event_id)

    @event("AccountSuggested")
    def _account_suggested(self, account_id: UUID, company: str, event_id: str) -> None:
        self.suggested_account_id = account_id

    # --- attributes and survivorship -----------------------------------------------------------------------

    def history(self, attribute: str) -> AttributeHistory:
        slots = self.observations.get(attribute, {})
        return AttributeHistory({slot: Observation.from_dict(o) for slot, o in slots.items()})

    def observe(self, observation: Observation, rules: SurvivorshipRules) -> bool:
        """Keep the observation; returns True when it changed the attribute's current value."""
        self._check_active()
        if not self.history(observation.attribute).add(observation):
            return False
        self._observed(observation=observation.to_dict())
        return self._recompute(observation.attribute, rules, observation.event_id or "")

    @event("AttributeObserved")
    def _observed(self, observation: dict[str, Any]) -> None:
        # The slot from the stored dict (`to_dict`'s keys): building an Observation here was a tenth of
        # the bulk scan's replay of every contact.
        slot = slot_of(observation.get("manual", False), observation["source"], observation["value"])
        self.observations.setdefault(observation["attribute"], {})[slot] = observation

    def _recompute(self, attribute: str, rules: SurvivorshipRules, event_id: str) -> bool:
        choice = self.history(attribute).current(rules)
        old = self.current.get(attribute, {}).get("value")
        new = choice.observation.value if choice else None
        if new == old:
            return False
        provenance = {**choice.observation.to_dict(), "rule": choice.rule} if choice else {}
        self._attribute_changed(
            attribute=attribute, old_value=old, new_value=new, provenance=provenance, event_id=event_id
        )
        return True

    @event("AttributeChanged")
    def _attribute_changed(
        self,
        attribute: str,
        old_value: str | None,
        new_value: str | None,
        provenance: dict[str, Any],
        event_id: str,
    ) -> None:
        if new_value is None:
            self.current.pop(attribute, None)
        else:
            self.current[attribute] = provenance

    def value(self, attribute: str) -> str | None:
        found = self.current.get(attribute)
        return None if found is None else str(found["value"])

    # --- consent and erasure -------------------------------------------------------------------------------

    def record_consent(self, purpose: str, granted: bool, at: datetime, source: str, event_id: str) -> None:
        self._check_active()
        known = self.consent.get(purpose)
        if known is None or known["at"] < at:  # the latest statement wins, whatever order it arrived in
            self._consent_changed(purpose=purpose, granted=granted, at=at, source=source, event_id=event_id)

    @event("ConsentChanged")
    def _consent_changed(self, purpose: str, granted: bool, at: datetime, source: str, event_id: str) -> None:
        self.consent[purpose] = {"granted": granted, "at": at, "source": source}

    def request_erasure(self, at: datetime, event_id: str) -> None:
        if not self.erasure_requested:
            self._erasure_requested(at=at, event_id=event_id)

    @event("ErasureRequested")
    def _erasure_requested(self, at: datetime, event_id: str) -> None:
        self.erasure_requested = True

    # --- an anonymous caller's calls ---------------------------------------------------------------------

    def keep_call(self, partition: int, offset: int, event_id: str) -> None:
        """Remember where an event resolved to this anonymous caller's contact sits in the raw log. A write
        to the contact, so the master record's optimistic concurrency orders it against a merge: a call
        kept before the merge is taken by the survivor (`take_calls`); a later one finds the contact
        merged and follows the survivor."""
        self._check_active()
        position, kept = [partition, offset], self._kept()
        if position not in kept and len(kept) < MAX_KEPT_CALLS:
            self._call_kept(partition=partition, offset=offset, event_id=event_id)

    @event("CallKept")
    def _call_kept(self, partition: int, offset: int, event_id: str) -> None:
        self.kept_calls = [*self._kept(), [partition, offset]]

    def take_calls(self, merged: Contact, event_id: str) -> None:
        """The survivor of an anonymous caller's merge records the calls it takes over, under the event
        that made the merge: resolving that event again (a retried batch) answers the same positions."""
        if merged._kept():
            self._calls_taken(merged_id=merged.id, positions=merged._kept(), event_id=event_id)

    @event("CallsTaken")
    def _calls_taken(self, merged_id: UUID, positions: list[list[int]], event_id: str) -> None:
        taken = self._taken()
        self.calls_taken = {**taken, event_id: [*taken.get(event_id, []), *positions]}

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
        self._merged_into(survivor_id=survivor.id, reason=reason, identifiers=identifiers, event_id=event_id)
        survivor._absorb(self, reason, identifiers, event_id, actor)

    @event("MergedInto")
    def _merged_into(self, survivor_id: UUID, reason: str, identifiers: list[str], event_id: str) -> None:
        self.merged_into = survivor_id

    def _absorb(
        self, merged: Contact, reason: str, identifiers: list[str], event_id: str, actor: str
    ) -> None:
        observations = [o for slots in merged.observations.values() for o in slots.values()]
        self._absorbed(
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

    @event("Absorbed")
    def _absorbed(
        self,
        merged_id: UUID,
        reason: str,
        identifiers: list[str],
        moved: list[str],
        weak: list[str],
        observations: list[dict[str, Any]],
        account_id: UUID | None,
        survivor_rule: str,
        event_id: str,
        actor: str,
    ) -> None:
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
        self._unmerged(survivor_id=survivor.id, actor=actor, note=note)
        survivor._merge_undone(merged_id=self.id, actor=actor, note=note)

    @event("Unmerged")
    def _unmerged(self, survivor_id: UUID, actor: str, note: str) -> None:
        self.merged_into = None

    @event("MergeUndone")
    def _merge_undone(self, merged_id: UUID, actor: str, note: str) -> None:
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
            self._keys_claimed(keys=fresh, event_id=event_id)
        if self.provisional and self.external_ids:
            self._confirmed(event_id=event_id)

    def _holds(self, key: str) -> bool:
        kind, _, rest = key.partition(":")
        if kind == "domain":
            return rest in self.domains
        if kind == "account":
            return rest.split(":", 1)[0] in self.external_ids
        return key in self.company_keys

    @event("KeysClaimed")
    def _keys_claimed(self, keys: list[str], event_id: str) -> None:
        for key in keys:
            kind, _, rest = key.partition(":")
            if kind == "domain":
                self.domains.append(rest)
            elif kind == "account":
                system, _, value = rest.partition(":")
                self.external_ids[system] = value
            else:
                self.company_keys.append(key)

    @event("Confirmed")
    def _confirmed(self, event_id: str) -> None:
        self.provisional = False

    def join(self, contact_id: UUID) -> None:
        if str(contact_id) not in self.contacts:
            self._contact_joined(contact_id=contact_id)

    @event("ContactJoined")
    def _contact_joined(self, contact_id: UUID) -> None:
        self.contacts[str(contact_id)] = True

    def leave(self, contact_id: UUID) -> None:
        if str(contact_id) in self.contacts:
            self._contact_left(contact_id=contact_id)

    @event("ContactLeft")
    def _contact_left(self, contact_id: UUID) -> None:
        self.contacts.pop(str(contact_id), None)


class IdentifierClaim(Aggregate):
    """'This identifier belongs to that contact (or account)'. Its id is derived from the identifier, so
    the first claim wins: a second creator's save collides on version 1 and re-reads."""

    @staticmethod
    def create_id(key: str) -> UUID:
        return claim_id(key)

    @event("Claimed")
    def __init__(self, key: str, owner_id: UUID, owner_kind: str, event_id: str = "") -> None:
        self.key = key
        self.owner_id = owner_id
        self.owner_kind = owner_kind
        self.merges = 0

    @event("MergeCaused")
    def count_merge(self, survivor_id: UUID, merged_id: UUID) -> None:
        self.merges += 1


class WeakIndex(Aggregate):
    """The contacts a weak identifier (a phone, a name at a company) was seen with."""

    @staticmethod
    def create_id(key: str) -> UUID:
        return weak_index_id(key)

    @event("Created")
    def __init__(self, key: str) -> None:
        self.key = key
        self.holders: list[UUID] = []

    def add(self, contact_id: UUID) -> None:
        if contact_id not in self.holders:
            self._added(contact_id=contact_id)

    @event("HolderAdded")
    def _added(self, contact_id: UUID) -> None:
        self.holders.append(contact_id)


class DuplicateSuspect(Aggregate):
    """Weak evidence that two contacts are one person, waiting for a data steward; never merged by itself.
    Status: open, merged, dismissed (a steward decided) or withdrawn (later evidence disproved it)."""

    @staticmethod
    def create_id(contact_id: UUID, other_id: UUID, reason: str) -> UUID:
        return suspect_id(contact_id, other_id, reason)

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
        self._decided(decision=decision, actor=actor, note=note)

    @event("Decided")
    def _decided(self, decision: str, actor: str, note: str) -> None:
        self.status = decision
        self.decided_by = actor

    def withdraw(self, reason: str, event_id: str) -> None:
        """Later evidence disproved it (the shared phone is a switchboard): it leaves the steward queue. A
        steward's decision stands; only an open suspect is withdrawn."""
        if self.status == "open":
            self._withdrawn(reason=reason, event_id=event_id)

    @event("Withdrawn")
    def _withdrawn(self, reason: str, event_id: str) -> None:
        self.status = "withdrawn"
        self.decided_by = "resolver"
