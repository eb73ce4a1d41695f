"""Probabilistic record linkage (Fellegi-Sunter): is this pair of contacts one person?

Pure: records in, comparison vectors, weights and probabilities out; no I/O. The scan that reads the master
record and raises suspects is adapters/master_record/linkage.py.

- A `LinkRecord` holds every value a contact was seen with per field (a person who moved has two
  addresses; any one agreeing is agreement).
- `compare` gives each field a level (0 = disagrees ... highest = exact; None = missing on one side, which
  is no evidence either way): first and last name (exact, nickname or initial, Jaro-Winkler close,
  phonetic), swapped first/last names tried too, date of birth (exact, day and month swapped or one digit
  off), postcode, street, city, phone, email (exact, same local part), company.
- `blocking_keys`: a pair is compared when any one key agrees (postcode + last-name initial, date of birth,
  phone, email local part, metaphone of the last name, the two names' metaphones in either order).
- `Model`: m and u per field and level and the prior. `fit_model` fits m by EM over the blocked pairs'
  vectors, then scores with u from random pairs (nearly all non-matches) and the prior scaled to all
  pairs, as Splink does: with u taken from blocked pairs a surname the blocking chose on would count for
  nothing, and with u fixed from random pairs EM calls every blocked pair a match.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import jellyfish
from rapidfuzz.distance import JaroWinkler, Levenshtein
from rapidfuzz.fuzz import token_set_ratio

# Field -> number of levels (level n-1 is the strongest agreement).
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
    return max(level(x, y) for x in a for y in b)


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
    if jellyfish.metaphone(a) == jellyfish.metaphone(b) or JaroWinkler.similarity(a, b) >= 0.85:
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

    def compare(self, a: LinkRecord, b: LinkRecord) -> Vector:
        first = _first_level(self.variants)
        straight = (_best(a.first_name, b.first_name, first), _best(a.last_name, b.last_name, _last_level))
        swapped = (_best(a.first_name, b.last_name, first), _best(a.last_name, b.first_name, _last_level))
        names = max(straight, swapped, key=lambda pair: sum(x or 0 for x in pair))
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


# --- blocking ------------------------------------------------------------------------------------------


def blocking_keys(record: LinkRecord) -> set[str]:
    """A pair is compared when any one of these agrees."""
    keys: set[str] = set()
    initials = {n[0] for n in (*record.last_name, *record.first_name) if n}
    for postcode in record.postcode:
        keys.update(f"pc:{postcode}:{i}" for i in initials)
    keys.update(f"dob:{d}" for d in record.date_of_birth)
    keys.update(f"ph:{p}" for p in record.phone)
    keys.update(f"em:{e.split('@')[0]}" for e in record.email)
    last = {jellyfish.metaphone(n.split()[-1]) for n in record.last_name if n}
    first = {jellyfish.metaphone(n.split()[0]) for n in record.first_name if n}
    keys.update(f"ln:{code}" for code in last if code)
    keys.update(f"nm:{'|'.join(sorted((f, la)))}" for f in first for la in last if f and la)
    return keys


@dataclass
class BlockIndex:
    """Which records hold each blocking key; a key held by more than `max_block` records (a common
    surname, a shared phone) stops proposing pairs: the other keys still find its true pairs."""

    max_block: int = 400
    holders: dict[str, list[str]] = field(default_factory=dict)
    keys_of: dict[str, set[str]] = field(default_factory=dict)

    def add(self, record: LinkRecord) -> None:
        self.remove(record.id)
        keys = blocking_keys(record)
        self.keys_of[record.id] = keys
        for key in keys:
            self.holders.setdefault(key, []).append(record.id)

    def remove(self, record_id: str) -> None:
        for key in self.keys_of.pop(record_id, ()):
            members = self.holders.get(key)
            if members and record_id in members:
                members.remove(record_id)

    def candidates(self, record_id: str) -> set[str]:
        found: set[str] = set()
        for key in self.keys_of.get(record_id, ()):
            members = self.holders[key]
            if len(members) <= self.max_block:
                found.update(members)
        found.discard(record_id)
        return found

    def pairs(self) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for members in self.holders.values():
            if 1 < len(members) <= self.max_block:
                found.update((a, b) if a < b else (b, a) for a, b in combinations(members, 2))
        return found


# --- the model -----------------------------------------------------------------------------------------


def _default_m(levels: int) -> list[float]:
    # Most true pairs agree exactly; the rest spread over the lower levels.
    weights = [0.5**i for i in range(levels)][::-1]
    weights[-1] = 4.0
    total = sum(weights)
    return [w / total for w in weights]


def _default_u(levels: int) -> list[float]:
    # Most different people disagree; the rest spread evenly over the agreeing levels.
    return [0.9, *([0.1 / (levels - 1)] * (levels - 1))]


@dataclass(frozen=True)
class Model:
    """m[field][level] = P(level | same person), u[field][level] = P(level | different people); `prior` =
    P(same person) among compared pairs."""

    m: Mapping[str, Sequence[float]]
    u: Mapping[str, Sequence[float]]
    prior: float = 0.01

    @classmethod
    def default(cls) -> Model:
        return cls(
            {f: _default_m(n) for f, n in FIELDS.items()}, {f: _default_u(n) for f, n in FIELDS.items()}
        )

    def weight(self, vector: Vector) -> float:
        """The match weight in bits: log2 of the prior odds plus each known field's log2(m/u)."""
        total = math.log2(self.prior / (1 - self.prior))
        for name, level in zip(FIELD_NAMES, vector, strict=True):
            if level is not None:
                total += math.log2(self.m[name][level] / self.u[name][level])
        return total

    def probability(self, vector: Vector) -> float:
        w = self.weight(vector)
        return 1.0 / (1.0 + 2.0 ** (-w)) if w > -60 else 0.0


