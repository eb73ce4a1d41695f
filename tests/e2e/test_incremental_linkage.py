"""Noisy duplicates published as events become merges and steward suspects as they arrive: the embedded
pipeline's linking step (streams/linking.py), with no `touchstream stewards scan`.

The commands run as a user types them (`touchstream import`, `touchstream run`, each a subprocess of the
installed CLI), in two rounds, so the second run starts from a fresh process: its linker rebuilds the
index from the master record and scores with the model the first run stored there.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from uuid import UUID

import orjson
import pytest
from cli_process import settings_env, touchstream

from touchstream.adapters.bootstrap import bootstrap
from touchstream.adapters.config import load_settings
from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.master_record.linkage import ACTOR, REASON
from touchstream.adapters.synthetic.noisy import NoisyConfig, noisy_dataset
from touchstream.projections.linkage_model import MODEL_ID, LinkageModel

pytestmark = pytest.mark.timeout(600)


def _publish_and_run(env: dict[str, str], cwd: Path, events: list[dict[str, object]], name: str) -> None:
    path = cwd / name
    path.write_bytes(b"".join(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in events))
    imported = touchstream(env, cwd, "import", str(path))
    assert imported.returncode == 0, imported.stderr
    ran = touchstream(env, cwd, "run")
    assert ran.returncode == 0, ran.stderr


def _contact_of_each_record(env: dict[str, str]) -> tuple[MasterRecord, dict[str, str]]:
    runtime = bootstrap(load_settings(env))
    store = runtime.read_store()
    try:
        rows = store.query("SELECT event_id, contact_id FROM touchpoints FINAL")
    finally:
        store.close()
    master = MasterRecord.from_url(runtime.master_record_url())
    return master, {str(e): str(master.contact(UUID(str(c))).id) for e, c in rows}


def test_noisy_duplicates_published_as_events_become_merges_and_suspects_without_a_scan(
    tmp_path: Path,
) -> None:
    data = noisy_dataset(NoisyConfig(people=200, seed=3))
    half = len(data.events) // 2
    on = settings_env(TOUCHSTREAM_DATA_DIR=str(tmp_path / "on"))
    off = settings_env(TOUCHSTREAM_DATA_DIR=str(tmp_path / "off"), TOUCHSTREAM_LINKAGE_INCREMENTAL="off")
    _publish_and_run(on, tmp_path, data.events[:half], "first.jsonl")
    _publish_and_run(on, tmp_path, data.events[half:], "second.jsonl")
    _publish_and_run(off, tmp_path, data.events, "all.jsonl")

    master, contact_of = _contact_of_each_record(on)
    suspects = list(master.suspects(None))
    linked = Counter(s.status for s in suspects if s.reason == REASON)
    assert linked["open"] > 20  # pairs only the details tie together wait for a steward
    merged_by_linkage = [s for s in suspects if s.reason == REASON and s.status == "merged"]
    assert merged_by_linkage
    assert all(s.decided_by == ACTOR for s in merged_by_linkage)
    # Every merge the linker made joined records of one true person.
    for suspect in merged_by_linkage:
        survivor = str(master.contact(suspect.contact_id).id)
        people = {data.truth[r] for r, c in contact_of.items() if c == survivor}
        assert len(people) == 1, (suspect.identifier, people)
    # The model was fitted and stored by the pipeline itself (no scan ever ran).
    model = master.repository.get(MODEL_ID)
    assert isinstance(model, LinkageModel)
    assert model.fits >= 1
    master.close()

    # Without the linking step the same events leave no probable match at all.
    unlinked, _ = _contact_of_each_record(off)
    assert not [s for s in unlinked.suspects(None) if s.reason == REASON]
    unlinked.close()
