"""What to generate: the configuration, and how many events it gives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)

# Measured (seeds 1-3; 30, 90 and 180 days; 6k customers, 8 per account): 10.3-11.4 events per customer per
# 30 days. Beyond ~30k customers the ~28k fictional phone numbers run out, so fewer calls: ~10.4.
# The sales funnel happens once per account while the streams (newsletters, tickets...) scale with time,
# so shorter windows give slightly more per month and longer ones slightly fewer.
EVENTS_PER_CUSTOMER_MONTH = 10.8
CUSTOMERS_PER_ACCOUNT = 8


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
