"""Identity resolution on noisy duplicates, scored against the truth, beside the issue's targets.

    python bench/identity.py --people 2000 [--seed 1]

Data: `adapters/synthetic/noisy.py` (several records per true person from different systems: typos,
nicknames, swapped names, moves, new emails, national-format phones, households, shared inboxes) and the
true person of every record. Each record is resolved by the master record (memory store), then
`touchstream stewards scan` runs (adapters/master_record/linkage.py). Pairwise over records:

- merges: two records are linked when they end on one contact;
- merges + suspects: also when a chain of open suspects joins their contacts (what the queue would give
  if a steward accepted every suspect);
- blocking recall: of the pairs of contacts (after resolving) that are one true person, the share the
  blocking keys propose;
- contacts/s of the bulk scan (read and index every contact, EM fit, score, act, withdraw what the model
  disproves; a contact holds one or more records), and records/s of the incremental path (each record
  resolved, then its contact scored against the index as it arrives, with the model of the bulk fit),
  beside resolving alone in the same run.

The "ceiling" beside each figure is the issue's target (#15), not a machine ceiling: the ratio says how far
from the target the figure is. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Iterable
from uuid import UUID

from _report import emit, figure

from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.master_record.linkage import Linker, Thresholds, scan
from touchstream.adapters.synthetic.noisy import NoisyConfig, NoisyDataset, noisy_dataset
from touchstream.events.parsing import parse_event

TARGETS = {"merge_precision": 0.995, "f1": 0.98, "blocking_recall": 0.99, "records_per_s": 2000.0}


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=2000, help="true people in the noisy data")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="300 people")
    return parser.parse_args()


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise(clusters: dict[str, str], truth: dict[str, str]) -> tuple[float, float, float]:
    """Precision, recall, F1 of the record pairs `clusters` (record -> cluster) links, against `truth`."""
    both = Counter((clusters[r], truth[r]) for r in truth)
    linked = sum(_pairs(n) for n in Counter(clusters[r] for r in truth).values())
    true = sum(_pairs(n) for n in Counter(truth.values()).values())
    hits = sum(_pairs(n) for n in both.values())
    precision = hits / linked if linked else 1.0
    recall = hits / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _union(edges: Iterable[tuple[str, str]], nodes: Iterable[str]) -> dict[str, str]:
    parent = {n: n for n in nodes}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        parent[root(a)] = root(b)
    return {n: root(n) for n in list(parent)}


def _resolve(master: MasterRecord, data: NoisyDataset) -> dict[str, UUID]:
    found: dict[str, UUID] = {}
    for raw in data.events:
        event = parse_event(raw)
        resolution = master.resolve(event)
        assert resolution.contact_id is not None
        found[raw["event_id"]] = resolution.contact_id
    return found


def _clusters(master: MasterRecord, contact_of: dict[str, UUID]) -> tuple[dict[str, str], dict[str, str]]:
    merged = {r: str(master.contact(c).id) for r, c in contact_of.items()}
    edges = [
        (str(master.contact(s.contact_id).id), str(master.contact(s.other_id).id))
        for s in master.suspects("open")
    ]
    groups = _union(edges, merged.values())
    return merged, {r: groups[c] for r, c in merged.items()}


def _blocking_recall(master: MasterRecord, contact_of: dict[str, UUID], truth: dict[str, str]) -> float:
    linker = Linker(master)
    linker.load()
    person_of: dict[str, str] = {}
    for record, contact in contact_of.items():
        person_of.setdefault(str(master.contact(contact).id), truth[record])
    by_person: dict[str, list[str]] = {}
    for contact, person in person_of.items():
        if contact in linker.records:
            by_person.setdefault(person, []).append(contact)
    wanted = {tuple(sorted((a, b))) for group in by_person.values() for a in group for b in group if a < b}
    if not wanted:
        return 1.0
    return len(wanted & linker.index.pairs()) / len(wanted)


def main() -> None:
    args = _args()
    people = 300 if args.quick else args.people
    data = noisy_dataset(NoisyConfig(people=people, seed=args.seed))
    print(f"noisy data: {len(data.events):,} records of {people:,} people, {data.true_pairs():,} true pairs")
    thresholds = Thresholds()

    master = MasterRecord.from_url("memory://")
    started = time.perf_counter()
    contact_of = _resolve(master, data)
    resolve_rate = len(data.events) / (time.perf_counter() - started)
    merged, _ = _clusters(master, contact_of)
    before, contacts_before = pairwise(merged, data.truth), len(set(merged.values()))
    blocking = _blocking_recall(master, contact_of, data.truth)
    summary, linker = scan(master, thresholds=thresholds)
    merged, queued = _clusters(master, contact_of)
    merges, with_suspects = pairwise(merged, data.truth), pairwise(queued, data.truth)
    print(f"resolver alone: {contacts_before:,} contacts; merges P {before[0]:.4f} R {before[1]:.4f}")
    print(
        f"scan: {summary.contacts:,} contacts, {summary.pairs:,} pairs scored, EM {summary.em_iterations} "
        f"iterations, {summary.suspects:,} suspects, {summary.merges:,} merges, {summary.withdrawn:,} of the "
        f"resolver's suspects withdrawn, in {summary.seconds:.2f} s = {summary.per_second:,.0f} contacts/s "
        f"({len(data.events) / summary.seconds:,.0f} resolved records/s)"
    )
    print(f"merges:            P {merges[0]:.4f} R {merges[1]:.4f} F1 {merges[2]:.4f}")
    print(f"merges + suspects: P {with_suspects[0]:.4f} R {with_suspects[1]:.4f} F1 {with_suspects[2]:.4f}")
    print(f"blocking recall:   {blocking:.4f}")

    # Incremental: a fresh master record, each record resolved and its contact scored as it arrives.
    fresh = MasterRecord.from_url("memory://")
    incremental = Linker(fresh, thresholds, model=linker.model)
    started = time.perf_counter()
    contact_of = {}
    for raw in data.events:
        resolution = fresh.resolve(parse_event(raw))
        assert resolution.contact_id is not None
        contact_of[raw["event_id"]] = resolution.contact_id
        incremental.update(fresh.contact(resolution.contact_id).id)
    incremental_rate = len(data.events) / (time.perf_counter() - started)
    merged_i, queued_i = _clusters(fresh, contact_of)
    inc_merges, inc_all = pairwise(merged_i, data.truth), pairwise(queued_i, data.truth)
    print(
        f"incremental (resolve + link each record, model of the bulk fit): {incremental_rate:,.0f} records/s "
        f"(resolve alone {resolve_rate:,.0f}/s); merges P {inc_merges[0]:.4f}; "
        f"merges + suspects P {inc_all[0]:.4f} R {inc_all[1]:.4f} F1 {inc_all[2]:.4f}"
    )
    emit(
        "identity",
        [
            figure(
                "merges precision (bulk)", merges[0], "ratio", TARGETS["merge_precision"], "issue #15 target"
            ),
            figure(
                "merges + suspects F1 (bulk)", with_suspects[2], "ratio", TARGETS["f1"], "issue #15 target"
            ),
            figure(
                "merges precision (incremental)",
                inc_merges[0],
                "ratio",
                TARGETS["merge_precision"],
                "issue #15 target",
            ),
            figure(
                "merges + suspects F1 (incremental)", inc_all[2], "ratio", TARGETS["f1"], "issue #15 target"
            ),
            figure("blocking recall", blocking, "ratio", TARGETS["blocking_recall"], "issue #15 target"),
            figure(
                "bulk scan", summary.per_second, "contacts/s", TARGETS["records_per_s"], "issue #15 target"
            ),
            figure(
                "incremental resolve + link",
                incremental_rate,
                "records/s",
                resolve_rate,
                "resolve alone, same run",
            ),
        ],
        people=people,
        records=len(data.events),
        true_pairs=data.true_pairs(),
        merges_recall=round(merges[1], 4),
        suspects=summary.suspects,
        scan_merges=summary.merges,
        suspect_threshold=thresholds.suspect,
        merge_threshold=thresholds.merge,
    )


if __name__ == "__main__":
    main()
