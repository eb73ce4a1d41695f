"""Identity resolution: which contact and account an event is about, as pure rules (docs/identity.md).

The master record (adapters/master_record.py) reads what is known about an event's identifiers into a
`Known` snapshot, asks `decide()` for a `Plan`, and carries the plan out in one atomic save; a concurrent
writer makes that save fail and the whole read-decide-save runs again. Everything here is data in, data
out: no I/O, no clock, no randomness — the same event and snapshot give the same plan in every process.

Identifier kinds, as keys:
- strong, naming one person: `email:<normalized>` (not a role address), `ext:<system>:<id>`;
- role addresses (`role:<email>`, e.g. support@acme.com): a contact of their own, never linking people;
- weak, only ever raising a duplicate suspect: `phone:<E.164>`, `name:<first last>|<company>`;
- accounts: `account:<system>:<id>`, `domain:<domain>`, `company:<normalized name>` (a suggestion only).
"""

from __future__ import annotations

import os
import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any
from uuid import UUID

from touchstream.events import Event
from touchstream.projections.survivorship import (
    CONFIDENCE_BY_EVENT_TYPE,
    DEFAULT_CONFIDENCE,
    Observation,
)

# Fixed forever: every id derived from an identifier depends on it.
NAMESPACE = UUID("5b0c3f4e-7a51-4d0e-9a43-2f4b8d1c6e90")

FREE_MAIL_FILE_ENV = "TOUCHSTREAM_FREE_MAIL_DOMAINS_FILE"
ROLE_LOCAL_PARTS_ENV = "TOUCHSTREAM_ROLE_LOCAL_PARTS"

# Shared mailboxes: a message from support@acme.com says nothing about which person wrote it.
DEFAULT_ROLE_LOCAL_PARTS: frozenset[str] = frozenset(
    {
        "accounts",
        "accounting",
        "admin",
        "billing",
        "careers",
        "contact",
        "enquiries",
        "finance",
        "hello",
        "help",
        "helpdesk",
        "hr",
        "info",
        "inquiries",
        "jobs",
        "mail",
        "marketing",
        "no-reply",
        "noreply",
        "office",
        "orders",
        "postmaster",
        "press",
        "purchasing",
        "reception",
        "sales",
        "service",
        "support",
        "team",
        "webmaster",
    }
)

PERSON_ATTRIBUTES = ("first_name", "last_name", "job_title", "company", "phone", "email")
_COMPANY_SUFFIXES = frozenset(
    {"inc", "llc", "ltd", "limited", "gmbh", "corp", "corporation", "incorporated", "co", "plc", "sa", "ag"}
    | {"bv", "nv", "srl", "sas", "oy", "ab", "as", "pty", "group"}
)


def _parse_domain_list(text: str) -> set[str]:
    return {line.split("#", 1)[0].strip().lower() for line in text.splitlines()} - {""}


def load_free_mail_domains(extra_file: str | None = None) -> frozenset[str]:
    """The maintained list shipped with the package, plus a deployment's own file (if named)."""
    shipped = resources.files("touchstream.projections").joinpath("free_mail_domains.txt")
    domains = _parse_domain_list(shipped.read_text(encoding="utf-8"))
    if extra_file:
        domains |= _parse_domain_list(Path(extra_file).read_text(encoding="utf-8"))
    return frozenset(domains)


@dataclass(frozen=True)
class IdentityConfig:
    """The knobs of resolution; `from_env()` reads a deployment's overrides."""

    free_mail_domains: frozenset[str] = field(default_factory=load_free_mail_domains)
    role_local_parts: frozenset[str] = DEFAULT_ROLE_LOCAL_PARTS
    # The runaway guard: an identifier that already caused this many merges causes no more (a suspect
    # instead).
    max_merges_per_identifier: int = 3
    # An event tying more known contacts together than this is a data error, not a person: no merge at all.
    max_contacts_per_event: int = 3
    # A weak identifier held by more contacts than this is a switchboard: no suspects from it.
    max_holders_for_suspicion: int = 5
    # A contact collecting more emails than this is a shared record being polluted: no more are attached.
    max_emails_per_contact: int = 8

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IdentityConfig:
        env = os.environ if environ is None else environ
        roles = env.get(ROLE_LOCAL_PARTS_ENV)
        return cls(
            free_mail_domains=load_free_mail_domains(env.get(FREE_MAIL_FILE_ENV)),
            role_local_parts=(
                frozenset(p.strip().lower() for p in roles.split(",") if p.strip())
                if roles
                else DEFAULT_ROLE_LOCAL_PARTS
            ),
        )

    def is_free_mail(self, domain: str) -> bool:
        return domain in self.free_mail_domains

    def is_role_address(self, email: str) -> bool:
        local = email.split("@", 1)[0].split("+", 1)[0]
        return local in self.role_local_parts


