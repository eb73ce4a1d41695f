"""The SQL door's connections: capped by `Limits` and unable to write. On the ClickHouse server, the
dedicated read-only user (made here where the server takes users from SQL); on chDB, a session given the
limits and then readonly=1. Every connection is confirmed read-only before the door answers through it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...streams.ports import AbstractReadStore, check_identifier
from .sql_allowlist import SqlRefused


@dataclass(frozen=True)
class Limits:
    """What one query through the door may cost. The server applies them from the read-only user's
    profile (deploy/local/clickhouse.sh writes these numbers); chDB from the door session's settings."""

    max_result_rows: int = 100_000
    max_result_bytes: int = 100_000_000
    max_execution_time_s: int = 30
    max_rows_to_read: int = 500_000_000
    max_bytes_to_read: int = 50_000_000_000
    max_memory_usage: int = 2_000_000_000

    def settings(self) -> dict[str, int | str]:
        return {
            "max_result_rows": self.max_result_rows,
            "max_result_bytes": self.max_result_bytes,
            "result_overflow_mode": "throw",
            "max_execution_time": self.max_execution_time_s,
            "timeout_overflow_mode": "throw",
            "max_rows_to_read": self.max_rows_to_read,
            "max_bytes_to_read": self.max_bytes_to_read,
            "read_overflow_mode": "throw",
            "max_memory_usage": self.max_memory_usage,
        }


def confirm_read_only(store: AbstractReadStore) -> None:
    """Refuse to answer through a connection that could write: the engine must say readonly is on."""
    rows = store.query("SELECT value FROM system.settings WHERE name = 'readonly'")
    if not rows or str(rows[0][0]) not in ("1", "2"):
        raise SqlRefused(
            "the door's connection",
            "is not read-only",
            "connect as the read-only user (TOUCHSTREAM_CLICKHOUSE_SQL_USER, docs/security.md)",
        )


def limit_chdb_session(store: AbstractReadStore, limits: Limits) -> None:
    """chDB has no users: the door's own session gets the limits, then readonly=1, which freezes them (a
    read-only session may change no setting)."""
    for name, value in limits.settings().items():
        store.execute(f"SET {name} = {value!r}" if isinstance(value, str) else f"SET {name} = {int(value)}")
    store.execute("SET readonly = 1")


# --- the read-only user on servers that take users from SQL ------------------------------------------------


def server_manages_users(version: str) -> bool:
    """Whether `CREATE USER` / `CREATE SETTINGS PROFILE` work: SQL-driven access control came in 20.5.
    Older servers (Debian's 18.16) take users from users.xml only (deploy/local/clickhouse.sh)."""
    head = version.split(".")
    try:
        return (int(head[0]), int(head[1])) >= (20, 5)
    except (ValueError, IndexError):
        return False


def door_user_statements(user: str, database: str, limits: Limits | None = None) -> list[str]:
    """The statements that make (or refresh) the SQL door's user on a server that manages users in SQL:
    a settings profile with readonly=1 and the limits, the user with that profile and `%(password)s`,
    and SELECT on the read models' database only. Run them as an administrator."""
    check_identifier(user)
    check_identifier(database)
    settings = ", ".join(
        f"{name} = {value!r}" if isinstance(value, str) else f"{name} = {int(value)}"
        for name, value in {"readonly": 1, **(limits or Limits()).settings()}.items()
    )
    return [
        f"CREATE SETTINGS PROFILE OR REPLACE {user} SETTINGS {settings}",
        f"CREATE USER IF NOT EXISTS {user} IDENTIFIED WITH sha256_password BY %(password)s "
        f"SETTINGS PROFILE '{user}'",
        f"ALTER USER {user} IDENTIFIED WITH sha256_password BY %(password)s SETTINGS PROFILE '{user}'",
        f"REVOKE ALL ON *.* FROM {user}",
        f"GRANT SELECT ON {database}.* TO {user}",
    ]


def ensure_door_user(store: AbstractReadStore, settings: Any) -> str:
    """Make the SQL door's read-only user where the server takes users from SQL (`touchstream db
    migrate` calls this with its administrative store); say what was done, or why not."""
    user = settings.clickhouse_sql_user
    if settings.embedded:
        return "SQL door: chDB has no users; `touchstream sql` runs in a read-only, capped session"
    version = str(store.query("SELECT version()")[0][0])
    if not server_manages_users(version):
        return (
            f"SQL door: ClickHouse {version} takes users from its config files, not SQL; declare the "
            f"read-only user {user} there (deploy/local/clickhouse.sh does; docs/security.md)"
        )
    if not settings.clickhouse_sql_password:
        return (
            f"SQL door: set TOUCHSTREAM_CLICKHOUSE_SQL_PASSWORD to create the read-only user {user} "
            "(it is not created without a password)"
        )
    for statement in door_user_statements(user, settings.clickhouse_database):
        store.execute(statement, {"password": settings.clickhouse_sql_password})
    return f"SQL door: read-only user {user} ready (SELECT on {settings.clickhouse_database} only)"


def open_door_store(runtime: Any, limits: Limits | None = None) -> AbstractReadStore:
    """A read store for the SQL door that cannot write and is capped (adapters/api/sql_door.py): on the
    server, a connection as the dedicated read-only user (its profile holds readonly=1 and the limits);
    on chDB, a session given the limits and then readonly=1. Raises SqlRefused if it is not read-only."""
    s = runtime.settings
    store: AbstractReadStore
    if s.embedded:
        store = runtime.read_store()
        try:
            limit_chdb_session(store, limits or Limits())
        except BaseException:
            store.close()
            raise
    else:
        if not s.clickhouse_sql_password or s.clickhouse_sql_user == "default":
            raise SqlRefused(
                "the ClickHouse connection",
                "the SQL door runs only as its read-only user, with a password, never as `default`",
                "set TOUCHSTREAM_CLICKHOUSE_SQL_USER and TOUCHSTREAM_CLICKHOUSE_SQL_PASSWORD; "
                "`deploy/local/clickhouse.sh sql-password` prints the local one",
            )
        from ..storage.clickhouse_server import ClickHouseServerStore

        store = ClickHouseServerStore(
            s.clickhouse_host,
            s.clickhouse_port,
            s.clickhouse_database,
            user=s.clickhouse_sql_user,
            password=s.clickhouse_sql_password,
        )
    try:
        confirm_read_only(store)
    except BaseException:
        store.close()
        raise
    return store


def chdb_door(store: AbstractReadStore, limits: Limits | None = None) -> AbstractReadStore:
    """A freshly opened chDB store made into the door's session: limits, then readonly=1, confirmed."""
    try:
        limit_chdb_session(store, limits or Limits())
        confirm_read_only(store)
    except BaseException:
        store.close()
        raise
    return store
