"""Contract of the read-store port, run against every engine (eventsourcing-style).

``ReadStoreContract`` holds the cases; each engine subclasses it and supplies ``create_store``. The base is
deleted at the bottom so pytest collects only the engine classes. The SQL here is the dialect both engines
share — ClickHouse 18.16 (the Debian server) and chDB 26.x — see ``docs/clickhouse.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore
from touchstream.streams.ports import AbstractReadStore, ReadStoreError

HOSTILE_STRINGS = [
    "",
    "plain",
    "it's",
    "''",
    '"double"',
    "back\\slash",
    "\\'",
    "trailing backslash\\",
    "new\nline",
    "carriage\r\nreturn",
    "tab\there",
    "nul\x00byte",
    "\x00",
    "bell\x07 vt\x0b ff\x0c bs\x08 esc\x1b",
    "emoji 😀🏳️‍🌈 and CJK 漢字 and RTL עברית",
    "'); DROP TABLE x; --",
    "%(name)s %s %% {x} {x:String}",
    "\\N",
    "NULL",
    " leading and trailing ",
]

PROFILE_DDL = """
CREATE TABLE profile (
    customer_id String,
    name String,
    email Nullable(String),
    version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY customer_id
"""

TOUCHPOINTS_DDL = """
CREATE TABLE touchpoints (
    event_id String,
    customer_id String,
    department String,
    channel String,
    amount Decimal(18, 2),
    occurred_at DateTime
) ENGINE = MergeTree ORDER BY (customer_id, occurred_at, event_id)
"""

TOUCHPOINT_COLUMNS = ["event_id", "customer_id", "department", "channel", "amount", "occurred_at"]
T0 = datetime(2024, 3, 1, 9, 0, 0)


def touchpoint(n: int, customer: str, department: str, channel: str, amount: str) -> tuple[Any, ...]:
    return (f"e{n}", customer, department, channel, Decimal(amount), T0 + timedelta(minutes=n))


TOUCHPOINTS = [
    touchpoint(1, "c1", "sales", "email", "10.50"),
    touchpoint(2, "c1", "support", "phone", "0.00"),
    touchpoint(3, "c2", "sales", "web", "99.99"),
    touchpoint(4, "c1", "sales", "web", "1.25"),
    touchpoint(5, "c3", "marketing", "email", "-3.10"),
]


class ReadStoreContract:
    """Cases every :class:`AbstractReadStore` must pass. Subclasses implement :meth:`create_store`."""

    store: AbstractReadStore

    def create_store(self, request: pytest.FixtureRequest, database: str) -> AbstractReadStore:
        raise NotImplementedError

    @pytest.fixture(autouse=True)
    def _open_store(self, request: pytest.FixtureRequest, unique_name: str) -> Iterator[None]:
        self.store = self.create_store(request, unique_name)
        try:
            yield
        finally:
            self.store.close()
            # A fresh store drops the database, so a test may close (or break) its own store.
            with self.create_store(request, unique_name) as cleanup:
                cleanup.execute(f"DROP DATABASE IF EXISTS {unique_name}")

    # --- the engines' table machinery ---------------------------------------------------------------

    def test_replacing_merge_tree_final_keeps_latest_version_per_key(self) -> None:
        store = self.store
        store.execute(PROFILE_DDL)
        columns = ["customer_id", "name", "email", "version"]
        batch = [
            ("c1", "Ada", None, 1),
            ("c1", "Ada Lovelace", "ada@example.com", 2),
            ("c2", "Bob", "bob@example.com", 1),
        ]
        assert store.insert_rows("profile", columns, batch) == 3
        # A retry re-inserts the same batch; a late, older version arrives after the newer one.
        assert store.insert_rows("profile", columns, batch) == 3
        assert store.insert_rows("profile", columns, [("c1", "Ada (stale)", None, 1)]) == 1

        expected = [("c1", "Ada Lovelace", "ada@example.com", 2), ("c2", "Bob", "bob@example.com", 1)]
        latest = "SELECT customer_id, name, email, version FROM profile FINAL ORDER BY customer_id"
        assert store.query(latest) == expected
        assert store.query("SELECT count() FROM profile FINAL") == [(2,)]
        # argMax gives the same answer without FINAL; after a forced merge the plain table does too.
        arg_max = (
            "SELECT customer_id, argMax(name, version), argMax(email, version), max(version) "
            "FROM profile GROUP BY customer_id ORDER BY customer_id"
        )
        assert store.query(arg_max) == expected
        store.execute("OPTIMIZE TABLE profile FINAL")
        assert store.query("SELECT customer_id, name, email, version FROM profile ORDER BY customer_id") == (
            expected
        )

    def test_aggregating_merge_tree_fed_by_materialized_view(self) -> None:
        store = self.store
        store.execute(TOUCHPOINTS_DDL)
        store.execute(
            "CREATE TABLE department_stats (department String, touches AggregateFunction(count), "
            "amount AggregateFunction(sum, Decimal(18, 2))) "
            "ENGINE = AggregatingMergeTree ORDER BY department"
        )
        store.execute(
            "CREATE MATERIALIZED VIEW department_stats_mv TO department_stats AS "
            "SELECT department, countState() AS touches, sumState(amount) AS amount "
            "FROM touchpoints GROUP BY department"
        )
        # Two inserts, two parts: the -Merge combinators must fold the partial states.
        store.insert_rows("touchpoints", TOUCHPOINT_COLUMNS, TOUCHPOINTS[:3])
        store.insert_rows("touchpoints", TOUCHPOINT_COLUMNS, TOUCHPOINTS[3:])
        rows = store.query(
            "SELECT department, countMerge(touches), sumMerge(amount) FROM department_stats "
            "GROUP BY department ORDER BY department"
        )
        assert rows == [
            ("marketing", 1, Decimal("-3.10")),
            ("sales", 3, Decimal("111.74")),
            ("support", 1, Decimal("0.00")),
        ]

    def test_limit_by_picks_latest_touch_per_customer(self) -> None:
        store = self.store
        store.execute(TOUCHPOINTS_DDL)
        store.insert_rows("touchpoints", TOUCHPOINT_COLUMNS, TOUCHPOINTS)
        rows = store.query(
            "SELECT customer_id, channel, occurred_at FROM touchpoints "
            "ORDER BY customer_id, occurred_at DESC LIMIT 1 BY customer_id"
        )
        assert rows == [
            ("c1", "web", T0 + timedelta(minutes=4)),
            ("c2", "web", T0 + timedelta(minutes=3)),
            ("c3", "email", T0 + timedelta(minutes=5)),
        ]

    def test_join_on(self) -> None:
        store = self.store
        store.execute(TOUCHPOINTS_DDL)
        store.execute(PROFILE_DDL)
        store.insert_rows("touchpoints", TOUCHPOINT_COLUMNS, TOUCHPOINTS)
        store.insert_rows(
            "profile",
            ["customer_id", "name", "email", "version"],
            [("c1", "Ada", None, 1), ("c2", "Bob", "bob@example.com", 1)],
        )
        # Never select the right table's ON key: 18.16 returns garbage for it or crashes (docs).
        inner = store.query(
            "SELECT t.event_id, t.customer_id, p.name FROM touchpoints AS t "
            "INNER JOIN profile AS p ON t.customer_id = p.customer_id ORDER BY t.event_id"
        )
        assert inner == [("e1", "c1", "Ada"), ("e2", "c1", "Ada"), ("e3", "c2", "Bob"), ("e4", "c1", "Ada")]
        left = store.query(
            "SELECT t.event_id, p.name FROM touchpoints AS t "
            "LEFT JOIN profile AS p ON t.customer_id = p.customer_id "
            "WHERE t.customer_id = %(customer)s ORDER BY t.event_id",
            {"customer": "c3"},
        )
        # join_use_nulls = 0 on both engines: an unmatched right column is its type's default.
        assert left == [("e5", "")]

    def test_alter_delete_mutation(self) -> None:
        store = self.store
        store.execute(TOUCHPOINTS_DDL)
        store.insert_rows("touchpoints", TOUCHPOINT_COLUMNS, TOUCHPOINTS)
        store.execute("ALTER TABLE touchpoints DELETE WHERE customer_id = %(customer)s", {"customer": "c1"})
        store.wait_for_mutations("touchpoints")
        assert store.query("SELECT event_id FROM touchpoints ORDER BY event_id") == [("e3",), ("e5",)]

    # --- values round-trip exactly ------------------------------------------------------------------

    def test_hostile_strings_round_trip_as_data_and_as_parameters(self) -> None:
        store = self.store
        store.execute("CREATE TABLE texts (id UInt32, s String) ENGINE = MergeTree ORDER BY id")
        rows = list(enumerate(HOSTILE_STRINGS))
        assert store.insert_rows("texts", ["id", "s"], rows) == len(rows)
        assert store.query("SELECT id, s FROM texts ORDER BY id") == rows
        for i, s in rows:
            assert store.query("SELECT id FROM texts WHERE s = %(s)s", {"s": s}) == [(i,)]
            assert store.query("SELECT %(s)s, length(%(s)s)", {"s": s}) == [(s, len(s.encode()))]
        assert store.query("SELECT count() FROM texts") == [(len(rows),)]

    def test_long_value_lists_answer_as_short_ones(self) -> None:
        """`query_chunked`: any number of values (the server's are sent as a table of the query, not
        as SQL text), hostile ones included, with other parameters beside them."""
        store = self.store
        store.execute("CREATE TABLE listed (id UInt32, s String) ENGINE = MergeTree ORDER BY s")
        rows = [(i, f"id-{i}") for i in range(5_000)] + [
            (9_000 + i, s) for i, s in enumerate(HOSTILE_STRINGS)
        ]
        store.insert_rows("listed", ["id", "s"], rows)
        wanted = [s for _, s in rows[::2]] + [f"absent-{i}" for i in range(3_000)]
        found = store.query_chunked(
            "SELECT id, s FROM listed WHERE s IN %(ids)s AND id >= %(least)s ORDER BY id",
            "ids",
            wanted,
            {"least": 1},
        )
        assert found == [row for row in rows[::2] if row[0] >= 1]
        assert store.query_chunked("SELECT s FROM listed WHERE s IN %(ids)s", "ids", []) == []
        numbers = "SELECT number FROM numbers(10) WHERE number IN %(ids)s ORDER BY number"
        assert store.query_chunked(numbers, "ids", [3, 1]) == [(1,), (3,)]

    def test_any_text_round_trips(self) -> None:
        store = self.store
        store.execute("CREATE TABLE any_text (s String) ENGINE = MergeTree ORDER BY tuple()")

        # Hypothesis runs inside the test so each engine's subclass drives its own property.
        @settings(max_examples=40, deadline=None)
        @given(text=st.text(st.characters(codec="utf-8"), max_size=40))
        def round_trips(text: str) -> None:
            store.execute("TRUNCATE TABLE any_text")
            store.insert_rows("any_text", ["s"], [(text,)])
            assert store.query("SELECT s FROM any_text") == [(text,)]
            assert store.query("SELECT count() FROM any_text WHERE s = %(s)s", {"s": text}) == [(1,)]

        round_trips()

    def test_any_texts_are_found_by_their_list(self) -> None:
        """`query_chunked` finds any strings as they are: quotes, backslashes, control characters,
        emoji (the embedded engine writes them into one parameter's text, the server into a table)."""
        store = self.store
        store.execute("CREATE TABLE listed_text (s String) ENGINE = MergeTree ORDER BY s")

        syntax = st.sampled_from(["'", "\\", '"', "[", "]", ",", "\n", "\x00", "{", "}"])
        text = st.text(st.one_of(syntax, st.characters(codec="utf-8")), max_size=12)

        @settings(max_examples=30, deadline=None)
        @given(texts=st.lists(text, min_size=1, max_size=6))
        def found(texts: list[str]) -> None:
            store.execute("TRUNCATE TABLE listed_text")
            stored, absent = texts[::2], [t for t in texts[1::2] if t not in texts[::2]]
            store.insert_rows("listed_text", ["s"], [(t,) for t in stored])
            rows = store.query_chunked("SELECT DISTINCT s FROM listed_text WHERE s IN %(ids)s", "ids", texts)
            assert sorted(r[0] for r in rows) == sorted(set(stored))
            assert not {r[0] for r in rows} & set(absent)

        found()

    def test_string_values_go_as_one_statement(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Not as `in_chunk`-long SQL lists (`query`) however many: chDB takes them as one query
        parameter, the server as a table of the query; other parameters beside them."""

        def refused(sql: str, params: object = None) -> list[tuple[Any, ...]]:
            raise AssertionError(f"asked as SQL text: {sql}")

        monkeypatch.setattr(self.store, "query", refused)
        ids = [str(n) for n in range(10_000)]
        sql = "SELECT count() FROM numbers(20000) WHERE toString(number) IN %(ids)s AND number < %(top)s"
        assert self.store.query_chunked(sql, "ids", ids, {"top": 5_000}) == [(5_000,)]

    def test_datetime_and_date_round_trip(self) -> None:
        store = self.store
        store.execute("CREATE TABLE times (id UInt8, at DateTime, day Date) ENGINE = MergeTree ORDER BY id")
        values = [
            (1, datetime(1970, 1, 1, 0, 0, 0), date(1970, 1, 1)),
            (2, datetime(2024, 2, 29, 23, 59, 59), date(2024, 2, 29)),
            (3, datetime(2038, 1, 19, 3, 14, 8), date(2038, 1, 19)),
            (4, datetime(2100, 12, 31, 12, 0, 0), date(2100, 12, 31)),
        ]
        store.insert_rows("times", ["id", "at", "day"], values)
        # An aware datetime is stored as its UTC instant and read back naive UTC.
        aware = datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=2)))
        store.insert_rows("times", ["id", "at", "day"], [(5, aware, date(2024, 6, 1))])
        got = store.query("SELECT id, at, day FROM times ORDER BY id")
        assert got == [*values, (5, datetime(2024, 6, 1, 10, 0, 0), date(2024, 6, 1))]
        assert all(at.tzinfo is None for _, at, _ in got)
        assert store.query(
            "SELECT id FROM times WHERE at = %(at)s AND day = %(day)s",
            {"at": datetime(2024, 2, 29, 23, 59, 59), "day": date(2024, 2, 29)},
        ) == [(2,)]
        assert store.query("SELECT id FROM times WHERE at = %(at)s", {"at": aware}) == [(5,)]
        assert store.query("SELECT toUnixTimestamp(at) FROM times WHERE id = 2") == [
            (int(datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC).timestamp()),)
        ]

    def test_decimal_round_trip(self) -> None:
        store = self.store
        store.execute("CREATE TABLE money (id UInt8, amount Decimal(18, 2)) ENGINE = MergeTree ORDER BY id")
        amounts = [
            Decimal("0"),
            Decimal("0.01"),
            Decimal("-0.01"),
            Decimal("10.50"),
            Decimal("1234567890123456.78"),
            Decimal("-9999999999999999.99"),
        ]
        store.insert_rows("money", ["id", "amount"], list(enumerate(amounts)))
        got = store.query("SELECT id, amount FROM money ORDER BY id")
        assert got == list(enumerate(amounts))
        assert all(isinstance(a, Decimal) for _, a in got)
        assert store.query("SELECT sum(amount) FROM money WHERE id < 4") == [(Decimal("10.50"),)]
        # 18.16 cannot compare Decimal with a Float64 literal: pass decimals as text, cast in SQL.
        assert store.query(
            "SELECT id FROM money WHERE amount = toDecimal64(%(a)s, 2)", {"a": str(Decimal("10.50"))}
        ) == [(3,)]

    def test_nullable_round_trip(self) -> None:
        store = self.store
        store.execute(
            "CREATE TABLE maybe (id UInt8, s Nullable(String), n Nullable(Int64)) "
            "ENGINE = MergeTree ORDER BY id"
        )
        rows = [(1, None, None), (2, "", 0), (3, "NULL", -(2**63)), (4, "\\N", 2**63 - 1)]
        store.insert_rows("maybe", ["id", "s", "n"], rows)
        assert store.query("SELECT id, s, n FROM maybe ORDER BY id") == rows
        assert store.query("SELECT id FROM maybe WHERE s IS NULL") == [(1,)]
        assert store.query("SELECT count() FROM maybe WHERE n IS NOT NULL") == [(3,)]

    def test_float_specials_round_trip(self) -> None:
        """NaN and the infinities stay themselves (a JSON writer would turn them into null), beside a null
        of a Nullable column and a string that reads "null"."""
        store = self.store
        store.execute(
            "CREATE TABLE measured (id UInt8, x Float64, xs Array(Float64), maybe Nullable(Float64), "
            "label String) ENGINE = MergeTree ORDER BY id"
        )
        inf = float("inf")
        rows = [
            (1, 1.5, [0.25, -2.0], None, "null"),
            (2, float("nan"), [], 3.0, ""),
            (3, inf, [inf, float("nan")], -inf, "x"),
            (4, -inf, [1.0], float("nan"), "null and more"),
        ]
        store.insert_rows("measured", ["id", "x", "xs", "maybe", "label"], rows)
        got = store.query(
            "SELECT id, toString(x), arrayMap(v -> toString(v), xs), toString(maybe), label "
            "FROM measured ORDER BY id"
        )
        assert got == [
            (1, "1.5", ["0.25", "-2"], None, "null"),
            (2, "nan", [], "3", ""),
            (3, "inf", ["inf", "nan"], "-inf", "x"),
            (4, "-inf", ["1"], "nan", "null and more"),
        ]

    def test_array_of_strings_round_trip(self) -> None:
        store = self.store
        store.execute("CREATE TABLE tagged (id UInt8, tags Array(String)) ENGINE = MergeTree ORDER BY id")
        rows = [(1, []), (2, ["vip"]), (3, HOSTILE_STRINGS)]
        store.insert_rows("tagged", ["id", "tags"], rows)
        assert store.query("SELECT id, tags FROM tagged ORDER BY id") == [(i, list(t)) for i, t in rows]
        hostile = "'); DROP TABLE x; --"
        assert store.query("SELECT id FROM tagged WHERE has(tags, %(t)s) ORDER BY id", {"t": hostile}) == [
            (3,)
        ]
        assert store.query("SELECT length(tags) FROM tagged ORDER BY id") == [
            (0,),
            (1,),
            (len(HOSTILE_STRINGS),),
        ]

    # --- the port's own behaviour -------------------------------------------------------------------

    def test_inserts_in_batches_from_any_iterable(self) -> None:
        store = self.store
        store.execute("CREATE TABLE numbers (n UInt32) ENGINE = MergeTree ORDER BY n")
        store.batch_size = 3
        assert store.insert_rows("numbers", ["n"], ((i,) for i in range(10))) == 10
        assert store.insert_rows("numbers", ["n"], []) == 0
        assert store.query("SELECT count(), sum(n) FROM numbers") == [(10, 45)]

    def test_an_insert_follows_a_table_changed_since_the_last(self) -> None:
        store = self.store
        store.execute("CREATE TABLE changing (a String) ENGINE = MergeTree ORDER BY a")
        store.insert_rows("changing", ["a"], [("x",)])
        store.execute("ALTER TABLE changing ADD COLUMN b Nullable(String)")
        store.insert_rows("changing", ["a", "b"], [("y", None)])
        store.execute("DROP TABLE changing")
        store.execute("CREATE TABLE changing (a String, b String) ENGINE = MergeTree ORDER BY a")
        with pytest.raises(ReadStoreError):  # b is not Nullable any more
            store.insert_rows("changing", ["a", "b"], [("z", None)])
        assert store.query("SELECT count() FROM changing") == [(0,)]

    def test_query_with_columns_names_and_types(self) -> None:
        columns, rows = self.store.query_with_columns(
            "SELECT toUInt8(1) AS one, 'x' AS letter, toDecimal64('2.50', 2) AS price"
        )
        assert columns == [("one", "UInt8"), ("letter", "String"), ("price", "Decimal(18, 2)")]
        assert rows == [(1, "x", Decimal("2.50"))]

    def test_errors_are_wrapped_and_store_stays_usable(self) -> None:
        store = self.store
        with pytest.raises(ReadStoreError) as caught:
            store.query("SELECT no_such_column\nFROM system.one")
        assert caught.value.sql_first_line == "SELECT no_such_column"
        assert "SELECT no_such_column" in str(caught.value)
        with pytest.raises(ReadStoreError):
            store.execute("CREATE TABLE broken (")
        store.execute("CREATE TABLE ok (n UInt8) ENGINE = MergeTree ORDER BY n")
        with pytest.raises(ReadStoreError):
            store.insert_rows("ok", ["n"], [(None,)])
        with pytest.raises(ValueError, match="identifier"):
            store.insert_rows("ok; DROP TABLE ok", ["n"], [(1,)])
        assert store.query("SELECT 1") == [(1,)]

    def test_close_is_idempotent_and_final(self) -> None:
        store = self.store
        store.close()
        store.close()
        with pytest.raises(ReadStoreError, match="closed"):
            store.query("SELECT 1")


@pytest.fixture(scope="module")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One chDB data path for the whole module: chDB binds one path per process (see ChDBStore)."""
    return tmp_path_factory.mktemp("chdb")


def test_a_chdb_data_folder_with_a_question_mark_is_refused_with_the_fix(tmp_path: Path) -> None:
    # chDB reads '?' as the start of its connection settings: the data would go to `tmp_path / "data"`.
    folder = tmp_path / "data?x"
    with pytest.raises(ReadStoreError, match=r"holds a '\?'.*choose a folder without '\?'"):
        ChDBStore(str(folder))
    assert not (tmp_path / "data").exists()
    assert not folder.exists()


class TestChDBStore(ReadStoreContract):
    def create_store(self, request: pytest.FixtureRequest, database: str) -> AbstractReadStore:
        path: Path = request.getfixturevalue("chdb_path")
        return ChDBStore(str(path), database=database)

    def test_column_types_are_asked_once_until_any_store_changes_a_table(
        self, request: pytest.FixtureRequest, unique_name: str
    ) -> None:
        """insert_rows checks rows against the columns' types; asked once per table, not per insert, and
        again after a statement through any store of the process (they share chDB's one engine)."""
        store = self.store
        store.execute("CREATE TABLE asked (a String) ENGINE = MergeTree ORDER BY a")
        asked: list[str] = []
        run = store._run  # type: ignore[attr-defined]

        def counting(sql: str, fmt: str, params: object = None) -> bytes:
            if "system.columns" in sql:
                asked.append(sql)
            return run(sql, fmt, params)  # type: ignore[no-any-return]

        store._run = counting  # type: ignore[attr-defined]
        store.insert_rows("asked", ["a"], [("x",)])
        store.insert_rows("asked", ["a"], [("y",)])
        assert len(asked) == 1
        with self.create_store(request, unique_name) as other:
            other.execute("DROP TABLE asked")
            other.execute("CREATE TABLE asked (a String, b String) ENGINE = MergeTree ORDER BY a")
        with pytest.raises(ReadStoreError, match="non-Nullable"):
            store.insert_rows("asked", ["a", "b"], [("z", None)])
        assert len(asked) == 2


@pytest.mark.integration
class TestClickHouseServerStore(ReadStoreContract):
    def create_store(self, request: pytest.FixtureRequest, database: str) -> AbstractReadStore:
        host, port = request.getfixturevalue("clickhouse_endpoint")
        return ClickHouseServerStore(host, port, database, create_database=True)

    def test_same_results_as_chdb(self, chdb_path: Path, unique_name: str) -> None:
        """One projection script, both engines, equal answers (column names and types included)."""
        statements = [
            TOUCHPOINTS_DDL,
            PROFILE_DDL,
            "CREATE TABLE daily (day Date, department String, touches AggregateFunction(count), "
            "amount AggregateFunction(sum, Decimal(18, 2))) "
            "ENGINE = AggregatingMergeTree ORDER BY (day, department)",
            "CREATE MATERIALIZED VIEW daily_mv TO daily AS SELECT toDate(occurred_at) AS day, department, "
            "countState() AS touches, sumState(amount) AS amount FROM touchpoints GROUP BY day, department",
        ]
        profiles = [
            ("c1", "Ada", None, 1),
            ("c1", "Ada L.", "ada@example.com", 3),
            ("c2", "Bob", "b'o\\b@example.com", 2),
            ("c3", "Zoë 😀", None, 1),
        ]
        queries = [
            "SELECT customer_id, name, email, version FROM profile FINAL ORDER BY customer_id",
            "SELECT day, department, countMerge(touches) AS touches, sumMerge(amount) AS amount "
            "FROM daily GROUP BY day, department ORDER BY day, department",
            "SELECT customer_id, channel, occurred_at FROM touchpoints "
            "ORDER BY customer_id, occurred_at DESC LIMIT 1 BY customer_id",
            "SELECT t.event_id, p.name, t.amount FROM touchpoints AS t "
            "INNER JOIN (SELECT customer_id, name FROM profile FINAL) AS p ON t.customer_id = p.customer_id "
            "ORDER BY t.event_id",
            "SELECT customer_id, groupArray(channel) AS channels, sum(amount) AS total, "
            "min(occurred_at) AS first_seen, uniqExact(department) AS departments "
            "FROM (SELECT * FROM touchpoints ORDER BY occurred_at) GROUP BY customer_id ORDER BY customer_id",
            "SELECT event_id FROM touchpoints WHERE occurred_at >= %(since)s AND channel IN %(channels)s "
            "ORDER BY event_id",
        ]
        params: dict[str, Any] = {"since": T0 + timedelta(minutes=2), "channels": ("web", "email")}

        def run(store: AbstractReadStore) -> list[tuple[Any, ...]]:
            for sql in statements:
                store.execute(sql)
            store.insert_rows("touchpoints", TOUCHPOINT_COLUMNS, TOUCHPOINTS)
            store.insert_rows("profile", ["customer_id", "name", "email", "version"], profiles)
            store.insert_rows("profile", ["customer_id", "name", "email", "version"], profiles[:2])
            store.execute("ALTER TABLE touchpoints DELETE WHERE event_id = %(e)s", {"e": "e2"})
            store.wait_for_mutations("touchpoints")
            return [store.query_with_columns(sql, params) for sql in queries]

        server_results = run(self.store)
        with ChDBStore(str(chdb_path), database=unique_name) as embedded:
            try:
                embedded_results = run(embedded)
            finally:
                embedded.execute(f"DROP DATABASE IF EXISTS {unique_name}")
        for sql, server, embedded_result in zip(queries, server_results, embedded_results, strict=True):
            assert server == embedded_result, sql
        assert server_results[0][1][0] == ("c1", "Ada L.", "ada@example.com", 3)


del ReadStoreContract
