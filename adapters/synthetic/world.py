"""The world every story shares: its state, the scheduler, random draws, emitting events, identifiers.

Each department's stories are a mixin over `WorldBase` (marketing.py, sales.py, commerce.py, support.py,
masterdata.py, with population.py making the people); generator.py composes them into the one world.
"""

from __future__ import annotations

import heapq
import random
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator
from typing import Any

from ...events import EVENT_TYPES
from .config import GeneratorConfig
from .state import DAY, HOUR, Account, Clock, Person, Story, b62
from .truth import Truth, TruthAccount, TruthPerson
from .vocabulary import US_AREA_CODES

_VERSION = {name: cls.current_version() for name, cls in EVENT_TYPES.items()}

_SEQ_MASK = (1 << 32) - 1
_BUCKET = HOUR
_UUID_KEEP = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


class WorldBase(ABC):
    """What every story stands on: one run's state, the scheduler, random draws, `emit` and identifiers.

    `run()` yields (event, person) in time order once the composed world fills in the doors below."""

    def __init__(self, config: GeneratorConfig) -> None:
        self.cfg = config
        self.rng = random.Random(config.seed)
        self.r = self.rng.random
        self.clock = Clock(config.start)
        self.end = config.days * DAY
        self.now = 0
        # The agenda is a calendar queue: one bucket per hour of ints (wake << 32 | seq), the stories by seq
        # in a dict. Appending to a later hour is O(1) and only the current hour is a (small) heap; plain
        # ints compare ~2.5x faster than (wake, seq, story) tuples. Ties go to the story scheduled first.
        self.buckets: list[list[int]] = [[] for _ in range(self.end // _BUCKET + 1)]
        self.current = -1
        self.stories: dict[int, Story] = {}
        self.seq = 0
        self.out: list[tuple[dict[str, Any], Person]] = []
        self.counters: Counter[str] = Counter()
        self.accounts: list[Account] = []
        self.persons: list[Person] = []
        self.used_emails: set[str] = set()
        self.us_phones: list[tuple[str, str]] = []
        self.uk_phones: list[tuple[str, str]] = []
        self.conferences: list[tuple[int, str]] = []

    # --- doors: what one room's stories start in another's, declared here so each room type-checks -----

    @abstractmethod
    def _setup(self) -> None:
        """In generator.py: make the population and plan who enters when; `run()` calls it first."""

    @abstractmethod
    def activate(self, person: Person) -> None:
        """In generator.py: the person now exists for our systems and their streams begin."""

    @abstractmethod
    def activate_service(self, person: Person) -> None:
        """In generator.py: the person's support tickets and contact-center calls begin."""

    @abstractmethod
    def _enter(self, person: Person) -> Story:
        """In generator.py: a story that only activates the person."""

    @abstractmethod
    def _touch(self, person: Person, kind: str) -> Story:
        """In marketing.py: one ad click, download, form or webinar."""

    @abstractmethod
    def _upsell(self, account: Account) -> Story:
        """In sales.py: a customer buys more seats."""

    @abstractmethod
    def _order(self, account: Account, person: Person, plan: str, seats: int, seat_cents: int) -> None:
        """In commerce.py: the order of a won deal."""

    @abstractmethod
    def _onboard(self, account: Account, person: Person, plan: str, cents: int) -> None:
        """In commerce.py: a won deal becomes a subscription and a customer."""

    @abstractmethod
    def _nps(self, person: Person, healthy: bool) -> None:
        """In support.py: one NPS survey answer."""

    # --- the scheduler -------------------------------------------------------------------------------

    def run(self) -> Iterator[tuple[dict[str, Any], Person]]:
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
        person: Person,
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

    def see_email(self, person: Person, variants: tuple[str, str, str], weights: tuple[float, float]) -> str:
        person.emails_seen[variants[0]] = None
        roll = self.r()
        return variants[0] if roll < weights[0] else variants[1] if roll < weights[1] else variants[2]

    def see_phone(self, person: Person, phone: tuple[str, str]) -> str:
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

    def ext_id(self, person: Person, system: str, personal: bool = False) -> dict[str, str]:
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
            return "003" + b62(n * 7919 + 1_000_003, 15)
        if system == "stripe":
            return "cus_" + b62(n * 104_729 + 9_999_991, 14)
        return str(
            {"hubspot": 5_100_000, "marketo": 880_000, "zendesk": 360_000_000_000}.get(system, 6_000_000_000)
            + n * 3
        )

    def account_ext(self, account: Account, system: str) -> dict[str, str]:
        value = account.sf_id if system == "salesforce" else account.stripe_id
        account.ext_seen[system] = value
        return {system: value}

    def ids_marketing(
        self, person: Person, system: str = "hubspot", personal: bool = False
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

    def ids_sales(self, person: Person, lead: bool = False) -> dict[str, Any]:
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

    def ids_support(self, person: Person, personal: bool) -> dict[str, Any]:
        variants = person.personal if personal and person.personal else person.email
        personal = variants is not person.email
        ids: dict[str, Any] = {
            "email": self.see_email(person, variants, (0.75, 0.95)),
            "external_ids": self.ext_id(person, "zendesk", personal),
        }
        if person.account is not None and self.r() < 0.5:
            ids["account_domain"] = person.account.domain  # zendesk organizations carry the domain
        return ids

    def ids_phone(self, person: Person, with_email: float) -> dict[str, Any]:
        ids: dict[str, Any] = {"phone": self.see_phone(person, person.phones[-1])}
        if self.r() < with_email:
            ids["email"] = self.see_email(person, person.email, (0.8, 0.95))
            if person.account is not None and self.r() < 0.5:
                ids["account_external_ids"] = self.account_ext(person.account, "salesforce")
        return ids

    def ids_commerce(self, person: Person, system: str) -> dict[str, Any]:
        ids: dict[str, Any] = {"email": self.see_email(person, person.email, (0.85, 0.97))}
        account = person.account
        if account is None:
            ids["external_ids"] = self.ext_id(person, system)
        else:
            ids["account_domain"] = account.domain
            ids["account_external_ids"] = self.account_ext(account, "stripe")
        return ids

    def ids_system(self, person: Person) -> dict[str, Any]:
        ids: dict[str, Any] = {"email": self.see_email(person, person.email, (0.95, 1.0))}
        if person.converted:
            ids["external_ids"] = self.ext_id(person, "salesforce")
        return ids

    # --- the phone pools ------------------------------------------------------------------------------

    def _phone_pools(self) -> None:
        self.us_phones = [("1", f"{a}55501{x:02d}") for a in US_AREA_CODES for x in range(100)]
        self.uk_phones = [("44", f"207946{x:04d}") for x in range(1000)]
        self.rng.shuffle(self.us_phones)
        self.rng.shuffle(self.uk_phones)

    def new_phone(self, currency: str) -> tuple[str, str] | None:
        """A phone nobody else has; the pools hold ~28k numbers, after which people simply have none."""
        pool = self.uk_phones if currency == "EUR" and self.uk_phones else self.us_phones
        return pool.pop() if pool else None

    # --- the truth -------------------------------------------------------------------------------------

    def truth_accounts(self) -> tuple[TruthAccount, ...]:
        return tuple(
            TruthAccount(
                a.account_id,
                a.name,
                a.domain,
                a.currency,
                a.sf_id,
                dict(sorted(a.ext_seen.items())),
                a.industry,
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
