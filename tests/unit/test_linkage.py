"""Probabilistic suspects: the model (projections/linkage.py), the noisy truth and the scan."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest

from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.master_record.linkage import (
    REASON,
    Linker,
    ScanSummary,
    Thresholds,
    scan,
)
from touchstream.adapters.master_record.linkage_read import contact_ids, link_record, read_for_linkage
from touchstream.adapters.synthetic.generator import GeneratorConfig, write_dataset
from touchstream.adapters.synthetic.noisy import NoisyConfig, noisy_dataset, write_noisy
from touchstream.events.parsing import parse_event
from touchstream.projections.linkage import (
    FIELDS,
    BlockIndex,
    Comparator,
    Model,
    Scored,
    estimate,
    household,
    record_of,
    split_address,
)
from touchstream.projections.master_record import DuplicateSuspect


def _draw(rng: random.Random, weights: list[float]) -> int:
    return rng.choices(range(len(weights)), weights)[0]


def test_em_recovers_a_known_mixture() -> None:
    rng = random.Random(3)
    true_m = {f: [0.05] * (n - 1) + [1 - 0.05 * (n - 1)] for f, n in FIELDS.items()}
    true_u = {f: [1 - 0.04 * (n - 1)] + [0.04] * (n - 1) for f, n in FIELDS.items()}
    vectors = []
    for _ in range(20_000):
        table = true_m if rng.random() < 0.2 else true_u
        vectors.append(tuple(_draw(rng, table[f]) for f in FIELDS))
    fit = estimate(vectors, start=Model(Model.default().m, Model.default().u, 0.5))
    assert fit.converged
    assert abs(fit.model.prior - 0.2) < 0.02
    for name in FIELDS:
        assert abs(fit.model.m[name][-1] - true_m[name][-1]) < 0.03, name
        assert abs(fit.model.u[name][0] - true_u[name][0]) < 0.03, name


def _record(rid: str, **values: Any) -> Any:
    return record_of(rid, {k: [v] for k, v in values.items()})


JANE = {
    "first_name": "Jane",
    "last_name": "Doe",
    "date_of_birth": "1980-04-12",
    "address": "12 Oak Road, SW1 4AB, London, GB",
    "phone": "+442079460123",
}


def test_scoring_puts_a_noisy_true_pair_above_a_false_one() -> None:
    model, compare = Model.default(), Comparator().compare
    jane = _record("a", **JANE)
    typo = _record("b", **{**JANE, "first_name": "Jnae", "address": "12 Oak Rd, SW1 4AB, London, GB"})
    other = _record(
        "c", **{**JANE, "first_name": "Mary", "date_of_birth": "1975-01-02", "phone": "+442079460999"}
    )
    assert model.probability(compare(jane, typo)) > 0.99
    assert model.probability(compare(jane, typo)) > model.probability(compare(jane, other))
    assert household(compare(jane, other))
    assert not household(compare(jane, typo))


def test_swapped_names_and_nicknames_still_agree() -> None:
    compare = Comparator(lambda a, b: {a, b} == {"bob", "robert"}).compare
    robert = _record("a", first_name="Robert", last_name="Smith")
    assert compare(robert, _record("b", first_name="Smith", last_name="Robert"))[:2] == (3, 3)
    assert compare(robert, _record("c", first_name="Bob", last_name="Smith"))[:2] == (2, 3)


def test_an_address_line_splits_into_street_postcode_and_city() -> None:
    assert split_address("12 Oak Road, SW1 4AB, London, GB") == ("12 Oak Road", "SW14AB", "London")
    assert split_address("35 Forest Road, 78472, Austin, US") == ("35 Forest Road", "78472", "Austin")
    assert split_address("78472, Austin, US") == (None, "78472", "Austin")


def _records(events: list[dict[str, Any]]) -> list[Any]:
    found = []
    for e in events:
        p = e["payload"]
        values = {k: [str(p[k])] for k in ("first_name", "last_name", "date_of_birth", "phone") if k in p}
        if "address" in p:
            a = p["address"]
            values["address"] = [", ".join([*a["lines"], a["postal_code"], a["city"], a["country"]])]
        found.append(
            record_of(
                e["event_id"], values, [e["identifiers"]["email"]] if "email" in e["identifiers"] else []
            )
        )
    return found


def test_blocking_finds_the_planted_pairs() -> None:
    data = noisy_dataset(NoisyConfig(people=300, seed=5))
    index = BlockIndex()
    for record in _records(data.events):
        index.add(record)
    pairs = index.pairs()
    by_person: dict[str, list[str]] = {}
    for event_id, person in data.truth.items():
        by_person.setdefault(person, []).append(event_id)
    planted = {tuple(sorted((a, b))) for ids in by_person.values() for a in ids for b in ids if a < b}
    assert len(planted & pairs) / len(planted) >= 0.97
    assert len(pairs) < 300 * 299 / 2 / 5  # blocking, not all pairs


def test_the_noisy_truth_names_every_record_and_every_person() -> None:
    config = NoisyConfig(people=200, seed=2)
    data = noisy_dataset(config)
    assert set(data.truth) == {e["event_id"] for e in data.events}
    assert len(set(data.truth.values())) == 200
    assert data.true_pairs() > 50
    born: dict[str, set[str]] = {}
    for e in data.events:
        if "date_of_birth" in e["payload"]:
            born.setdefault(data.truth[e["event_id"]], set()).add(e["payload"]["date_of_birth"][:4])
    assert all(len(years) == 1 for years in born.values())  # noise never changes the year a person was born
    for e in data.events:
        parse_event(e)  # every record is a valid event


def test_noisy_output_is_deterministic(tmp_path: Path) -> None:
    a = write_noisy(NoisyConfig(people=50, seed=9), tmp_path / "a.jsonl", tmp_path / "ta.jsonl")
    b = write_noisy(NoisyConfig(people=50, seed=9), tmp_path / "b.jsonl", tmp_path / "tb.jsonl")
    assert a == b
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_the_realistic_generator_is_unchanged_without_the_noisy_mode(tmp_path: Path) -> None:
    write_dataset(GeneratorConfig(customers=40, accounts=5, days=20, seed=7), tmp_path / "e", tmp_path / "t")
    # Digests of the generator's output before the noisy mode existed. Since then the world only gained an
    # account's `industry` on leads and deals (issue 16): without it the events are byte for byte the same.
    events = [orjson.loads(line) for line in (tmp_path / "e").read_bytes().splitlines()]
    for event in events:
        event["payload"].pop("industry", None)
    before = b"".join(orjson.dumps(event) + b"\n" for event in events)
    assert hashlib.sha256(before).hexdigest().startswith("5b0d230bdca29c59")
    assert hashlib.sha256((tmp_path / "t").read_bytes()).hexdigest().startswith("9349ec3fdd2ae01d")


def _observed(event_id: str, ext: str, email: str | None = None, **observed: Any) -> Any:
    identifiers: dict[str, Any] = {"external_ids": {"crm": ext}}
    if email:
        identifiers["email"] = email
    return parse_event(
        {
            "event_id": event_id,
            "type": "ContactDetailsObserved",
            "schema_version": 1,
            "occurred_at": "2026-01-02T10:00:00Z",
            "recorded_at": "2026-01-02T10:00:00Z",
            "source": "crm",
            "identifiers": identifiers,
            "payload": observed,
        }
    )


ADDRESS = {"lines": ["12 Oak Road"], "postal_code": "SW1 4AB", "city": "London", "country": "GB"}


def test_a_likely_duplicate_without_a_strong_identifier_becomes_a_suspect_with_its_score() -> None:
    master = MasterRecord.from_url("memory://")
    details = {"first_name": "Jane", "last_name": "Doe", "date_of_birth": "1980-04-12", "address": ADDRESS}
    a = master.resolve(_observed("00000000-0000-4000-8000-000000000001", "1", **details)).contact_id
    b = master.resolve(
        _observed("00000000-0000-4000-8000-000000000002", "2", **{**details, "first_name": "Jnae"})
    ).contact_id
    assert a is not None
    assert b is not None
    assert a != b
    linker = Linker(master, Thresholds(suspect=0.5, merge=0.5))
    linker.load()
    summary = linker.update(b)
    assert summary.suspects == 1
    assert summary.merges == 0
    (suspect,) = list(master.suspects())
    assert suspect.reason == REASON
    assert suspect.identifier.startswith("p=")
    assert "date_of_birth" in suspect.identifier
    assert float(suspect.identifier.split()[0][2:]) >= 0.5
    assert master.contact(a).id != master.contact(b).id


def test_a_likely_duplicate_sharing_a_strong_identifier_merges_and_a_household_does_not() -> None:
    master = MasterRecord.from_url("memory://")
    details = {"first_name": "Jane", "last_name": "Doe", "date_of_birth": "1980-04-12", "address": ADDRESS}
    shared = "doefamily@gmail.com"
    jane = master.resolve(
        _observed("00000000-0000-4000-8000-000000000011", "1", shared, **details)
    ).contact_id
    typo = master.resolve(
        _observed("00000000-0000-4000-8000-000000000012", "2", shared, **{**details, "first_name": "Jnae"})
    ).contact_id
    john = master.resolve(
        _observed(
            "00000000-0000-4000-8000-000000000013",
            "3",
            shared,
            **{**details, "first_name": "John", "date_of_birth": "1978-09-30"},
        )
    ).contact_id
    assert len({jane, typo, john}) == 3  # the shared-address guard split them by first name
    summary, _ = scan(master, thresholds=Thresholds(suspect=0.5, merge=0.9))
    assert summary.merges == 1
    assert master.contact(typo).id == master.contact(jane).id  # the typo was Jane
    assert master.contact(john).id != master.contact(jane).id  # John lives there too: kept apart
    assert summary.households >= 1
    # The resolver's shared-address suspects: Jane-John is disproved (a household), Jane-Jnae answered.
    assert summary.withdrawn >= 1
    assert not [s for s in master.suspects("open") if john in (s.contact_id, s.other_id)]
    withdrawn = list(master.suspects("withdrawn"))
    assert withdrawn
    assert all(s.reason == "shared_address" for s in withdrawn)
    assert not list(master.suspects("open"))


def test_the_incremental_linker_withdraws_a_resolver_suspect_it_disproves() -> None:
    """As events arrive (no scan): the resolver's shared-address suspect on a household is withdrawn by the
    linker, which knows it exists from the notification log it follows."""
    master = MasterRecord.from_url("memory://")
    details = {"first_name": "Jane", "last_name": "Doe", "date_of_birth": "1980-04-12", "address": ADDRESS}
    shared = "doefamily@gmail.com"
    jane = master.resolve(_observed("00000000-0000-4000-8000-000000000021", "1", shared, **details))
    john = master.resolve(
        _observed(
            "00000000-0000-4000-8000-000000000022",
            "2",
            shared,
            **{**details, "first_name": "John", "date_of_birth": "1978-09-30"},
        )
    )
    assert jane.contact_id != john.contact_id
    (raised,) = list(master.suspects("open"))
    assert raised.reason == "shared_address"
    counts = Linker.open(master).link([str(jane.contact_id), str(john.contact_id)])
    assert counts.withdrawn == 1
    assert [s.reason for s in master.suspects("withdrawn")] == ["shared_address"]
    assert not list(master.suspects("open"))


def test_stewards_scan_from_the_command_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from touchstream.adapters.cli.stewards import app as stewards

    url = f"sqlite:///{tmp_path}/master.sqlite"
    master = MasterRecord.from_url(url)
    details = {"first_name": "Jane", "last_name": "Doe", "date_of_birth": "1980-04-12", "address": ADDRESS}
    master.resolve(_observed("00000000-0000-4000-8000-000000000021", "1", **details))
    master.resolve(_observed("00000000-0000-4000-8000-000000000022", "2", **{**details, "last_name": "Deo"}))
    master.close()
    result = CliRunner().invoke(
        stewards, ["scan", "--store", url], env={"TOUCHSTREAM_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code == 0, result.output
    assert "1 new suspects, 0 merges" in result.output
    listed = CliRunner().invoke(
        stewards, ["list", "--store", url], env={"TOUCHSTREAM_DATA_DIR": str(tmp_path)}
    )
    assert REASON in listed.output
    assert "p=" in listed.output


def test_thresholds_come_from_settings_and_a_bad_one_is_refused() -> None:
    import pytest

    from touchstream.adapters.config import SettingsError, load_settings

    settings = load_settings(
        {"TOUCHSTREAM_LINKAGE_SUSPECT_THRESHOLD": "0.7", "TOUCHSTREAM_LINKAGE_MERGE_THRESHOLD": "0.9999"}
    )
    assert Thresholds.from_settings(settings) == Thresholds(suspect=0.7, merge=0.9999, max_block=400)
    with pytest.raises(SettingsError, match="TOUCHSTREAM_LINKAGE_SUSPECT_THRESHOLD"):
        load_settings({"TOUCHSTREAM_LINKAGE_SUSPECT_THRESHOLD": "2"})


def _resolved(people: int, seed: int) -> tuple[MasterRecord, list[str]]:
    master = MasterRecord.from_url("memory://")
    ids: list[str] = []
    for raw in noisy_dataset(NoisyConfig(people=people, seed=seed)).events:
        contact = master.resolve(parse_event(raw)).contact_id
        assert contact is not None
        ids.append(str(contact))
    return master, ids


def test_the_linker_indexes_the_last_batchs_contacts_as_saved_as_it_would_read_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Contacts the last resolved batch saved are indexed from the batch, not read back; the index is the
    one a linker that reads every contact builds."""
    from touchstream.adapters.master_record import linkage
    from touchstream.streams.resolve import ResolveStage

    master = MasterRecord.from_url("memory://")
    events = [parse_event(raw) for raw in noisy_dataset(NoisyConfig(people=60, seed=7)).events]
    stage = ResolveStage(master)
    resolved = stage.process_batch([(e, 0, n) for n, e in enumerate(events[:-40])])
    resolved += stage.process_batch([(e, 0, n) for n, e in enumerate(events[-40:], len(events) - 40)])
    assert master.recently_saved  # the second batch's contacts
    asked: list[UUID] = []
    real_read = linkage.entries_for_linkage

    def counted(master_: MasterRecord, ids: list[UUID]) -> list[Any]:
        asked.extend(ids)
        return real_read(master_, ids)

    monkeypatch.setattr(linkage, "entries_for_linkage", counted)
    from_batch = Linker(master)
    from_batch.follow()
    assert not set(asked) & set(master.recently_saved)  # taken from the batch, not read back
    assert asked  # the first batch's contacts were read
    master.recently_saved = {}
    read = Linker(master)
    read.follow()
    assert from_batch.records == read.records
    assert from_batch.versions == read.versions


