"""A realistic, deterministic synthetic dataset: touchpoints from every department plus the ground truth.

The world is a B2B SaaS vendor ("Brightlane", brightlane.io) and its market: accounts with several contacts,
free-mail consumers, marketing that nurtures prospects until sales calls, deals that are won or lost,
orders and subscriptions, support tickets, surveys, contact-center calls, consent and master-data changes.
It is as messy as real CRMs are: the same person appears with differently cased emails, with a work and a
personal address, with phones written five ways, as a lead id and later a contact id, as a new badge scan
at a conference, or as an anonymous caller who only later gives an email.

How it runs, and why this way:
- Every story (a person's newsletter stream, a deal, a ticket...) is a Python generator that yields the
  instant (seconds after `start`) it wants to act at next. One heap merges all stories by time, so events
  come out in occurred_at order without holding the dataset in memory, and a story acting at time t sees
  everything that happened before t (a phone revealed by an inbound email is used by later calls).
- Events are plain dicts already in wire form; pydantic is never run per event (it would cost 20x).
- One `random.Random(seed)` drives everything in a fixed order, so a seed gives byte-identical files.
- The truth lists, per person, exactly the identifiers that appeared in events (normalized: lower-case
  emails, E.164 phones), so an identity-resolution run can be scored against it.

Volume: about `EVENTS_PER_CUSTOMER_MONTH` events per customer per 30 days (see `estimated_events`).
"""

from __future__ import annotations

import heapq
import math
import os
import random
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import orjson

from ...events import EVENT_TYPES

# ---------------------------------------------------------------------------------------------------------
# Configuration and the public entry points
# ---------------------------------------------------------------------------------------------------------

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)

# Measured (seeds 1-3; 30, 90 and 180 days; 6k customers, 8 per account): 10.3-11.4 events per customer per
# 30 days. Beyond ~30k customers the ~28k fictional phone numbers run out, so fewer calls: ~10.4.
# The sales funnel happens once per account while the streams (newsletters, tickets...) scale with time,
# so shorter windows give slightly more per month and longer ones slightly fewer.
EVENTS_PER_CUSTOMER_MONTH = 10.8
CUSTOMERS_PER_ACCOUNT = 8

FREE_MAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "aol.com",
    "proton.me",
    "gmx.com",
)
VENDOR_DOMAIN = "brightlane.io"
PROGRESS_EVERY = 10_000
_WRITE_BUFFER = 1 << 20


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate. `customers` people (business contacts and free-mail consumers) across `accounts`
    companies over `days` days from `start`; the same config always yields the same bytes.

    Readers reject timestamps more than a day ahead of their clock (`parse_event(now=...)`), so a window
    reaching past today needs an earlier `start` (or a pinned `now` when parsing)."""

    customers: int = 1_000
    accounts: int = 120
    days: int = 90
    seed: int = 1
    start: datetime = DEFAULT_START
    free_mail_share: float = 0.2
    personal_email_share: float = 0.25
    phone_share: float = 0.65
    eur_share: float = 0.15

    def __post_init__(self) -> None:
        if self.customers < 1 or self.accounts < 1 or self.days < 1:
            raise ValueError("customers, accounts and days must each be at least 1")
        if self.start.tzinfo is None or self.start.utcoffset() != timedelta(0):
            raise ValueError("start must be a timezone-aware UTC datetime")
        for name in ("free_mail_share", "personal_email_share", "phone_share", "eur_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")

    @classmethod
    def for_events(cls, events: int, *, days: int = 90, seed: int = 1) -> GeneratorConfig:
        """A config that yields roughly `events` events (within ~10%) over `days` days."""
        customers = max(1, round(events / (EVENTS_PER_CUSTOMER_MONTH * days / 30)))
        return cls(
            customers=customers, accounts=max(1, customers // CUSTOMERS_PER_ACCOUNT), days=days, seed=seed
        )


def estimated_events(config: GeneratorConfig) -> int:
    """The expected event count: customers x (days / 30) x EVENTS_PER_CUSTOMER_MONTH."""
    return round(config.customers * config.days / 30 * EVENTS_PER_CUSTOMER_MONTH)


@dataclass(frozen=True)
class TruthAccount:
    account_id: str
    name: str
    domain: str
    currency: str
    crm_id: str  # the salesforce account id (the CRM record; events may or may not show it)
    external_ids: dict[str, str]  # the account ids that did appear in events, by system

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "account", **self.__dict__}


@dataclass(frozen=True)
class TruthPerson:
    person_id: str
    account_id: str | None
    first_name: str
    last_name: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    external_ids: dict[str, tuple[str, ...]]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "person", **self.__dict__}


@dataclass(frozen=True)
class Truth:
    """Who is who: accounts and persons that appear in the events, and each event's person and account."""

    accounts: tuple[TruthAccount, ...]
    persons: tuple[TruthPerson, ...]
    events: dict[str, tuple[str, str | None]]  # event_id -> (person_id, account_id)


def generate(config: GeneratorConfig) -> Iterator[dict[str, Any]]:
    """The events, JSON-ready and in occurred_at order."""
    for event, _person in _World(config).run():
        yield event


def generate_with_truth(config: GeneratorConfig) -> tuple[list[dict[str, Any]], Truth]:
    """The events (in memory: meant for small datasets) and their ground truth, from one pass."""
    world = _World(config)
    events: list[dict[str, Any]] = []
    owners: dict[str, tuple[str, str | None]] = {}
    for event, person in world.run():
        events.append(event)
        owners[event["event_id"]] = (person.person_id, person.account_id)
    return events, world.truth(owners)


def generate_truth(config: GeneratorConfig) -> Truth:
    """The ground truth alone (it runs the whole generation, discarding the events)."""
    world = _World(config)
    owners = {event["event_id"]: (p.person_id, p.account_id) for event, p in world.run()}
    return world.truth(owners)


