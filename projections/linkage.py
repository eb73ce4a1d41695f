"""Probabilistic record linkage (Fellegi-Sunter): is this pair of contacts one person?

Pure: records in, comparison vectors, weights and probabilities out; no I/O. The scan that reads the master
record and raises suspects is adapters/master_record/linkage.py.

- A `LinkRecord` holds every value a contact was seen with per field (a person who moved has two
  addresses; any one agreeing is agreement).
- `compare` gives each field a level (0 = disagrees ... highest = exact; None = missing on one side, which
  is no evidence either way): first and last name (exact, nickname or initial, Jaro-Winkler close,
  phonetic), swapped first/last names tried too, date of birth (exact, day and month swapped or one digit
  off), postcode, street, city, phone, email (exact, same local part), company.
- `blocking_keys`: a pair is compared when any one key agrees (postcode + a name's initial, date of birth,
  phone, email local part, metaphone of the last name + the first initial, the two names' metaphones in
  either order, each name with the other's initial).
- `Model`: m and u per field and level and the prior. `fit_model` fits m by EM over the blocked pairs'
  vectors, then scores with u from random pairs (nearly all non-matches) and the prior scaled to all
  pairs, as Splink does: with u taken from blocked pairs a surname the blocking chose on would count for
  nothing, and with u fixed from random pairs EM calls every blocked pair a match.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from .linkage_compare import (
    FIELD_NAMES,
    FIELDS,
    Comparator,
    LinkRecord,
    Vector,
    _metaphone,
    agreeing_fields,
    fold,
    record_of,
    split_address,
)

__all__ = [
    "FIELDS",
    "FIELD_NAMES",
    "BlockIndex",
    "Comparator",
    "LinkRecord",
    "Model",
    "Scored",
    "Vector",
    "agreeing_fields",
    "blocking_keys",
    "estimate",
    "estimate_u",
    "fit_model",
    "fold",
    "household",
    "record_of",
    "split_address",
    "strong_agreement",
]

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
    last = {_metaphone(n.split()[-1]) for n in record.last_name if n}
    first = {_metaphone(n.split()[0]) for n in record.first_name if n}
    # The last name's sound with the first name's initial, either way round (a nickname mostly keeps the
    # initial; a misspelt surname mostly keeps its sound). The surname's sound alone proposed ten times the
    # pairs for a thousandth more blocking recall on the noisy truth.
    keys.update(f"li:{code}|{f[0]}" for code in last if code for f in record.first_name if f)
    swapped = {_metaphone(n.split()[-1]) for n in record.first_name if n}
    keys.update(f"li:{code}|{la[0]}" for code in swapped if code for la in record.last_name if la)
    # Each name with the other name's initial, either way round: one typo'd name (or a swap) still meets.
    for f in record.first_name:
        for la in record.last_name:
            if f and la:
                keys.update((f"nt:{f}|{la[0]}", f"nt:{la}|{f[0]}"))
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

    def pairs(self, kinds: tuple[str, ...] | None = None) -> set[tuple[str, str]]:
        """Every pair some key proposes (only keys of these `kinds`, e.g. ("dob", "ph"), when given)."""
        found: set[tuple[str, str]] = set()
        for key, members in self.holders.items():
            if kinds is not None and key.split(":", 1)[0] not in kinds:
                continue
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
    """u from random pairs: among them, same-person pairs are too rare to matter. Exact agreement on a
    field with many values (a birth date, a phone) is too rare for a sample to see, so its u is the chance
    two records picked at random share a value, from the values' frequencies (sum of p squared: 1/N when
    every value is unique, a conservative bound); the lower levels are counted with add-one smoothing."""
    if len(records) < 2:
        return {f: _default_u(n) for f, n in FIELDS.items()}
    rng = random.Random(seed)
    counts = {f: [1.0] * n for f, n in FIELDS.items()}
    for _ in range(samples):
        a, b = rng.sample(range(len(records)), 2)
        for name, level in zip(FIELD_NAMES, comparator.compare(records[a], records[b]), strict=True):
            if level is not None:
                counts[name][level] += 1
    u: dict[str, list[float]] = {}
    for name in FIELDS:
        values = Counter(v for r in records for v in getattr(r, name))
        total = sum(values.values())
        exact = sum(n * n for n in values.values()) / total**2 if total else 1.0 / len(records)
        exact = max(exact, 1.0 / len(records) ** 2)
        lower = counts[name][:-1]
        share = (1.0 - exact) / sum(lower)
        u[name] = [c * share for c in lower] + [exact]
    return u


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


# The blocking keys EM learns from: each is rare among different people, so the pairs they propose are
# mostly true ones and EM cannot mistake "shares a surname" (what the name keys' pairs all do) for "is
# the same person".
SELECTIVE_KEYS = ("dob", "ph", "em", "pc")


def fit_model(
    vectors: Sequence[Vector], random_u: Mapping[str, Sequence[float]], records: int, start_prior: float = 0.3
) -> Fit:
    """The model to score with: u from random pairs (held fixed), m and the prior by EM over the pairs the
    selective keys propose (`vectors`), the prior then scaled from those pairs to all pairs. Pairs the
    household rule keeps apart stay out: EM would take "same home" for "same person" (see `household`)."""
    kept = [v for v in vectors if not household(v)]
    found = estimate(kept, u=random_u, start=Model(Model.default().m, random_u, start_prior))
    everything = max(records * (records - 1) / 2, 1.0)
    prior = min(max(found.model.prior * len(kept) / everything, 1e-9), 0.5)
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
