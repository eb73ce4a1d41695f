"""Servers of a test's own: deploy/local/{kafka,clickhouse,postgres}.sh on free ports with their own run
folders, for tests that stop, kill or restart a server. The shared servers (19092 / 19000 / 15432) keep
running for every other test.

Each class wraps one script with the environment that points it elsewhere: `up()` (skips, or fails under
CI=true, when the server cannot start), `down()` (stop, data kept: `up()` again is a restart), `purge()`
(stop and delete the run folder). The Kafka broker's jars are shared with the default cache when it has
them, so a dedicated broker costs a JVM start, not a Maven fetch.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parent.parent
LOCAL = REPO / "deploy" / "local"
HOST = "127.0.0.1"


def unavailable(reason: str) -> NoReturn:
    """Skip locally; under CI=true a missing server or tool is a failure, never a silent skip: CI must
    prove the integration, not step around it. The one copy of this rule: every test imports it."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"under CI=true a skip is not allowed: {reason}")
    pytest.skip(reason)


def free_ports(count: int) -> list[int]:
    """Distinct free ports: all sockets stay bound until every port is chosen (one at a time, the OS
    may hand out the same port twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _shared_cache() -> Path:
    return Path(os.environ.get("TOUCHSTREAM_CACHE") or Path.home() / ".cache" / "touchstream")


class _Dedicated:
    script: Path
    name: str

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def logs(self) -> list[Path]:
        return []

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.script), *args],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def up(self) -> None:
        done = self.run("up")
        if done.returncode != 0:
            errors: list[str] = []
            for log in self.logs():
                if log.exists():
                    lines = log.read_text(errors="replace").splitlines()
                    errors += [line for line in lines if "ERROR" in line or "Exception" in line][:10]
            unavailable(
                f"a dedicated {self.name} did not start: {(done.stdout + done.stderr)[-400:]}\n"
                + "\n".join(errors)
            )

    def down(self) -> None:
        done = self.run("down")
        assert done.returncode == 0, f"{self.name} down: {done.stdout}{done.stderr}"

    def purge(self) -> None:
        """Stop and delete the run folder; the server's logs are kept beside it (`kept-logs/`) for a
        post-mortem, as small files in pytest's temporary folder."""
        kept = self.kept_logs()
        for log in self.logs():
            if log.exists():
                kept.mkdir(parents=True, exist_ok=True)
                shutil.copy2(log, kept / log.name)
        self.run("down", "--purge")

    def kept_logs(self) -> Path:
        raise NotImplementedError


class DedicatedBroker(_Dedicated):
    """deploy/local/kafka.sh with its own cache, run dir and ports (broker and controller)."""

    script = LOCAL / "kafka.sh"
    name = "Kafka broker"

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.port, self.controller_port = free_ports(2)
        self.bootstrap = f"{HOST}:{self.port}"
        libs = _shared_cache() / "kafka" / "libs"
        if (libs / ".pom.sha256").exists():  # the script re-uses a libs folder whose marker matches its pom
            (cache / "kafka").mkdir(parents=True, exist_ok=True)
            (cache / "kafka" / "libs").symlink_to(libs)

    def env(self) -> dict[str, str]:
        return {
            "TOUCHSTREAM_CACHE": str(self.cache),
            "TOUCHSTREAM_KAFKA_PORT": str(self.port),
            "TOUCHSTREAM_KAFKA_CONTROLLER_PORT": str(self.controller_port),
        }

    def logs(self) -> list[Path]:
        return [self.cache / "run" / "kafka" / "logs" / "server.log"]

    def kept_logs(self) -> Path:
        return self.cache / "kept-logs"


class DedicatedClickHouse(_Dedicated):
    """deploy/local/clickhouse.sh with its own cache (config, data, logs) and native + HTTP ports."""

    script = LOCAL / "clickhouse.sh"
    name = "ClickHouse server"

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.port, self.http_port = free_ports(2)
        self.host = HOST

    def env(self) -> dict[str, str]:
        return {
            "TOUCHSTREAM_CACHE": str(self.cache),
            "TOUCHSTREAM_CLICKHOUSE_PORT": str(self.port),
            "TOUCHSTREAM_CLICKHOUSE_HTTP_PORT": str(self.http_port),
        }

    def logs(self) -> list[Path]:
        return [self.cache / "run" / "clickhouse" / "log" / "clickhouse-server.err.log"]

    def kept_logs(self) -> Path:
        return self.cache / "kept-logs"


class DedicatedPostgres(_Dedicated):
    """deploy/local/postgres.sh with its own run dir (TOUCHSTREAM_POSTGRES_DIR) and port.

    Under root the server runs as the `postgres` user, which cannot reach pytest's private temporary
    folders: the run dir is a fresh folder of the system's temporary directory that it may traverse,
    removed again by `purge()`."""

    script = LOCAL / "postgres.sh"
    name = "PostgreSQL server"

    def __init__(self, logs: Path) -> None:
        self.logs_dir = logs  # where purge() keeps the server's log (pytest's temporary folder)
        self.base = Path(tempfile.mkdtemp(prefix="touchstream-pg-"))
        self.base.chmod(0o711)  # traversable, not listable: postgres.sh makes run/ its owner's, mode 0700
        self.run_dir = self.base / "run"
        (self.port,) = free_ports(1)
        self.host = HOST
        self.user = "postgres"

    def env(self) -> dict[str, str]:
        return {"TOUCHSTREAM_POSTGRES_DIR": str(self.run_dir), "TOUCHSTREAM_POSTGRES_PORT": str(self.port)}

    def logs(self) -> list[Path]:
        return [self.run_dir / "server.log"]

    def kept_logs(self) -> Path:
        return self.logs_dir

    def purge(self) -> None:
        super().purge()
        shutil.rmtree(self.base, ignore_errors=True)
