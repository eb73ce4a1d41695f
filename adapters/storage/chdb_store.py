"""The read store on chDB: ClickHouse (26.x) embedded in this process.

How chDB 4.x sessions really behave (read from ``chdb/session/state.py`` and ``chdb/state/sqlitelike.py``,
and checked by running them):

- The engine behind every ``chdb.session.Session`` is **one embedded server per process**, bound to the
  data path of the first open session. More sessions on the *same* path share it (each keeps its own
  connection, settings and current database); opening a session on a *different* path while one is open
  fails with ``EmbeddedServer already initialized with path ...``. Once every session is closed, the next
  one may use another path.
- ``Session(None)`` is ``":memory:"`` in 4.x (not a temp dir, despite its docstring).
- ``SET`` and ``USE`` persist for the session's connection; ``mutations_sync`` defaults to 1 in chDB.

Hence the constraints of :class:`ChDBStore`: in one process, every open store must use the same ``path``;
isolate tests or tenants with ``database=`` instead of separate paths, and close stores when done (the
contract tests share one path and give each test its own database). A worker process that needs chDB opens
it once. chDB cannot listen on a port: other processes cannot see its data.

Long because the embedded engine's quirks each need a workaround beside the store that meets them (the
shared-path sessions, the parts an erasure replaced and that must leave the disk at once).
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import re
import shutil
import struct
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from chdb.session import Session
from clickhouse_driver.util.escape import escape_params

from ...streams.ports import AbstractReadStore, Column, ReadStoreError, batched, check_identifier

__all__ = ["ChDBStore"]

# chDB ships py.typed but leaves Session unannotated; hold it as Any rather than silence mypy per call.
_new_session: Any = Session

#: Server settings of the embedded engine, given as the connection string's parameters. chDB runs merges
#: and mutations on 2 threads with 2 x 2 task slots; a mutation takes one slot per data part, and once
#: the slots are full the engine looks for the next part only after a random back-off (up to ~1 s). An
#: erasure's mutation of a 17-part touchpoints took 3.3 s that way, 0.4 s with 32 slots on the same 2
#: threads (the slots queue work, they add no threads).
_ENGINE_SETTINGS = "background_merges_mutations_concurrency_ratio=16"


def _connection_string(path: str) -> str:
    return f"file:{path}?{_ENGINE_SETTINGS}"


# Applied to every session: UTC whatever the process time zone; JSON output that keeps every value exact
# (64-bit integers and decimals as strings, nan/inf as strings rather than null); and NULL into a
# non-Nullable column is an error (as with clickhouse-driver) instead of a silent default.
_SESSION_SETTINGS = (
    "SET session_timezone = 'UTC'",
    "SET output_format_json_quote_64bit_integers = 1",
    "SET output_format_json_quote_decimals = 1",
    "SET output_format_json_quote_denormals = 1",
    "SET output_format_json_named_tuples_as_objects = 0",
    "SET input_format_null_as_default = 0",
    "SET date_time_input_format = 'best_effort'",  # instants as orjson writes them (`_json_line`)
)


# Table settings for a prompt removal of replaced parts (see ChDBStore.drop_inactive_parts).
_PROMPT_CLEANUP = "old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0"
_CLEANUP_SETTINGS = "old_parts_lifetime, cleanup_delay_period, cleanup_delay_period_random_add"


class _ServerInfo:
    """What clickhouse-driver's ``escape_params`` asks of its context: the server's time zone."""

    @staticmethod
    def get_timezone() -> str:
        return "UTC"


class _EscapeContext:
    server_info = _ServerInfo()


_ESCAPE_CONTEXT = _EscapeContext()


def substitute(sql: str, params: Mapping[str, Any] | None) -> str:
    """clickhouse-driver's client-side ``%(name)s`` substitution, with its own escaping, in UTC."""
    if params is None:
        return sql
    escaped: dict[str, Any] = escape_params(dict(params), _ESCAPE_CONTEXT)
    return sql % escaped


