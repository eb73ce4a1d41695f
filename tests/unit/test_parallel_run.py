"""`touchstream run` in two processes (adapters/parallel_run.py) answers as the one-process run does: the
same history, run each way from the command line, gives the same read models, merges, dead letters and
erasures. The history holds erasure requests (which wait until everything is resolved), merges, an
anonymous caller handed to its person and dead letters; small batches make the project step follow the
resolve step over many appends."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from cli_process import settings_env, touchstream

from touchstream.adapters.bootstrap import Runtime
from touchstream.adapters.config import load_settings
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.logs.topics import open_log
from touchstream.adapters.parallel_run import run_in_two_processes
from touchstream.adapters.sdk.publisher import Publisher
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate
from touchstream.streams.embedded import PROJECT_GROUP
from touchstream.streams.topology import RAW

pytestmark = [pytest.mark.timeout(600)]

# A history whose generated story holds two erasure requests (the generator's erasures depend on dates).
CONFIG = GeneratorConfig(
    customers=120, accounts=15, days=45, seed=3, start=datetime(2026, 10, 19, tzinfo=UTC)
)
TESTS = Path(__file__).resolve().parents[1]

# One chDB data folder per process: each run's read models are read by a process of their own.
DUMP = """
import json, sys
from read_model_compare import COMPARED, canonical, comparable
from touchstream.adapters.bootstrap import bootstrap
with bootstrap().read_store() as store:
    models = {name: comparable(name, *store.query_with_columns(sql)) for name, sql in COMPARED.items()}
    erased = store.query("SELECT count() FROM customer_360 FINAL WHERE erased = 1")[0][0]
print(json.dumps({"models": canonical(models), "erased": erased}))
"""


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("published") / "data"
    events = list(generate(CONFIG))
    assert sum(e["type"] == "ErasureRequested" for e in events) == 2
    broken = {**events[5], "event_id": "not-a-uuid"}
    for part in (events[:1000], [broken], events[1000:]):
        if part == [broken]:  # a record the validator dead-letters, between the others
            with open_log(RAW, embedded_dir=folder / "log") as raw:
                raw.append([(None, orjson.dumps(broken))])
            continue
        with Publisher.for_embedded(folder / "log", batch_size=500) as publisher:
            for event in part:
                publisher.send(event)
    return folder


def _run(published: Path, folder: Path, processes: int) -> dict[str, object]:
    shutil.copytree(published, folder)
    env = settings_env(TOUCHSTREAM_DATA_DIR=str(folder))
    ran = touchstream(env, folder, "run", "--processes", str(processes), "--batch-size", "300")
    assert ran.returncode == 0, ran.stderr + ran.stdout
    summary = ran.stdout.strip().splitlines()[-1]
    return {"summary": summary, **dumped_models(folder)}


def dumped_models(folder: Path) -> dict[str, object]:
    """The read models of the data folder `folder` (`DUMP`, in a process of its own)."""
    dumped = subprocess.run(
        [sys.executable, "-c", DUMP],
        env={**settings_env(TOUCHSTREAM_DATA_DIR=str(folder)), "PYTHONPATH": str(TESTS)},
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert dumped.returncode == 0, dumped.stderr
    return dict(json.loads(dumped.stdout))


def test_two_processes_answer_as_one(published: Path, tmp_path: Path) -> None:
    one = _run(published, tmp_path / "one", processes=1)
    two = _run(published, tmp_path / "two", processes=2)
    assert one["erased"] == two["erased"] == 2
    models_one, models_two = one["models"], two["models"]
    assert isinstance(models_one, dict)
    assert isinstance(models_two, dict)
    assert models_one["dead_letters"][1], "the broken record is a dead letter"
    assert models_one["contact_merges"][1], "the story makes merges"
    differ = sorted(name for name in models_one if models_one[name] != models_two[name])
    assert not differ, f"read models differ between one and two processes: {differ}"
    # The figures are the same but for the linking step's seconds and the count of profile writes (the
    # second process projects smaller batches while it follows).
    assert _counts(str(one["summary"])) == _counts(str(two["summary"]))


def _counts(summary: str) -> str:
    return re.sub(r"\(\d+\.\d s\)", "", summary.split(" contact profile updates")[0].rsplit(",", 1)[0])


def test_a_failing_project_step_fails_the_run_with_its_reason(published: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    shutil.copytree(published, folder)
    (folder / "chdb").write_text("not a folder")  # the child cannot open its read store
    env = settings_env(TOUCHSTREAM_DATA_DIR=str(folder))
    ran = touchstream(env, folder, "run", "--processes", "2", "--batch-size", "300")
    assert ran.returncode != 0
    assert "FileExistsError" in ran.stderr
    assert "the project step's process failed" in ran.stderr


def test_a_failing_resolve_step_stops_the_child_before_its_erasures(published: Path, tmp_path: Path) -> None:
    """The child holds erasures back until everything is resolved; when the resolve step fails instead,
    the child stops without them and the rerun, which resolves the rest first, carries them out."""
    folder = tmp_path / "data"
    shutil.copytree(published, folder)
    settings = load_settings({"TOUCHSTREAM_DATA_DIR": str(folder)})
    resolved = 0

    def fail_late(n: int) -> None:
        nonlocal resolved
        resolved += n
        if resolved > 2_200:  # past both erasure requests (the 749th and 1,960th records)
            _wait_until_relayed(folder)  # the child caught up and waits for more, both erasures held back
            raise RuntimeError("the resolve step failed")

    with pytest.raises(RuntimeError, match="the resolve step failed"):
        run_in_two_processes(settings, 300, on_resolved=fail_late)
    master = folder / "master-record.sqlite"
    assert not _forgotten(master), "no erasure while records are left unresolved"
    with SQLiteEventLog(folder / "log" / "touchpoints.resolved.sqlite", 12) as log:
        projected = sum(log.committed(PROJECT_GROUP, p) for p in range(log.partitions))
        assert 0 < projected < sum(log.end_offset(p) for p in range(log.partitions))
    ran = touchstream(settings_env(TOUCHSTREAM_DATA_DIR=str(folder)), folder, "run", "--processes", "1")
    assert ran.returncode == 0, ran.stderr
    assert _forgotten(master)


def test_the_child_takes_what_this_run_resolved_and_reads_the_rest_from_the_log(
    published: Path, tmp_path: Path
) -> None:
    """The touchpoints resolved by this run reach the child handed over, not parsed again; those an
    earlier run resolved and did not project (here one that only resolved a batch) are read from the log."""
    folder = tmp_path / "data"
    shutil.copytree(published, folder)
    settings = load_settings({"TOUCHSTREAM_DATA_DIR": str(folder)})

    def stop_after_one_batch(n: int) -> None:
        raise _OneBatch

    with Runtime(settings).embedded_pipeline(None, batch_size=300) as pipeline, pytest.raises(_OneBatch):
        pipeline.resolve_until_caught_up(progress=stop_after_one_batch)
    with SQLiteEventLog(folder / "log" / "touchpoints.resolved.sqlite", 12) as log:
        before = sum(log.end_offset(p) for p in range(log.partitions))
    assert before > 0
    stats = run_in_two_processes(settings, 300)
    assert stats.project.handed == stats.resolve.resolved + stats.resolve.reattributed > 0
    assert stats.project.records == stats.project.handed + before


class _OneBatch(Exception):
    pass


# Resolves past both erasure requests (the 749th and 1,960th records), then hangs until it is killed.
HANGS = """
import time
from touchstream.adapters.config import load_settings
from touchstream.adapters.parallel_run import run_in_two_processes
resolved = 0
def hang_late(n):
    global resolved
    resolved += n
    if resolved > 2_200:
        open("hanging", "w").close()
        time.sleep(3_600)