def test_the_incremental_linker_stores_its_fit_and_a_restarted_one_scores_with_it() -> None:
    master, ids = _resolved(people=180, seed=5)
    first = Linker.open(master)
    counts = first.link(ids)
    assert first.fitted_on >= 200  # enough contacts: fitted from the index, not the default priors
    assert counts.suspects + counts.merges > 0
    assert first.link(ids).contacts == 0  # nothing changed since: nothing is scored again
    again = Linker.open(master)  # a new process: the stored model, the index rebuilt from the log
    assert again.model == first.model
    assert again.fitted_on == first.fitted_on
    again.link([])
    assert again.records == first.records
    before = len(list(master.suspects(None)))
    assert again.link(ids).suspects == 0  # scored again after the restart: every pair is already decided
    assert len(list(master.suspects(None))) == before


def test_the_incremental_index_is_bounded() -> None:
    master, ids = _resolved(people=60, seed=6)
    linker = Linker(master, Thresholds(max_indexed=25))
    linker.link(ids)
    assert len(set(ids)) > 50
    assert 0 < len(linker.records) <= 25  # (a merge while linking may retire one more)
    assert set(linker.index.keys_of) == set(linker.records)
    assert len(linker.versions) <= 25
    assert len(linker.scored) <= 25


def test_the_linkers_read_of_a_contact_gives_the_full_reads_link_record_and_version() -> None:
    master, _ = _resolved(people=150, seed=8)
    summary, linker = scan(master, thresholds=Thresholds(suspect=0.5, merge=0.99))
    assert summary.merges > 0
    # The scan indexes each merge's survivor as the merge saved it, not as read again: the same record.
    for key, record in linker.records.items():
        read = read_for_linkage(master, UUID(key))
        assert (record, linker.versions[key]) == (link_record(read), read.version)
    merged = next(s for s in master.suspects("merged") if s.reason == REASON)
    loser = next(
        c for c in (merged.contact_id, merged.other_id) if master.contact(c, follow=False).merged_into
    )
    master.unmerge(loser, actor="steward")  # Absorbed, MergedInto, Unmerged and MergeUndone replayed too
    for contact_id in contact_ids(master):
        full, quick = master.contact(contact_id, follow=False), read_for_linkage(master, contact_id)
        assert link_record(quick) == link_record(full)
        assert quick.version == full.version