_FLOOR = 1e-6


def _normalised(counts: Sequence[float]) -> list[float]:
    total = sum(counts) + _FLOOR * len(counts)
    return [(c + _FLOOR) / total for c in counts]


def estimate_u(
    records: Sequence[LinkRecord], comparator: Comparator, samples: int = 5_000, seed: int = 1
) -> dict[str, list[float]]:
    """u from random pairs: among them, same-person pairs are too rare to matter."""
    rng = random.Random(seed)
    counts = {f: [0.0] * n for f, n in FIELDS.items()}
    if len(records) < 2:
        return {f: _default_u(n) for f, n in FIELDS.items()}
    for _ in range(samples):
        a, b = rng.sample(range(len(records)), 2)
        for name, level in zip(FIELD_NAMES, comparator.compare(records[a], records[b]), strict=True):
            if level is not None:
                counts[name][level] += 1
    return {f: _normalised(c) for f, c in counts.items()}


@dataclass(frozen=True)
class Fit:
    model: Model
    iterations: int
    converged: bool


def estimate(
    vectors: Iterable[Vector],
    u: Mapping[str, Sequence[float]] | None = None,
    start: Model | None = None,
    max_iterations: int = 100,
    tolerance: float = 1e-6,
) -> Fit:
    """EM over comparison vectors (identical vectors counted once). With `u` given, only m and the prior
    are fitted (u from random pairs is the more reliable estimate); else u is fitted too."""
    patterns = Counter(vectors)
    model = start or Model.default()
    if u is not None:
        model = Model(model.m, u, model.prior)
    items = list(patterns.items())
    if not items:
        return Fit(model, 0, True)
    for iteration in range(1, max_iterations + 1):
        m_counts = {f: [0.0] * n for f, n in FIELDS.items()}
        u_counts = {f: [0.0] * n for f, n in FIELDS.items()}
        matched = total = 0.0
        for vector, count in items:
            p = model.probability(vector)
            matched += p * count
            total += count
            for name, level in zip(FIELD_NAMES, vector, strict=True):
                if level is not None:
                    m_counts[name][level] += p * count
                    u_counts[name][level] += (1 - p) * count
        prior = min(max(matched / total, 1e-6), 1 - 1e-6)
        m = {f: _normalised(c) for f, c in m_counts.items()}
        new_u = u if u is not None else {f: _normalised(c) for f, c in u_counts.items()}
        change = max(
            abs(prior - model.prior),
            *(abs(x - y) for f in FIELDS for x, y in zip(m[f], model.m[f], strict=True)),
        )
        model = Model(m, new_u, prior)
        if change < tolerance:
            return Fit(model, iteration, True)
    return Fit(model, max_iterations, False)


def fit_model(
    vectors: Sequence[Vector], random_u: Mapping[str, Sequence[float]], records: int, start_prior: float = 0.1
) -> Fit:
    """The model to score with: m by EM over the blocked pairs (u fitted alongside, since blocked pairs
    are not random: most share a surname), then u from random pairs and the prior scaled from the blocked
    pairs to all pairs (every true pair is assumed blocked), so a field the blocking chose on still
    counts as evidence the way it does between two records picked at random."""
    start = Model(Model.default().m, random_u, start_prior)
    # Households are left out: EM would take "same home" for "same person" (see `household`).
    found = estimate([v for v in vectors if not household(v)], start=start)
    everything = max(records * (records - 1) / 2, 1.0)
    prior = min(max(found.model.prior * len(vectors) / everything, 1e-9), 0.5)
    return Fit(Model(found.model.m, random_u, prior), found.iterations, found.converged)


@dataclass(frozen=True)
class Scored:
    a: str
    b: str
    probability: float
    vector: Vector

    @property
    def fields(self) -> tuple[str, ...]:
        return agreeing_fields(self.vector)


def household(vector: Vector) -> bool:
    """Two people of one home (or one team's inbox): every field of the place agrees, the person's own
    do not - another first name (no nickname, initial, typo or swap explains it) and no identical date of
    birth. Address and surname are correlated between such people, which the model's independence
    assumption cannot see, so the pair is never a match whatever its score."""
    named = dict(zip(FIELD_NAMES, vector, strict=True))
    return named["first_name"] == 0 and named["date_of_birth"] != FIELDS["date_of_birth"] - 1


def strong_agreement(a: LinkRecord, b: LinkRecord) -> tuple[str, ...]:
    """The strong keys (email, state id, a system's id) both records hold: the gate a merge needs."""
    return tuple(sorted(a.strong & b.strong))