run_in_two_processes(load_settings(), 300, on_resolved=hang_late)
"""


def test_the_child_stops_when_the_resolving_process_is_killed(published: Path, tmp_path: Path) -> None:
    """Killed, the resolving process cannot tell the child to stop; the child finds out by itself and
    ends, without the erasures it holds back, instead of waiting for a resolve step that will not end."""
    folder = tmp_path / "data"
    shutil.copytree(published, folder)
    env = settings_env(TOUCHSTREAM_DATA_DIR=str(folder))
    run = subprocess.Popen(
        [sys.executable, "-c", HANGS],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        child = _child_of(run.pid)
        _wait_for_file(folder / "hanging")
        _wait_until_relayed(folder)  # the child caught up and waits for more, both erasures held back
        run.kill()
        run.wait(30)
        assert _ends(child, timeout=60), "the child kept waiting for its killed parent"
    finally:
        run.kill()
    assert not _forgotten(folder / "master-record.sqlite"), "no erasure while records are left unresolved"


def _wait_for_file(path: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"no {path.name} in {timeout:.0f} s")
        time.sleep(0.1)


def _child_of(pid: int, timeout: float = 60.0) -> int:
    """The project step's process (not multiprocessing's resource tracker, another child)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in children.read_text().split() if children.exists() else []:
            with contextlib.suppress(FileNotFoundError):
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    return int(child)
        time.sleep(0.1)
    pytest.fail(f"no child process in {timeout:.0f} s")


def _ends(pid: int, timeout: float) -> bool:
    """Whether the process ends (or is left a zombie nobody reaps) within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    return False


def _forgotten(master_record: Path) -> bool:
    with sqlite3.connect(master_record) as db:
        return any(b"[erased]" in bytes(row[0]) for row in db.execute("SELECT state FROM stored_events"))


def _wait_until_relayed(folder: Path, timeout: float = 120.0) -> None:
    """Until the child relayed every event of the master record: it relays each time it has projected
    everything resolved so far."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(folder / "master-record.sqlite") as db:
            (made,) = db.execute("SELECT count(*) FROM stored_events").fetchone()
        with SQLiteEventLog(folder / "log" / "masterdata.events.sqlite", 12) as log:
            relayed = sum(log.end_offset(p) for p in range(log.partitions))
        if relayed >= made:
            return
        time.sleep(0.2)
    pytest.fail(f"the project step's process did not catch up in {timeout:.0f} s")
