"""Record linkage, part one: what a contact is to the model (`LinkRecord`) and how two are compared.

Each field of a pair gets a level (0 = disagrees ... highest = exact; None = missing on one side, which is
no evidence either way). Pure: no I/O. The model, blocking and EM are in projections/linkage.py.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import jellyfish
from rapidfuzz.distance import JaroWinkler, Levenshtein
from rapidfuzz.fuzz import token_set_ratio

FIELDS: dict[str, int] = {
    "first_name": 4,
    "last_name": 4,
    "date_of_birth": 3,
    "postcode": 3,
    "street": 3,
    "city": 2,
    "phone": 2,
    "email": 3,
    "company": 2,
}
FIELD_NAMES = tuple(FIELDS)
Vector = tuple[int | None, ...]


@dataclass(frozen=True)
class LinkRecord:
    """One contact as the model sees it: folded values per field, and its strong keys (the merge gate)."""

    id: str
    first_name: tuple[str, ...] = ()
    last_name: tuple[str, ...] = ()
    date_of_birth: tuple[str, ...] = ()
    postcode: tuple[str, ...] = ()
    street: tuple[str, ...] = ()
    city: tuple[str, ...] = ()
    phone: tuple[str, ...] = ()
    email: tuple[str, ...] = ()
    company: tuple[str, ...] = ()
    strong: frozenset[str] = frozenset()


def fold(text: str) -> str:
    """Lower-case ASCII, punctuation gone, spaces single: how every text field is compared."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", plain).split())


_POSTCODE = re.compile(r"^(?=.*\d)[A-Z0-9][A-Z0-9 -]{2,9}$")


def split_address(line: str) -> tuple[str | None, str | None, str | None]:
    """(street, postcode, city) from an address as one line (`PostalAddress.one_line`: lines, postcode,
    city, region, country): the postcode is the upper-case part with a digit, the city the one after it."""
    parts = [p.strip() for p in line.split(",") if p.strip()]
    if parts and len(parts[-1]) == 2 and parts[-1].isalpha() and parts[-1].isupper():
        parts = parts[:-1]  # the country
    at = next((i for i, p in enumerate(parts) if _POSTCODE.match(p)), None)
    if at is None:
        street = parts[0] if parts and any(c.isdigit() for c in parts[0]) else None
        city = parts[-1] if len(parts) > (1 if street else 0) else None
        return street, None, city
    street = ", ".join(parts[:at]) or None
    city = parts[at + 1] if at + 1 < len(parts) else None
    return street, parts[at].replace(" ", "").replace("-", ""), city


def record_of(
    record_id: str,
    values: Mapping[str, Iterable[str]],
    emails: Iterable[str] = (),
    strong: Iterable[str] = (),
) -> LinkRecord:
    """A LinkRecord from observed values (`first_name`, `last_name`, `date_of_birth`, `address` as one line,
    `phone`, `email`, `company`), canonical emails and strong keys."""

    def folded(name: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for v in values.get(name, ()) if (f := fold(v))))

    streets: list[str] = []
    postcodes: list[str] = []
    cities: list[str] = []
    for line in values.get("address", ()):
        street, postcode, city = split_address(line)
        if street:
            streets.append(fold(street))
        if postcode:
            postcodes.append(postcode.upper())
        if city:
            cities.append(fold(city))
    mails = {e.lower() for e in (*emails, *values.get("email", ())) if "@" in e}
    return LinkRecord(
        id=record_id,
        first_name=folded("first_name"),
        last_name=folded("last_name"),
        date_of_birth=tuple(dict.fromkeys(v[:10] for v in values.get("date_of_birth", ()))),
        postcode=tuple(dict.fromkeys(postcodes)),
        street=tuple(dict.fromkeys(streets)),
        city=tuple(dict.fromkeys(cities)),
        phone=tuple(dict.fromkeys(values.get("phone", ()))),
        email=tuple(sorted(mails)),
        company=folded("company"),
        strong=frozenset(strong),
    )


# --- comparing -----------------------------------------------------------------------------------------


NameVariants = Callable[[str, str], bool]


def _no_variants(a: str, b: str) -> bool:
    return False


def _best(a: Sequence[str], b: Sequence[str], level: Callable[[str, str], int]) -> int | None:
    if not a or not b:
        return None
    if len(a) == 1 and len(b) == 1:  # the usual case, without a generator
        return level(a[0], b[0])
    return max(level(x, y) for x in a for y in b)


_metaphone = lru_cache(maxsize=1 << 16)(jellyfish.metaphone)


def _first_level(variants: NameVariants) -> Callable[[str, str], int]:
    def level(a: str, b: str) -> int:
        if a == b:
            return 3
        a1, b1 = a.split()[0], b.split()[0]
        if a1 == b1 or variants(a1, b1) or (min(len(a1), len(b1)) == 1 and a1[0] == b1[0]):
            return 2
        if JaroWinkler.similarity(a, b) >= 0.88:
            return 1
        return 0

    return level


def _last_level(a: str, b: str) -> int:
    if a == b:
        return 3
    if JaroWinkler.similarity(a, b) >= 0.92:
        return 2
    if _metaphone(a) == _metaphone(b) or JaroWinkler.similarity(a, b) >= 0.85:
        return 1
    return 0


def _dob_level(a: str, b: str) -> int:
    if a == b:
        return 2
    if len(a) == len(b) == 10 and (a[:4] == b[:4] and a[5:7] == b[8:10] and a[8:10] == b[5:7]):
        return 1  # day and month swapped
    return 1 if Levenshtein.distance(a, b) == 1 else 0


def _postcode_level(a: str, b: str) -> int:
    if a == b:
        return 2
    return 1 if Levenshtein.distance(a, b) == 1 else 0


def _street_level(a: str, b: str) -> int:
    if a == b:
        return 2
    return 1 if token_set_ratio(a, b) >= 85 else 0


def _exact(a: str, b: str) -> int:
    return 1 if a == b else 0


def _email_level(a: str, b: str) -> int:
    if a == b:
        return 2
    return 1 if a.split("@")[0] == b.split("@")[0] else 0


def _company_level(a: str, b: str) -> int:
    return 1 if a == b or token_set_ratio(a, b) >= 90 else 0


@dataclass(frozen=True)
class Comparator:
    """Field levels of a pair. `variants(a, b)` says two folded first names are one person's (nicknames)."""

    variants: NameVariants = _no_variants
    _first: Callable[[str, str], int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_first", _first_level(self.variants))

    def compare(self, a: LinkRecord, b: LinkRecord) -> Vector:
        first = self._first
        names = (_best(a.first_name, b.first_name, first), _best(a.last_name, b.last_name, _last_level))
        if names[0] == 0 or names[1] == 0:  # first and last name swapped in one of them?
            swapped = (_best(a.first_name, b.last_name, first), _best(a.last_name, b.first_name, _last_level))
            names = max(names, swapped, key=lambda pair: sum(x or 0 for x in pair))
        return (
            *names,
            _best(a.date_of_birth, b.date_of_birth, _dob_level),
            _best(a.postcode, b.postcode, _postcode_level),
            _best(a.street, b.street, _street_level),
            _best(a.city, b.city, _exact),
            _best(a.phone, b.phone, _exact),
            _best(a.email, b.email, _email_level),
            _best(a.company, b.company, _company_level),
        )


def agreeing_fields(vector: Vector) -> tuple[str, ...]:
    """The fields that agree at some level (what a steward is shown beside the score)."""
    return tuple(name for name, level in zip(FIELD_NAMES, vector, strict=True) if level)
