"""One line, not a traceback, for the failures a user causes or meets: a server that is not up, a store
another process holds, a setting that cannot be used, a file that is not there.

`touchstream`'s entry point passes every exception through `explain`; what it recognises is printed as
`touchstream: <what happened> — <what to do>` with exit status 1, anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import logging
import sqlite3

from ...streams.ports import LogUnavailable, ReadStoreError
from ..config import SettingsError

_START_LOCALLY = "start it (deploy/local/services up {name}) or point the settings at yours"


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def quiet_client_logs() -> None:
    """clickhouse-driver logs each failed connect with its traceback; the one line from `explain` says it."""
    logging.getLogger("clickhouse_driver.connection").setLevel(logging.ERROR)


def explain(exc: BaseException) -> str | None:
    """The one line for a known condition, or None for anything else."""
    if isinstance(exc, SettingsError):
        return str(exc)
    if isinstance(exc, LogUnavailable):
        return f"{_first_line(exc)} — {_START_LOCALLY.format(name='kafka')} (TOUCHSTREAM_KAFKA_BOOTSTRAP)"
    if isinstance(exc, ReadStoreError):
        return _read_store(exc)
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return f"an embedded store is busy ({_first_line(exc)}) — another touchstream process holds it; retry"
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError | NotADirectoryError):
        return f"{_first_line(exc)} — check the path (and TOUCHSTREAM_DATA_DIR)"
    return _by_library(exc)


def _read_store(exc: ReadStoreError) -> str:
    detail = exc.detail.lower()
    if any(
        sign in detail
        for sign in ("cannot lock file", "another server instance", "initializing embeddedserver")
    ):
        return (
            "the embedded read store (chDB) is held by another process — stop it (e.g. `touchstream up` or a "
            "`run --follow`), or ask it through its API"
        )
    if "unknown_table" in detail or "unknown table" in detail or "doesn't exist" in detail:
        return (
            "the read models are not there yet (no tables in this data folder or database) — create them "
            "with `touchstream db migrate`, or fill them with `touchstream demo` or `touchstream run`"
        )
    if any(word in detail for word in ("connection refused", "network", "timed out", "timeout", "connect")):
        where = "TOUCHSTREAM_CLICKHOUSE_HOST / TOUCHSTREAM_CLICKHOUSE_PORT"
        fix = _START_LOCALLY.format(name="clickhouse")
        return f"ClickHouse did not answer: {exc.detail[:200]} — {fix} ({where})"
    return f"{exc.engine}: {exc.detail[:300]}"


def _by_library(exc: BaseException) -> str | None:
    module = type(exc).__module__.split(".")[0]
    name = type(exc).__name__
    if module == "psycopg" and name in ("OperationalError", "ConnectionTimeout", "PoolTimeout"):
        where = "TOUCHSTREAM_POSTGRES_DSN / TOUCHSTREAM_POSTGRES_PORT"
        fix = _START_LOCALLY.format(name="postgres")
        return f"PostgreSQL did not answer: {_first_line(exc)} — {fix} ({where})"
    if module == "kafka" and name in ("NoBrokersAvailable", "KafkaTimeoutError", "KafkaConnectionError"):
        return f"Kafka did not answer: {_first_line(exc)} — {_START_LOCALLY.format(name='kafka')}"
    if module == "clickhouse_driver" and name in ("NetworkError", "SocketTimeoutError"):
        return f"ClickHouse did not answer: {_first_line(exc)} — {_START_LOCALLY.format(name='clickhouse')}"
    if isinstance(exc, ConnectionError | TimeoutError):
        return f"a server did not answer: {_first_line(exc)} — check that it runs and the settings name it"
    return None
