"""Identity resolution on noisy duplicates, scored against the truth, beside the issue's targets.

    python bench/identity.py --people 2000 [--seed 1]

Data: `adapters/synthetic/noisy.py` (several records per true person from different systems: typos,
nicknames, swapped names, moves, new emails, national-format phones, households, shared inboxes) and the
true person of every record. Two paths over the same records:

- bulk: each record resolved by the master record (memory store), then `touchstream stewards scan`
  (adapters/master_record/linkage.py);
- incremental: the records published as events through the embedded pipeline as a user does it
  (`touchstream import`, then `touchstream run`, each its own process, in a fresh data folder), where the
  linking step (streams/linking.py) scores each resolved batch's changed contacts; no scan. Measured from
  the master record and the read store afterwards. The same run with TOUCHSTREAM_LINKAGE_INCREMENTAL=off
  gives the pipeline's speed without linking.

Pairwise over records:

- merges: two records are linked when they end on one contact;
- merges + suspects: also when a chain of open suspects joins their contacts (what the queue would give
  if a steward accepted every suspect);
- blocking recall: of the pairs of contacts (after resolving) that are one true person, the share the
  blocking keys propose;
- contacts/s of the bulk scan (read and index every contact, EM fit, score, act, withdraw what the model
  disproves; a contact holds one or more records), also with the kept link entries thrown away first
  (every contact replayed, as on a store written before they were kept), and records/s of
  `touchstream run` with and without the linking step.

Each figure is printed beside its target (issue #15) with the gap.
The "ceiling" beside each figure is the issue's target (#15), not a machine ceiling: the ratio says how far
from the target the figure is. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import orjson
from _report import emit, figure

from touchstream.adapters.bootstrap import bootstrap
from touchstream.adapters.config import load_settings
from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.master_record.link_cache import MemoryLinkCache
from touchstream.adapters.master_record.linkage import Linker, ScanSummary, Thresholds, scan
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


Scores = tuple[float, float, float]


@dataclass(frozen=True)
class Incremental:
    merges: Scores
    with_suspects: Scores
    run_rate: float  # records/s of `touchstream run` with the linking step
    run_rate_off: float  # the same without it (TOUCHSTREAM_LINKAGE_INCREMENTAL=off)
    idle_run_s: float  # `touchstream run` of an empty data folder (start-up, migrations): inside both rates
    suspects: int
    linked_merges: int


def _embedded_run(data: NoisyDataset, folder: Path, linking: bool) -> tuple[float, dict[str, str]]:
    """`touchstream import` then `touchstream run` in a fresh data folder, each in its own process as a
    user runs them; returns the run's seconds and the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHSTREAM_")}
    env["TOUCHSTREAM_DATA_DIR"] = str(folder / "data")
    env["TOUCHSTREAM_LINKAGE_INCREMENTAL"] = "on" if linking else "off"
    folder.mkdir(parents=True)
    events = folder / "noisy.jsonl"
    events.write_bytes(b"".join(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in data.events))
    cli = [sys.executable, "-m", "touchstream.adapters.cli.main"]
    subprocess.run([*cli, "import", str(events)], env=env, check=True, stdout=subprocess.DEVNULL)
    return _timed_run(cli, env), env


