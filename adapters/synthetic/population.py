"""Who is there: the accounts and their people, made once at the start from the seed."""

from __future__ import annotations

import zlib

from .state import B62, DAY, Account, Person, ascii_slug, b62, email_variants
from .vocabulary import (
    COMPANY_A,
    COMPANY_B,
    COMPANY_C,
    CONFERENCES,
    EU_TLDS,
    FIRST_NAMES,
    FREE_MAIL_DOMAINS,
    INDUSTRIES,
    LAST_NAMES,
    TITLES_LEAD,
    TITLES_STAFF,
)
from .world import WorldBase


class Population(WorldBase):
    """Makes the accounts, their contacts and the free-mail consumers, and dates the conferences."""

    def _make_accounts(self) -> None:
        names: set[str] = set()
        for i in range(self.cfg.accounts):
            name = self._company_name(names)
            eur = self.r() < self.cfg.eur_share
            tld = self.pick(EU_TLDS) if eur else self.pick(("com", "com", "com", "io", "co", "net"))
            roll = self.r()
            segment = "customer" if roll < 0.45 else "prospect" if roll < 0.85 else "unknown"
            account = Account(
                account_id=f"A{i + 1:06d}",
                name=name,
                domain=f"{ascii_slug(name.replace(' ', '-'))}.{tld}",
                currency="EUR" if eur else "USD",
                industry=INDUSTRIES[zlib.crc32(name.encode()) % len(INDUSTRIES)],
                segment=segment,
                healthy=self.r() < 0.8,
                sf_id="001" + b62(i * 7877 + 2_000_003, 15),
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

    def _add_person(self, account: Account | None) -> None:
        first, last = self.pick(FIRST_NAMES), self.pick(LAST_NAMES)
        lead = account is not None and not account.persons
        currency = account.currency if account else ("EUR" if self.r() < self.cfg.eur_share else "USD")
        if account is not None:
            email = self._unique_email(self._work_local(first, last, account), account.domain)
        else:
            email = self._free_email(first, last)
        personal = None
        if account is not None and self.r() < self.cfg.personal_email_share:
            personal = email_variants(self._free_email(first, last))
        phone = self.new_phone(currency) if self.r() < self.cfg.phone_share else None
        person = Person(
            person_id=f"P{len(self.persons) + 1:07d}",
            first=first,
            last=last,
            title=self.pick(TITLES_LEAD if lead else TITLES_STAFF),
            account=account,
            currency=currency,
            email=email_variants(email),
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

    def _entry_kind(self, account: Account | None, lead: bool) -> str:
        """How a person first shows up: known from the start, at a conference, calling in, or later."""
        if account is None:
            return "shopper" if self.r() < 0.3 else "known"
        if account.segment == "unknown":
            return ("badge" if self.r() < 0.5 else "caller") if lead else "late"
        return "badge" if not lead and self.r() < 0.12 else "known"

    def _work_local(self, first: str, last: str, account: Account) -> str:
        f, last_slug = ascii_slug(first), ascii_slug(last)
        style = int(account.sf_id[-1] in B62[:31]) + int(len(account.persons) % 5 == 4)
        return (f"{f}.{last_slug}", f"{f[0]}{last_slug}", f"{f}_{last_slug}")[style]

    def _unique_email(self, local: str, domain: str) -> str:
        address, n = f"{local}@{domain}", 1
        while address in self.used_emails:
            n += 1
            address = f"{local}{n}@{domain}"
        self.used_emails.add(address)
        return address

    def _free_email(self, first: str, last: str) -> str:
        f, last_slug = ascii_slug(first), ascii_slug(last)
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
