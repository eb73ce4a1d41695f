"""Running the production topology in tests: a real Faust worker and relay as child processes against
fresh topics (a unique prefix), a fresh ClickHouse database and a fresh PostgreSQL database, and checking
what they built against the plain-Python oracle (tests/unit/test_read_models_oracle.py).

Used by tests/integration/test_pipeline_e2e.py (one clean run) and tests/faults/test_fault_*.py (the same
run with a fault injected while events stream in):

- `pipeline_stack(...)`: topics, databases and the worker's environment; everything dropped afterwards.
- `Processes`: workers and relays as children in their own sessions; killed at teardown whatever happened.
- `SteadyPublisher`: the generator's events through the Python publisher at a steady rate, on a thread,
  re-sending what the log did not acknowledge (same event ids) until it does.
- `worker_resolution`, `survivors`, `oracle_dataset`: who-is-who as the worker resolved it (read back from
  `touchpoints.resolved`) and as the master record merged it, so the oracle counts under the same ids.
- `assert_views_equal_oracle`, `assert_360_equals_oracle`: every departmental view and the 360 view.
- `kcat`, `consumer_lag`: the wire read by librdkafka, and a consumer group's lag per topic.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import types
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from dedicated_servers import unavailable
from psycopg import sql
from unit.test_read_models_oracle import (
    BAD_RECORDS,
    QUERIES,
    Dataset,
    as_dicts,
    oracle_360,
    oracle_attribution,
    oracle_campaigns,
    oracle_complaints,
    oracle_csat,
    oracle_data_quality,
    oracle_forecast,
    oracle_nps,
    oracle_pipeline,
    oracle_sla_summary,
    oracle_tickets,
    oracle_transitions,
)

from touchstream.adapters.logs import topics
from touchstream.adapters.logs.kafka_log import KafkaEventLog
from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.sdk.publisher import Publisher, PublishError
from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate_with_truth
from touchstream.events import Event, parse_event
from touchstream.projections.merges import CONTACT_MERGES_TABLE
from touchstream.projections.migrations import ANONYMOUS_MERGED
from touchstream.streams import topology
from touchstream.streams.ports import ReadStoreError

KCAT_FORMAT = ("-f", "%p\t%o\t%k\t%s\n")
#: The touches the 360 rows of people count: every event once, once projected. An anonymous caller's contact
#: merged into its person counts its calls too, which its person's row holds since they were handed over
#: (docs/identity.md, rule 5); it is left out, as the views leave it out.
PEOPLES_TOUCHES = (
    f"(SELECT sum(touches) FROM customer_360 FINAL WHERE contact_id GLOBAL NOT IN {ANONYMOUS_MERGED})"
)
WORKER_GROUP = "touchstream-worker"  # streams/faust_app.py's DEFAULT_WORKER_ID, after the prefix
#: The topics the worker consumes (its consumer group's lag is measured on these).
CONSUMED = (topology.RAW, topology.RESOLVED, topology.MASTERDATA_MERGES, topology.DLQ)

Record = tuple[int, int, str, bytes]  # partition, offset, key, value


def kcat(bootstrap: str, topic: str) -> list[Record]:
    """(partition, offset, key, value) of every record, read by librdkafka: a client independent of ours."""
    found = shutil.which("kcat")
    if found is None:
        unavailable("kcat is missing: `deploy/local/services up kafka` installs it")
    done = subprocess.run(
        [found, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", *KCAT_FORMAT],
        capture_output=True,
        timeout=60,
        check=True,
    )
    out = []
    for line in done.stdout.splitlines():
        partition, offset, key, value = line.split(b"\t", 3)
        out.append((int(partition), int(offset), key.decode(), value))
    return out


class Processes:
    """Child processes, each in its own session; always stopped (TERM, then KILL) at teardown.

    Each name has one log file (`<name>.log` in `folder`), appended to across restarts. A process killed on
    purpose (`kill`) is no longer expected to be alive."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.gone: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("ab") as output:
            child = subprocess.Popen(
                argv, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.children.append((name, child))
        return child

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal the live process `name` (its whole session) and wait until it is gone."""
        for entry in list(self.children):
            if entry[0] == name and entry[1].poll() is None:
                os.killpg(entry[1].pid, sig)
                entry[1].wait(timeout=30)
                self.children.remove(entry)
                self.gone.append(entry)
                return
        raise AssertionError(f"no live process named {name}")

    def check_alive(self) -> None:
        for name, child in self.children:
            if child.poll() is not None:
                raise AssertionError(f"{name} exited {child.returncode}:\n{self.tail(name)}")

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tail(self, name: str, lines: int = 40) -> str:
        return "\n".join(self.log(name).splitlines()[-lines:])

    def stop_all(self) -> None:
        for _, child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for _, child in self.children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)  # its own session: the worker and anything it forked
                child.wait(timeout=10)
        for _, child in self.children + self.gone:  # anything a killed process forked, too
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
        self.gone.extend(self.children)
        self.children = []


def wait_for(
    what: str,
    condition: Callable[[], tuple[bool, Any]],
    processes: Processes,
    timeout: float,
    log_name: str = "worker",
) -> None:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        processes.check_alive()
        ok, last = condition()
        if ok:
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last})\n{processes.tail(log_name)}")


def publish_through_gateway(url: str, keys: dict[str, str], raw: list[dict[str, Any]]) -> int:
    """Post the events in generation order, each run of one source as one batch (one key per source)."""

    async def go() -> int:
        accepted = 0
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            start = 0
            while start < len(raw):
                end = start
                while end < len(raw) and raw[end]["source"] == raw[start]["source"] and end - start < 500:
                    end += 1
                headers = {"Authorization": f"Bearer {keys[raw[start]['source']]}"}
                response = await client.post(
                    "/v1/events", content=orjson.dumps(raw[start:end]), headers=headers
                )
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["accepted"] == end - start, body
                accepted += body["accepted"]
                start = end
        return accepted

    return asyncio.run(go())


# --- one isolated pipeline: topics, databases, environment --------------------------------------------------


@dataclass
class Stack:
    name: str  # the ClickHouse and PostgreSQL database name; the topic prefix is name + "_"
    bootstrap: str
    clickhouse: tuple[str, int]
    postgres: tuple[str, int, str]
    folder: Path
    server: ClickHouseServerStore  # the test's own client of the read store

    @property
    def prefix(self) -> str:
        return self.name + "_"

    @property
    def group(self) -> str:
        return self.prefix + WORKER_GROUP

    @property
    def pg_url(self) -> str:
        host, port, user = self.postgres
        return f"postgresql://{user}@{host}:{port}/{self.name}"

    def topic(self, base: str) -> str:
        return topology.topic_name(base, self.prefix)

    def env(self, **extra: str) -> dict[str, str]:
        """The worker's and the relay's environment (docs/worker.md)."""
        ch_host, ch_port = self.clickhouse
        return {
            **os.environ,
            "TOUCHSTREAM_MODE": "production",
            "TOUCHSTREAM_KAFKA_BOOTSTRAP": self.bootstrap,
            "TOUCHSTREAM_TOPIC_PREFIX": self.prefix,
            "TOUCHSTREAM_CLICKHOUSE_HOST": ch_host,
            "TOUCHSTREAM_CLICKHOUSE_PORT": str(ch_port),
            "TOUCHSTREAM_CLICKHOUSE_DATABASE": self.name,
            "TOUCHSTREAM_MASTER_RECORD_URL": self.pg_url,
            "TOUCHSTREAM_DATA_DIR": str(self.folder / "data"),
            "TOUCHSTREAM_WORKER_BATCH_WITHIN": "0.2",
            **extra,
        }


def worker_argv(loglevel: str = "warn") -> list[str]:
    return [sys.executable, "-m", "touchstream.adapters.cli.worker", "-l", loglevel]


def relay_argv() -> list[str]:
    return [sys.executable, "-m", "touchstream.adapters.cli.relay"]


def _pg_admin(postgres: tuple[str, int, str]) -> psycopg.Connection[Any]:
    host, port, user = postgres
    return psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True)


def delete_topics(bootstrap: str, prefix: str) -> None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    try:
        mine = [t for t in admin.list_topics() if t.startswith(prefix)]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()


@contextlib.contextmanager
def pipeline_stack(
    bootstrap: str,
    clickhouse: tuple[str, int],
    postgres: tuple[str, int, str],
    folder: Path,
    tag: str = "p",
) -> Iterator[Stack]:
    """Fresh topics, ClickHouse database and PostgreSQL database; all dropped afterwards (best effort:
    a dedicated server may be gone by then, and its purge removes everything anyway)."""
    name = f"t_{tag}_" + uuid.uuid4().hex[:10]
    topics.create_topics(bootstrap, prefix=name + "_")
    with _pg_admin(postgres) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    server = ClickHouseServerStore(clickhouse[0], clickhouse[1], name, create_database=True)
    try:
        yield Stack(name, bootstrap, clickhouse, postgres, folder, server)
    finally:
        with contextlib.suppress(Exception):
            server.execute(f"DROP DATABASE IF EXISTS {name}")
        server.close()
        with contextlib.suppress(Exception), _pg_admin(postgres) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        with contextlib.suppress(Exception):
            delete_topics(bootstrap, name + "_")


# --- a steady stream of events ------------------------------------------------------------------------------


@dataclass
class SteadyPublisher:
    """Publishes `raw` through the Python publisher at about `rate` events/s, `chunk` events per flush, on
    a thread. What the log did not acknowledge is re-sent (same event ids) until it is, as a producer
    should; `accepted` holds every acknowledged event id, `failures` why a flush failed."""

    bootstrap: str
    topic: str
    raw: list[dict[str, Any]]
    rate: float = 150.0
    chunk: int = 15
    give_up_s: float = 180.0
    accepted: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    error: BaseException | None = None
    _thread: threading.Thread | None = None

    @property
    def published(self) -> int:
        return len(self.accepted)

    def start(self) -> SteadyPublisher:
        self._thread = threading.Thread(target=self._run, name="steady-publisher", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            publisher = Publisher.for_kafka(self.bootstrap, self.topic, timeout_s=5.0, batch_size=10_000)
            try:
                began = time.monotonic()
                for start in range(0, len(self.raw), self.chunk):
                    self._publish(publisher, self.raw[start : start + self.chunk])
                    ahead = began + (start + self.chunk) / self.rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
            finally:
                with contextlib.suppress(Exception):
                    publisher.close()
        except BaseException as exc:  # reported by join()
            self.error = exc

    def _publish(self, publisher: Publisher, chunk: list[dict[str, Any]]) -> None:
        pending: list[Any] = list(chunk)
        deadline = time.monotonic() + self.give_up_s
        while pending:
            publisher.send_all(pending)
            try:
                receipts = publisher.flush()
            except PublishError as exc:
                self.failures.append(str(exc.cause))
                self.accepted.extend(str(r.event_id) for r in exc.acknowledged)
                pending = list(exc.unacknowledged)
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
                continue
            self.accepted.extend(str(r.event_id) for r in receipts)
            pending = []

    def join(self, timeout: float) -> None:
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the publisher did not finish within {timeout}s"
        if self.error is not None:
            raise AssertionError(f"the publisher failed: {self.error!r}") from self.error


# --- who is who, as the worker and the master record say --------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    records: list[Record]  # touchpoints.resolved as kcat read it (a retried batch may repeat an event)
    first_contact: dict[str, str]  # event id -> the contact id the worker resolved it to (before merges)
    accounts: dict[str, str]  # event id -> account id ("" for none)


def worker_resolution(bootstrap: str, topic: str) -> Resolution:
    records = kcat(bootstrap, topic)
    first_contact: dict[str, str] = {}
    accounts: dict[str, str] = {}
    for _p, _o, _k, value in records:
        item = orjson.loads(value)
        first_contact.setdefault(item["event"]["event_id"], item["contact_id"] or "")
        accounts.setdefault(item["event"]["event_id"], item["account_id"] or "")
    return Resolution(records, first_contact, accounts)


def survivors(pg_url: str, contacts: set[str]) -> dict[str, str]:
    """Each contact id -> the contact it lives on as (itself unless merged), as the master record says."""
    master = MasterRecord.from_url(pg_url)
    try:
        return {c: str(master.contact(uuid.UUID(c)).id) for c in contacts if c}
    finally:
        master.close()


def merges_projected(
    server: ClickHouseServerStore, pg_url: str, contacts: set[str]
) -> Callable[[], tuple[bool, Any]]:
    """A wait_for condition: contact_merges (active rows) equals the master record's merges among
    `contacts` (those the worker resolved events to) and every contact contact_merges names. (A worker
    killed mid-batch resolves the batch again; by then an event's first contact may have been merged, so
    the event goes to the survivor and the merged contact never appears on `touchpoints.resolved`.)"""
    known = survivors(pg_url, contacts)

    def condition() -> tuple[bool, Any]:
        sql_text = f"SELECT merged_id, survivor_id FROM {CONTACT_MERGES_TABLE} FINAL WHERE active = 1"
        found = dict(server.query(sql_text))
        if set(found) - set(known):
            known.update(survivors(pg_url, set(found) - set(known)))
        merged = {c: s for c, s in known.items() if c != s}
        differ = {
            k: (found.get(k), merged.get(k))
            for k in set(found) | set(merged)
            if found.get(k) != merged.get(k)
        }
        return not differ, f"{len(found)} rows; (projected, master record) where they differ: {differ}"

    return condition


def oracle_dataset(
    raw: list[dict[str, Any]], events: list[Event], resolution: Resolution, survivor: dict[str, str]
) -> Dataset:
    """The dataset the oracle recomputes from: the events, owned by the survivor of the contact the worker
    resolved each one to."""
    owners = {e: (survivor.get(c, c), resolution.accounts[e]) for e, c in resolution.first_contact.items()}
    return Dataset(raw, events, types.SimpleNamespace(events=owners))  # type: ignore[arg-type]


# --- the read models against the oracle ------------------------------------------------------------


def rows(server: ClickHouseServerStore, view: str) -> list[tuple[Any, ...]]:
    return server.query(QUERIES[view])


def assert_views_equal_oracle(server: ClickHouseServerStore, data: Dataset) -> None:
    """Every departmental view equals the oracle's recomputation from the same events."""
    assert rows(server, "sales_pipeline") in (
        oracle_pipeline(data, date.today()),
        oracle_pipeline(data, datetime.now(UTC).date()),
    )
    assert rows(server, "sales_stage_transitions") == oracle_transitions(data)
    assert rows(server, "sales_forecast") == oracle_forecast(data, date.today())
    assert rows(server, "campaign_engagement") == oracle_campaigns(data)
    assert rows(server, "campaign_attribution") == oracle_attribution(data)
    assert rows(server, "support_tickets") == oracle_tickets(data)
    assert rows(server, "support_sla_summary") == oracle_sla_summary(data)
    csat, expected_csat = rows(server, "csat_by_period"), oracle_csat(data)
    assert [(*r[:4], r[5]) for r in csat] == [(*r[:4], r[5]) for r in expected_csat]
    assert [r[4] for r in csat] == pytest.approx([r[4] for r in expected_csat])
    nps, expected_nps = rows(server, "nps_by_period"), oracle_nps(data)
    assert [r[:6] for r in nps] == [r[:6] for r in expected_nps]
    assert [r[6] for r in nps] == pytest.approx([r[6] for r in expected_nps])
    assert rows(server, "complaint_themes") == oracle_complaints(data)
    # data_quality counts contacts missing key fields per recorded contact, before merges (it reads
    # customer_360, not customer_360_current). Which record holds an event is the worker's to decide (after
    # a crash, a re-resolved copy may land on another partition and be the one applied), so the oracle takes
    # the recorded contact of each event from touchpoints and recounts the rest from the events themselves.
    recorded_contact = dict(server.query("SELECT event_id, contact_id FROM touchpoints FINAL"))
    recorded = {e: (recorded_contact[e], a) for e, (_, a) in data.truth.events.items()}
    before_merges = Dataset(data.raw, data.events, types.SimpleNamespace(events=recorded))  # type: ignore[arg-type]
    assert rows(server, "data_quality") == oracle_data_quality(before_merges, date.today())


def assert_360_equals_oracle(server: ClickHouseServerStore, data: Dataset) -> None:
    expected = oracle_360(data)
    got = {row["contact_id"]: row for row in as_dicts(server, "customer_360_current")}
    assert set(got) == set(expected)
    for contact_id, want in expected.items():
        found = {name: got[contact_id][name] for name in want}
        apart = {name: (found[name], want[name]) for name in want if found[name] != want[name]}
        assert not apart, f"{contact_id}: (found, expected) {apart}"


# --- the consumer group ----------------------------------------------------------------------


def consumer_lag(bootstrap: str, group: str, topic_names: list[str]) -> dict[str, int]:
    """Per topic: end offsets minus the group's committed offsets, summed over partitions (a partition
    the group never committed counts from 0)."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        committed = admin.list_group_offsets(group).get(group, {})
        lag: dict[str, int] = {}
        for name in topic_names:
            parts = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())]
            ends = consumer.end_offsets(parts)
            lag[name] = sum(int(ends[tp]) - (committed[tp].offset if tp in committed else 0) for tp in parts)
        return lag
    finally:
        consumer.close()
        admin.close()


# --- fault scenarios: a pipeline under a steady stream, checked end to end ----------------------------------

#: The worker's environment in the fault scenarios: a metrics line every 2 s (read back by `metrics`), and a
#: dead member leaves the consumer group after 10 s instead of Faust's 60 s (Faust reads these variables).
FAULT_WORKER_ENV = {
    "TOUCHSTREAM_WORKER_METRICS_EVERY": "2",
    "BROKER_SESSION_TIMEOUT": "10",
    "BROKER_REBALANCE_TIMEOUT": "10",
    "BROKER_HEARTBEAT_INTERVAL": "1",
}
_METRICS = re.compile(r"touchstream worker: (records=.*)$", re.MULTILINE)
_METRIC_FIELD = re.compile(r"(\w+)=(\{[^}]*\}|\d+)")


def metrics(log: str) -> list[dict[str, Any]]:
    """Every metrics line a worker logged (WorkerMetrics.summary(), see streams/faust_agents.py), parsed:
    {"records": {...}, "resolved": 12, "retries": {...}, "skipped": {...}, "rebalances": 2, ...}."""
    out = []
    for line in _METRICS.findall(log):
        out.append({k: ast.literal_eval(v) for k, v in _METRIC_FIELD.findall(line)})
    return out


#: A retry line of streams/faust_agents.py (`Pipeline._retrying`): effect, attempt, delay, reason.
_RETRY = re.compile(r"\[WARNING\] (.+?) failed \(attempt (\d+)\), retrying in ([\d.]+)s: (.+)$", re.MULTILINE)


def retries(log: str) -> list[tuple[str, int, float, str]]:
    """Every retry a worker logged: (effect, attempt, delay in s, reason)."""
    return [(e, int(a), float(d), r) for e, a, d, r in _RETRY.findall(log)]


def retry_delays(log: str) -> dict[str, list[float]]:
    """Per effect, the delays it backed off, in order."""
    out: dict[str, list[float]] = {}
    for effect, _attempt, delay, _reason in retries(log):
        out.setdefault(effect, []).append(delay)
    return out


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc (KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


@dataclass
class Outcome:
    """What a fault scenario saw once everything caught up (for the assertions and the report)."""

    events: int
    raw_records: int  # records on touchpoints.raw (more than `events` when the producer re-sent)
    resolved_records: int  # records on touchpoints.resolved (more when a batch was redone)
    merges: int
    seconds_to_catch_up: float  # from the end of publishing until ClickHouse had every event


class FaultRun:
    """One pipeline (worker(s) + relay as processes) fed `raw` at a steady rate while a scenario breaks
    something; `verify()` then asserts the promise of docs/faults.md."""

    def __init__(self, stack: Stack, processes: Processes, raw: list[dict[str, Any]], events: list[Event]):
        self.stack = stack
        self.processes = processes
        self.raw = raw
        self.events = events
        self.publisher: SteadyPublisher | None = None

    def start_worker(self, name: str = "worker", **env: str) -> subprocess.Popen[bytes]:
        return self.processes.start(name, worker_argv("info"), self.stack.env(**FAULT_WORKER_ENV, **env))

    def start_relay(self, name: str = "relay") -> subprocess.Popen[bytes]:
        return self.processes.start(name, relay_argv(), self.stack.env())

    def publish(self, rate: float = 150.0) -> SteadyPublisher:
        """The records that are not events first (a producer bypassing the gateway: the worker
        dead-letters them), then the events at `rate` on a thread."""
        with KafkaEventLog(self.stack.bootstrap, self.stack.topic(topology.RAW)) as raw_log:
            raw_log.append([(b"bad", record) for record in BAD_RECORDS])
        self.publisher = SteadyPublisher(
            self.stack.bootstrap, self.stack.topic(topology.RAW), self.raw, rate=rate
        ).start()
        return self.publisher

    def projected(self) -> int:
        """Touchpoint rows in ClickHouse so far (a retried batch may count twice before FINAL)."""
        try:
            return int(self.stack.server.query("SELECT count() FROM touchpoints")[0][0])
        except ReadStoreError:  # not migrated yet: the worker applies the migrations when it starts
            return 0

    def wait_projected(self, at_least: int, timeout: float = 90.0, log_name: str = "worker") -> None:
        def condition() -> tuple[bool, Any]:
            done = self.projected()
            return done >= at_least, done

        wait_for(f"{at_least} touchpoints in ClickHouse", condition, self.processes, timeout, log_name)

    def verify(
        self, *, raw_may_repeat: bool = False, timeout: float = 150.0, log_name: str = "worker"
    ) -> Outcome:
        """Every accepted event is in the log once (the producer may have re-sent some: then the set of ids
        is compared) and in `touchpoints` once; every read model equals the oracle; the consumer group has
        no lag left."""
        assert self.publisher is not None
        self.publisher.join(timeout)
        published_at = time.monotonic()
        server, total = self.stack.server, len(self.raw)
        ids = [str(e.event_id) for e in self.events]
        assert sorted(self.publisher.accepted) == sorted(ids), (
            "the publisher did not get every event acknowledged"
        )

        def everything_projected() -> tuple[bool, Any]:
            found = server.query(
                "SELECT (SELECT count() FROM touchpoints FINAL),"
                " (SELECT uniqExact(event_id) FROM touchpoints),"
                f" {PEOPLES_TOUCHES},"
                " (SELECT count() FROM dead_letters FINAL)"
            )[0]
            return tuple(found) == (total, total, total, len(BAD_RECORDS)), found

        wait_for(
            "every event in ClickHouse exactly once", everything_projected, self.processes, timeout, log_name
        )
        caught_up = time.monotonic() - published_at

        raw_ids = [
            orjson.loads(value)["event_id"]
            for _p, _o, key, value in kcat(self.stack.bootstrap, self.stack.topic(topology.RAW))
            if key != "bad"
        ]
        assert set(raw_ids) == set(ids), "touchpoints.raw does not hold exactly the accepted events"
        if not raw_may_repeat:
            assert len(raw_ids) == total, "an event is on touchpoints.raw twice"

        resolution = worker_resolution(self.stack.bootstrap, self.stack.topic(topology.RESOLVED))
        assert set(resolution.first_contact) == set(ids)
        survivor = survivors(self.stack.pg_url, set(resolution.first_contact.values()))
        merged = {c: s for c, s in survivor.items() if c != s}
        wait_for(
            "contact_merges to match the master record",
            merges_projected(server, self.stack.pg_url, set(resolution.first_contact.values())),
            self.processes,
            60,
            log_name,
        )

        consumed = [self.stack.topic(t) for t in CONSUMED]

        def no_lag() -> tuple[bool, Any]:
            lag = consumer_lag(self.stack.bootstrap, self.stack.group, consumed)
            return not any(lag.values()), lag

        wait_for("the consumer group's lag to reach 0", no_lag, self.processes, 60, log_name)

        # After a crash an event may sit on touchpoints.resolved twice, under different contacts on different
        # partitions; the copy applied first is the worker's choice. The oracle takes each event's owner
        # from touchpoints (the applied copy) and recomputes everything else from the events themselves.
        applied = {
            e: (c, a)
            for e, c, a in server.query("SELECT event_id, contact_id, account_id FROM touchpoints FINAL")
        }
        owners = Resolution(
            resolution.records,
            {e: applied.get(e, (c, ""))[0] for e, c in resolution.first_contact.items()},
            {e: applied.get(e, ("", a))[1] for e, a in resolution.accounts.items()},
        )
        survivor = survivors(self.stack.pg_url, set(owners.first_contact.values()))
        data = oracle_dataset(self.raw, self.events, owners, survivor)
        assert_views_equal_oracle(server, data)
        assert_360_equals_oracle(server, data)
        return Outcome(total, len(raw_ids), len(resolution.records), len(merged), round(caught_up, 1))


FAULT_DAYS = 30
#: A fixed window, so every day tests the same history (one that moved with the date missed the cluster's
#: erasure bug on the days its history held no erasure request). In the past: never ahead of the clock.
FAULT_START = datetime(2026, 11, 4, tzinfo=UTC)
FAULT_CONFIG = GeneratorConfig(customers=80, accounts=12, days=FAULT_DAYS, seed=23, start=FAULT_START)


@functools.cache
def fault_events() -> tuple[list[dict[str, Any]], list[Event]]:
    """About 900 generated events, the same for every scenario and every day; among them an erasure
    request, so each scenario also forgets a contact on its way."""
    raw, _truth = generate_with_truth(FAULT_CONFIG)
    assert any(e["type"] == "ErasureRequested" for e in raw), "the fault history must hold an erasure"
    return raw, [parse_event(orjson.dumps(e)) for e in raw]