def _three_people() -> tuple[MasterRecord, Linker, list[UUID]]:
    master = MasterRecord.from_url("memory://")
    people: list[UUID] = []
    for n, name in enumerate(("Jane", "Jnae", "Janet"), 1):
        details = {"first_name": name, "last_name": "Doe", "date_of_birth": "1980-04-12"}
        found = master.resolve(_observed(f"00000000-0000-4000-8000-00000000003{n}", str(n), **details))
        assert found.contact_id is not None
        people.append(found.contact_id)
    linker = Linker(master)
    linker.load()
    return master, linker, people


def _suspect(a: UUID, b: UUID, evidence: str) -> DuplicateSuspect:
    return DuplicateSuspect(contact_id=a, other_id=b, reason=REASON, identifier=evidence, event_id="linkage")


def _scored(a: UUID, b: UUID) -> Scored:
    return Scored(str(a), str(b), 0.9, (3, 3, 2, None, None, None, None, None, None))


def test_the_scans_suspects_written_together_and_one_another_process_wrote_first_is_counted() -> None:
    master, linker, (jane, jnae, janet) = _three_people()
    linker._pending = []
    summary = ScanSummary()
    first, second = _scored(jane, jnae), _scored(jane, janet)
    linker._raise(_suspect(jane, jnae, "p=0.900 mine"), first, summary)
    linker._raise(_suspect(jane, janet, "p=0.900 mine"), second, summary)
    assert not list(master.suspects(None))  # pending: not written yet
    master.save(_suspect(jane, jnae, "p=0.800 theirs"))  # another scan raised the first meanwhile
    linker.flush(summary)
    assert (summary.suspects, summary.already, summary.scored) == (1, 1, [second])
    by_pair = {frozenset((s.contact_id, s.other_id)): s.identifier for s in master.suspects(None)}
    assert by_pair == {frozenset((jane, jnae)): "p=0.800 theirs", frozenset((jane, janet)): "p=0.900 mine"}


