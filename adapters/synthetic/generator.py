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

Where things are: config.py (what to generate), truth.py (the answer key), vocabulary.py (names, products,
reasons), state.py (accounts, people, the clock), world.py (`WorldBase`: the scheduler, random draws, `emit`,
identifiers), population.py (who is there at the start), and one module per department's stories:
marketing.py, sales.py, commerce.py, support.py, masterdata.py. This module composes them into `_World`,
which also decides who enters when and which streams then begin, and is the public face.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import orjson

from .commerce import CommerceStories
from .config import (
    CUSTOMERS_PER_ACCOUNT,
    DEFAULT_START,
    EVENTS_PER_CUSTOMER_MONTH,
    GeneratorConfig,
    estimated_events,
)
from .marketing import MarketingStories
from .masterdata import MasterdataStories
from .population import Population
from .sales import SalesStories
from .state import DAY, HOUR, WEEK, Account, Person, Story, Subscription, b62
from .support import SupportStories
from .truth import Truth, TruthAccount, TruthPerson
from .vocabulary import CC_AGENTS, PLANS, PRODUCTS

__all__ = [
    "CUSTOMERS_PER_ACCOUNT",
    "DEFAULT_START",
    "EVENTS_PER_CUSTOMER_MONTH",
    "NOT_GENERATED",
    "GeneratorConfig",
    "Truth",
    "TruthAccount",
    "TruthPerson",
    "estimated_events",
    "generate",
    "generate_truth",
    "generate_with_truth",
    "write_dataset",
]

PROGRESS_EVERY = 10_000
#: Event types the generated world does not produce, and why (their rules are tested with hand-made events).
NOT_GENERATED: dict[str, str] = {
    "ProductUsageReported": "the world has no product metering yet; the rule is tested with hand-made events",
}
_WRITE_BUFFER = 1 << 20


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
# The world: every department's stories over the shared base, and when each person enters
# ---------------------------------------------------------------------------------------------------------


class _World(Population, MarketingStories, SalesStories, CommerceStories, SupportStories, MasterdataStories):
    """All state of one generation run; `run()` yields (event, person) in time order."""

    # --- the plan ------------------------------------------------------------------------------------

    def _setup(self) -> None:
        self._phone_pools()
        self._make_accounts()
        self._make_people()
        self._plan_conferences()
        self._plan_stories()

    def _plan_stories(self) -> None:
        for account in self.accounts:
            self._plan_account(account)
        for person in self.persons:
            self._plan_person(person)

    def _plan_account(self, account: Account) -> None:
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

    def _plan_person(self, person: Person) -> None:
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

    def _existing_subscription(self, account: Account) -> Subscription:
        plan, seat_cents = self.pick(PLANS)
        seats = self.between(5, 200)
        annual = self.r() < 0.6
        cents = seats * seat_cents * (10 if annual else 1)  # annual: two months free
        horizon = 365 * DAY if annual else 30 * DAY
        return Subscription(
            sub_id="sub_" + b62(self.next_id("sub") * 92_821 + 3_000_017, 14),
            plan=plan,
            period="annual" if annual else "monthly",
            cents=cents,
            renews=self.between(DAY, horizon),
        )

    # --- entries ---------------------------------------------------------------------------------------

    def _enter(self, person: Person) -> Story:
        self.activate(person)
        return
        yield  # a generator that only activates

    def activate(self, person: Person) -> None:
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

    def activate_service(self, person: Person) -> None:
        self.spawn(self._support(person), self.now + self.expo(30 * DAY / person.activity))
        if person.phones:
            self.spawn(self._calls(person), self.now + self.expo(60 * DAY / person.activity))

    def _badge_entry(self, person: Person, conference: str) -> Story:
        yield from self._badge_scan_story(person, conference)
        self.activate(person)
        account = person.account
        if account is not None and account.segment == "unknown" and account.persons[0] is person:
            yield self.now + self.between(2 * DAY, 10 * DAY)
            yield from self._sales_journey(account, warm=False, lead_source="event")

    def _caller_entry(self, person: Person) -> Story:
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