# --- keys and ids -----------------------------------------------------------------------------------------


def email_key(email: str) -> str:
    return f"email:{email}"


def role_key(email: str) -> str:
    return f"role:{email}"


def external_key(system: str, value: str) -> str:
    return f"ext:{system}:{value}"


def phone_key(phone: str) -> str:
    return f"phone:{phone}"


def domain_key(domain: str) -> str:
    return f"domain:{domain}"


def account_external_key(system: str, value: str) -> str:
    return f"account:{system}:{value}"


def key_system(key: str) -> str:
    """`account:salesforce:001…` -> `salesforce`; the system part of an external-id key."""
    return key.split(":", 2)[1]


def _fold(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain.casefold()).split())


def normalize_company(name: str) -> str:
    """'Acme Widgets, Inc.' and 'ACME widgets' are one name: folded, punctuation and legal form gone."""
    words = _fold(name).split()
    while len(words) > 1 and words[-1] in _COMPANY_SUFFIXES:
        words.pop()
    return " ".join(words)


def company_key(name: str) -> str | None:
    folded = normalize_company(name)
    return f"company:{folded}" if folded else None


def name_key(first: str, last: str, company: str) -> str | None:
    person, firm = _fold(f"{first} {last}"), normalize_company(company)
    return f"name:{person}|{firm}" if person and firm else None


def claim_id(key: str) -> UUID:
    """The claim aggregate of an identifier: the same key gives the same id in every process, so two
    workers claiming it race on one aggregate's version and exactly one wins."""
    return uuid.uuid5(NAMESPACE, "claim:" + key)


def weak_index_id(key: str) -> UUID:
    return uuid.uuid5(NAMESPACE, "weak:" + key)


def new_contact_id(anchor: str) -> UUID:
    """A new contact's id from what created it (its first strong key, or the event id): a replayed event
    recreates the same id, and a racing creator of the same person collides instead of duplicating."""
    return uuid.uuid5(NAMESPACE, "contact:" + anchor)


def new_account_id(anchor: str) -> UUID:
    return uuid.uuid5(NAMESPACE, "account:" + anchor)


def suspect_id(a: UUID, b: UUID, reason: str) -> UUID:
    """One suspect per pair and reason, whichever way round it was seen."""
    low, high = sorted((str(a), str(b)))
    return uuid.uuid5(NAMESPACE, f"suspect:{low}:{high}:{reason}")


# --- evidence: what an event says ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    event_id: str
    event_type: str
    occurred_at: datetime
    source: str
    department: str
    strong: tuple[str, ...]
    role: tuple[str, ...]
    phones: tuple[str, ...]
    names: tuple[str, ...]
    account_external: tuple[str, ...]
    account_domains: tuple[str, ...]
    company: str | None
    observations: tuple[Observation, ...]
    identifier_phone: str | None
    consent: tuple[str, bool] | None = None
    erasure: bool = False

    @property
    def has_observations(self) -> bool:
        """True when the event carries more than identifiers: it must reach the master record."""
        return bool(self.observations or self.consent or self.erasure)

    def lookup_keys(self) -> tuple[str, ...]:
        company = (company_key(self.company),) if self.company else ()
        keys = (*self.strong, *self.role, *self.account_external, *self.account_domains, *company)
        return tuple(k for k in keys if k)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _details(event: Event) -> dict[str, str]:
    """The person's details an event's payload states (badge, lead, form, signature block, admin)."""
    payload: Any = event.payload
    source = getattr(payload, "observed", payload)
    found = {name: getattr(source, name, None) for name in PERSON_ATTRIBUTES}
    return {name: str(value) for name, value in found.items() if isinstance(value, str) and value}


