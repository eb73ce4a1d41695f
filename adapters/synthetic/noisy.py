"""Noisy duplicates: several records of each true person from different sources, and who each record is.

The truth to measure identity resolution against (bench/identity.py): people whose records only their
details tie together. Each person gets 1-5 records (ContactDetailsObserved, sometimes FormSubmitted), each
from another system with its own customer number, and the noise real imports have: typos, nicknames
(the `nicknames` dataset), swapped first and last names, a move (a new address), a new email, phones in
national format (read with the country of the address), missing fields, day and month swapped in a date of
birth. Some people share a household (address, last name, often one gmail) and some write from their
company's shared inbox (`info@`, `support@`): different people who look alike.

Separate from generator.py: the realistic story is untouched (its output stays byte-identical); this is
its own, deterministic dataset (`write_noisy`, or `python -m touchstream.adapters.synthetic.noisy`).
"""

from __future__ import annotations

import argparse
import os
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
from nicknames import name_triplets

from .config import DEFAULT_START
from .vocabulary import COMPANY_A, COMPANY_B, FIRST_NAMES, LAST_NAMES, _words

SOURCES = ("crm_import", "webshop", "zendesk", "billing", "hubspot", "loyalty")
FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.co.uk", "icloud.com")
SHARED_INBOXES = ("info", "support", "office", "customer.service")
STREETS = _words(
    "Oak Maple Cedar Elm Pine Birch Willow Church Station Mill High Park Victoria Albert Queen King "
    "Bridge Market Green Hill Lake River Spring Chestnut Walnut Highland Meadow Orchard Forest Sunset "
    "Harbor Valley Ridge Grove Cherry Ash Holly Beech Poplar"
)
STREET_KINDS = ("Road", "Street", "Lane", "Avenue", "Close", "Way")
CITIES = {
    "US": (
        ("Springfield", "62"),
        ("Portland", "97"),
        ("Austin", "78"),
        ("Denver", "80"),
        ("Madison", "53"),
        ("Raleigh", "27"),
        ("Boston", "02"),
        ("Tucson", "85"),
    ),
    "GB": (
        ("London", "SW"),
        ("Leeds", "LS"),
        ("Bristol", "BS"),
        ("Manchester", "M"),
        ("Glasgow", "G"),
        ("Oxford", "OX"),
        ("Norwich", "NR"),
        ("Cardiff", "CF"),
    ),
}
US_AREA = ("212", "312", "415", "503", "512", "617", "720", "919")
KEYBOARD = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class NoisyConfig:
    """How many true people, how their records are spread and how noisy they are; a seed gives the same
    bytes."""

    people: int = 1_000
    seed: int = 1
    max_records: int = 5
    typo: float = 0.12  # per name field of a record after the first
    nickname: float = 0.15
    swapped_names: float = 0.04
    moved: float = 0.15  # per person: later records carry a new address
    new_email: float = 0.2  # per person: later records carry another address
    national_phone: float = 0.5  # a phone written without its country code
    household: float = 0.08  # per person: a partner at the same address (often one shared gmail)
    shared_inbox: float = 0.04  # per person: writes from the company's info@ / support@
    missing: float = 0.2  # each of date of birth, address, phone, email left out of a record

    def __post_init__(self) -> None:
        if self.people < 1 or self.max_records < 1:
            raise ValueError("people and max_records must be at least 1")


@dataclass
class _Person:
    person_id: str
    first: str
    last: str
    born: date
    country: str
    addresses: list[dict[str, Any]]
    emails: list[str]
    phone: tuple[str, str] | None  # (E.164, national form)
    company: str | None
    records: int = 0
    shared: list[str] = field(default_factory=list)  # a household's or a company's shared address


