"""Probabilistic duplicate suspects over the master record: the bulk scan and the incremental linker.

Reads contacts from `MasterRecord` (every contact ever registered, via the notification log; merged, role
and erased ones skipped), turns each into a `LinkRecord` (every observed value per field), blocks, fits
the Fellegi-Sunter model by EM (projections/linkage.py) and acts on each compared pair:

- probability >= the merge threshold and a strong identifier (email, state id, a system's id) held by
  both: merged (a `probable_match` suspect raised and decided `merged` by `linkage`, so the evidence
  stays on record and `stewards unmerge` undoes it);
- probability >= the suspect threshold: a `probable_match` suspect in the steward queue, its identifier
  field saying the score and the fields that agreed (`p=0.973 first_name,last_name,date_of_birth,postcode`);
- below: nothing.

The resolver's own open suspects (a shared address, phone or name at a company) that the model scores
below `withdraw_below`, or calls a household, are withdrawn with the score: later evidence disproved them.

`Linker.update(contact_id)` does the same for one new or changed contact against the index, with the model
of the last fit (or the default priors), so pairs are found as events arrive, not only by a bulk scan.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from ...projections.identity import SUSPECT_REASONS, suspect_id
from ...projections.linkage import (
    FIELD_NAMES,
    SELECTIVE_KEYS,
    BlockIndex,
    Comparator,
    LinkRecord,
    Model,
    Scored,
    Vector,
    estimate_u,
    fit_model,
    household,
    record_of,
    strong_agreement,
)
from ...projections.master_record import Contact, DuplicateSuspect
from ..config import Settings
from .application import MasterRecord

REASON = "probable_match"
ACTOR = "linkage"
# Below this, EM has too few pairs to learn from: the default priors (`Model.default`) score instead.
MIN_CONTACTS_TO_FIT = 200
# Keys that name one person (a shared address as used by one name counts as the address itself).
_STRONG = ("email:", "pid:", "ext:")


@dataclass(frozen=True)
class Thresholds:
    suspect: float = 0.5
    merge: float = 0.999
    max_block: int = 400
    withdraw_below: float = 0.01

    @classmethod
    def from_settings(cls, settings: Settings | None) -> Thresholds:
        if settings is None:
            return cls()
        return cls(
            settings.linkage_suspect_threshold,
            settings.linkage_merge_threshold,
            settings.linkage_max_block,
            settings.linkage_withdraw_below,
        )


@dataclass
class ScanSummary:
    contacts: int = 0
    pairs: int = 0
    suspects: int = 0
    merges: int = 0
    households: int = 0  # pairs over the threshold that the household rule kept apart
    withdrawn: int = 0  # the resolver's open suspects the model disproved
    already: int = 0  # pairs already in the queue or decided (one suspect per pair and reason)
    em_iterations: int = 0
    seconds: float = 0.0
    scored: list[Scored] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.contacts / self.seconds if self.seconds else 0.0


def contact_ids(master: MasterRecord) -> Iterator[UUID]:
    """Every contact ever registered, oldest first (from the notification log)."""
    topic = get_topic(Contact.Registered)  # type: ignore[attr-defined]
    start = 1
    while True:
        batch = master.recorder.select_notifications(start, 1000, topics=[topic])
        for note in batch:
            yield UUID(str(note.originator_id))
        if len(batch) < 1000:
            return
        start = batch[-1].id + 1


def link_record(contact: Contact) -> LinkRecord | None:
    """What the model compares of a contact; None for one that is merged, a role mailbox or erased."""
    if contact.merged_into is not None or contact.role or contact.erasure_requested:
        return None
    values = {
        name: [str(o.get("value", "")) for o in slots.values()]
        for name, slots in contact.observations.items()
    }
    strong: set[str] = set()
    emails: list[str] = []
    for key in contact.identifiers:
        base = key.removeprefix("named:").rsplit("|", 1)[0] if key.startswith("named:") else key
        if base.startswith(_STRONG):
            strong.add(base)
        if base.startswith("email:"):
            emails.append(base.removeprefix("email:"))
    values.setdefault("phone", [])
    values["phone"] += [k.removeprefix("phone:") for k in contact.weak if k.startswith("phone:")]
    return record_of(str(contact.id), values, emails, strong)


class Linker:
    """The index of every active contact and the model; scores a contact against its blocking partners."""

    def __init__(
        self,
        master: MasterRecord,
        thresholds: Thresholds | None = None,
        model: Model | None = None,
    ) -> None:
        self.master = master
        self.thresholds = thresholds or Thresholds()
        self.model = model or Model.default()
        variants = master.identity.first_name_variants
        self.comparator = Comparator(lambda a, b: (a, b) in variants)
        self.index = BlockIndex(max_block=self.thresholds.max_block)
        self.records: dict[str, LinkRecord] = {}
        # The pairs the fit already compared, scored once more by the scan without comparing again (a
        # merge during the scan re-indexes its contacts, and their pairs are then compared afresh).
        self._compared: dict[tuple[str, str], Vector] = {}
        self._stale: set[str] = set()
        self._merged_into: dict[str, str] = {}  # what the index saw merged, to follow without a read

    # --- the index ---------------------------------------------------------------------------------------

    def load(self, progress: Callable[[int], None] | None = None) -> int:
        for n, contact_id in enumerate(contact_ids(self.master), 1):
            self._index(self.master.contact(contact_id, follow=False))
            if progress is not None and n % 500 == 0:
                progress(500)
        return len(self.records)

    def _index(self, contact: Contact) -> LinkRecord | None:
        record = link_record(contact)
        key = str(contact.id)
        if contact.merged_into is not None:
            self._merged_into[key] = str(contact.merged_into)
        if record is None:
            self.records.pop(key, None)
            self.index.remove(key)
            return None
        self.records[key] = record
        self.index.add(record)
        return record

    def fit(self) -> int:
        """u from random pairs, m and the prior by EM over the pairs the selective keys propose
        (`fit_model`); returns the iterations it took (0: too few contacts to learn from, the default
        priors stay)."""
        records = list(self.records.values())
        if len(records) < MIN_CONTACTS_TO_FIT:
            return 0
        u = estimate_u(records, self.comparator)
        pairs = self.index.pairs(SELECTIVE_KEYS)
        self._compared = {(a, b): self.comparator.compare(self.records[a], self.records[b]) for a, b in pairs}
        vectors = list(self._compared.values())
        found = fit_model(vectors, u, len(records))
        self.model = found.model
        return found.iterations

    # --- scoring and acting ------------------------------------------------------------------------------

    def score(self, a: str, b: str) -> Scored:
        cached = self._compared.pop((a, b), None)
        if cached is None or a in self._stale or b in self._stale:
            cached = self.comparator.compare(self.records[a], self.records[b])
        vector = cached
        return Scored(a, b, self.model.probability(vector), vector)

    def act(self, scored: Scored, summary: ScanSummary) -> None:
        if scored.probability < self.thresholds.suspect:
            return
        if household(scored.vector):
            summary.households += 1
            return
        a, b = UUID(scored.a), UUID(scored.b)
        if self._exists(suspect_id(a, b, REASON)):
            summary.already += 1
            return
        strong = strong_agreement(self.records[scored.a], self.records[scored.b])
        evidence = f"p={scored.probability:.3f} {','.join(scored.fields)}"
        merging = scored.probability >= self.thresholds.merge and bool(strong)
        if merging:
            evidence += f" strong={','.join(strong)}"
        raised = DuplicateSuspect(
            contact_id=a, other_id=b, reason=REASON, identifier=evidence, event_id=ACTOR
        )
        try:
            self.master.save(raised)
        except IntegrityError:  # another scan raised it first
            summary.already += 1
            return
        summary.suspects += 1
        summary.scored.append(scored)
        if merging:
            survivor = self.master.merge_suspect(raised.id, actor=ACTOR)
            summary.merges += 1
            summary.suspects -= 1
            merged = scored.b if str(survivor) == scored.a else scored.a
            for changed in (merged, str(survivor)):
                self._stale.add(changed)
                self._index(self.master.contact(UUID(changed), follow=False))

    def withdraw_disproved(self) -> int:
        """The resolver's open suspects (a shared address, a shared phone, a name at a company) whose pair
        the model scores below `withdraw_below`, or calls a household: withdrawn, with the score, so the
        steward queue holds what is still in doubt. A steward's decision is never touched."""
        withdrawn = 0
        for suspect in list(self.master.suspects("open")):
            if suspect.reason == REASON:
                continue
            a, b = self._survivor(suspect.contact_id), self._survivor(suspect.other_id)
            if a == b:  # merged since it was raised (by the scan or a steward): the question is answered
                suspect.decide("merged", ACTOR, "the pair is one contact now")
                self.master.save(suspect)
                continue
            if a not in self.records or b not in self.records:
                continue
            self._withdraw_if_disproved(suspect, self.score(*sorted((a, b))))
            withdrawn += suspect.status == "withdrawn"
        return withdrawn

    def _survivor(self, contact_id: UUID) -> str:
        key = str(contact_id)
        if key not in self.records and key not in self._merged_into:
            return str(self.master.contact(contact_id).id)  # not indexed (a role mailbox): read it
        seen = {key}
        while key in self._merged_into:
            key = self._merged_into[key]
            if key in seen:
                raise RuntimeError(f"merge cycle at {key}")
            seen.add(key)
        return key

    def _withdraw_if_disproved(self, suspect: DuplicateSuspect, scored: Scored) -> None:
        if scored.probability < self.thresholds.withdraw_below or household(scored.vector):
            agreeing = ",".join(scored.fields)
            suspect.withdraw(
                f"linkage scores the pair p={scored.probability:.3f} (agreeing: {agreeing})", ACTOR
            )
            self.master.save(suspect)

    def _exists(self, aggregate_id: UUID) -> bool:
        try:
            self.master.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return False
        return True

    def update(self, contact_id: UUID, summary: ScanSummary | None = None) -> ScanSummary:
        """A new or changed contact: re-index it and score it against its blocking partners."""
        summary = summary or ScanSummary()
        record = self._index(self.master.contact(contact_id, follow=False))
        if record is None:
            return summary
        for other in sorted(self.index.candidates(record.id)):
            if other in self.records and record.id in self.records:
                summary.pairs += 1
                scored = self.score(*sorted((record.id, other)))
                self.act(scored, summary)
                summary.withdrawn += self._withdraw_resolver_suspects(scored)
        return summary

    def _withdraw_resolver_suspects(self, scored: Scored) -> int:
        """As events arrive: the resolver's open suspects on this pair that the model disproves. Only
        pairs sharing what the resolver suspects on (a phone, an email, a company) are looked up."""
        levels = dict(zip(FIELD_NAMES, scored.vector, strict=True))
        if not (levels["phone"] or levels["email"] == 2 or levels["company"]):
            return 0
        withdrawn = 0
        for reason in SUSPECT_REASONS:
            found = self._suspect(suspect_id(UUID(scored.a), UUID(scored.b), reason))
            if found is not None and found.status == "open":
                self._withdraw_if_disproved(found, scored)
                withdrawn += found.status == "withdrawn"
        return withdrawn

    def _suspect(self, aggregate_id: UUID) -> DuplicateSuspect | None:
        try:
            found: object = self.master.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, DuplicateSuspect) else None


def scan(
    master: MasterRecord,
    settings: Settings | None = None,
    thresholds: Thresholds | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[ScanSummary, Linker]:
    """The bulk scan: index every contact, fit the model, score every blocked pair once, act on each."""
    started = time.perf_counter()
    linker = Linker(master, thresholds or Thresholds.from_settings(settings))
    summary = ScanSummary(contacts=linker.load(progress))
    summary.em_iterations = linker.fit()
    for a, b in sorted(linker.index.pairs()):
        if a in linker.records and b in linker.records:  # a merge during the scan retired one of them
            summary.pairs += 1
            linker.act(linker.score(a, b), summary)
    summary.withdrawn = linker.withdraw_disproved()
    summary.seconds = time.perf_counter() - started
    return summary, linker