def test_a_merge_writes_the_pending_suspects_with_it_and_falls_back_when_its_suspect_exists() -> None:
    master, linker, (jane, jnae, janet) = _three_people()
    linker._pending = []
    summary = ScanSummary()
    linker._raise(_suspect(jane, janet, "p=0.900 queued"), _scored(jane, janet), summary)
    survivor = linker._raise_merged(_suspect(jane, jnae, "p=0.999 strong"), summary)
    assert survivor is not None
    assert survivor.id == master.contact(jnae).id == master.contact(jane).id
    assert vars(survivor) == vars(master.contact(survivor.id, follow=False))  # as saved
    assert linker._pending == []
    assert {s.identifier: s.status for s in master.suspects(None)} == {
        "p=0.900 queued": "open",
        "p=0.999 strong": "merged",
    }
    # Another process raised this pair's suspect first: nothing of the failed write stays, the pending
    # suspect is written alone, and the merge is not made.
    master2, linker2, (a, b, c) = _three_people()
    linker2._pending = []
    summary2 = ScanSummary()
    linker2._raise(_suspect(a, c, "p=0.900 queued"), _scored(a, c), summary2)
    master2.save(_suspect(a, b, "p=0.700 theirs"))
    assert linker2._raise_merged(_suspect(a, b, "p=0.999 strong"), summary2) is None
    assert master2.contact(a).id != master2.contact(b).id
    assert {s.identifier: s.status for s in master2.suspects(None)} == {
        "p=0.700 theirs": "open",
        "p=0.900 queued": "open",
    }
    assert list(master2.suspects(None, reason=lambda r: r != REASON)) == []
