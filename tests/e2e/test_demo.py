"""The README's main job, `touchstream demo`, run as a newcomer runs it: a subprocess, no servers."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

EXE = shutil.which("touchstream", path=os.path.dirname(sys.executable)) or "touchstream"
DEMO = [EXE, "demo", "--customers", "40", "--accounts", "6", "--days", "30"]
# Nothing on PATH but the virtualenv: no java, no clickhouse, no kafka tools. The demo needs none.
ENV = {**os.environ, "PATH": os.path.dirname(EXE), "JAVA_HOME": ""}


@pytest.mark.timeout(300)
def test_demo_runs_end_to_end_on_the_embedded_default(tmp_path: Path) -> None:
    env = ENV
    done = subprocess.run(
        [*DEMO, "--no-serve", "--workdir", str(tmp_path)],
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
    handed = re.search(
        rf"resolved {len(events)} raw events: {len(events)} to touchpoints.resolved "
        r"\(and (\d+) anonymous callers' calls handed to their person\), 0 dead letters",
        out,
    )
    assert handed, out
    records = len(events) + int(handed.group(1))  # a handed-over call is a second record of its event
    assert f"projected {records} resolved records: {records} touchpoints, 0 dead letters" in out
    assert f"{len(events)} rows queryable in chDB" in out
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
    # It ends with three commands to try next, on its own data; each one works as printed.
    tried = done.stdout.split("Try next:\n", 1)[1].strip().splitlines()
    assert len(tried) == 3, done.stdout
    for command in tried:
        words = shlex.split(command)
        settings = dict(
            word.split("=", 1) for word in words if "=" in word and word.startswith("TOUCHSTREAM_")
        )
        argv = [EXE, *words[len(settings) + 1 :]]
        assert settings == {"TOUCHSTREAM_DATA_DIR": str(tmp_path)}, command
        ran = subprocess.run(
            argv, capture_output=True, text=True, env={**env, **settings}, timeout=120, check=False
        )
        assert ran.returncode == 0, (command, ran.stdout, ran.stderr)
        assert "Traceback" not in ran.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(300)
def test_demo_ends_by_serving_the_dashboard_and_printing_its_url(tmp_path: Path) -> None:
    port = _free_port()
    demo = subprocess.Popen(
        [*DEMO, "--port", str(port), "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**ENV, "COLUMNS": "400"},  # one line per message: the URL must not wrap
    )
    try:
        assert demo.stdout is not None
        url = None
        for line in demo.stdout:
            found = re.search(r"(http://127\.0\.0\.1:\d+/dashboard)#token=(\S+)", line)
            if found:
                url, token = found.groups()
                break
        assert url == f"http://127.0.0.1:{port}/dashboard", "the demo printed its dashboard URL"
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(url, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the dashboard never answered"
                time.sleep(0.3)
        assert page.status_code == 200
        assert "<html" in page.text.lower()
        me = httpx.get(f"http://127.0.0.1:{port}/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["role"] == "admin"
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=20)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
