"""The README's main job, `touchstream demo`, run as a newcomer runs it: a subprocess, no servers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.timeout(300)
def test_demo_runs_end_to_end_on_the_embedded_default(tmp_path: Path) -> None:
    exe = shutil.which("touchstream", path=os.path.dirname(sys.executable))
    assert exe, "the touchstream console script is installed beside this Python"
    # Nothing on PATH but the virtualenv: no java, no clickhouse, no kafka tools. The demo needs none.
    env = {**os.environ, "PATH": os.path.dirname(exe), "JAVA_HOME": ""}
    done = subprocess.run(
        [exe, "demo", "--customers", "40", "--accounts", "6", "--days", "30", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    events = (tmp_path / "events.jsonl").read_text().splitlines()
    assert f"projected {len(events)} records: {len(events)} touchpoints, 0 dead letters" in done.stdout
    assert "Touches by department" in done.stdout
    departments = {json.loads(line)["department"] for line in events}
    for department in departments:
        assert department in done.stdout
