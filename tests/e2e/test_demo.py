"""The README's main job, `touchstream demo`, run as a newcomer runs it: a subprocess, no servers."""

from __future__ import annotations

import json
import os
import re
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
    out = " ".join(done.stdout.split())  # rich wraps long lines at the terminal width
    # Every raw event went the whole way: published, validated and resolved, projected.
    assert f"resolved {len(events)} raw events: {len(events)} to touchpoints.resolved, 0 dead letters" in out
    assert f"projected {len(events)} resolved records: {len(events)} touchpoints, 0 dead letters" in out
    # The master record's contacts against the generator's truth: nobody fused with somebody else.
    persons = accounts = 0
    for line in (tmp_path / "truth.jsonl").read_text().splitlines():
        kind = json.loads(line)["kind"]
        persons += kind == "person"
        accounts += kind == "account"
    found = re.search(r"contacts: (\d+) resolved for (\d+) true persons, (\d+) wrong merges", out)
    assert found, out
    contacts, true_persons, wrong = map(int, found.groups())
    assert (true_persons, wrong) == (persons, 0)
    assert persons <= contacts <= 1.3 * persons, "most people are recognised as one contact"
    assert f"accounts: {accounts} resolved for {accounts} true accounts, 0 wrong merges" in out
    assert f"{len(events)} raw events became {contacts} contacts and {accounts} accounts" in out
    assert "Touches by department" in out
    departments = {json.loads(line)["department"] for line in events}
    for department in departments:
        assert department in out
    for log in ("touchpoints.raw", "touchpoints.resolved", "touchpoints.dlq", "masterdata.events"):
        assert (tmp_path / "log" / f"{log}.sqlite").exists()
    assert (tmp_path / "master-record.sqlite").exists()
