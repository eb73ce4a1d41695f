"""A server that is not up, or a setting that cannot be used, is one line naming the problem and the fix,
exit status 1 — never a traceback. Run as a user types the commands (subprocesses of the CLI)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from cli_process import settings_env, touchstream

pytestmark = pytest.mark.timeout(300)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return touchstream(settings_env(TOUCHSTREAM_DATA_DIR=str(tmp_path / "data"), **env), tmp_path, *args)


def production_with_nothing_up() -> dict[str, str]:
    port = str(closed_port())
    return {
        "TOUCHSTREAM_MODE": "production",
        "TOUCHSTREAM_POSTGRES_PORT": port,
        "TOUCHSTREAM_CLICKHOUSE_PORT": port,
        "TOUCHSTREAM_KAFKA_PORT": port,
    }


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("stewards", "list"), "PostgreSQL"),
        (("db", "migrate"), "PostgreSQL"),
        (("dlq", "list"), "Kafka"),
        (("rebuild",), "ClickHouse"),
    ],
)
def test_a_server_that_is_down_is_one_line_with_the_fix(
    tmp_path: Path, args: tuple[str, ...], names: str
) -> None:
    done = run(tmp_path, production_with_nothing_up(), *args)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("touchstream: "), done.stderr
    assert names in last
    assert "deploy/local/services up" in last


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TOUCHSTREAM_MODE": "prod"}, "TOUCHSTREAM_MODE"),
        ({"TOUCHSTREAM_CLICKHOUSE_PORT": "nineteen"}, "TOUCHSTREAM_CLICKHOUSE_PORT"),
    ],
)
def test_a_bad_setting_names_the_variable_and_the_fix(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    done = run(tmp_path, env, "stewards", "list")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert named in done.stderr
    assert "set it to" in done.stderr


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("customer", "show", "nobody@example.com", "--role", "sales"), 1, "touchstream db migrate"),
        (("customer", "show", "--bogus"), 2, "No such option"),
        (("import", "missing.jsonl"), 2, "does not exist"),
        (("stewards", "merge", "00000000-0000-0000-0000-000000000000"), 2, "Missing option"),
    ],
)
def test_what_a_user_gets_wrong_is_one_message_not_a_traceback(
    tmp_path: Path, args: tuple[str, ...], code: int, says: str
) -> None:
    """A data folder with nothing in it yet, a flag that does not exist, a file that is not there, a
    missing option: each is named, with the fix, and the exit status says it failed."""
    done = run(tmp_path, {}, *args)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert says in " ".join(done.stderr.split()), done.stderr


def test_an_unknown_customer_is_said_so(tmp_path: Path) -> None:
    assert run(tmp_path, {}, "db", "migrate").returncode == 0
    done = run(tmp_path, {}, "customer", "show", "nobody@example.com", "--role", "sales")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "no customer matches 'nobody@example.com'" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