def write_dataset(
    config: GeneratorConfig,
    events_path: str | os.PathLike[str],
    truth_path: str | os.PathLike[str],
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write the events and the truth as JSONL; `progress(n)` hears every ~10k events how many more are done.

    Returns {"events": total, "events_by_type": {...}, "persons": n, "accounts": n}.
    """
    world = _World(config)
    truth_file = Path(truth_path)
    # Event lines of the truth go to a side file first, so the final file can list accounts and persons
    # (only known once every event is generated) before them.
    side = truth_file.with_name(truth_file.name + ".events.tmp")
    by_type: Counter[str] = Counter()
    with (
        open(events_path, "wb", buffering=_WRITE_BUFFER) as out,
        open(side, "w", encoding="utf-8", buffering=_WRITE_BUFFER) as owners,
    ):
        total = _stream(world, out, owners, by_type, progress)
    with open(truth_file, "wb") as final:
        for account in world.truth_accounts():
            final.write(orjson.dumps(account.to_dict(), option=orjson.OPT_APPEND_NEWLINE))
        persons = world.truth_persons()
        for person in persons:
            final.write(orjson.dumps(person.to_dict(), option=orjson.OPT_APPEND_NEWLINE))
        with open(side, "rb") as owners_in:
            while chunk := owners_in.read(1 << 20):
                final.write(chunk)
    side.unlink()
    return {
        "events": total,
        "events_by_type": dict(sorted(by_type.items())),
        "persons": len(persons),
        "accounts": len(world.truth_accounts()),
    }


def _stream(
    world: _World,
    out: BinaryIO,
    owners: TextIO,
    by_type: Counter[str],
    progress: Callable[[int], None] | None,
) -> int:
    # One write per event into a large buffer: each line's bytes are freed at once and their memory reused.
    # Holding batches of lines instead made the allocator return and re-fault pages: 2.5x slower here.
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    write, write_owner = out.write, owners.write
    total = 0
    for event, person in world.run():
        write(dumps(event, option=newline))
        write_owner(f'{{"kind":"event","event_id":"{event["event_id"]}",{person.truth_ref}}}\n')
        by_type[event["type"]] += 1
        total += 1
        if progress is not None and total % PROGRESS_EVERY == 0:
            progress(PROGRESS_EVERY)
    if progress is not None and total % PROGRESS_EVERY:
        progress(total % PROGRESS_EVERY)
    return total


# ---------------------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = (
    *_words(
        "Jane John Maria David Sarah Michael Emily James Olivia Daniel Sophia Robert Emma William Ava "
        "Thomas Isabella Charles Mia Joseph Amelia Christopher Harper Matthew Evelyn Anthony Abigail "
        "Mark Ella Steven Grace Paul Chloe Andrew Lily Joshua Hannah Kevin Nora Brian Zoe Jason Leah "
        "Ryan Aria Eric Priya Wei Hiroshi Aisha Carlos Lucia Mateo Ingrid Lars Fatima Omar Chen Yuki "
        "Ananya Diego Elena Kofi Amara"
    ),
    *("José", "Zoë", "Renée", "Björn", "Chloé", "André"),
)
LAST_NAMES = (
    *_words(
        "Doe Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
        "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White "
        "Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres "
        "Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts "
        "Patel Kim Chen Singh Kowalski Novak Schmidt Fischer Weber Rossi Bianchi Dubois Laurent "
        "Jensen Larsen Okafor Mensah Tanaka Sato Silva Costa Haddad Cohen Murphy"
    ),
    *("Müller", "García", "Sørensen", "Núñez"),
)
TITLES_LEAD = (
    "VP of Operations",
    "Head of Customer Experience",
    "Director of IT",
    "CTO",
    "VP Sales",
    "Head of Revenue Operations",
    "COO",
    "Director of Support",
)
TITLES_STAFF = (
    "Operations Manager",
    "Data Analyst",
    "Software Engineer",
    "Support Team Lead",
    "Procurement Specialist",
    "Finance Manager",
    "Marketing Manager",
    "Sales Operations Analyst",
    "IT Administrator",
    "Customer Success Manager",
)
COMPANY_A = _words(
    "Acme Blue Harbor Summit Pioneer Granite Silver Northwind Evergreen Redwood Cobalt Quantum Atlas "
    "Beacon Cedar Crescent Falcon Horizon Ironclad Juniper Keystone Lighthouse Maple Meridian Nimbus "
    "Orchard Pinnacle Riverbend Sapphire Starling Sterling Tidewater Vantage Willow Zenith Aurora "
    "Bluebird Copper Driftwood Emerald Foxglove Golden Highland Indigo Lakeside Magnolia Northstar "
    "Oakridge Prairie"
)
COMPANY_B = _words(
    "Widgets Logistics Analytics Foods Health Robotics Energy Finance Retail Systems Labs "
    "Manufacturing Outfitters Media Networks Pharma Insurance Foundry Mobility Biotech Furniture "
    "Hospitality Textiles Telecom Software Brewing Aerospace Consulting Dynamics Capital"
)
COMPANY_C = ("Group", "Holdings", "Partners", "International", "Works", "Collective")
EU_TLDS = ("de", "fr", "nl", "eu", "ie", "es")
# Geographic US area codes; with 555-0100..0199 (reserved for fiction) every one passes phonenumbers.
US_AREA_CODES = _words(
    "201 202 203 205 206 207 208 209 210 212 213 214 215 216 217 218 219 224 225 228 229 231 234 239 "
    "240 248 251 252 253 254 256 260 262 267 269 270 276 281 301 302 303 304 305 307 308 309 310 312 "
    "313 314 315 316 317 318 319 320 321 323 330 331 334 336 337 339 347 351 352 360 361 385 386 401 "
    "402 404 405 406 407 408 409 410 412 413 414 415 417 419 423 424 425 432 434 435 440 443 469 470 "
    "475 478 479 480 484 501 502 503 504 505 507 508 509 510 512 513 515 516 517 518 520 530 540 541 "
    "551 559 561 562 563 567 570 571 573 574 575 580 585 586 601 602 603 605 606 607 608 609 610 612 "
    "614 615 616 617 618 619 620 623 626 630 631 636 641 646 650 651 660 661 662 678 682 701 702 703 "
    "704 706 707 708 712 713 714 715 716 717 718 719 720 724 727 731 732 734 740 754 757 760 762 763 "
    "765 769 770 772 773 774 775 781 785 786 801 802 803 804 805 806 808 810 812 813 814 815 816 817 "
    "818 828 830 831 832 843 845 847 848 850 856 857 858 859 860 862 863 864 865 870 901 903 904 906 "
    "907 908 909 910 912 913 914 915 916 917 918 919 920 925 928 931 936 937 940 941 947 949 951 952 "
    "954 956 970 971 972 973 978 979 980 985 989"
)
SALES_REPS = ("Maya Patel", "Tom Becker", "Lena Hoffmann", "Marcus Reed", "Sofia Alvarez", "Noah Kim")
SUPPORT_AGENTS = ("Priya N.", "Alex M.", "Jordan P.", "Sam T.", "Chris L.", "Dana W.", "Kai R.")
CC_AGENTS = ("agent.rivera", "agent.okafor", "agent.lindqvist", "agent.chen", "agent.moreau")
PRODUCTS = ("Brightlane Platform", "Brightlane Analytics", "Brightlane Sync", "Brightlane Insights")
PLANS = (("Starter", 2_900), ("Growth", 4_900), ("Enterprise", 9_900))  # monthly price per seat, cents
CONFERENCES = (
    "SaaStr Annual",
    "CX Connect Expo",
    "RevOps Live",
    "Support Driven Expo",
    "Data Council",
    "Web Summit",
    "Customer Success Summit",
    "Martech World",
)
CAMPAIGN_SUBJECTS = (
    "Your 2026 customer data playbook",
    "5 ways to cut your support backlog",
    "New: a real-time customer 360",
    "How Acme cut churn by 18%",
    "What's new in Brightlane this month",
    "Benchmark report: customer experience 2026",
    "Last chance: early-bird pricing",
    "Unifying sales and support, step by step",
)
CONTENT = (
    ("ebook-cx-playbook", "The Customer Experience Playbook"),
    ("report-benchmark-2026", "CX Benchmark Report 2026"),
    ("guide-data-quality", "A Practical Guide to CRM Data Quality"),
    ("whitepaper-identity", "Identity Resolution Explained"),
    ("checklist-onboarding", "Customer Onboarding Checklist"),
)
WEBINARS = (
    ("web-360-live", "Live demo: the customer 360"),
    ("web-churn", "Predicting churn from support signals"),
    ("web-revops", "RevOps roundtable: one funnel, one truth"),
)
AD_NETWORKS = ("google_ads", "linkedin", "meta", "bing_ads")
TICKET_SUBJECTS = {
    "P1": ("Platform down for all users", "Sync stopped - data not updating", "Cannot log in (SSO outage)"),
    "P2": ("Dashboard exports failing", "Webhook deliveries delayed", "Report totals look wrong"),
    "P3": ("How to add a custom field?", "Import fails for one CSV", "Slow page loads in reports"),
    "P4": ("Question about invoices", "Feature request: dark mode", "How do I reset my password?"),
}
CONSUMER_TICKET_SUBJECTS = ("Where is my order?", "Refund request", "Charged twice", "Cannot change my plan")
RESOLUTIONS = ("Fixed in release 4.2.1", "Configuration corrected", "Explained the setting", "Refund issued")
LOST_REASONS = ("Budget cut", "Chose a competitor", "No decision", "Timing - revisit next year")
COMPETITORS = ("Salesforce Data Cloud", "Segment", "HubSpot Operations Hub", "Treasure Data")
DISQUALIFY_REASONS = ("No budget", "Student / personal use", "Not the decision maker", "Too small")
COMPLAINT_THEMES = {
    "service": ("slow response", "ticket closed without fix"),
    "product": ("recurring outage", "missing feature promised"),
    "billing": ("unexpected charge", "invoice errors"),
    "delivery": ("late delivery", "damaged package"),
    "sales_conduct": ("pushy follow-up",),
}
CONSUMER_SKUS = (("BL-HOME-LITE", 1_900), ("BL-HOME-PRO", 4_900), ("BL-ADDON-STORAGE", 900))
NPS_COMMENTS = ("Great support team", "Does what we need", "Too expensive for what it does", "Sync breaks")

_VERSION = {name: cls.current_version() for name, cls in EVENT_TYPES.items()}
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

MINUTE, HOUR, DAY = 60, 3600, 86_400
_SEQ_MASK = (1 << 32) - 1
_BUCKET = HOUR
_UUID_KEEP = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant
WEEK = 7 * DAY


def _b62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        chars.append(_B62[digit])
    return "".join(reversed(chars))


def _ascii_slug(text: str) -> str:
    """Email local parts and domains are plain ASCII here: accents are dropped the way mail admins do."""
    folded = unicodedata.normalize("NFKD", text.replace("ø", "o")).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum() or ch == "-")


def _email_variants(address: str) -> tuple[str, str, str]:
    """The ways people and CRMs write the same address: as typed, a rep's Title.Case, a legacy import's."""
    local, domain = address.split("@")
    titled = ".".join(part.capitalize() for part in local.split("."))
    name, _, tld = domain.rpartition(".")
    titled_domain = "-".join(part.capitalize() for part in name.split("-")) + "." + tld
    return (
        address,
        f"{titled}@{titled_domain}",
        f"{local}@{domain.upper()}",
    )


def _money(cents: int, currency: str) -> dict[str, str]:
    return {"amount": f"{cents // 100}.{cents % 100:02d}", "currency": currency}


# ---------------------------------------------------------------------------------------------------------
# The world's state
# ---------------------------------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Subscription:
    sub_id: str
    plan: str
    period: str  # "monthly" | "annual"
    cents: int
    renews: int  # seconds after start
    renewals: int = 0


@dataclass(slots=True, eq=False)
class _Account:
    account_id: str
    name: str
    domain: str
    currency: str
    segment: str  # "customer" at start, "prospect" known to marketing, "unknown" until first seen
    healthy: bool
    sf_id: str
    stripe_id: str
    persons: list[_Person] = field(default_factory=list)
    is_customer: bool = False
    churned: bool = False
    selling: bool = False  # an opportunity is open: a second one waits (reps do not run two at once)
    events: int = 0
    ext_seen: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class _Person:
    person_id: str
    first: str
    last: str
    title: str
    account: _Account | None
    currency: str
    email: tuple[str, str, str]  # work address for business people, free mail for consumers
    personal: tuple[str, str, str] | None
    phones: list[tuple[str, str]]  # (country code, national number)
    activity: float
    entry: str  # "known", "badge", "caller", "late", "shopper"
    entered: bool = False
    has_plan: bool = False
    subscribed: bool = True
    erased: bool = False
    converted: bool = False  # a salesforce contact (not only a lead)
    lead_id: str | None = None
    ext: dict[str, str] = field(default_factory=dict)
    emails_seen: dict[str, None] = field(default_factory=dict)
    phones_seen: dict[str, None] = field(default_factory=dict)
    ext_seen: dict[str, dict[str, None]] = field(default_factory=dict)
    events: int = 0
    truth_ref: str = ""

    @property
    def account_id(self) -> str | None:
        return self.account.account_id if self.account else None

    @property
    def full_name(self) -> str:
        return f"{self.first} {self.last}"


Story = Iterator[int]


class _Clock:
    """ISO-8601 'Z' strings for offsets from start, from tables: strftime per event would cost 3 µs."""

    def __init__(self, start: datetime) -> None:
        self.base = math.ceil(start.timestamp())
        self.hms = [f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)]
        self.days: dict[int, str] = {}
        self.dates: dict[int, str] = {}

    def iso(self, offset: int) -> str:
        day, second = divmod(self.base + offset, DAY)
        prefix = self.days.get(day)
        if prefix is None:
            prefix = self.days[day] = self.date(offset) + "T"
        return prefix + self.hms[second]

    def date(self, offset: int) -> str:
        day = (self.base + offset) // DAY
        text = self.dates.get(day)
        if text is None:
            text = self.dates[day] = datetime.fromtimestamp(day * DAY, UTC).date().isoformat()
        return text

    def weekday(self, offset: int) -> int:
        return ((self.base + offset) // DAY + 3) % 7  # 1970-01-01 was a Thursday (3)


# ---------------------------------------------------------------------------------------------------------
# The simulation
# ---------------------------------------------------------------------------------------------------------


class _World:
    """All state of one generation run; `run()` yields (event, person) in time order."""

    def __init__(self, config: GeneratorConfig) -> None:
        self.cfg = config
        self.rng = random.Random(config.seed)
        self.r = self.rng.random
        self.clock = _Clock(config.start)
        self.end = config.days * DAY
        self.now = 0
        # The agenda is a calendar queue: one bucket per hour of ints (wake << 32 | seq), the stories by seq
        # in a dict. Appending to a later hour is O(1) and only the current hour is a (small) heap; plain
        # ints compare ~2.5x faster than (wake, seq, story) tuples. Ties go to the story scheduled first.
        self.buckets: list[list[int]] = [[] for _ in range(self.end // _BUCKET + 1)]
        self.current = -1
        self.stories: dict[int, Story] = {}
        self.seq = 0
        self.out: list[tuple[dict[str, Any], _Person]] = []
        self.counters: Counter[str] = Counter()
        self.accounts: list[_Account] = []
        self.persons: list[_Person] = []
        self.used_emails: set[str] = set()
        self.us_phones: list[tuple[str, str]] = []
        self.uk_phones: list[tuple[str, str]] = []
        self.conferences: list[tuple[int, str]] = []

    # --- the scheduler -------------------------------------------------------------------------------

    def run(self) -> Iterator[tuple[dict[str, Any], _Person]]:
        self._setup()
        buckets, stories, out, end = self.buckets, self.stories, self.out, self.end
        pop, push = heapq.heappop, heapq.heappush
        for hour, agenda in enumerate(buckets):
            self.current = hour
            heapq.heapify(agenda)
            while agenda:
                key = pop(agenda)
                story = stories.pop(key & _SEQ_MASK)
                now = self.now = key >> 32
                wake = next(story, None)
                if out:
                    yield from out
                    out.clear()
                if wake is not None and wake <= end:
                    seq = self.seq = self.seq + 1
                    stories[seq] = story
                    if wake <= now:
                        wake = now
                    if wake // _BUCKET == hour:
                        push(agenda, (wake << 32) | seq)
                    else:
                        buckets[wake // _BUCKET].append((wake << 32) | seq)

    def spawn(self, story: Story, at: int) -> None:
        """Start a story at `at` (its code up to the first yield runs then); past the window it never runs."""
        if at <= self.end:
            at = max(at, self.now)
            self.seq += 1
            self.stories[self.seq] = story
            if at // _BUCKET == self.current:
                heapq.heappush(self.buckets[self.current], (at << 32) | self.seq)
            else:
                self.buckets[at // _BUCKET].append((at << 32) | self.seq)

    # --- small random helpers ------------------------------------------------------------------------

    def between(self, low: int, high: int) -> int:
        return low + int(self.r() * (high - low))

    def pick(self, seq: tuple[Any, ...] | list[Any]) -> Any:
        return seq[int(self.r() * len(seq))]

    def expo(self, mean: float) -> int:
        return int(self.rng.expovariate(1.0 / mean)) + 1

    def office(self, t: int) -> int:
        """The next working-hours instant at or after t (humans in sales call and meet on weekdays)."""
        day_start = t - (self.clock.base + t) % DAY
        for _ in range(8):
            if self.clock.weekday(day_start) < 5:
                at = day_start + 9 * HOUR + self.between(0, 8 * HOUR)
                if at >= t:
                    return at
            day_start += DAY
        return t

    def next_id(self, kind: str) -> int:
        self.counters[kind] += 1
        return self.counters[kind]

    def uuid4(self) -> str:
        """A version-4 UUID from the seeded generator (what uuid.UUID(int=n, version=4) gives, faster)."""
        h = f"{self.rng.getrandbits(128) & _UUID_KEEP | _UUID_SET:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    # --- emitting ------------------------------------------------------------------------------------

    def emit(
        self,
        person: _Person,
        type_name: str,
        source: str,
        department: str,
        identifiers: dict[str, Any],
        payload: dict[str, Any],
        actor: str | None = None,
        lag: int = 0,
    ) -> None:
        """One event at the current instant; recorded a little later (or `lag` later: batch imports)."""
        if person.erased:
            return
        now = self.now
        occurred = self.clock.iso(now)
        if lag:
            recorded = self.clock.iso(min(now + lag, self.end))
        else:  # the usual seconds of delay: same day almost always, so reuse the date part
            second = (self.clock.base + now) % DAY + 1 + int(self.r() * 90)
            recorded = occurred[:11] + self.clock.hms[second] if second < DAY else self.clock.iso(now + 90)
            recorded = recorded if now + 91 <= self.end else occurred
        event = {
            "event_id": self.uuid4(),
            "type": type_name,
            "schema_version": _VERSION[type_name],
            "occurred_at": occurred,
            "recorded_at": recorded,
            "source": source,
            "department": department,
            "identifiers": identifiers,
            "payload": payload,
        }
        if actor is not None:
            event["actor"] = actor
        person.events += 1
        if person.account is not None:
            person.account.events += 1
        self.out.append((event, person))

    # --- identifiers (each builder records what it shows in the truth) -------------------------------

    def see_email(self, person: _Person, variants: tuple[str, str, str], weights: tuple[float, float]) -> str:
        person.emails_seen[variants[0]] = None
        roll = self.r()
        return variants[0] if roll < weights[0] else variants[1] if roll < weights[1] else variants[2]

    def see_phone(self, person: _Person, phone: tuple[str, str]) -> str:
        country, national = phone
        person.phones_seen[f"+{country}{national}"] = None
        return self.format_phone(phone)

    def format_phone(self, phone: tuple[str, str]) -> str:
        country, n = phone
        if country == "44":
            return (f"+44 {n[:2]} {n[2:6]} {n[6:]}", f"+44{n}", f"+44 (0){n[:2]} {n[2:6]} {n[6:]}")[
                int(self.r() * 3)
            ]
        a, b, c = n[:3], n[3:6], n[6:]
        roll = int(self.r() * 6)
        return (
            f"({a}) {b}-{c}",
            f"{a}.{b}.{c}",
            f"+1 {a} {b} {c}",
            f"{a}-{b}-{c}",
            f"+1{n}",
            f"1-{a}-{b}-{c}",
        )[roll]

    def ext_id(self, person: _Person, system: str, personal: bool = False) -> dict[str, str]:
        """The person's record id in `system`; a personal address is a separate record there (as in life)."""
        key = system + "~p" if personal else system
        value = person.ext.get(key)
        if value is None:
            value = person.ext[key] = self._new_ext(system)
        person.ext_seen.setdefault(system, {})[value] = None
        return {system: value}

    def _new_ext(self, system: str) -> str:
        n = self.next_id("ext:" + system)
        if system == "salesforce":
            return "003" + _b62(n * 7919 + 1_000_003, 15)
        if system == "stripe":
            return "cus_" + _b62(n * 104_729 + 9_999_991, 14)
        return str(
            {"hubspot": 5_100_000, "marketo": 880_000, "zendesk": 360_000_000_000}.get(system, 6_000_000_000)
            + n * 3
        )

    def account_ext(self, account: _Account, system: str) -> dict[str, str]:
        value = account.sf_id if system == "salesforce" else account.stripe_id
        account.ext_seen[system] = value
        return {system: value}

    def ids_marketing(
        self, person: _Person, system: str = "hubspot", personal: bool = False
    ) -> dict[str, Any]:
        variants = person.personal if personal and person.personal else person.email
        personal = variants is not person.email
        ids: dict[str, Any] = {
            "email": self.see_email(person, variants, (0.9, 0.97)),
            "external_ids": self.ext_id(person, system, personal),
        }
        if person.account is not None and not personal and self.r() < 0.3:
            ids["account_domain"] = person.account.domain
        return ids

    def ids_sales(self, person: _Person, lead: bool = False) -> dict[str, Any]:
        account = person.account
        assert account is not None  # sales stories only run for business contacts
        ids: dict[str, Any] = {"email": self.see_email(person, person.email, (0.4, 0.95))}
        if lead and person.lead_id is not None:
            person.ext_seen.setdefault("salesforce", {})[person.lead_id] = None
            ids["external_ids"] = {"salesforce": person.lead_id}
        else:
            ids["external_ids"] = self.ext_id(person, "salesforce")
            ids["account_external_ids"] = self.account_ext(account, "salesforce")
        ids["account_domain"] = account.domain
        if person.phones and self.r() < 0.35:
            ids["phone"] = self.see_phone(person, person.phones[-1])
        return ids

    def ids_support(self, person: _Person, personal: bool) -> dict[str, Any]:
        variants = person.personal if personal and person.personal else person.email
        personal = variants is not person.email
        ids: dict[str, Any] = {
            "email": self.see_email(person, variants, (0.75, 0.95)),
            "external_ids": self.ext_id(person, "zendesk", personal),
        }
        if person.account is not None and self.r() < 0.5:
            ids["account_domain"] = person.account.domain  # zendesk organizations carry the domain
        return ids

    def ids_phone(self, person: _Person, with_email: float) -> dict[str, Any]:
        ids: dict[str, Any] = {"phone": self.see_phone(person, person.phones[-1])}
        if self.r() < with_email:
            ids["email"] = self.see_email(person, person.email, (0.8, 0.95))
            if person.account is not None and self.r() < 0.5:
                ids["account_external_ids"] = self.account_ext(person.account, "salesforce")
        return ids

    def ids_commerce(self, person: _Person, system: str) -> dict[str, Any]:
        ids: dict[str, Any] = {"email": self.see_email(person, person.email, (0.85, 0.97))}
        account = person.account
        if account is None:
            ids["external_ids"] = self.ext_id(person, system)
        else:
            ids["account_domain"] = account.domain
            ids["account_external_ids"] = self.account_ext(account, "stripe")
        return ids

    def ids_system(self, person: _Person) -> dict[str, Any]:
        ids: dict[str, Any] = {"email": self.see_email(person, person.email, (0.95, 1.0))}
        if person.converted:
            ids["external_ids"] = self.ext_id(person, "salesforce")
        return ids

    # --- the population ------------------------------------------------------------------------------

    def _setup(self) -> None:
        self._phone_pools()
        self._make_accounts()
        self._make_people()
        self._plan_conferences()
        self._plan_stories()

    def _phone_pools(self) -> None:
        self.us_phones = [("1", f"{a}55501{x:02d}") for a in US_AREA_CODES for x in range(100)]
        self.uk_phones = [("44", f"207946{x:04d}") for x in range(1000)]
        self.rng.shuffle(self.us_phones)
        self.rng.shuffle(self.uk_phones)

    def new_phone(self, currency: str) -> tuple[str, str] | None:
        """A phone nobody else has; the pools hold ~28k numbers, after which people simply have none."""
        pool = self.uk_phones if currency == "EUR" and self.uk_phones else self.us_phones
        return pool.pop() if pool else None

    def _make_accounts(self) -> None:
        names: set[str] = set()
        for i in range(self.cfg.accounts):
            name = self._company_name(names)
            eur = self.r() < self.cfg.eur_share
            tld = self.pick(EU_TLDS) if eur else self.pick(("com", "com", "com", "io", "co", "net"))
            roll = self.r()
            segment = "customer" if roll < 0.45 else "prospect" if roll < 0.85 else "unknown"
            account = _Account(
                account_id=f"A{i + 1:06d}",
                name=name,
                domain=f"{_ascii_slug(name.replace(' ', '-'))}.{tld}",
                currency="EUR" if eur else "USD",
                segment=segment,
                healthy=self.r() < 0.8,
                sf_id="001" + _b62(i * 7877 + 2_000_003, 15),
                stripe_id=self._new_ext("stripe"),  # one counter with consumers' ids: never the same
                is_customer=segment == "customer",
            )
            self.accounts.append(account)

    def _company_name(self, taken: set[str]) -> str:
        name = f"{self.pick(COMPANY_A)} {self.pick(COMPANY_B)}"
        while name in taken:
            name = f"{self.pick(COMPANY_A)} {self.pick(COMPANY_B)} {self.pick(COMPANY_C)}"
            if name in taken:
                name = f"{name} {len(taken)}"
        taken.add(name)
        return name

    def _make_people(self) -> None:
        business = round(self.cfg.customers * (1 - self.cfg.free_mail_share))
        weights = [self.rng.paretovariate(1.3) for _ in self.accounts]
        homes = list(self.accounts[: min(business, len(self.accounts))])
        homes += self.rng.choices(self.accounts, weights, k=business - len(homes))
        for account in homes:
            self._add_person(account)
        for _ in range(self.cfg.customers - business):
            self._add_person(None)

    def _add_person(self, account: _Account | None) -> None:
        first, last = self.pick(FIRST_NAMES), self.pick(LAST_NAMES)
        lead = account is not None and not account.persons
        currency = account.currency if account else ("EUR" if self.r() < self.cfg.eur_share else "USD")
        if account is not None:
            email = self._unique_email(self._work_local(first, last, account), account.domain)
        else:
            email = self._free_email(first, last)
        personal = None
        if account is not None and self.r() < self.cfg.personal_email_share:
            personal = _email_variants(self._free_email(first, last))
        phone = self.new_phone(currency) if self.r() < self.cfg.phone_share else None
        person = _Person(
            person_id=f"P{len(self.persons) + 1:07d}",
            first=first,
            last=last,
            title=self.pick(TITLES_LEAD if lead else TITLES_STAFF),
            account=account,
            currency=currency,
            email=_email_variants(email),
            personal=personal,
            phones=[phone] if phone else [],
            activity=min(4.0, self.rng.lognormvariate(0.0, 0.5)),
            entry=self._entry_kind(account, lead),
        )
        person.converted = account is not None and account.segment == "customer"
        account_json = f'"{account.account_id}"' if account else "null"
        person.truth_ref = f'"person_id":"{person.person_id}","account_id":{account_json}'
        if person.entry == "caller" and not person.phones:
            person.phones.append(self.new_phone(currency) or ("1", "2125550100"))
        self.persons.append(person)
        if account is not None:
            account.persons.append(person)

    def _entry_kind(self, account: _Account | None, lead: bool) -> str:
        """How a person first shows up: known from the start, at a conference, calling in, or later."""
        if account is None:
            return "shopper" if self.r() < 0.3 else "known"
        if account.segment == "unknown":
            return ("badge" if self.r() < 0.5 else "caller") if lead else "late"
        return "badge" if not lead and self.r() < 0.12 else "known"

    def _work_local(self, first: str, last: str, account: _Account) -> str:
        f, last_slug = _ascii_slug(first), _ascii_slug(last)
        style = int(account.sf_id[-1] in _B62[:31]) + int(len(account.persons) % 5 == 4)
        return (f"{f}.{last_slug}", f"{f[0]}{last_slug}", f"{f}_{last_slug}")[style]

    def _unique_email(self, local: str, domain: str) -> str:
        address, n = f"{local}@{domain}", 1
        while address in self.used_emails:
            n += 1
            address = f"{local}{n}@{domain}"
        self.used_emails.add(address)
        return address

    def _free_email(self, first: str, last: str) -> str:
        f, last_slug = _ascii_slug(first), _ascii_slug(last)
        local = self.pick(
            (f"{f}.{last_slug}", f"{f}{last_slug[0]}{self.between(70, 99)}", f"{last_slug}.{f}")
        )
        return self._unique_email(local, self.pick(FREE_MAIL_DOMAINS))

    def _plan_conferences(self) -> None:
        count = max(1, self.cfg.days // 30)
        year = self.cfg.start.year
        for i in range(count):
            at = int((i + 0.5) * self.end / count)
            self.conferences.append((at, f"{CONFERENCES[i % len(CONFERENCES)]} {year + at // (365 * DAY)}"))

    def _plan_stories(self) -> None:
        for account in self.accounts:
            self._plan_account(account)
        for person in self.persons:
            self._plan_person(person)

    def _plan_account(self, account: _Account) -> None:
        if not account.persons:
            return
        primary = account.persons[0]
        if account.segment == "customer":
            self.spawn(self._renewals(account, self._existing_subscription(account)), 0)
            if self.r() < 0.2:
                self.spawn(self._upsell(account), self.between(5 * DAY, self.end))
        elif account.segment == "prospect":
            self.spawn(
                self._sales_journey(account, warm=True), self.between(DAY, max(2 * DAY, self.end * 6 // 10))
            )
        elif primary.entry == "caller":
            self.spawn(self._caller_entry(primary), self.between(0, self.end * 7 // 10))

    def _plan_person(self, person: _Person) -> None:
        if person.entry == "known":
            self.spawn(self._enter(person), 0)
        elif person.entry == "shopper":
            self.spawn(self._enter(person), self.between(0, self.end))
        elif person.entry == "badge":
            at, name = self.pick(self.conferences)
            self.spawn(self._badge_entry(person, name), at + self.between(9 * HOUR, 40 * HOUR))
        elif person.entry == "known" and person.account is not None and self.r() < 0.04:
            at, name = self.pick(self.conferences)  # a known person stopping by the booth again
            self.spawn(self._badge_scan_story(person, name), at + self.between(9 * HOUR, 40 * HOUR))

    def _existing_subscription(self, account: _Account) -> _Subscription:
        plan, seat_cents = self.pick(PLANS)
        seats = self.between(5, 200)
        annual = self.r() < 0.6
        cents = seats * seat_cents * (10 if annual else 1)  # annual: two months free
        horizon = 365 * DAY if annual else 30 * DAY
        return _Subscription(
            sub_id="sub_" + _b62(self.next_id("sub") * 92_821 + 3_000_017, 14),
            plan=plan,
            period="annual" if annual else "monthly",
            cents=cents,
            renews=self.between(DAY, horizon),
        )

    # --- entries ---------------------------------------------------------------------------------------

    def _enter(self, person: _Person) -> Story:
        self.activate(person)
        return
        yield  # a generator that only activates

    def activate(self, person: _Person) -> None:
        """The person now exists for our systems: their recurring streams begin."""
        if person.entered:
            return
        person.entered = True
        now = self.now
        if self.r() < 0.85:
            self.spawn(self._newsletter(person), now + self.between(HOUR, WEEK))
        else:
            person.subscribed = False
        self.spawn(self._inbound_marketing(person), now + self.expo(20 * DAY / person.activity))
        self.spawn(self._masterdata(person), now + self.expo(60 * DAY))
        if person.account is None:
            self.spawn(self._shopper(person), now if person.entry == "shopper" else now + self.expo(20 * DAY))
        if person.account is None or person.account.is_customer:
            self.activate_service(person)

    def activate_service(self, person: _Person) -> None:
        self.spawn(self._support(person), self.now + self.expo(30 * DAY / person.activity))
        if person.phones:
            self.spawn(self._calls(person), self.now + self.expo(60 * DAY / person.activity))

    def _badge_entry(self, person: _Person, conference: str) -> Story:
        yield from self._badge_scan_story(person, conference)
        self.activate(person)
        account = person.account
        if account is not None and account.segment == "unknown" and account.persons[0] is person:
            yield self.now + self.between(2 * DAY, 10 * DAY)
            yield from self._sales_journey(account, warm=False, lead_source="event")

    def _badge_scan_story(self, person: _Person, conference: str) -> Story:
        """A business card: scanned at the booth, imported into marketo a day or three later."""
        account = person.account
        personal = person.personal is not None and self.r() < 0.25
        variants = person.personal if personal and person.personal else person.email
        email = self.see_email(person, variants, (0.5, 0.9))
        ids: dict[str, Any] = {"email": email, "external_ids": self.ext_id(person, "marketo", personal)}
        payload: dict[str, Any] = {
            "event_name": conference,
            "first_name": person.first,
            "last_name": person.last,
            "job_title": person.title,
            "email": email,
            "booth": "Brightlane booth B12",
        }
        if account is not None:
            payload["company"] = account.name if self.r() < 0.7 else f"{account.name} Inc."
            if not personal:
                ids["account_domain"] = account.domain
        if person.phones and self.r() < 0.7:
            payload["phone"] = ids["phone"] = self.see_phone(person, person.phones[-1])
        self.emit(
            person, "EventBadgeScanned", "marketo", "marketing", ids, payload, lag=self.between(DAY, 3 * DAY)
        )
        return
        yield

    def _caller_entry(self, person: _Person) -> Story:
        """Someone from a company we never met calls the sales line; the agent books a callback."""
        account = person.account
        assert account is not None
        payload = {
            "call_id": f"gen-{self.next_id('call'):08d}",
            "intent": "purchase_inquiry",
            "disposition": self.pick(("transferred", "callback_scheduled", "connected")),
            "caller_role": self.pick(("decision_maker", "procurement", "technical", "influencer")),
            "duration_seconds": self.between(120, 1500),
            "agent": self.pick(CC_AGENTS),
            "stated_company": account.name,
            "products_of_interest": [self.pick(PRODUCTS)],
        }
        ids = {"phone": self.see_phone(person, person.phones[-1])}
        self.emit(
            person, "ContactCenterCall", "genesys", "contact_center", ids, payload, actor=payload["agent"]
        )
        self.activate(person)
        yield self.office(self.now + self.between(HOUR, 2 * DAY))
        yield from self._sales_journey(account, warm=False, lead_source="contact_center")

    # --- marketing -----------------------------------------------------------------------------------

    def _newsletter(self, person: _Person) -> Story:
        """The weekly campaign email; about 45% open it, a third of those click."""
        while person.subscribed and not person.erased:
            week = (self.now // WEEK) % len(CAMPAIGN_SUBJECTS)
            campaign = f"cmp-{self.now // WEEK + 1:03d}-newsletter"
            message = f"hs-msg-{self.next_id('msg')}"
            base = {"campaign_id": campaign, "message_id": message}
            ids = self.ids_marketing(person)
            subject = CAMPAIGN_SUBJECTS[week]
            self.emit(person, "CampaignEmailSent", "hubspot", "marketing", ids, {**base, "subject": subject})
            next_send = self.now + WEEK + self.between(-3 * HOUR, 3 * HOUR)
            if self.r() < 0.45 * min(person.activity, 1.8):
                yield self.now + min(self.expo(5 * HOUR), 3 * DAY)
                self.emit(person, "EmailOpened", "hubspot", "marketing", self.ids_marketing(person), base)
                if self.r() < 0.33:
                    yield self.now + self.between(10, 900)
                    url = f"https://{VENDOR_DOMAIN}/blog/post-{week}?utm_campaign={campaign}"
                    payload = {**base, "url": url}
                    self.emit(
                        person, "EmailClicked", "hubspot", "marketing", self.ids_marketing(person), payload
                    )
                if self.r() < 0.012:
                    yield from self._unsubscribe(person, campaign)
                    return
            yield next_send

    def _unsubscribe(self, person: _Person, campaign: str) -> Story:
        yield self.now + self.between(30, 600)
        ids = self.ids_marketing(person)
        self.emit(
            person,
            "Unsubscribed",
            "hubspot",
            "marketing",
            ids,
            {"campaign_id": campaign, "reason": "Too many emails"},
        )
        person.subscribed = False
        payload = {"purpose": "marketing_email", "channel": "email"}
        self.emit(person, "ConsentWithdrawn", "hubspot", "marketing", self.ids_marketing(person), payload)

    def _inbound_marketing(self, person: _Person) -> Story:
        """Ads, downloads, forms and webinars, a couple of times a month for the active."""
        while not person.erased:
            yield from self._touch(person, self.pick(("ad", "ad", "content", "form", "webinar")))
            yield self.now + self.expo(14 * DAY / person.activity)

    def _touch(self, person: _Person, kind: str) -> Story:
        campaign = f"cmp-{self.now // (30 * DAY) + 1:02d}-{kind}"
        if kind == "ad":
            payload = {
                "campaign_id": campaign,
                "ad_id": f"ad-{self.between(100, 140)}",
                "network": self.pick(AD_NETWORKS),
                "landing_url": f"https://{VENDOR_DOMAIN}/lp/{campaign}",
            }
            self.emit(person, "AdClicked", "hubspot", "marketing", self.ids_marketing(person), payload)
        elif kind == "webinar":
            yield from self._webinar(person, campaign)
        else:
            content_id, title = self.pick(CONTENT)
            self._form(person, "gated-content" if kind == "content" else "demo-request", campaign)
            if kind == "content":
                yield self.now + self.between(5, 120)
                payload = {"content_id": content_id, "title": title, "campaign_id": campaign}
                self.emit(
                    person, "ContentDownloaded", "hubspot", "marketing", self.ids_marketing(person), payload
                )

    def _form(self, person: _Person, form_id: str, campaign: str) -> None:
        ids = self.ids_marketing(person)
        payload: dict[str, Any] = {
            "form_id": form_id,
            "page_url": f"https://{VENDOR_DOMAIN}/{form_id}",
            "campaign_id": campaign,
            "first_name": person.first,
            "last_name": person.last,
        }
        if person.account is not None:
            payload["company"] = person.account.name
            payload["job_title"] = person.title
        if person.phones and self.r() < 0.4:
            ids["phone"] = self.see_phone(person, person.phones[-1])
        if form_id == "demo-request":
            payload["message"] = "We would like to see a demo for our team.\nBest regards"
        self.emit(person, "FormSubmitted", "hubspot", "marketing", ids, payload)

    def _webinar(self, person: _Person, campaign: str) -> Story:
        webinar_id, title = self.pick(WEBINARS)
        personal = self.r() < 0.3
        ids = self.ids_marketing(person, "marketo", personal)
        payload = {"webinar_id": webinar_id, "title": title, "campaign_id": campaign}
        self.emit(person, "WebinarRegistered", "marketo", "marketing", ids, payload)
        if self.r() < 0.55:
            yield self.now + self.between(2 * DAY, 10 * DAY)
            ids = self.ids_marketing(person, "marketo", personal)
            attended = {"webinar_id": webinar_id, "minutes_attended": self.between(5, 61)}
            self.emit(person, "WebinarAttended", "marketo", "marketing", ids, attended)

    # --- sales ---------------------------------------------------------------------------------------

    def _sales_journey(self, account: _Account, warm: bool, lead_source: str | None = None) -> Story:
        """Marketing touches, then a lead, qualification, an opportunity through its stages, won or lost."""
        person = account.persons[0]
        if warm:
            self.activate(person)
            kinds = [self.pick(("ad", "content", "webinar", "form")) for _ in range(self.between(2, 5))]
            for kind in kinds:
                yield from self._touch(person, kind)
                yield self.now + self.between(DAY, 6 * DAY)
            lead_source = {"ad": "advertising", "content": "content", "webinar": "event", "form": "web"}[
                kinds[0]
            ]
            lead_source = "outbound" if self.r() < 0.1 else lead_source
        rep = self.pick(SALES_REPS)
        yield self.office(self.now)
        person.lead_id = "00Q" + _b62(self.next_id("lead") * 6007 + 4_000_037, 15)
        self._lead_created(person, lead_source or "web", rep)
        for _ in range(self.between(1, 4)):
            yield self.office(self.now + self.between(HOUR, 3 * DAY))
            self._call(person, rep, lead=True)
        yield self.office(self.now + self.between(HOUR, 4 * DAY))
        if self.r() < 0.22:
            reason = self.pick(DISQUALIFY_REASONS)
            ids = self.ids_sales(person, lead=True)
            self.emit(
                person,
                "LeadDisqualified",
                "salesforce",
                "sales",
                ids,
                {"lead_id": person.lead_id, "reason": reason},
                rep,
            )
            return
        ids = self.ids_sales(person, lead=True)
        payload = {"lead_id": person.lead_id, "owner": rep, "reason": "Budget and timeline confirmed"}
        self.emit(person, "LeadQualified", "salesforce", "sales", ids, payload, rep)
        person.converted = True
        yield self.office(self.now + self.between(HOUR, 3 * DAY))
        yield from self._opportunity(account, person, rep, new_business=True)

    def _lead_created(self, person: _Person, lead_source: str, rep: str) -> None:
        account = person.account
        assert account is not None
        payload = {
            "lead_id": person.lead_id,
            "lead_source": lead_source,
            "owner": rep,
            "first_name": person.first,
            "last_name": person.last,
            "company": account.name,
            "job_title": person.title,
        }
        self.emit(
            person, "LeadCreated", "salesforce", "sales", self.ids_sales(person, lead=True), payload, rep
        )

    def _call(self, person: _Person, rep: str, lead: bool = False) -> None:
        disposition = self.pick(("connected", "connected", "voicemail", "no_answer"))
        payload = {
            "call_id": f"sfc-{self.next_id('sfcall'):08d}",
            "direction": "outbound" if self.r() < 0.85 else "inbound",
            "disposition": disposition,
            "duration_seconds": self.between(300, 2400)
            if disposition == "connected"
            else self.between(0, 60),
            "owner": rep,
        }
        self.emit(person, "CallLogged", "salesforce", "sales", self.ids_sales(person, lead), payload, rep)

    def _opportunity(self, account: _Account, person: _Person, rep: str, new_business: bool) -> Story:
        plan, seat_cents = self.pick(PLANS)
        seats = self.between(10, 300) if new_business else self.between(5, 60)
        cents = seats * seat_cents * 10
        opp_id = "006" + _b62(self.next_id("opp") * 7901 + 5_000_011, 15)
        self._opportunity_created(account, person, rep, opp_id, plan, cents)
        stages = ("prospecting", "qualification", "proposal", "negotiation")
        win = self.r() < (0.6 if account.healthy or new_business else 0.35)
        lose_at = 4 if win else self.between(1, 5)
        for step in range(1, 4):
            yield self.office(self.now + self.between(2 * DAY, 10 * DAY))
            self._meeting(account, person, rep, opp_id)
            if step == lose_at:
                break
            yield self.now + self.between(15 * MINUTE, 3 * HOUR)  # the rep updates the CRM after the meeting
            cents = cents if self.r() < 0.7 else cents * self.between(80, 120) // 100
            self._stage(person, rep, opp_id, stages[step - 1], stages[step], cents, account.currency)
            if stages[step] == "proposal":
                yield self.now + self.between(HOUR, DAY)
                self._quote(person, opp_id, cents, account.currency, rep)
        yield self.office(self.now + self.between(DAY, 8 * DAY))
        if not win:
            payload = {
                "opportunity_id": opp_id,
                "reason": self.pick(LOST_REASONS),
                "competitor": self.pick(COMPETITORS),
            }
            self.emit(person, "OpportunityLost", "salesforce", "sales", self.ids_sales(person), payload, rep)
            return
        payload = {"opportunity_id": opp_id, "amount": _money(cents, account.currency)}
        self.emit(person, "OpportunityWon", "salesforce", "sales", self.ids_sales(person), payload, rep)
        yield self.now + self.between(HOUR, DAY)
        self._order(account, person, plan, seats, seat_cents)
        if new_business:
            self._onboard(account, person, plan, cents)

    def _opportunity_created(
        self, account: _Account, person: _Person, rep: str, opp_id: str, plan: str, cents: int
    ) -> None:
        payload = {
            "opportunity_id": opp_id,
            "name": f"{account.name} - {plan}",
            "amount": _money(cents, account.currency),
            "stage": "prospecting",
            "owner": rep,
            "expected_close": self.clock.date(self.now + self.between(30 * DAY, 90 * DAY)),
        }
        self.emit(person, "OpportunityCreated", "salesforce", "sales", self.ids_sales(person), payload, rep)

    def _stage(
        self, person: _Person, rep: str, opp_id: str, old: str, new: str, cents: int, currency: str
    ) -> None:
        payload = {
            "opportunity_id": opp_id,
            "from_stage": old,
            "to_stage": new,
            "amount": _money(cents, currency),
            "owner": rep,
        }
        self.emit(
            person, "OpportunityStageChanged", "salesforce", "sales", self.ids_sales(person), payload, rep
        )

    def _quote(self, person: _Person, opp_id: str, cents: int, currency: str, rep: str) -> None:
        payload = {
            "quote_id": f"Q-{self.next_id('quote'):06d}",
            "opportunity_id": opp_id,
            "amount": _money(cents, currency),
            "valid_until": self.clock.date(self.now + 30 * DAY),
        }
        self.emit(person, "QuoteSent", "salesforce", "sales", self.ids_sales(person), payload, rep)

    def _meeting(self, account: _Account, person: _Person, rep: str, opp_id: str) -> None:
        """One meeting, logged once per attendee: colleagues join (and some are new to us)."""
        others = [p for p in account.persons[1:] if p.entered or p.entry == "late"]
        attendees = [person, *self.rng.sample(others, min(len(others), self.between(0, 3)))]
        payload = {
            "meeting_id": f"mtg-{self.next_id('meeting'):07d}",
            "subject": self.pick(("Discovery call", "Product demo", "Security review", "Commercial terms")),
            "owner": rep,
            "duration_minutes": self.pick((30, 45, 60)),
            "opportunity_id": opp_id,
        }
        for attendee in attendees:
            self.activate(attendee)
            attendee.converted = True
            self.emit(attendee, "MeetingHeld", "salesforce", "sales", self.ids_sales(attendee), payload, rep)

    def _upsell(self, account: _Account) -> Story:
        """A customer buys more seats: an opportunity without a lead."""
        candidates = [p for p in account.persons if p.entered and not p.erased]
        if candidates and not account.churned and not account.selling:
            account.selling = True
            yield self.office(self.now)
            yield from self._opportunity(account, candidates[0], self.pick(SALES_REPS), new_business=False)
            account.selling = False

    # --- commerce ------------------------------------------------------------------------------------

    def _order(self, account: _Account, person: _Person, plan: str, seats: int, seat_cents: int) -> None:
        items = [(f"BL-{plan.upper()}-SEAT", seats, seat_cents * 10)]
        if self.r() < 0.5:
            items.append(("BL-ONBOARDING", 1, 250_000))
        payload = {"order_id": f"ord_{self.next_id('order'):08d}", **_order_lines(items, account.currency)}
        self.emit(person, "OrderPlaced", "stripe", "commerce", self.ids_commerce(person, "stripe"), payload)

    def _onboard(self, account: _Account, person: _Person, plan: str, cents: int) -> None:
        """A won deal becomes a subscription and a customer: their people start using (and asking) us."""
        sub = _Subscription(
            sub_id="sub_" + _b62(self.next_id("sub") * 92_821 + 3_000_017, 14),
            plan=plan,
            period="annual",
            cents=cents,
            renews=self.now + 365 * DAY,
        )
        if self.r() < 0.3:  # some start monthly, which renews inside the window
            sub.period, sub.cents, sub.renews = "monthly", cents // 10, self.now + 30 * DAY
        self._subscription_event(person, "SubscriptionStarted", sub, account.currency)
        account.is_customer = True
        self.spawn(self._renewals(account, sub), self.now + DAY)
        for colleague in account.persons:
            if colleague.entry == "late" and not colleague.entered:
                self.spawn(self._enter(colleague), self.now + self.between(2 * DAY, 20 * DAY))
            elif colleague.entered:
                self.activate_service(colleague)

    def _subscription_event(self, person: _Person, type_name: str, sub: _Subscription, currency: str) -> None:
        payload = {
            "subscription_id": sub.sub_id,
            "plan": sub.plan,
            "amount": _money(sub.cents, currency),
            "renews_on": self.clock.date(sub.renews),
        }
        if type_name == "SubscriptionStarted":
            payload["period"] = sub.period
        self.emit(person, type_name, "stripe", "commerce", self.ids_commerce(person, "stripe"), payload)

    def _renewals(self, account: _Account, sub: _Subscription) -> Story:
        """NPS three weeks before a renewal, then the renewal (or, for the unhappy, a cancellation)."""
        holder = account.persons[0]
        while True:
            survey_at = sub.renews - 21 * DAY
            if survey_at > self.now and (sub.period == "annual" or sub.renewals % 3 == 0):
                yield survey_at
                for person in [p for p in account.persons if p.entered][:2]:
                    self._nps(person, account.healthy)
            yield max(sub.renews, self.now)
            if self.r() < (0.04 if account.healthy else 0.5):
                payload = {
                    "subscription_id": sub.sub_id,
                    "effective_on": self.clock.date(sub.renews),
                    "reason": "Not enough value",
                }
                self.emit(
                    holder,
                    "SubscriptionCancelled",
                    "stripe",
                    "commerce",
                    self.ids_commerce(holder, "stripe"),
                    payload,
                )
                account.churned = True
                return
            sub.renewals += 1
            sub.renews += 365 * DAY if sub.period == "annual" else 30 * DAY
            self._subscription_event(holder, "SubscriptionRenewed", sub, account.currency)

    def _shopper(self, person: _Person) -> Story:
        """A consumer buying from the web shop every month or two; some take the personal plan."""
        while not person.erased:
            items = [
                (sku, self.between(1, 3), cents)
                for sku, cents in self.rng.sample(CONSUMER_SKUS, self.between(1, 3))
            ]
            payload = {"order_id": f"#{self.next_id('shop') + 1000}", **_order_lines(items, person.currency)}
            self.emit(
                person, "OrderPlaced", "shopify", "commerce", self.ids_commerce(person, "shopify"), payload
            )
            if not person.has_plan and self.r() < 0.15:
                person.has_plan = True
                self.spawn(self._personal_plan(person), self.now + self.between(HOUR, DAY))
            if self.r() < 0.1:
                yield self.now + self.between(2 * DAY, 6 * DAY)
                self._nps(person, person.activity > 0.7)
            yield self.now + self.expo(40 * DAY / person.activity)

    def _personal_plan(self, person: _Person) -> Story:
        sub = _Subscription(
            sub_id="sub_" + _b62(self.next_id("sub") * 92_821 + 3_000_017, 14),
            plan="Personal",
            period="monthly",
            cents=1_200,
            renews=self.now + 30 * DAY,
        )
        self._subscription_event(person, "SubscriptionStarted", sub, person.currency)
        while not person.erased:
            yield sub.renews
            if self.r() < 0.1:
                payload = {"subscription_id": sub.sub_id, "effective_on": self.clock.date(sub.renews)}
                self.emit(
                    person,
                    "SubscriptionCancelled",
                    "stripe",
                    "commerce",
                    self.ids_commerce(person, "stripe"),
                    payload,
                )
                return
            sub.renews += 30 * DAY
            self._subscription_event(person, "SubscriptionRenewed", sub, person.currency)

    # --- support and contact center ------------------------------------------------------------------

    def _support(self, person: _Person) -> Story:
        while not person.erased and not (person.account is not None and person.account.churned):
            self.spawn(self._ticket(person), self.now)
            yield self.now + self.expo((28 if person.account else 70) * DAY / person.activity)

    def _ticket(self, person: _Person) -> Story:
        """A ticket: opened (after an email or a call), answered, maybe waiting, resolved, maybe reopened."""
        business = person.account is not None
        priority = self._priority(business)
        channel = self.pick(
            ("email", "email", "web", "chat", "phone") if person.phones else ("email", "web", "chat")
        )
        ticket_id = str(40_000 + self.next_id("ticket"))
        subject = self.pick(TICKET_SUBJECTS[priority] if business else CONSUMER_TICKET_SUBJECTS)
        personal = person.personal is not None and self.r() < 0.3
        if channel == "email":
            self._inbound_email(person, ticket_id, subject, personal, reveal=self.r() < 0.12)
        elif channel == "phone":
            self._cc_call(person, "support", "escalated")
        opened = {
            "ticket_id": ticket_id,
            "subject": subject,
            "priority": priority,
            "channel": channel,
            "product": self.pick(PRODUCTS),
        }
        self.emit(person, "TicketOpened", "zendesk", "support", self.ids_support(person, personal), opened)
        yield self.now + self._first_response(priority)
        agent = self.pick(SUPPORT_AGENTS)
        self._ticket_update(person, personal, ticket_id, "open", agent, reply=True)
        if priority == "P2" and self.r() < 0.1:
            yield self.now + self.between(10 * MINUTE, 2 * HOUR)
            self._ticket_update(person, personal, ticket_id, "open", agent, reply=False, priority="P1")
        if self.r() < 0.4:
            yield from self._waiting_on_customer(person, personal, ticket_id, subject, agent)
        yield self.now + self._first_response(priority) * self.between(2, 8)
        yield from self._resolve(person, personal, ticket_id, agent, business)

    def _priority(self, business: bool) -> str:
        roll = self.r()
        if not business:
            return "P2" if roll < 0.1 else "P3" if roll < 0.55 else "P4"
        return "P1" if roll < 0.05 else "P2" if roll < 0.22 else "P3" if roll < 0.65 else "P4"

    def _first_response(self, priority: str) -> int:
        low, high = {
            "P1": (5 * MINUTE, HOUR),
            "P2": (30 * MINUTE, 4 * HOUR),
            "P3": (HOUR, DAY),
            "P4": (2 * HOUR, 2 * DAY),
        }[priority]
        return self.between(low, high)

    def _ticket_update(
        self,
        person: _Person,
        personal: bool,
        ticket_id: str,
        status: str,
        agent: str,
        reply: bool,
        priority: str | None = None,
    ) -> None:
        payload: dict[str, Any] = {
            "ticket_id": ticket_id,
            "status": status,
            "assignee": agent,
            "public_reply": reply,
        }
        if priority is not None:
            payload["priority"] = priority
        self.emit(
            person, "TicketUpdated", "zendesk", "support", self.ids_support(person, personal), payload, agent
        )

    def _waiting_on_customer(
        self, person: _Person, personal: bool, ticket_id: str, subject: str, agent: str
    ) -> Story:
        self._ticket_update(person, personal, ticket_id, "pending_customer", agent, reply=True)
        yield self.now + self.between(HOUR, 2 * DAY)
        self._inbound_email(person, ticket_id, f"Re: {subject}", personal, reveal=self.r() < 0.05)
        self._ticket_update(person, personal, ticket_id, "open", agent, reply=False)

    def _resolve(self, person: _Person, personal: bool, ticket_id: str, agent: str, business: bool) -> Story:
        resolution = {"ticket_id": ticket_id, "resolution": self.pick(RESOLUTIONS)}
        self.emit(
            person,
            "TicketResolved",
            "zendesk",
            "support",
            self.ids_support(person, personal),
            resolution,
            agent,
        )
        reopened = self.r() < 0.07
        if reopened:
            yield self.now + self.between(DAY, 4 * DAY)
            payload = {"ticket_id": ticket_id, "reason": "The problem is back"}
            self.emit(
                person, "TicketReopened", "zendesk", "support", self.ids_support(person, personal), payload
            )
            yield self.now + self.between(HOUR, DAY)
            self._ticket_update(person, personal, ticket_id, "open", agent, reply=True)
            yield self.now + self.between(2 * HOUR, 3 * DAY)
            self.emit(
                person,
                "TicketResolved",
                "zendesk",
                "support",
                self.ids_support(person, personal),
                resolution,
                agent,
            )
        if self.r() < 0.45:
            yield self.now + self.between(30 * MINUTE, 2 * DAY)
            yield from self._csat(person, personal, ticket_id, reopened, business)

    def _csat(self, person: _Person, personal: bool, ticket_id: str, reopened: bool, business: bool) -> Story:
        healthy = person.account.healthy if person.account else True
        score = min(
            5, max(1, self.between(3, 6) - (2 if reopened else 0) - (0 if healthy else self.between(0, 3)))
        )
        payload: dict[str, Any] = {"survey_id": f"csat-{ticket_id}", "score": score, "ticket_id": ticket_id}
        if score <= 2:
            payload["comment"] = "It took far too long."
        self.emit(person, "CsatSubmitted", "zendesk", "support", self.ids_support(person, personal), payload)
        if score <= 2 and self.r() < 0.5:
            yield self.now + self.between(HOUR, DAY)
            self._complaint(
                person, "service" if business else "delivery", "high" if score == 1 else "medium", ticket_id
            )

    def _complaint(self, person: _Person, category: str, severity: str, ticket_id: str | None) -> None:
        payload: dict[str, Any] = {
            "complaint_id": f"cmp-{self.next_id('complaint'):06d}",
            "category": category,
            "severity": severity,
            "theme": self.pick(COMPLAINT_THEMES[category]),
            "description": "Customer escalated their dissatisfaction.",
        }
        if ticket_id is not None:
            payload["ticket_id"] = ticket_id
        self.emit(person, "ComplaintLogged", "zendesk", "support", self.ids_support(person, False), payload)

    def _inbound_email(
        self, person: _Person, ticket_id: str, subject: str, personal: bool, reveal: bool
    ) -> None:
        """A mail to support; its signature may reveal a new mobile number (evidence for the master record)"""
        observed: dict[str, Any] = {"first_name": person.first, "last_name": person.last}
        if person.account is not None:
            observed["company"] = person.account.name
            observed["job_title"] = person.title
            if personal:
                observed["email"] = self.see_email(person, person.email, (0.7, 1.0))
        if reveal and len(person.phones) < 3:
            phone = self.new_phone(person.currency)
            if phone is not None:
                person.phones.append(phone)  # from now on, calls come from this mobile
        if person.phones and (reveal or self.r() < 0.3):
            observed["phone"] = self.see_phone(person, person.phones[-1])
        payload = {
            "message_id": f"<{self.uuid4()}@mail.{VENDOR_DOMAIN}>",
            "mailbox": f"support@{VENDOR_DOMAIN}",
            "subject": subject,
            "ticket_id": ticket_id,
            "observed": observed,
        }
        self.emit(
            person, "InboundEmailReceived", "zendesk", "support", self.ids_support(person, personal), payload
        )

    def _calls(self, person: _Person) -> Story:
        """Calls to the contact center: billing, how-to, upgrades, complaints, the odd cancellation."""
        while not person.erased and not (person.account is not None and person.account.churned):
            healthy = person.account.healthy if person.account else True
            intents = ("billing", "billing", "support", "upgrade", "other", "complaint") + (
                () if healthy else ("cancellation", "complaint")
            )
            intent = self.pick(intents)
            self._cc_call(
                person,
                intent,
                self.pick(("resolved", "resolved", "connected", "transferred", "callback_scheduled")),
            )
            if intent == "complaint":
                yield self.now + self.between(10 * MINUTE, 2 * HOUR)
                self._complaint(
                    person,
                    self.pick(("billing", "product", "service")),
                    self.pick(("low", "medium", "high")),
                    None,
                )
            elif intent == "upgrade" and person.account is not None and self.r() < 0.4:
                self.spawn(self._upsell(person.account), self.now + self.between(DAY, 5 * DAY))
            yield self.now + self.expo(50 * DAY / person.activity)

    def _cc_call(self, person: _Person, intent: str, disposition: str) -> None:
        agent = self.pick(CC_AGENTS)
        payload: dict[str, Any] = {
            "call_id": f"gen-{self.next_id('call'):08d}",
            "intent": intent,
            "disposition": disposition,
            "duration_seconds": self.between(60, 1800),
            "agent": agent,
        }
        if person.account is not None:
            payload["caller_role"] = self.pick(("end_user", "end_user", "technical", "decision_maker"))
        ids = self.ids_phone(person, with_email=0.4)
        self.emit(person, "ContactCenterCall", "genesys", "contact_center", ids, payload, actor=agent)

    def _nps(self, person: _Person, healthy: bool) -> None:
        roll = self.r()
        if healthy:
            score = (
                self.between(9, 11)
                if roll < 0.55
                else self.between(7, 9)
                if roll < 0.85
                else self.between(3, 7)
            )
        else:
            score = self.between(0, 7) if roll < 0.65 else self.between(7, 11)
        payload: dict[str, Any] = {"survey_id": f"nps-{self.now // (30 * DAY) + 1:02d}", "score": score}
        if self.r() < 0.4:
            payload["comment"] = NPS_COMMENTS[0 if score >= 9 else 1 if score >= 7 else self.between(2, 4)]
        ids = {"email": self.see_email(person, person.email, (0.9, 1.0))}
        self.emit(person, "NpsSubmitted", "qualtrics", "support", ids, payload)

    # --- master data -----------------------------------------------------------------------------------

    def _masterdata(self, person: _Person) -> Story:
        """Consent given and withdrawn, details observed by admins, now and then an erasure request."""
        while not person.erased:
            roll = self.r()
            if roll < 0.45:
                self._details_observed(person)
            elif roll < 0.78:
                payload = {
                    "purpose": self.pick(("marketing_email", "analytics", "sales_contact")),
                    "channel": "web",
                    "wording_version": "consent-v3",
                }
                self.emit(person, "ConsentGiven", "crm_admin", "system", self.ids_system(person), payload)
            elif roll < 0.96 or person.account is not None:
                purpose = self.pick(("analytics", "third_party_sharing", "marketing_email"))
                person.subscribed = person.subscribed and purpose != "marketing_email"
                self.emit(
                    person,
                    "ConsentWithdrawn",
                    "crm_admin",
                    "system",
                    self.ids_system(person),
                    {"purpose": purpose, "channel": "email"},
                )
            else:
                payload = {
                    "request_id": f"dsr-{self.next_id('dsr'):05d}",
                    "requested_by": person.full_name,
                    "note": "GDPR Art. 17 request",
                }
                self.emit(person, "ErasureRequested", "crm_admin", "system", self.ids_system(person), payload)
                person.erased = True
                return
            yield self.now + self.expo(45 * DAY)

    def _details_observed(self, person: _Person) -> None:
        payload: dict[str, Any] = {}
        roll = self.r()
        if person.account is not None and roll < 0.4:
            person.title = self.pick(TITLES_STAFF + TITLES_LEAD)  # a promotion or a new role
            payload["job_title"] = person.title
        elif person.personal is not None and roll < 0.7:
            payload["email"] = self.see_email(person, person.personal, (0.6, 0.9))
        elif person.phones:
            payload["phone"] = self.see_phone(person, person.phones[-1])
        else:
            payload["last_name"] = person.last
        self.emit(person, "ContactDetailsObserved", "crm_admin", "system", self.ids_system(person), payload)

    # --- the truth -------------------------------------------------------------------------------------

    def truth_accounts(self) -> tuple[TruthAccount, ...]:
        return tuple(
            TruthAccount(
                a.account_id, a.name, a.domain, a.currency, a.sf_id, dict(sorted(a.ext_seen.items()))
            )
            for a in self.accounts
            if a.events
        )

    def truth_persons(self) -> tuple[TruthPerson, ...]:
        return tuple(
            TruthPerson(
                person_id=p.person_id,
                account_id=p.account_id,
                first_name=p.first,
                last_name=p.last,
                emails=tuple(p.emails_seen),
                phones=tuple(p.phones_seen),
                external_ids={system: tuple(ids) for system, ids in sorted(p.ext_seen.items())},
            )
            for p in self.persons
            if p.events
        )

    def truth(self, owners: dict[str, tuple[str, str | None]]) -> Truth:
        return Truth(self.truth_accounts(), self.truth_persons(), owners)


def _order_lines(items: list[tuple[str, int, int]], currency: str) -> dict[str, Any]:
    """The lines (sku, quantity, unit price in cents) and their total, as an order payload's fields."""
    lines = [
        {"sku": sku, "quantity": qty, "unit_price": _money(cents, currency)} for sku, qty, cents in items
    ]
    return {"total": _money(sum(qty * cents for _, qty, cents in items), currency), "lines": lines}
