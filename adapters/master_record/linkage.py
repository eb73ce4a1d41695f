"""Probabilistic duplicate suspects over the master record: the bulk scan and the incremental linker.

Reads contacts from `MasterRecord` (every contact ever registered, via the notification log; merged, role
and erased ones skipped; the reads are in linkage_read.py), turns each into a `LinkRecord` (every observed
value per field), blocks, fits the Fellegi-Sunter model by EM (projections/linkage.py) and acts on each
compared pair:

- probability >= the merge threshold and a strong identifier (email, state id, a system's id) held by
  both: merged (a `probable_match` suspect raised and decided `merged` by `linkage`, so the evidence
  stays on record and `stewards unmerge` undoes it);
- probability >= the suspect threshold: a `probable_match` suspect in the steward queue, its identifier
  field saying the score and the fields that agreed (`p=0.973 first_name,last_name,date_of_birth,postcode`);
- below: nothing.

The resolver's own open suspects (a shared address, phone or name at a company) that the model scores
below `withdraw_below`, or calls a household, are withdrawn with the score: later evidence disproved them.

Incrementally (`Linker.link`, the pipeline's linking step, streams/linking.py): the index follows the master
record's notification log (every contact any process created or changed since the last call is re-indexed),
and each contact of the resolved batch that changed since this process last scored it is scored against its
blocking partners and acted on exactly as the scan acts. The model is the last fitted one, stored in the
master record (`LinkageModel`): the scan stores its fit, and the incremental linker fits again from its
index whenever the index has doubled since the stored fit (from 200 contacts); before any fit, the default
priors score. The index lives in memory, rebuilt on start from the notification log, bounded by
`max_indexed` contacts (the least recently changed leave it first).

Long because the bulk scan and the incremental linker share one `Linker`: its index, its model, and the
one `act` that raises, merges and withdraws, so both decide alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
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
    strong_agreement,
)
from ...projections.linkage_model import MODEL_ID, LinkageModel
from ...projections.master_record import Contact, DuplicateSuspect
from ...streams.ports import LinkCounts
from ..config import Settings
from .application import MasterRecord
from .link_cache import LinkEntry, entry_of
from .linkage_read import (
    contact_id_pages,
    entries_for_linkage,
    fresh_suspect,
    read_for_linkage,
    suspect_ids,
)

REASON = "probable_match"
ACTOR = "linkage"
# The scan's suspects written in one write at most this many at a time.
PENDING_MAX = 500
# Below this, EM has too few pairs to learn from: the default priors (`Model.default`) score instead.
MIN_CONTACTS_TO_FIT = 200
# The incremental linker fits again when its index holds this many times the contacts of the stored fit.
REFIT_GROWTH = 2
_SUSPECT_RAISED = get_topic(DuplicateSuspect.Raised)  # type: ignore[attr-defined]
# What the index follows on the notification log: the contact events that change what the model compares,
# a new fit (another process's, or a scan's), and each suspect raised (by the resolver, a steward, a scan).
_FOLLOWED = (
    *(
        get_topic(getattr(Contact, name))
        for name in (
            "Registered",
            "IdentifiersAttached",
            "AttributeObserved",
            "AttributeChanged",
            "ErasureRequested",
            "MergedInto",
            "Absorbed",
            "Unmerged",
            "MergeUndone",
        )
    ),
    get_topic(LinkageModel.Fitted),  # type: ignore[attr-defined]
    _SUSPECT_RAISED,
)


@dataclass(frozen=True)
class Thresholds:
    suspect: float = 0.5
    merge: float = 0.999
    max_block: int = 400
    withdraw_below: float = 0.01
    max_indexed: int = 500_000

    @classmethod
    def from_settings(cls, settings: Settings | None) -> Thresholds:
        if settings is None:
            return cls()
        return cls(
            settings.linkage_suspect_threshold,
            settings.linkage_merge_threshold,
            settings.linkage_max_block,
            settings.linkage_withdraw_below,
            settings.linkage_max_indexed,
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
    cpu_seconds: float = 0.0  # this process's CPU time: the rate on a core of its own (shared boxes)
    scored: list[Scored] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.contacts / self.seconds if self.seconds else 0.0

    @property
    def per_cpu_second(self) -> float:
        return self.contacts / self.cpu_seconds if self.cpu_seconds else 0.0


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
        self.fitted_on = 0  # contacts the model was fitted on (0: the default priors, or a given model)
        variants = master.identity.first_name_variants
        self.comparator = Comparator(lambda a, b: (a, b) in variants)
        self.index = BlockIndex(max_block=self.thresholds.max_block)
        self.records: dict[str, LinkRecord] = {}  # least recently changed first (evicted first)
        self.versions: dict[str, int] = {}  # the contact's aggregate version each record was read at
        self.scored: dict[str, int] = {}  # the version each contact was last scored at, by this process
        self.position = 1  # the next notification `follow` reads
        # The pairs the fit already compared, scored once more by the scan without comparing again (a
        # merge during the scan re-indexes its contacts, and their pairs are then compared afresh).
        self._compared: dict[tuple[str, str], Vector] = {}
        self._stale: set[str] = set()
        self._merged_into: dict[str, str] = {}  # what the index saw merged, to follow without a read
        # During a scan: the suspects raised and not yet written (saved together, `flush`), and the ids of
        # every suspect raised (read once from the log: a suspect another process raises meanwhile is
        # caught by its write's IntegrityError instead).
        self._pending: list[tuple[DuplicateSuspect, Scored]] | None = None
        self._raised: set[UUID] | None = None

    @classmethod
    def open(cls, master: MasterRecord, settings: Settings | None = None) -> Linker:
        """The incremental linker: the stored model (or the default priors); the index fills on the first
        `link` (from the notification log)."""
        linker = cls(master, Thresholds.from_settings(settings))
        linker.load_model()
        # Every suspect's id, from the log `follow` reads from its start: a pair scored as events arrive
        # is looked up only when it has a suspect (the lookups of absent ones were most of the linking).
        linker._raised = set()
        return linker

    # --- the index ---------------------------------------------------------------------------------------

    def load(self, progress: Callable[[int], None] | None = None) -> int:
        self.position = (self.master.recorder.max_notification_id() or 0) + 1
        n = 0
        for page in contact_id_pages(self.master):  # a page's entries read in a few statements
            for entry in entries_for_linkage(self.master, page):
                self._index(entry)
                n += 1
                if progress is not None and n % 500 == 0:
                    progress(500)
        return len(self.records)

    def follow(self) -> set[str]:
        """Catch up with the master record's notification log: every contact created or changed since the
        last call (by this process, another worker, a steward) is read once and re-indexed, and a model
        fitted elsewhere is taken up. Returns the ids of the contacts that changed."""
        changed: dict[str, int] = {}  # contact id -> the newest version the log names
        refitted = False
        while True:
            notes = self.master.recorder.select_notifications(self.position, 1000, topics=_FOLLOWED)
            for note in notes:
                if note.topic == _SUSPECT_RAISED:
                    if self._raised is not None:
                        self._raised.add(UUID(str(note.originator_id)))
                elif note.originator_id == MODEL_ID:
                    refitted = True
                else:
                    key = str(note.originator_id)
                    changed[key] = max(changed.get(key, 0), note.originator_version)
            if notes:
                self.position = notes[-1].id + 1
            if len(notes) < 1000:
                break
        for entry in self._changed_entries(changed):
            self._index(entry)
        if refitted:
            self.load_model()
        return set(changed)

    def _changed_entries(self, changed: dict[str, int]) -> list[LinkEntry]:
        """The changed contacts' entries in the order the log named them: of the contacts this process's
        last batch saved when that is as new as the log says (the same link record as a read:
        tests/unit/test_linkage.py), the others read in a few statements (`entries_for_linkage`)."""
        saved = self.master.recently_saved
        kept: dict[str, LinkEntry] = {}
        for key, version in changed.items():
            entry = saved.get(UUID(key))
            if entry is not None and entry.version >= version:
                kept[key] = entry
        unread = [UUID(key) for key in changed if key not in kept]
        read = {str(e.contact_id): e for e in entries_for_linkage(self.master, unread)}
        return [kept.get(key) or read[key] for key in changed]

    def _index(self, entry: LinkEntry) -> LinkRecord | None:
        record = entry.record
        key = str(entry.contact_id)
        if entry.merged_into is not None:
            self._merged_into[key] = str(entry.merged_into)
        else:
            self._merged_into.pop(key, None)  # unmerged
        self.records.pop(key, None)
        if record is None:
            self.index.remove(key)
            self.versions.pop(key, None)
            return None
        self.records[key] = record
        self.versions[key] = entry.version
        self.index.add(record)
        while len(self.records) > self.thresholds.max_indexed:
            self._evict(next(iter(self.records)))
        while len(self._merged_into) > self.thresholds.max_indexed:  # bounded too (oldest merges first)
            del self._merged_into[next(iter(self._merged_into))]
        return record

    def _evict(self, key: str) -> None:
        del self.records[key]
        self.index.remove(key)
        self.versions.pop(key, None)
        self.scored.pop(key, None)

    def fit(self, keep_vectors: bool = True) -> int:
        """u from random pairs, m and the prior by EM over the pairs the selective keys propose
        (`fit_model`), stored in the master record for every process; returns the iterations it took
        (0: too few contacts to learn from, the model stays). `keep_vectors`: the scan scores the fit's
        pairs from their vectors instead of comparing them again."""
        records = list(self.records.values())
        if len(records) < MIN_CONTACTS_TO_FIT:
            return 0
        u = estimate_u(records, self.comparator)
        pairs = self.index.pairs(SELECTIVE_KEYS)
        compared = {(a, b): self.comparator.compare(self.records[a], self.records[b]) for a, b in pairs}
        found = fit_model(list(compared.values()), u, len(records))
        self._compared = compared if keep_vectors else {}
        self.model = found.model
        self.fitted_on = len(records)
        self._store_model()
        return found.iterations

    def load_model(self) -> None:
        """The stored model of the last fit, when there is one (else the model stays)."""
        try:
            stored: object = self.master.repository.get(MODEL_ID)
        except AggregateNotFoundError:
            return
        if isinstance(stored, LinkageModel) and (model := stored.model()) is not None:
            self.model, self.fitted_on = model, stored.contacts

    def _store_model(self) -> None:
        try:
            stored: object = self.master.repository.get(MODEL_ID)
        except AggregateNotFoundError:
            stored = LinkageModel()
        if not isinstance(stored, LinkageModel):
            return
        stored.fitted(self.model.m, self.model.u, self.model.prior, self.fitted_on)
        try:
            self.master.save(stored)
        except IntegrityError:  # another process stored a fit meanwhile: theirs is as good
            self.load_model()
        # The fit's own notification need not be followed: this process holds that model already.

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
        raised = DuplicateSuspect.new(a, b, REASON, evidence, ACTOR)
        if self._raised is not None:
            self._raised.add(raised.id)
        if not merging:
            self._raise(raised, scored, summary)
            return
        survivor = self._raise_merged(raised, summary)
        if survivor is None:  # another scan raised it first
            summary.already += 1
            return
        summary.merges += 1
        summary.scored.append(scored)
        key = str(survivor.id)
        merged = scored.b if key == scored.a else scored.a
        self._stale.update((merged, key))
        # The merged one leaves the index without a read (it is merged: nothing of it is compared); the
        # survivor is indexed again as the merge saved it, with what it absorbed (its link record is the
        # linker's read's: tests/unit/test_linkage.py).
        self._merged_into[merged] = key
        self.records.pop(merged, None)
        self.index.remove(merged)
        self.versions.pop(merged, None)
        self._index(entry_of(survivor))

    def _raise(self, raised: DuplicateSuspect, scored: Scored, summary: ScanSummary) -> None:
        """A suspect for the queue: saved now, or with the scan's next write (`_pending`)."""
        summary.suspects += 1
        summary.scored.append(scored)
        if self._pending is not None:
            self._pending.append((raised, scored))
            if len(self._pending) >= PENDING_MAX:
                self.flush(summary)
            return
        try:
            self.master.save(raised)
        except IntegrityError:  # another scan raised it first
            summary.already += 1
            summary.suspects -= 1
            summary.scored.remove(scored)

    def _raise_merged(self, raised: DuplicateSuspect, summary: ScanSummary) -> Contact | None:
        """The suspect raised, decided `merged` and its pair merged, in one write with the suspects still
        pending; the survivor as saved, or None when another process raised this suspect first."""
        pending = self._pending or []
        try:
            survivor = self.master.merge_raised(raised, ACTOR, also=[s for s, _ in pending])
        except IntegrityError:
            # Something of the write was written meanwhile: the pending suspects one at a time, then the
            # suspect and the merge as two writes (the merge retries on the pair's changes).
            self.flush(summary, spent=True)
            again = fresh_suspect(raised)
            try:
                self.master.save(again)
            except IntegrityError:
                return None
            return self.master.contact(self.master.merge_suspect(again.id, actor=ACTOR), follow=False)
        pending.clear()
        return survivor

    def flush(self, summary: ScanSummary, spent: bool = False) -> None:
        """Save the suspects the scan raised and has not written yet, in one write; if another process
        wrote one of them meanwhile (or `spent`: a failed write collected their events already), one at a
        time, each raised again (a suspect already there is counted `already`)."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        if not spent:
            try:
                self.master.save(*(s for s, _ in pending))
                return
            except IntegrityError:
                pass
        for raised, scored in pending:
            try:
                self.master.save(fresh_suspect(raised))
            except IntegrityError:
                summary.already += 1
                summary.suspects -= 1
                summary.scored.remove(scored)

    def withdraw_disproved(self) -> int:
        """The resolver's open suspects (a shared address, a shared phone, a name at a company) whose pair
        the model scores below `withdraw_below`, or calls a household: withdrawn, with the score, so the
        steward queue holds what is still in doubt. A steward's decision is never touched. Written
        `PENDING_MAX` suspects a write; when a steward decided one meanwhile, the rest one at a time."""
        done = [0]  # withdrawn and written
        try:
            self._withdraw_disproved(done, PENDING_MAX)
        except IntegrityError:  # nothing of that write was written: what is still open, one at a time
            self._withdraw_disproved(done, 1)
        return done[0]

    def _withdraw_disproved(self, done: list[int], per_write: int) -> None:
        changed: list[DuplicateSuspect] = []
        for suspect in list(self.master.suspects("open", reason=lambda r: r != REASON)):
            a, b = self._survivor(suspect.contact_id), self._survivor(suspect.other_id)
            if a == b:  # merged since it was raised (by the scan or a steward): the question is answered
                suspect.decide("merged", ACTOR, "the pair is one contact now")
                changed.append(suspect)
            elif (
                a in self.records
                and b in self.records
                and self._disprove(suspect, self.score(*sorted((a, b))))
            ):
                changed.append(suspect)
            if len(changed) >= per_write:
                self._write_decided(changed, done)
        self._write_decided(changed, done)

    def _write_decided(self, changed: list[DuplicateSuspect], done: list[int]) -> None:
        if changed:
            self.master.save(*changed)
            done[0] += sum(s.status == "withdrawn" for s in changed)
            changed.clear()

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
        if self._disprove(suspect, scored):
            self.master.save(suspect)

    def _disprove(self, suspect: DuplicateSuspect, scored: Scored) -> bool:
        """Withdraw the suspect (unsaved) if the model disproves its pair; whether it did."""
        if scored.probability < self.thresholds.withdraw_below or household(scored.vector):
            agreeing = ",".join(scored.fields)
            suspect.withdraw(
                f"linkage scores the pair p={scored.probability:.3f} (agreeing: {agreeing})", ACTOR
            )
            return True
        return False

    def _exists(self, aggregate_id: UUID) -> bool:
        if self._raised is not None:  # every suspect's id: read once by a scan, followed by `link`
            return aggregate_id in self._raised
        try:
            self.master.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return False
        return True

    def update(self, contact_id: UUID, summary: ScanSummary | None = None) -> ScanSummary:
        """A new or changed contact: re-index it and score it against its blocking partners."""
        summary = summary or ScanSummary()
        record = self._index(entry_of(read_for_linkage(self.master, contact_id)))
        if record is not None:
            self._score_one(record.id, summary)
        return summary

    def link(self, contact_ids: Collection[str]) -> LinkCounts:
        """The pipeline's linking step (streams/linking.py, the `ContactLinker` port): follow the master
        record's log, fit again if the index has grown enough, then score each of these contacts (followed
        to its survivor) that changed since this process last scored it."""
        self.follow()
        self._refit_if_grown()
        summary = ScanSummary()
        for key in sorted({self._indexed_survivor(c) for c in contact_ids}):
            if key in self.records and self.scored.get(key) != self.versions[key]:
                summary.contacts += 1
                self._score_one(key, summary)
        return LinkCounts(
            summary.contacts, summary.pairs, summary.suspects, summary.merges, summary.withdrawn
        )

    def _score_one(self, key: str, summary: ScanSummary) -> None:
        for other in sorted(self.index.candidates(key)):
            if other in self.records and key in self.records:  # a merge may have retired either
                summary.pairs += 1
                scored = self.score(*sorted((key, other)))
                self.act(scored, summary)
                summary.withdrawn += self._withdraw_resolver_suspects(scored)
        if key in self.versions:
            self.scored[key] = self.versions[key]

    def _indexed_survivor(self, key: str) -> str:
        seen = {key}
        while key in self._merged_into:
            key = self._merged_into[key]
            if key in seen:
                raise RuntimeError(f"merge cycle at {key}")
            seen.add(key)
        return key

    def _refit_if_grown(self) -> None:
        """Fit again (and store it) once the index holds `REFIT_GROWTH` times the contacts of the stored
        fit: early on, the priors are the defaults; the model then learns from the data it links."""
        size = len(self.records)
        if size >= MIN_CONTACTS_TO_FIT and size >= REFIT_GROWTH * self.fitted_on:
            self.fit(keep_vectors=False)
            self.review()

    def review(self) -> int:
        """The open probable-match suspects scored again with the model just fitted: those it now scores
        under the suspect threshold (or calls a household) are withdrawn with the new score, so what an
        early, untrained model raised does not stay in the queue. Returns how many were withdrawn."""
        withdrawn = 0
        for suspect in list(self.master.suspects("open", reason=lambda r: r == REASON)):
            a, b = self._survivor(suspect.contact_id), self._survivor(suspect.other_id)
            if a == b or a not in self.records or b not in self.records:
                continue
            scored = self.score(*sorted((a, b)))
            if scored.probability < self.thresholds.suspect or household(scored.vector):
                agreeing = ",".join(scored.fields)
                note = f"linkage scores the pair p={scored.probability:.3f} (agreeing: {agreeing})"
                suspect.withdraw(f"{note} with the model fitted on {self.fitted_on} contacts", ACTOR)
                self.master.save(suspect)
                withdrawn += 1
        return withdrawn

    def _withdraw_resolver_suspects(self, scored: Scored) -> int:
        """As events arrive: the resolver's open suspects on this pair that the model disproves. Only
        pairs sharing what the resolver suspects on (a phone, an email, a company) are looked up."""
        levels = dict(zip(FIELD_NAMES, scored.vector, strict=True))
        if not (levels["phone"] or levels["email"] == 2 or levels["company"]):
            return 0
        ids = [suspect_id(UUID(scored.a), UUID(scored.b), reason) for reason in SUSPECT_REASONS]
        if self._raised is not None:
            # None as of this batch's `follow`; another worker's raised since waits for the pair's next score.
            ids = [i for i in ids if i in self._raised]
        # Every reason's entry at once (read one by one, two statements each, they were ~1 % of a worker).
        found = self.master.suspects_by_id(ids) if ids else {}
        withdrawn = 0
        for suspect in (found[i] for i in ids if i in found):
            if suspect.status == "open":
                self._withdraw_if_disproved(suspect, scored)
                withdrawn += suspect.status == "withdrawn"
        return withdrawn


def scan(
    master: MasterRecord,
    settings: Settings | None = None,
    thresholds: Thresholds | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[ScanSummary, Linker]:
    """The bulk scan: index every contact, fit the model, score every blocked pair once, act on each."""
    started, cpu = time.perf_counter(), time.process_time()
    linker = Linker(master, thresholds or Thresholds.from_settings(settings))
    summary = ScanSummary(contacts=linker.load(progress))
    summary.em_iterations = linker.fit()
    # The suspects raised are written together (with the next merge, or every `PENDING_MAX`), in the
    # order raised.
    linker._pending, linker._raised = [], suspect_ids(master)
    try:
        for a, b in sorted(linker.index.pairs()):
            if a in linker.records and b in linker.records:  # a merge during the scan retired one of them
                summary.pairs += 1
                linker.act(linker.score(a, b), summary)
        linker.flush(summary)
    finally:
        linker._pending = linker._raised = None
    summary.withdrawn = linker.withdraw_disproved()
    summary.seconds = time.perf_counter() - started
    summary.cpu_seconds = time.process_time() - cpu
    return summary, linker
