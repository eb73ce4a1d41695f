"""`touchstream rebuild` in two processes (adapters/parallel_rebuild.py) rebuilds what the one-process
rebuild does: the same processed history, rebuilt each way from the command line, gives the same read
models; the child takes every touchpoint as handed over, and reads from the log what was not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_process import settings_env, touchstream
from unit.test_parallel_run import dumped_models, published

from touchstream.adapters.config import load_settings
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.parallel_rebuild import rebuild_in_two_processes

pytestmark = [pytest.mark.timeout(600)]
__all__ = ["published"]  # the history, as test_parallel_run publishes it


@pytest.fixture(scope="module")
def processed(published: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The history run once (resolved and projected): what a rebuild starts from."""
    folder = tmp_path_factory.mktemp("processed") / "data"
    shutil.copytree(published, folder)
    ran = touchstream(settings_env(TOUCHSTREAM_DATA_DIR=str(folder)), folder, "run", "--processes", "1")
    assert ran.returncode == 0, ran.stderr + ran.stdout
    return folder


def _rebuilt(processed: Path, folder: Path, processes: int) -> dict[str, object]:
    shutil.copytree(processed, folder, symlinks=True)  # chDB links its databases
    env = settings_env(TOUCHSTREAM_DATA_DIR=str(folder))
    ran = touchstream(env, folder, "rebuild", "--processes", str(processes), "--batch-size", "300")
    assert ran.returncode == 0, ran.stderr + ran.stdout
    assert "rebuilt" in ran.stdout
    return dumped_models(folder)


def _resolved_records(folder: Path) -> int:
    with SQLiteEventLog(folder / "log" / "touchpoints.resolved.sqlite", 12) as log:
        return sum(log.end_offset(p) for p in range(log.partitions))


def test_two_processes_rebuild_what_one_does(processed: Path, tmp_path: Path) -> None:
    before = dumped_models(processed)
    one = _rebuilt(processed, tmp_path / "one", processes=1)
    two = _rebuilt(processed, tmp_path / "two", processes=2)
    models, models_two = one["models"], two["models"]
    assert isinstance(models, dict)
    assert isinstance(models_two, dict)
    assert models["contact_merges"][1], "the story makes merges"
    differ = sorted(name for name in models if models[name] != models_two[name])
    assert not differ, f"read models differ between one and two processes: {differ}"
    assert one["erased"] == two["erased"] == before["erased"] == 2


def test_the_child_takes_every_touchpoint_as_handed_over(processed: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    shutil.copytree(processed, folder, symlinks=True)  # chDB links its databases
    reported: list[int] = []
    result = rebuild_in_two_processes(
        load_settings({"TOUCHSTREAM_DATA_DIR": str(folder)}), None, 300, progress=reported.append
    )
    records = _resolved_records(folder)
    assert result.stats.handed == records > 0
    assert sum(reported) == result.stats.records >= records


def test_a_failing_rebuild_step_fails_the_rebuild_with_its_reason(processed: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    shutil.copytree(processed, folder, symlinks=True)  # chDB links its databases
    shutil.rmtree(folder / "chdb")
    (folder / "chdb").write_text("not a folder")  # the child cannot open its read store
    env = settings_env(TOUCHSTREAM_DATA_DIR=str(folder))
    ran = touchstream(env, folder, "rebuild", "--processes", "2")
    assert ran.returncode != 0
    assert "FileExistsError" in ran.stderr
    assert "process failed" in ran.stderr
