"""deploy/local/clickhouse.sh starts a server once more when the first one exits while starting: a
clean-clone CI run saw a dedicated ClickHouse log "Ready for connections" and be gone a moment later,
with nothing in its error log. Here the first server process is killed as soon as it has a pid."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from dedicated_servers import DedicatedClickHouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _kill_first_server(pid_file: Path, starting: subprocess.Popen[str]) -> int:
    """Kill the first process that writes `pid_file`; its pid."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and starting.poll() is None:
        text = pid_file.read_text().strip() if pid_file.exists() else ""
        if text:
            os.kill(int(text), signal.SIGKILL)
            return int(text)
        time.sleep(0.02)
    raise AssertionError(f"no server pid in {pid_file} within 60 s")


def test_a_server_that_exits_while_starting_is_started_once_more(tmp_path: Path) -> None:
    server = DedicatedClickHouse(tmp_path / "cache")
    pid_file = server.cache / "run" / "clickhouse" / "clickhouse-server.pid"
    starting = subprocess.Popen(
        [str(server.script), "up"],
        env={**os.environ, **server.env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        killed = _kill_first_server(pid_file, starting)
        output, _ = starting.communicate(timeout=180)
        assert starting.returncode == 0, output
        assert "server exited during startup" in output, output
        assert "starting it once more" in output, output
        assert int(pid_file.read_text()) != killed
        answer = server.run("status")
        assert answer.returncode == 0, answer.stdout + answer.stderr
    finally:
        if starting.poll() is None:
            starting.kill()
        server.purge()