def evidence_of(event: Event, config: IdentityConfig) -> Evidence:
    ids = event.identifiers
    details = _details(event)
    emails = _unique(e for e in (ids.email, details.get("email")) if e)
    strong = [email_key(e) for e in emails if not config.is_role_address(e)]
    strong += [external_key(s, v) for s, v in sorted(ids.external_ids.items())]
    role = [role_key(e) for e in emails if config.is_role_address(e)]
    phones = _unique(phone_key(p) for p in (ids.phone, details.get("phone")) if p)
    domains = [ids.account_domain] if ids.account_domain else []
    domains += [e.split("@", 1)[1] for e in emails]
    account_domains = _unique(domain_key(d) for d in domains if not config.is_free_mail(d))
    company = details.get("company")
    names: list[str] = []
    if company and "first_name" in details and "last_name" in details:
        key = name_key(details["first_name"], details["last_name"], company)
        names += [key] if key else []
    confidence = CONFIDENCE_BY_EVENT_TYPE.get(event.type, DEFAULT_CONFIDENCE)
    observations = tuple(
        Observation(
            attribute=name,
            value=value,
            source=event.source,
            department=str(event.department),
            observed_at=event.occurred_at,
            confidence=confidence,
            event_id=str(event.event_id),
            actor=event.actor,
        )
        for name, value in sorted(details.items())
    )
    purpose = getattr(event.payload, "purpose", None)
    consent = None
    if event.type in ("ConsentGiven", "ConsentWithdrawn") and purpose is not None:
        consent = (str(purpose), event.type == "ConsentGiven")
    return Evidence(
        event_id=str(event.event_id),
        event_type=event.type,
        occurred_at=event.occurred_at,
        source=event.source,
        department=str(event.department),
        strong=_unique(strong),
        role=_unique(role),
        phones=phones,
        names=tuple(names),
        account_external=_unique(
            account_external_key(s, v) for s, v in sorted(ids.account_external_ids.items())
        ),
        account_domains=account_domains,
        company=company,
        observations=observations,
        identifier_phone=ids.phone,
        consent=consent,
        erasure=event.type == "ErasureRequested",
    )


# --- what is known: a snapshot read by the master record ---------------------------------------------


@dataclass(frozen=True)
class ContactFacts:
    contact_id: UUID
    first_seen: datetime
    account_id: UUID | None = None
    emails: int = 0
    role: bool = False


@dataclass(frozen=True)
class AccountFacts:
    account_id: UUID
    systems: frozenset[str] = frozenset()  # systems whose account id it already holds
    provisional: bool = False


@dataclass(frozen=True)
class Known:
    """Owners are already followed to their survivors (a merged contact maps to its survivor forever)."""

    owners: Mapping[str, UUID] = field(default_factory=dict)  # person and account keys -> owner
    merges_caused: Mapping[str, int] = field(default_factory=dict)  # strong key -> merges it caused
    holders: Mapping[str, frozenset[UUID]] = field(default_factory=dict)  # weak key -> contacts (survivors)
    contacts: Mapping[UUID, ContactFacts] = field(default_factory=dict)
    accounts: Mapping[UUID, AccountFacts] = field(default_factory=dict)


# --- the plan ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Merge:
    survivor: UUID
    merged: UUID
    reason: str
    identifiers: tuple[str, ...]


@dataclass(frozen=True)
class Suspect:
    contact_id: UUID
    other_id: UUID
    reason: str  # shared_phone | same_name_and_company | merge_cap | too_many_contacts
    identifier: str


@dataclass(frozen=True)
class AccountPlan:
    account_id: UUID
    anchor: str  # the key its id derives from (for a new account)
    is_new: bool
    provisional: bool
    basis: str  # external_id | domain
    claims: tuple[str, ...]  # account keys to claim for it
    name: str | None = None


@dataclass(frozen=True)
class Plan:
    contact_id: UUID | None
    is_new_contact: bool
    anchor: str = ""  # the key a new contact's id derives from
    role_contact: bool = False
    claims: tuple[str, ...] = ()
    merges: tuple[Merge, ...] = ()
    suspects: tuple[Suspect, ...] = ()
    weak_adds: tuple[str, ...] = ()
    account: AccountPlan | None = None
    link_account: UUID | None = None  # set the contact's account to this
    suggested_account: UUID | None = None
    refused: tuple[str, ...] = ()  # what a guard stopped, for the record


SURVIVOR_RULE = "oldest contact wins (earliest first_seen, then lowest id)"


def survivor_order(facts: ContactFacts) -> tuple[datetime, str]:
    return (facts.first_seen, str(facts.contact_id))


def oldest(ids: Iterable[UUID], contacts: Mapping[UUID, ContactFacts]) -> UUID:
    return min(ids, key=lambda cid: survivor_order(contacts[cid]))


