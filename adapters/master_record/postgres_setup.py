"""Create the master record's PostgreSQL database when it is missing (`touchstream db migrate`).

The eventsourcing recorders create their tables, but not the database: connecting to a database that
does not exist fails. So the composition root connects to the server's maintenance database (`postgres`)
and issues `CREATE DATABASE` once, before anything else connects.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class DatabaseReady:
    database: str
    created: bool


def ensure_database(dsn: str, *, connect_timeout: int = 10) -> DatabaseReady:
    """Create the database named in `dsn` if the server does not have it yet."""
    parts = urlsplit(dsn)
    database = unquote(parts.path.lstrip("/")) or "touchstream"
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=connect_timeout) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if found:
            return DatabaseReady(database, created=False)
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        except psycopg.errors.DuplicateDatabase:  # another process created it meanwhile
            return DatabaseReady(database, created=False)
    return DatabaseReady(database, created=True)