def _timed_run(cli: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([*cli, "run"], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def incremental(data: NoisyDataset) -> Incremental:
    """The noisy records published as events through the embedded pipeline (no scan), then scored from
    what the master record and the read store hold: which contact each record's touchpoint names (followed
    to its survivor) and the open suspects."""
    with tempfile.TemporaryDirectory(prefix="bench-identity-") as tmp:
        off_s, off_env = _embedded_run(data, Path(tmp) / "off", linking=False)
        empty = {**off_env, "TOUCHSTREAM_DATA_DIR": str(Path(tmp) / "empty" / "data")}
        idle_s = _timed_run([sys.executable, "-m", "touchstream.adapters.cli.main"], empty)
        on_s, env = _embedded_run(data, Path(tmp) / "on", linking=True)
        runtime = bootstrap(load_settings(env))
        store = runtime.read_store()
        try:
            rows = store.query("SELECT event_id, contact_id FROM touchpoints FINAL")
        finally:
            store.close()
        master = MasterRecord.from_url(runtime.master_record_url())
        contact_of = {str(e): UUID(str(c)) for e, c in rows if str(e) in data.truth}
        merged, queued = _clusters(master, contact_of)
        suspects = list(master.suspects(None))
        result = Incremental(
            pairwise(merged, data.truth),
            pairwise(queued, data.truth),
            len(data.events) / on_s,
            len(data.events) / off_s,
            idle_s,
            sum(s.status == "open" for s in suspects),
            sum(s.status == "merged" and s.decided_by == "linkage" for s in suspects),
        )
        master.close()
    return result


def _scan_with_nothing_kept(data: NoisyDataset, thresholds: Thresholds) -> ScanSummary:
    """The scan over the same records resolved again, with the link entries that saves keep
    (adapters/master_record/link_cache.py) thrown away first: what the first scan of an older store costs."""
    master = MasterRecord.from_url("memory://")
    _resolve(master, data)
    master.link_cache = MemoryLinkCache(master)
    summary, _ = scan(master, thresholds=thresholds)
    return summary


def _gap(value: float, target: float) -> str:
    return "reached" if value >= target else f"{target - value:.4g} short"


def main() -> None:
    args = _args()
    people = 300 if args.quick else args.people
    data = noisy_dataset(NoisyConfig(people=people, seed=args.seed))
    print(f"noisy data: {len(data.events):,} records of {people:,} people, {data.true_pairs():,} true pairs")
    thresholds = Thresholds()

    master = MasterRecord.from_url("memory://")
    contact_of = _resolve(master, data)
    merged, _ = _clusters(master, contact_of)
    before, contacts_before = pairwise(merged, data.truth), len(set(merged.values()))
    blocking = _blocking_recall(master, contact_of, data.truth)
    summary, _ = scan(master, thresholds=thresholds)
    cold = _scan_with_nothing_kept(data, thresholds)
    merged, queued = _clusters(master, contact_of)
    merges, with_suspects = pairwise(merged, data.truth), pairwise(queued, data.truth)
    print(f"resolver alone: {contacts_before:,} contacts; merges P {before[0]:.4f} R {before[1]:.4f}")
    print(
        f"scan: {summary.contacts:,} contacts, {summary.pairs:,} pairs scored, EM {summary.em_iterations} "
        f"iterations, {summary.suspects:,} suspects, {summary.merges:,} merges, {summary.withdrawn:,} of the "
        f"resolver's suspects withdrawn, in {summary.seconds:.2f} s = {summary.per_second:,.0f} contacts/s "
        f"({len(data.events) / summary.seconds:,.0f} resolved records/s); CPU {summary.cpu_seconds:.2f} s = "
        f"{summary.per_cpu_second:,.0f} contacts per CPU second"
    )
    print(
        f"the same scan with no kept link entries (a store written before them: every contact replayed): "
        f"{cold.seconds:.2f} s = {len(data.events) / cold.seconds:,.0f} resolved records/s"
    )
    print(f"merges:            P {merges[0]:.4f} R {merges[1]:.4f} F1 {merges[2]:.4f}")
    print(f"merges + suspects: P {with_suspects[0]:.4f} R {with_suspects[1]:.4f} F1 {with_suspects[2]:.4f}")
    print(f"blocking recall:   {blocking:.4f}")

    inc = incremental(data)
    inc_merges, inc_all = inc.merges, inc.with_suspects
    print(
        f"incremental (import + run, linking each batch): run {inc.run_rate:,.0f} records/s "
        f"(without linking {inc.run_rate_off:,.0f}/s; {len(data.events):,} records, and both include the "
        f"{inc.idle_run_s:.1f} s a first run of an empty data folder takes: start-up and migrations); "
        f"{inc.suspects:,} suspects open, {inc.linked_merges:,} merged by the linker"
    )
    print(f"merges:            P {inc_merges[0]:.4f} R {inc_merges[1]:.4f} F1 {inc_merges[2]:.4f}")
    print(f"merges + suspects: P {inc_all[0]:.4f} R {inc_all[1]:.4f} F1 {inc_all[2]:.4f}")
    print()
    print(f"{'figure':<34}{'bulk scan':>12}{'incremental':>13}{'target':>10}  gap")
    rows = [
        ("merges precision", merges[0], inc_merges[0], TARGETS["merge_precision"]),
        ("merges + suspects F1", with_suspects[2], inc_all[2], TARGETS["f1"]),
        ("blocking recall", blocking, blocking, TARGETS["blocking_recall"]),
    ]
    for name, bulk, step, target in rows:
        print(f"{name:<34}{bulk:>12.4f}{step:>13.4f}{target:>10.3f}  {_gap(min(bulk, step), target)}")
    target = TARGETS["records_per_s"]
    for name, rate in (
        ("bulk scan, contacts/s", summary.per_second),
        ("bulk scan, contacts/CPU-s", summary.per_cpu_second),
        ("bulk scan, records/s", len(data.events) / summary.seconds),
    ):
        print(f"{name:<34}{rate:>12,.0f}{'':>13}{target:>10,.0f}  {_gap(rate, target)}")
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
                "bulk scan, records (the issue's unit)",
                len(data.events) / summary.seconds,
                "records/s",
                TARGETS["records_per_s"],
                "issue #15 target",
            ),
            figure(
                "bulk scan, records, nothing kept (every contact replayed)",
                len(data.events) / cold.seconds,
                "records/s",
                TARGETS["records_per_s"],
                "issue #15 target",
            ),
            figure(
                "bulk scan per CPU second",
                summary.per_cpu_second,
                "contacts/s",
                TARGETS["records_per_s"],
                "issue #15 target",
            ),
            figure(
                "embedded run with incremental linking (start-up included: see the text)",
                inc.run_rate,
                "records/s",
                inc.run_rate_off,
                "the same run without linking",
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