@dataclass(frozen=True)
class NoisyDataset:
    events: list[dict[str, Any]]
    truth: dict[str, str]  # event_id -> person_id

    def true_pairs(self) -> int:
        sizes: dict[str, int] = {}
        for person in self.truth.values():
            sizes[person] = sizes.get(person, 0) + 1
        return sum(n * (n - 1) // 2 for n in sizes.values())


def _nicknames() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for triplet in name_triplets():
        if triplet.relationship == "has_nickname" and len(triplet.name2) >= 3:
            found.setdefault(triplet.name1, []).append(triplet.name2)
    return {name: sorted(set(nicks)) for name, nicks in sorted(found.items())}


class _Noisy:
    def __init__(self, config: NoisyConfig) -> None:
        self.cfg = config
        self.rng = random.Random(config.seed)
        self.nicks = _nicknames()
        formal = [n.capitalize() for n in self.nicks if len(n) >= 4]
        self.first_names = sorted(set(FIRST_NAMES) | set(self.rng.sample(formal, min(250, len(formal)))))
        self.last_names = sorted(
            set(LAST_NAMES)
            | {
                a + b.lower()
                for a in ("Ash", "Whit", "Cole", "Brad")
                for b in ("ford", "field", "ley", "man", "well")
            }
        )
        self.phones_used: set[str] = set()
        self.events: list[dict[str, Any]] = []
        self.truth: dict[str, str] = {}
        self.moment = 0

    def r(self) -> float:
        return self.rng.random()

    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    # --- people ------------------------------------------------------------------------------------------

    def address(self, country: str) -> dict[str, Any]:
        city, prefix = self.rng.choice(CITIES[country])
        street = f"{self.rng.randint(1, 240)} {self.rng.choice(STREETS)} {self.rng.choice(STREET_KINDS)}"
        if country == "US":
            postcode = f"{prefix}{self.rng.randint(100, 999)}"
        else:
            letters = "".join(self.rng.choice("ABDEFGHJLNPQRSTUWXYZ") for _ in range(2))
            postcode = f"{prefix}{self.rng.randint(1, 20)} {self.rng.randint(1, 9)}{letters}"
        return {"lines": [street], "city": city, "postal_code": postcode, "country": country}

    def phone(self, country: str) -> tuple[str, str] | None:
        for _ in range(20):
            if country == "US":
                area, line = self.rng.choice(US_AREA), f"01{self.rng.randint(0, 99):02d}"
                e164, national = f"+1{area}555{line}", f"({area}) 555-{line}"
            else:
                line = f"{self.rng.randint(0, 999):03d}"
                e164, national = f"+442079460{line}", f"020 7946 0{line}"
            if e164 not in self.phones_used:
                self.phones_used.add(e164)
                return e164, national
        return None

    def email(self, first: str, last: str, domain: str | None = None) -> str:
        style = self.rng.randint(0, 3)
        f, ln = _ascii(first), _ascii(last)
        local = (f"{f}.{ln}", f"{f[0]}{ln}", f"{f}{ln}{self.rng.randint(1, 99)}", f"{ln}.{f}")[style]
        return f"{local}@{domain or self.rng.choice(FREE_MAIL)}"

    def person(self, index: int) -> _Person:
        country = "GB" if self.r() < 0.4 else "US"
        first, last = self.rng.choice(self.first_names), self.rng.choice(self.last_names)
        born = date(1950, 1, 1) + timedelta(days=self.rng.randint(0, 365 * 55))
        company = None
        if self.r() < 0.5:
            company = f"{self.rng.choice(COMPANY_A)} {self.rng.choice(COMPANY_B)}"
        domain = None if company is None or self.r() < 0.5 else _ascii(company).replace(" ", "") + ".com"
        emails = [self.email(first, last, domain)]
        addresses = [self.address(country)]
        if self.r() < self.cfg.moved:
            addresses.append(self.address(country))
        if self.r() < self.cfg.new_email:
            emails.append(self.email(first, last))
        phone = self.phone(country) if self.r() < 0.8 else None
        return _Person(f"p{index:06d}", first, last, born, country, addresses, emails, phone, company)

    def partner(self, person: _Person, index: int) -> _Person:
        """Someone sharing the person's home (and, often, a family gmail)."""
        first = self.rng.choice([n for n in self.first_names if n[0] != person.first[0]])
        born = person.born + timedelta(days=self.rng.randint(-3000, 3000))
        phone = self.phone(person.country) if self.r() < 0.7 else None
        partner = _Person(
            f"p{index:06d}",
            first,
            person.last,
            born,
            person.country,
            [person.addresses[0]],
            [self.email(first, person.last)],
            phone,
            None,
        )
        if self.r() < 0.6:
            family = f"{_ascii(person.last)}family{self.rng.randint(1, 99)}@gmail.com"
            person.shared.append(family)
            partner.shared.append(family)
        return partner

    # --- records -----------------------------------------------------------------------------------------

    def records(self, person: _Person) -> None:
        count = 1 + min(self.cfg.max_records - 1, int(self.rng.expovariate(0.7)))
        sources = self.rng.sample(SOURCES, min(count, len(SOURCES)))
        for n in range(count):
            self.record(person, sources[n % len(sources)], later=n > 0, last_of=n == count - 1)

    def record(self, person: _Person, source: str, later: bool, last_of: bool) -> None:
        cfg = self.cfg
        first, last = person.first, person.last
        if later and self.r() < cfg.nickname and first.lower() in self.nicks:
            first = self.rng.choice(self.nicks[first.lower()]).capitalize()
        if later and self.r() < cfg.typo:
            first = _typo(first, self.rng)
        if later and self.r() < cfg.typo:
            last = _typo(last, self.rng)
        if later and self.r() < cfg.swapped_names:
            first, last = last, first
        moved = later and len(person.addresses) > 1 and (last_of or self.r() < 0.5)
        address = dict(person.addresses[-1 if moved else 0])
        if later and self.r() < 0.05:
            address["postal_code"] = _typo(address["postal_code"], self.rng, digits=True)
        new_email = later and len(person.emails) > 1 and (last_of or self.r() < 0.5)
        email = person.emails[-1 if new_email else 0]
        if person.shared and self.r() < 0.7:
            email = self.rng.choice(person.shared)
        born = person.born
        if later and self.r() < 0.03 and born.day <= 12 and born.day != born.month:
            born = date(born.year, born.day, born.month)
        ext = f"{source[:2].upper()}-{self.rng.randint(10**6, 10**7 - 1)}"
        identifiers: dict[str, Any] = {"external_ids": {source: ext}}
        observed: dict[str, Any] = {"first_name": first, "last_name": last}
        if self.r() >= cfg.missing:
            observed["date_of_birth"] = born.isoformat()
        if self.r() >= cfg.missing:
            observed["address"] = address
        if person.phone is not None and self.r() >= cfg.missing:
            national = "address" in observed and self.r() < cfg.national_phone
            observed["phone"] = person.phone[1] if national else person.phone[0]
        if self.r() >= cfg.missing or not later:
            identifiers["email"] = email
        if person.company and self.r() < 0.7:
            observed["company"] = person.company
        self.moment += self.rng.randint(30, 600)
        at = (DEFAULT_START + timedelta(seconds=self.moment)).isoformat().replace("+00:00", "Z")
        event_id = self.uuid()
        if "email" in identifiers and self.r() < 0.15:  # a web form: only name and company ride along
            payload: dict[str, Any] = {
                "form_id": "contact-us",
                "page_url": "https://brightlane.io/contact",
                **{k: v for k, v in observed.items() if k in ("first_name", "last_name", "company")},
            }
            kind, identifiers = "FormSubmitted", {"email": identifiers["email"]}
        else:
            payload, kind = observed, "ContactDetailsObserved"
        self.events.append(
            {
                "event_id": event_id,
                "type": kind,
                "schema_version": 1,
                "occurred_at": at,
                "recorded_at": at,
                "source": source,
                "identifiers": identifiers,
                "payload": payload,
            }
        )
        self.truth[event_id] = person.person_id
        person.records += 1

    def shared_inbox(self, person: _Person) -> None:
        if person.company:
            domain = _ascii(person.company).replace(" ", "") + ".com"
            person.shared.append(f"{self.rng.choice(SHARED_INBOXES)}@{domain}")

    def build(self) -> NoisyDataset:
        people: list[_Person] = []
        index = 0
        while len(people) < self.cfg.people:
            person = self.person(index)
            index += 1
            people.append(person)
            if self.r() < self.cfg.shared_inbox:
                self.shared_inbox(person)
            if self.r() < self.cfg.household and len(people) < self.cfg.people:
                people.append(self.partner(person, index))
                index += 1
        # Records arrive interleaved, as imports from several systems do.
        order = list(people)
        self.rng.shuffle(order)
        for person in order:
            self.records(person)
        self.events.sort(key=lambda e: e["occurred_at"])
        return NoisyDataset(self.events, self.truth)


def _ascii(text: str) -> str:
    import unicodedata

    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return plain.lower().replace("'", "")


def _typo(word: str, rng: random.Random, digits: bool = False) -> str:
    """One keyboard slip: a swap of neighbours, a dropped, doubled or replaced character."""
    if len(word) < 3:
        return word
    i = rng.randint(1, len(word) - 2)
    kind = rng.randint(0, 3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    if kind == 2:
        return word[:i] + word[i] + word[i:]
    pool = "0123456789" if digits and word[i].isdigit() else KEYBOARD
    replaced = rng.choice(pool)
    return word[:i] + (replaced.upper() if word[i].isupper() else replaced) + word[i + 1 :]


def noisy_dataset(config: NoisyConfig) -> NoisyDataset:
    """The records (wire-form event dicts, in time order) and the true person of each."""
    return _Noisy(config).build()


def write_noisy(
    config: NoisyConfig, events_path: str | os.PathLike[str], truth_path: str | os.PathLike[str]
) -> dict[str, int]:
    """Events as JSONL, and the truth as JSONL lines `{"event_id": …, "person_id": …}`."""
    data = noisy_dataset(config)
    with open(events_path, "wb") as out:
        for event in data.events:
            out.write(orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE))
    with open(truth_path, "wb") as out:
        for event_id, person_id in data.truth.items():
            line = {"event_id": event_id, "person_id": person_id}
            out.write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
    return {
        "events": len(data.events),
        "people": len(set(data.truth.values())),
        "true_pairs": data.true_pairs(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=1_000, help="true people")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("-o", "--out", type=Path, default=Path("noisy-events.jsonl"))
    parser.add_argument("--truth", type=Path, default=Path("noisy-truth.jsonl"))
    args = parser.parse_args(argv)
    summary = write_noisy(NoisyConfig(people=args.people, seed=args.seed), args.out, args.truth)
    print(
        f"wrote {summary['events']} records of {summary['people']} people to {args.out}, "
        f"truth to {args.truth}"
    )


if __name__ == "__main__":
    main()
