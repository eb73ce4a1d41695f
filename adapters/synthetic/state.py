"""The world's state: accounts, people and subscriptions, the clock, and the small pure helpers they use."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MINUTE, HOUR, DAY = 60, 3600, 86_400
WEEK = 7 * DAY
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def b62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        chars.append(B62[digit])
    return "".join(reversed(chars))


def ascii_slug(text: str) -> str:
    """Email local parts and domains are plain ASCII here: accents are dropped the way mail admins do."""
    folded = unicodedata.normalize("NFKD", text.replace("ø", "o")).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum() or ch == "-")


def email_variants(address: str) -> tuple[str, str, str]:
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


def money(cents: int, currency: str) -> dict[str, str]:
    return {"amount": f"{cents // 100}.{cents % 100:02d}", "currency": currency}


def order_lines(items: list[tuple[str, int, int]], currency: str) -> dict[str, Any]:
    """The lines (sku, quantity, unit price in cents) and their total, as an order payload's fields."""
    lines = [{"sku": sku, "quantity": qty, "unit_price": money(cents, currency)} for sku, qty, cents in items]
    return {"total": money(sum(qty * cents for _, qty, cents in items), currency), "lines": lines}


@dataclass(slots=True, eq=False)
class Subscription:
    sub_id: str
    plan: str
    period: str  # "monthly" | "annual"
    cents: int
    renews: int  # seconds after start
    renewals: int = 0


@dataclass(slots=True, eq=False)
class Account:
    account_id: str
    name: str
    domain: str
    currency: str
    industry: str  # as the CRM records it (leads and opportunities carry it)
    segment: str  # "customer" at start, "prospect" known to marketing, "unknown" until first seen
    healthy: bool
    sf_id: str
    stripe_id: str
    persons: list[Person] = field(default_factory=list)
    is_customer: bool = False
    churned: bool = False
    selling: bool = False  # an opportunity is open: a second one waits (reps do not run two at once)
    events: int = 0
    ext_seen: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class Person:
    person_id: str
    first: str
    last: str
    title: str
    account: Account | None
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


class Clock:
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