def decide(ev: Evidence, known: Known, config: IdentityConfig) -> Plan:
    """The whole resolution of one event against what is known."""
    linked = _unique_ids(known.owners[k] for k in ev.strong if k in known.owners)
    refused: list[str] = []
    merges: list[Merge] = []
    suspects: list[Suspect] = []
    role_contact = False
    anchor = ""
    if linked:
        target, is_new = oldest(linked, known.contacts), False
        merges, suspects, refused = _merges(ev, known, config, target, linked)
    elif ev.strong:
        anchor = ev.strong[0]
        target, is_new = new_contact_id(anchor), True
    elif ev.role:
        owner = next((known.owners[k] for k in ev.role if k in known.owners), None)
        anchor = ev.role[0]
        target, is_new, role_contact = owner or new_contact_id(anchor), owner is None, True
    elif ev.phones:
        holders = _unique_ids(h for k in ev.phones for h in known.holders.get(k, ()))
        if holders:  # a weak identifier only attributes the event; it never links two contacts
            target = oldest(holders, known.contacts)
            return _finish(ev, known, config, target, False, Plan(None, False), suspicious=False)
        anchor = "event:" + ev.event_id
        target, is_new = new_contact_id(anchor), True
    else:
        return _finish(ev, known, config, None, False, Plan(None, False))
    claims: list[str] = []
    if not (refused and "too_many_contacts" in refused):
        own = ev.role if role_contact else ev.strong
        claims = [k for k in own if k not in known.owners]
        claims, refused = _email_cap(claims, known.contacts.get(target), config, refused)
    merged = {m.merged for m in merges}
    base = Plan(
        contact_id=target,
        is_new_contact=is_new,
        anchor=anchor,
        role_contact=role_contact,
        claims=tuple(claims),
        merges=tuple(merges),
        suspects=tuple(suspects),
        refused=tuple(refused),
    )
    return _finish(ev, known, config, target, is_new, base, merged)


def settled_keys(ev: Evidence, known: Known, plan: Plan) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The keys of `ev` that name the plan's contact and account once the plan is carried out."""
    if plan.contact_id is None:
        contact_keys: list[str] = []
    else:
        mine = {plan.contact_id, *(m.merged for m in plan.merges)}
        own = ev.role if plan.role_contact else ev.strong
        contact_keys = [k for k in own if k in plan.claims or known.owners.get(k) in mine]
        contact_keys += [k for k in ev.phones if known.holders.get(k, frozenset()) <= mine]
    account_keys: list[str] = []
    if plan.account is not None:
        account_id = plan.account.account_id
        candidates = (*ev.account_external, *ev.account_domains)
        account_keys = [
            k for k in candidates if k in plan.account.claims or known.owners.get(k) == account_id
        ]
    return tuple(contact_keys), tuple(account_keys)


def _unique_ids(ids: Iterable[UUID]) -> tuple[UUID, ...]:
    return tuple(dict.fromkeys(ids))


def _merges(
    ev: Evidence, known: Known, config: IdentityConfig, target: UUID, linked: tuple[UUID, ...]
) -> tuple[list[Merge], list[Suspect], list[str]]:
    others = [c for c in linked if c != target]
    if len(linked) > config.max_contacts_per_event:
        anchor = ev.strong[0]
        return [], [Suspect(target, o, "too_many_contacts", anchor) for o in others], ["too_many_contacts"]
    merges, suspects, refused = [], [], []
    for other in others:
        causing = tuple(k for k in ev.strong if known.owners.get(k) in (target, other))
        capped = [k for k in causing if known.merges_caused.get(k, 0) >= config.max_merges_per_identifier]
        if capped:
            suspects.append(Suspect(target, other, "merge_cap", capped[0]))
            refused.append(f"merge_cap:{capped[0]}")
        else:
            merges.append(Merge(target, other, "shared_strong_identifier", causing))
    return merges, suspects, refused


def _email_cap(
    claims: list[str], facts: ContactFacts | None, config: IdentityConfig, refused: list[str]
) -> tuple[list[str], list[str]]:
    emails = facts.emails if facts else 0
    kept = []
    for key in claims:
        if key.startswith("email:"):
            if emails >= config.max_emails_per_contact:
                refused.append(f"email_cap:{key}")
                continue
            emails += 1
        kept.append(key)
    return kept, refused