# --- values out: JSONCompact text -> the Python values clickhouse-driver returns -------------------------

Converter = Callable[[Any], Any]


def _split_args(text: str) -> list[str]:
    """Split a type's argument list at top-level commas (ignoring commas in parentheses and quotes)."""
    args: list[str] = []
    depth = 0
    quote = False
    start = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == "'":
                quote = False
        elif ch == "'":
            quote = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(text[start:i].strip())
            start = i + 1
        i += 1
    tail = text[start:].strip()
    if tail:
        args.append(tail)
    return args


_NAMED_ELEMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s+(\S.*)", re.DOTALL)
_INT_TYPES = {f"{s}Int{b}" for s in ("", "U") for b in (8, 16, 32, 64, 128, 256)}
_FLOAT32 = struct.Struct("f")


def _float32(value: Any) -> float:
    # clickhouse-driver reads Float32 as a C float widened to double (1.1 -> 1.100000023841858).
    result: float = _FLOAT32.unpack(_FLOAT32.pack(float(value)))[0]
    return result


def _datetime64(value: Any) -> datetime:
    text = str(value)
    head, dot, frac = text.partition(".")
    return datetime.fromisoformat(head + (dot + frac[:6] if dot else ""))


@lru_cache(maxsize=512)
def converter(type_name: str) -> Converter:
    """A function turning one JSONCompact value of ``type_name`` into the driver's Python value."""
    type_name = type_name.strip()
    name, paren, rest = type_name.partition("(")
    args = _split_args(rest[:-1]) if paren else []
    if name == "Nullable":
        inner = converter(args[0])
        return lambda v: None if v is None else inner(v)
    if name in ("LowCardinality", "SimpleAggregateFunction"):
        return converter(args[-1])
    if name == "Array":
        item = converter(args[0])
        return lambda v: [item(x) for x in v]
    if name == "Tuple":
        parts = []
        for arg in args:
            named = _NAMED_ELEMENT.fullmatch(arg)
            parts.append(converter(named.group(2) if named else arg))
        return lambda v: tuple(
            c(x) for c, x in zip(parts, v.values() if isinstance(v, dict) else v, strict=True)
        )
    if name == "Map":
        key, val = converter(args[0]), converter(args[1])
        return lambda v: {key(k): val(x) for k, x in v.items()}
    if name in _INT_TYPES:
        return int
    if name == "Float32":
        return _float32
    if name in ("Float64", "BFloat16"):
        return float
    if name.startswith("Decimal"):
        return lambda v: Decimal(str(v))
    if name == "Bool":
        return bool
    if name == "FixedString":
        return lambda v: str(v).rstrip("\x00")
    if name in ("Date", "Date32"):
        return lambda v: date.fromisoformat(v)
    if name == "DateTime":
        if args:
            zone = ZoneInfo(args[0].strip("'"))
            return lambda v: datetime.fromisoformat(v).replace(tzinfo=zone)
        return lambda v: datetime.fromisoformat(v)
    if name == "DateTime64":
        if len(args) > 1:
            zone64 = ZoneInfo(args[1].strip("'"))
            return lambda v: _datetime64(v).replace(tzinfo=zone64)
        return _datetime64
    if name == "UUID":
        return lambda v: uuid.UUID(v)
    if name == "IPv4":
        return lambda v: ipaddress.IPv4Address(v)
    if name == "IPv6":
        return lambda v: ipaddress.IPv6Address(v)
    if name == "Nothing":
        return lambda v: None
    # String, Enum8/16 (their names), and anything else JSON already carries as the right value.
    return lambda v: v


# --- values in: Python values -> JSONCompactEachRow lines ------------------------------------------------


def _nullable(type_name: str) -> bool:
    type_name = type_name.strip()
    while type_name.startswith("LowCardinality("):
        type_name = type_name[len("LowCardinality(") : -1].strip()
    return type_name.startswith("Nullable(") or type_name == "Nothing"


def _json_value(value: Any) -> Any:
    """A Python value as the JSON ClickHouse parses into the column (exact: decimals and nan as strings)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(" ")  # `YYYY-MM-DD hh:mm:ss[.ffffff]`, ~3x cheaper than strftime
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Enum):
        return _json_value(value.value)
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(_json_value(k)): _json_value(v) for k, v in value.items()}
    if isinstance(value, (uuid.UUID, ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8")
    raise TypeError(f"cannot insert a value of type {type(value).__name__}")


def _not_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    return isinstance(value, (list, tuple)) and any(_not_finite(v) for v in value)


def _json_line(row: Sequence[Any], float_columns: Sequence[int]) -> bytes:
    """One row as a JSONCompactEachRow line. orjson writes strings, numbers, UUIDs, dates, instants (RFC
    3339, which the session reads `best_effort`: with an offset, as that instant in UTC), lists and null
    itself, and hands decimals to `_json_value` (calling it for every instant too cost 3 us a row, most of
    an insert's encoding); only a row with a NaN or an infinity in one of its float columns (orjson would
    write null) goes through `_json_value` value by value ("nan", "inf")."""
    if any(_not_finite(row[i]) for i in float_columns):
        return orjson.dumps([_json_value(v) for v in row])
    try:
        return orjson.dumps(row, default=_json_value)
    except TypeError:  # e.g. a mapping whose keys are not strings: `_json_value` turns them into strings
        return orjson.dumps([_json_value(v) for v in row])


def string_array(values: Iterable[str]) -> str:
    """Strings as the text of a ClickHouse ``Array(String)`` value: each quoted, backslash and quote
    escaped (the only two characters a quoted string cannot hold as they are). Not clickhouse-driver's
    `escape_param`, which `substitute` uses: it rebuilds every string a character at a time, the very
    cost this parameter exists to avoid for thousands of ids."""
    quoted = ("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)
    return "[" + ",".join(quoted) + "]"


_READS = ("SELECT", "WITH", "SHOW", "DESCRIBE", "EXISTS")
# Statements run that may have changed a table (or a session's current database), by any store of this
# process: they share chDB's one engine (module docstring), so each store's remembered column types hold
# only while this count stays where it was when they were asked.
_SCHEMA_CHANGES = [0]


class ChDBStore(AbstractReadStore):
    """A :class:`AbstractReadStore` on chDB, in this process.

    ``path`` is the data directory (kept) or ``None`` for a fresh temporary directory that ``close()``
    removes. ``database`` becomes the session's current database (created if ``create_database``).

    Constraint (chDB 4.x): one embedded engine per process, bound to one path at a time — every store open
    at the same time in a process must use the same ``path``; isolate with ``database`` instead. See the
    module docstring.

    Inserts go through chDB's streaming inserter as ``JSONCompactEachRow`` lines encoded by orjson, so any
    string (quotes, backslashes, newlines, NULs, emoji) arrives byte for byte and never becomes SQL text.
    Query results are read as ``JSONCompact`` and converted by their declared types to the values
    clickhouse-driver returns for the same query on a server in UTC.
    """

    engine = "chdb"

    def __init__(
        self,
        path: str | None = None,
        database: str = "default",
        *,
        create_database: bool = True,
        batch_size: int = 10_000,
    ) -> None:
        check_identifier(database)
        self.database = database
        self.batch_size = batch_size
        self._column_types_of: dict[str, dict[str, str]] = {}
        self._types_asked_at = -1
        if path is not None and "?" in str(path):
            # chDB takes what follows a '?' for connection settings: the data would land in another folder.
            raise ReadStoreError(
                self.engine,
                f"-- open chDB session at {path}",
                f"the data folder {str(path)!r} holds a '?', which chDB reads as the start of its connection "
                "settings (it would write to the folder before it); choose a folder without '?' "
                "(TOUCHSTREAM_DATA_DIR)",
            )
        self._temp_dir = tempfile.mkdtemp(prefix="touchstream-chdb-") if path is None else None
        self.path = self._temp_dir if self._temp_dir is not None else str(path)
        try:
            self._session: Any = _new_session(_connection_string(self.path))
        except Exception as exc:
            self._remove_temp_dir()
            raise ReadStoreError(
                self.engine,
                f"-- open chDB session at {self.path}",
                f"{exc} (chDB allows one data path per process at a time: share the path and use "
                "database= to isolate)",
            ) from exc
        try:
            for statement in _SESSION_SETTINGS:
                self._run(statement, "CSV")
            if database != "default":
                if create_database:
                    self._run(f"CREATE DATABASE IF NOT EXISTS {database}", "CSV")
                self._run(f"USE {database}", "CSV")
        except BaseException:
            self.close()
            raise

    def _open_session(self, sql: str) -> Any:
        if self._session is None:
            raise ReadStoreError(self.engine, sql, "store is closed")
        return self._session

    def _run(self, sql: str, fmt: str, params: Mapping[str, str] | None = None) -> bytes:
        session = self._open_session(sql)
        if not sql.lstrip()[:8].upper().startswith(_READS):
            _SCHEMA_CHANGES[0] += 1
        try:
            result = session.query(sql, fmt, params=params) if params else session.query(sql, fmt)
        except Exception as exc:
            raise ReadStoreError(self.engine, sql, exc) from exc
        if result is None:
            return b""
        if getattr(result, "has_error", lambda: False)():
            raise ReadStoreError(self.engine, sql, str(result.error_message()))
        data: bytes = result.bytes()
        return data

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._run(substitute(sql, params), "CSV")

    def query_with_columns(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> tuple[list[Column], list[tuple[Any, ...]]]:
        return self._select(substitute(sql, params))

    def query_chunked(
        self, sql: str, name: str, values: Sequence[Any], params: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """One query however many values, when they are strings: they travel as one query parameter, an
        ``Array(String)`` the engine reads as data, instead of an ``IN`` list of SQL text it parses into a
        syntax tree. 5,000 event ids (the applied-events check of each projected batch) took ~64 ms as
        `in_chunk` lists and ~22 ms as a parameter."""
        marker = f"%({check_identifier(name)})s"
        if marker not in sql or not values or any(type(v) is not str for v in values):
            return super().query_chunked(sql, name, values, params)
        text = substitute(sql.replace(marker, f"{{{name}:Array(String)}}"), params)
        return self._select(text, {name: string_array(values)})[1]

    def _select(
        self, text: str, params: Mapping[str, str] | None = None
    ) -> tuple[list[Column], list[tuple[Any, ...]]]:
        raw = self._run(text, "JSONCompact", params)
        if not raw.strip():
            return [], []
        try:
            doc = orjson.loads(raw)
            columns = [(str(m["name"]), str(m["type"])) for m in doc["meta"]]
            convert = [converter(t) for _, t in columns]
            rows = [tuple(c(v) for c, v in zip(convert, row, strict=True)) for row in doc["data"]]
        except Exception as exc:
            raise ReadStoreError(self.engine, text, f"cannot read the result: {exc}") from exc
        return columns, rows

    def insert_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        check_identifier(table, qualified=True)
        names = [check_identifier(c) for c in columns]
        if not names:
            raise ValueError("insert_rows needs at least one column")
        sql = f"INSERT INTO {table} ({', '.join(names)})"
        session = self._open_session(sql)
        # JSON input turns null into the column default even with input_format_null_as_default = 0
        # (chDB 26.x); clickhouse-driver refuses None for a non-Nullable column, so we refuse it too.
        types = self._column_types(table)
        missing = [n for n in names if n not in types]
        if missing:
            raise ReadStoreError(self.engine, sql, f"no such column(s) in {table}: {', '.join(missing)}")
        not_null = [i for i, n in enumerate(names) if not _nullable(types[n])]
        float_columns = [i for i, n in enumerate(names) if "Float" in types[n]]
        written = 0
        for chunk in batched(rows, self.batch_size):
            try:
                lines = []
                for row in chunk:
                    if len(row) != len(names):
                        raise ValueError(f"row has {len(row)} values for {len(names)} columns")
                    for i in not_null:
                        if row[i] is None:
                            raise ValueError(f"None for non-Nullable column {names[i]} ({types[names[i]]})")
                    lines.append(_json_line(row, float_columns))
                payload = b"\n".join(lines) + b"\n"
            except (TypeError, ValueError, orjson.JSONEncodeError) as exc:
                raise ReadStoreError(self.engine, sql, f"cannot encode a row: {exc}") from exc
            try:
                with session.send_insert(sql, "JSONCompactEachRow") as inserter:
                    inserter.append(payload)
                    inserter.finish()
            except Exception as exc:
                raise ReadStoreError(self.engine, sql, exc) from exc
            written += len(chunk)
        return written

    def _column_types(self, table: str) -> dict[str, str]:
        """Each column's type, asked once per table until a statement that is not a read runs (`_run`)."""
        if self._types_asked_at != _SCHEMA_CHANGES[0]:
            self._column_types_of.clear()
            self._types_asked_at = _SCHEMA_CHANGES[0]
        known = self._column_types_of.get(table)
        if known is None:
            database, _, name = table.rpartition(".")
            where_db = "database = %(database)s" if database else "database = currentDatabase()"
            sql = f"SELECT name, type FROM system.columns WHERE {where_db} AND table = %(table)s"
            known = dict(self.query(sql, {"database": database, "table": name}))
            if known:
                self._column_types_of[table] = known
        return known

    @contextlib.contextmanager
    def mutations_in_background(self) -> Iterator[None]:
        self.execute("SET mutations_sync = 0")
        try:
            yield
        finally:
            self.execute("SET mutations_sync = 1")

    def drop_inactive_parts(self, tables: Sequence[str], timeout: float = 60.0) -> int:
        """Remove the parts mutations replaced now, so a byte search of the data path finds no old value.

        chDB keeps them until its cleanup task next runs (every 30-40 s, `cleanup_delay_period`), and a
        changed period only applies once the task restarts; so each table gets a 1 s period and no
        lifetime, is detached and attached again (the task restarts with them), and gets its defaults back
        once its inactive parts are gone. The table is unavailable for those few milliseconds.
        """
        names = [check_identifier(t) for t in tables]
        for name in names:
            self.execute(f"ALTER TABLE {name} MODIFY SETTING {_PROMPT_CLEANUP}")
            self.execute(f"DETACH TABLE {name}")
            self.execute(f"ATTACH TABLE {name}")
        deadline = time.monotonic() + timeout
        try:
            while (left := self.inactive_parts(names)) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            for name in names:
                self.execute(f"ALTER TABLE {name} RESET SETTING {_CLEANUP_SETTINGS}")
        return left

    def inactive_parts(self, tables: Sequence[str]) -> int:
        """Part folders of `tables` on disk that are not active parts, counted in the data path itself:
        just after ATTACH chDB loads a table's replaced parts in the background, and `system.parts` was
        seen listing none of them (17 on disk) for a few milliseconds."""
        names = tuple(check_identifier(t) for t in tables)
        if not names:
            return 0
        chosen = {"tables": names}
        active = set(
            self.query(
                "SELECT table, name FROM system.parts "
                "WHERE database = currentDatabase() AND table IN %(tables)s AND active",
                chosen,
            )
        )
        folders = self.query(
            "SELECT name, data_paths FROM system.tables "
            "WHERE database = currentDatabase() AND name IN %(tables)s",
            chosen,
        )
        left = 0
        for table, paths in folders:
            for path in paths:
                with contextlib.suppress(FileNotFoundError):
                    left += sum(
                        1
                        for part in Path(path).iterdir()
                        if part.is_dir() and part.name != "detached" and (table, part.name) not in active
                    )
        return left

    def _remove_temp_dir(self) -> None:
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def close(self) -> None:
        session = getattr(self, "_session", None)
        self._session = None
        if session is not None:
            session.close()
        self._remove_temp_dir()