def _finish(
    ev: Evidence,
    known: Known,
    config: IdentityConfig,
    target: UUID | None,
    is_new: bool,
    base: Plan,
    merged: set[UUID] | None = None,
    suspicious: bool = True,
) -> Plan:
    """Weak evidence (suspects, index entries) and the account, for a chosen target. An event attributed
    by a weak identifier alone raises no suspects: its holders already shared it when they got it."""
    suspects = list(base.suspects)
    weak_adds: list[str] = []
    if target is not None:
        gone = {target, *(merged or set())}
        for key, reason in [(k, "shared_phone") for k in ev.phones] + [
            (k, "same_name_and_company") for k in ev.names
        ]:
            holders = known.holders.get(key, frozenset())
            if target not in holders:
                weak_adds.append(key)
            others = sorted(holders - gone, key=str)
            if suspicious and len(holders | {target}) <= config.max_holders_for_suspicion:
                suspects += [Suspect(target, other, reason, key) for other in others]
    facts = known.contacts.get(target) if target is not None else None
    current_account = facts.account_id if facts else None
    if merged and current_account is None:  # the survivor adopts a merged contact's account
        current_account = next(
            (known.contacts[m].account_id for m in sorted(merged, key=str) if known.contacts[m].account_id),
            None,
        )
    account = _account_plan(ev, known)
    link = None
    # A domain only links a contact with no account; an explicit account id moves it (it wins).
    if (
        target is not None
        and account is not None
        and account.account_id != current_account
        and (current_account is None or account.basis == "external_id")
    ):
        link = account.account_id
    suggested = None
    if target is not None and account is None and current_account is None and ev.company:
        company = company_key(ev.company)
        suggested = known.owners.get(company) if company else None
    return Plan(
        contact_id=target,
        is_new_contact=is_new,
        anchor=base.anchor,
        role_contact=base.role_contact,
        claims=base.claims,
        merges=base.merges,
        suspects=tuple(suspects),
        weak_adds=tuple(weak_adds),
        account=account,
        link_account=link,
        suggested_account=suggested,
        refused=base.refused,
    )


def _account_plan(ev: Evidence, known: Known) -> AccountPlan | None:
    """Explicit account ids win over the domain; an unknown company domain gets a provisional account."""
    owned_ext = [known.owners[k] for k in ev.account_external if k in known.owners]
    owned_dom = [known.owners[k] for k in ev.account_domains if k in known.owners]
    company = company_key(ev.company) if ev.company else None
    if ev.account_external:
        systems = {key_system(k) for k in ev.account_external}
        if owned_ext:
            account_id, is_new = owned_ext[0], False
        elif owned_dom and not (known.accounts[owned_dom[0]].systems & systems):
            account_id, is_new = owned_dom[0], False  # a provisional account is confirmed by its CRM id
        else:
            account_id, is_new = new_account_id(ev.account_external[0]), True
        anchor = ev.account_external[0]
        held = known.accounts[account_id].systems if not is_new else frozenset()
        claims = [k for k in ev.account_external if k not in known.owners and key_system(k) not in held]
        claims += [k for k in ev.account_domains if k not in known.owners]
        claims += [company] if company and company not in known.owners else []
        return AccountPlan(account_id, anchor, is_new, False, "external_id", _unique(claims), ev.company)
    if not ev.account_domains:
        return None
    if owned_dom:
        claims = [k for k in ev.account_domains if k not in known.owners]
        claims += [company] if company and company not in known.owners else []
        facts = known.accounts[owned_dom[0]]
        return AccountPlan(owned_dom[0], "", False, facts.provisional, "domain", tuple(claims))
    claims = list(ev.account_domains) + ([company] if company and company not in known.owners else [])
    anchor = ev.account_domains[0]
    return AccountPlan(new_account_id(anchor), anchor, True, True, "domain", _unique(claims), ev.company)


@dataclass(frozen=True)
class Resolution:
    """What the master record answered for one event."""

    contact_id: UUID | None
    account_id: UUID | None
    is_new: bool
    merges: tuple[Merge, ...] = ()
    suspects: tuple[Suspect, ...] = ()
    changed: tuple[str, ...] = ()  # attributes whose current value changed
    new_account: bool = False
    provisional_account: bool = False
    suggested_account_id: UUID | None = None
    # The event's identifier keys that now name this contact (claimed by it, or a weak key it alone
    # holds) and its account: what a cache may remember.
    contact_keys: tuple[str, ...] = ()
    account_keys: tuple[str, ...] = ()
