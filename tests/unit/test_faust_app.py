"""The Faust app's wiring, with Faust's own `agent.test_context()` (store memory://): each agent gets
records as its topic would hand them over, the effects land in a real chDB and an in-memory master record,
and only the outbound sends (Kafka) are captured, by a recording outbox."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner
from event_examples import wire_event
from typer.testing import CliRunner

from touchstream.adapters import worker_app
from touchstream.adapters.config import load_settings
from touchstream.adapters.logs.sqlite_log import SQLiteEventLog
from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.master_record.linkage import REASON, Linker
from touchstream.adapters.storage.chdb_store import ChDBStore
from touchstream.adapters.storage.migrate import load_config, migrate
from touchstream.events import ResolvedTouchpoint, parse_event
from touchstream.events.resolved import parse_resolved
from touchstream.streams import topology
from touchstream.streams.erasure import Eraser, ErasureOutcome, ErasureRequest
from touchstream.streams.faust_agents import Outgoing, Pipeline, Resources, RetryPolicy
from touchstream.streams.faust_app import WorkerSettings, _partition_count, _placed, create_app
from touchstream.streams.ports import AbstractEventLog, ContactLinker, Forwarder, LogRecord
from touchstream.streams.resolve import Resolver
from touchstream.streams.sealed_log import Codec

NOW = datetime.now(UTC).replace(microsecond=0)


class RecordingOutbox:
    """The one stand-in: what would go to Kafka, in order."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def send_all(self, records: Sequence[Outgoing]) -> None:
        self.sent.extend(records)

    def on(self, base: str) -> list[tuple[bytes | None, dict[str, Any]]]:
        return [(key, orjson.loads(value)) for topic, key, value in self.sent if topic == base]


class FlakyStore(ChDBStore):
    """A real chDB whose first inserts raise, as a ClickHouse that is down for a moment would. The count
    is shared: the worker drops a failed store and opens a new one."""

    def __init__(self, path: str, failures: list[int]) -> None:
        super().__init__(path)
        self.failures = failures

    def insert_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        if self.failures[0] > 0:
            self.failures[0] -= 1
            raise ConnectionError("ClickHouse went away")
        return super().insert_rows(table, columns, rows)


@pytest.fixture
def chdb_path(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "chdb")
    with ChDBStore(path) as store:
        migrate(store)
        load_config(store)
    yield path
    for pipeline in _opened:  # chDB allows one data path per process at a time: close every store
        pipeline.close()
    _opened.clear()


_opened: list[Pipeline] = []


def build(
    tmp_path: Path,
    chdb_path: str,
    fail_inserts: int = 0,
    master: MasterRecord | None = None,
    linker: Callable[[Resolver], ContactLinker] | None = None,
    raw_log: Callable[[], AbstractEventLog] | None = None,
    eraser: Callable[[], Eraser] | None = None,
    masterdata_codec: Codec | None = None,
    webhook: Callable[[], Forwarder] | None = None,
    batch_within_s: float = 0.05,
) -> tuple[faust.App, RecordingOutbox]:
    outbox = RecordingOutbox()
    failures = [fail_inserts]
    base = load_settings()
    settings = WorkerSettings(
        base.kafka_bootstrap,
        base.data_dir,
        batch_size=50,
        batch_within_s=batch_within_s,
        faust_datadir=tmp_path / "faust",
        commit_offsets=False,  # `agent.test_context()` feeds the agents without a consumer group
    )
    resources = Resources(
        read_store=lambda: FlakyStore(chdb_path, failures),
        master_record=lambda: master or MasterRecord.from_url("memory://"),
        outbox=outbox,
        raw_topic="touchpoints.raw",
        linker=linker,
        raw_log=raw_log,
        eraser=eraser,
        masterdata_codec=masterdata_codec,
        webhook=webhook,
    )
    app = create_app(settings, resources)
    app.finalize()
    app.conf.store = "memory://"
    pipeline: Pipeline = app.touchstream_pipeline  # type: ignore[attr-defined]
    pipeline.retry_policy = RetryPolicy(first_delay_s=0.01, max_delay_s=0.05)
    _opened.append(pipeline)
    return app, outbox


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout=60))


async def feed(
    app: faust.App,
    agent_name: str,
    records: list[tuple[bytes | None, bytes]],
    done: Any,
    first_offset: int = 0,
) -> None:
    """Put records through the agent as its topic would (partition 0, offsets from `first_offset`), then
    wait until `done()`."""
    agent = app.agents[agent_name]
    async with agent.test_context() as tested:
        tested.sent_offset = first_offset  # type: ignore[attr-defined]
        for key, value in records:
            await tested.put(value, key=key, wait=False)
        for _ in range(600):
            if done():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{agent_name} did not finish: {app.touchstream_pipeline.metrics.summary()}")  # type: ignore[attr-defined]


def email_opened(email: str, minutes: int = 0) -> dict[str, Any]:
    return wire_event(
        "EmailOpened",
        1,
        event_id=str(uuid.uuid4()),
        occurred_at=(NOW - timedelta(days=1, minutes=-minutes)).isoformat().replace("+00:00", "Z"),
        identifiers={"email": email},
        payload={"campaign_id": "spring", "message_id": f"m-{minutes}"},
    )


def p1_ticket(email: str) -> dict[str, Any]:
    return wire_event(
        "TicketOpened",
        1,
        event_id=str(uuid.uuid4()),
        occurred_at=(NOW - timedelta(hours=5)).isoformat().replace("+00:00", "Z"),
        source="zendesk",
        identifiers={"email": email},
        payload={"ticket_id": "T-1", "subject": "Outage", "priority": "P1", "channel": "email"},
    )


def query(chdb_path: str, sql: str) -> list[tuple[Any, ...]]:
    with ChDBStore(chdb_path) as store:
        return store.query(sql)


def test_ingest_resolves_valid_events_keyed_by_contact_and_dead_letters_the_rest(
    tmp_path: Path, chdb_path: str
) -> None:
    # One batch for all four records, however loaded the machine: with the usual 50 ms window a busy CI
    # run once took the three good ones before the bad one was put, and sent them first.
    app, outbox = build(tmp_path, chdb_path, batch_within_s=2.0)
    good = [email_opened("jane@acme-widgets.com", m) for m in range(3)]
    bad = b'{"type": "EmailOpend", "source": "hubspot"}'
    records = [(b"email:jane@acme-widgets.com", orjson.dumps(e)) for e in good] + [(b"x", bad)]

    async def test() -> None:
        await feed(app, "touchstream.ingest", records, lambda: len(outbox.sent) == 4)

    run(test)
    resolved = outbox.on(topology.RESOLVED)
    assert [m["event"]["event_id"] for _, m in resolved] == [e["event_id"] for e in good]
    contact = resolved[0][1]["contact_id"]
    assert {key for key, _ in resolved} == {contact.encode()}  # one contact, one key, one partition
    assert [m["raw_offset"] for _, m in resolved] == [0, 1, 2]
    dead = outbox.on(topology.DLQ)
    assert len(dead) == 1
    assert dead[0][1]["source"]["offset"] == 3
    # Dead letters go out before the resolved touchpoints of the same batch.
    assert outbox.sent[0][0] == topology.DLQ


def test_ingest_hands_an_anonymous_callers_calls_to_the_person_its_number_turns_out_to_be(
    tmp_path: Path, chdb_path: str
) -> None:
    number = "+14155550188"
    calls = [
        wire_event(
            "ContactCenterCall",
            1,
            event_id=str(uuid.uuid4()),
            occurred_at=(NOW - timedelta(days=2, minutes=-m)).isoformat().replace("+00:00", "Z"),
            source="genesys",
            identifiers={"phone": number},
        )
        for m in range(2)
    ]
    person = {
        **email_opened("ann@acme-widgets.com"),
        "identifiers": {"email": "ann@acme-widgets.com", "phone": number},
    }
    records = [(b"phone", orjson.dumps(e)) for e in (*calls, person)]
    path = tmp_path / "raw.sqlite"
    with SQLiteEventLog(path, partitions=1) as raw:
        raw.append(records)  # what the worker reads again: the same records at offsets 0, 1 and 2
    app, outbox = build(tmp_path, chdb_path, raw_log=lambda: SQLiteEventLog(path, partitions=1))

    async def test() -> None:
        await feed(app, "touchstream.ingest", records, lambda: len(outbox.on(topology.RESOLVED)) == 5)

    run(test)
    resolved = [message for _, message in outbox.on(topology.RESOLVED)]
    ann = resolved[2]["contact_id"]
    assert resolved[0]["contact_id"] != ann, "the calls first made an anonymous caller's contact"
    assert [(m["raw_offset"], m.get("reattributed", False)) for m in resolved] == [
        (0, False),
        (1, False),
        (2, False),
        (0, True),
        (1, True),
    ]
    assert {m["contact_id"] for m in resolved[2:]} == {ann}
    assert [m["event"]["event_id"] for m in resolved[3:]] == [c["event_id"] for c in calls]


def test_ingest_resolves_a_batch_in_the_order_its_records_were_appended(
    tmp_path: Path, chdb_path: str
) -> None:
    """Faust hands a batch over partition by partition; the worker resolves it as the embedded run does,
    in append order across partitions (`steps.arrival_order`), since merges made on arrival depend on it."""
    app, outbox = build(tmp_path, chdb_path)
    pipeline: Pipeline = app.touchstream_pipeline  # type: ignore[attr-defined]
    emails = [f"p{i}@acme-widgets.com" for i in range(6)]
    appended = [  # one record a millisecond, alternating between two partitions
        LogRecord(i % 2, i // 2, f"email:{e}".encode(), orjson.dumps(email_opened(e, i)), 1_000 + i / 1000)
        for i, e in enumerate(emails)
    ]
    partition_by_partition = sorted(appended, key=lambda r: (r.partition, r.offset))

    async def test() -> None:
        assert await pipeline.ingest(partition_by_partition) == len(emails)

    run(test)
    resolved = [m["event"]["identifiers"]["email"] for _, m in outbox.on(topology.RESOLVED)]
    assert resolved == emails


def details_observed(ext: str, first_name: str) -> dict[str, Any]:
    return wire_event(
        "ContactDetailsObserved",
        1,
        event_id=str(uuid.uuid4()),
        source="crm_import",
        identifiers={"external_ids": {"crm_import": ext}},
        payload={
            "first_name": first_name,
            "last_name": "Doe",
            "date_of_birth": "1980-04-12",
            "address": {
                "lines": ["12 Oak Road"],
                "postal_code": "SW1 4AB",
                "city": "London",
                "country": "GB",
            },
        },
    )


def test_ingest_links_the_batchs_new_contacts_as_they_arrive(tmp_path: Path, chdb_path: str) -> None:
    """The linking step runs in the ingest agent after resolution: two records of one person that only
    their details tie together become a probable-match suspect, with no scan."""
    master = MasterRecord.from_url("memory://")
    app, outbox = build(tmp_path, chdb_path, master=master, linker=lambda m: Linker.open(master))
    records = [
        (None, orjson.dumps(details_observed(ext, name))) for ext, name in (("C-1", "Jane"), ("C-2", "Jnae"))
    ]

    async def test() -> None:
        await feed(app, "touchstream.ingest", records, lambda: len(outbox.on(topology.RESOLVED)) == 2)

    run(test)
    contacts = {m["contact_id"] for _, m in outbox.on(topology.RESOLVED)}
    assert len(contacts) == 2  # no strong identifier joins them: the resolver keeps them apart
    (suspect,) = [s for s in master.suspects() if s.reason == REASON]
    assert {str(suspect.contact_id), str(suspect.other_id)} == contacts
    assert "date_of_birth" in suspect.identifier


def resolved_record(event: dict[str, Any], contact: str) -> tuple[bytes, bytes]:
    touchpoint = ResolvedTouchpoint(parse_event(orjson.dumps(event)), contact, None, 0, 0)
    return contact.encode(), touchpoint.to_json()


def test_project_writes_the_rows_before_it_announces_changes_and_signals(
    tmp_path: Path, chdb_path: str
) -> None:
    app, outbox = build(tmp_path, chdb_path, fail_inserts=2)
    contact = str(uuid.uuid4())
    records = [resolved_record(e, contact) for e in (email_opened("ann@acme.com"), p1_ticket("ann@acme.com"))]

    async def test() -> None:
        await feed(app, "touchstream.project", records, lambda: bool(outbox.sent))

    run(test)
    pipeline: Pipeline = app.touchstream_pipeline  # type: ignore[attr-defined]
    assert pipeline.metrics.retries["write rows to ClickHouse"] == 2  # retried, not skipped
    assert query(chdb_path, "SELECT count() FROM touchpoints FINAL") == [(2,)]
    assert query(
        chdb_path, f"SELECT touches, open_tickets FROM customer_360 FINAL WHERE contact_id = '{contact}'"
    ) == [(2, 1)]
    changes = outbox.on(topology.CUSTOMER360_CHANGES)
    assert [(key, m["touches"]) for key, m in changes] == [(contact.encode(), 2)]
    holds = [m for _, m in outbox.on(topology.SIGNALS_SALES) if m["kind"] == "service_hold"]
    assert holds
    assert holds[0]["status"] == "raised"
    assert holds[0]["contact_id"] == contact
    assert query(chdb_path, "SELECT count() FROM projection_state FINAL") == [(1,)]


class RecordingEraser(Eraser):
    """The erasure step as the agent calls it, recording each call's requests (what erasing does is
    tested in test_embedded_runner.py, tests/e2e/test_erasure.py and test_erasure_production.py)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def erase(self, requests: Sequence[ErasureRequest]) -> list[ErasureOutcome]:
        self.calls.append([r.contact_id for r in requests])
        return []


def test_every_copy_of_an_erasure_request_erases_even_in_a_batch_already_applied(
    tmp_path: Path, chdb_path: str
) -> None:
    """A worker that stopped between a batch's write and its erasure gets the batch again: its events are
    all applied, and the erasure must still be carried out."""
    eraser = RecordingEraser()
    app, _ = build(tmp_path, chdb_path, eraser=lambda: eraser)
    contact = str(uuid.uuid4())
    request = wire_event(
        "ErasureRequested", 1, event_id=str(uuid.uuid4()), identifiers={"email": "ann@acme.com"}
    )
    records = [resolved_record(email_opened("ann@acme.com"), contact), resolved_record(request, contact)]

    async def test() -> None:
        await feed(app, "touchstream.project", records, lambda: len(eraser.calls) == 1)
        await feed(app, "touchstream.project", records, lambda: len(eraser.calls) == 2, first_offset=2)

    run(test)
    pipeline: Pipeline = app.touchstream_pipeline  # type: ignore[attr-defined]
    assert pipeline.metrics.skipped["already applied"] == 2
    assert eraser.calls == [[contact], [contact]]


def test_state_survives_in_clickhouse_and_a_rebalance_clears_the_cache(
    tmp_path: Path, chdb_path: str
) -> None:
    app, outbox = build(tmp_path, chdb_path)
    contact = str(uuid.uuid4())
    first = [resolved_record(email_opened("bo@acme.com", m), contact) for m in range(2)]
    pipeline: Pipeline = app.touchstream_pipeline  # type: ignore[attr-defined]

    async def test() -> None:
        await feed(app, "touchstream.project", first, lambda: bool(outbox.on(topology.CUSTOMER360_CHANGES)))
        assert contact in pipeline._states
        generation = pipeline.generation
        await app.on_partitions_revoked.send(set())  # what Faust sends on a rebalance
        assert pipeline.generation == generation + 1
        assert not pipeline._states

    run(test)
    # The next record of the partition (on another worker, or on this one after the rebalance) continues
    # from the state saved in ClickHouse; a redelivered one changes nothing.
    app2, outbox2 = build(tmp_path, chdb_path)
    later = [resolved_record(email_opened("bo@acme.com", 10), contact)]

    async def test2() -> None:
        metrics = app2.touchstream_pipeline.metrics  # type: ignore[attr-defined]
        await feed(app2, "touchstream.project", first, lambda: metrics.skipped["already applied"] == 2)
        assert metrics.rows_written == 0  # both were applied before: nothing written again,
        assert outbox2.sent == []  # and no change to announce
        await feed(app2, "touchstream.project", later, lambda: bool(outbox2.sent), first_offset=2)

    run(test2)
    assert [m["touches"] for _, m in outbox2.on(topology.CUSTOMER360_CHANGES)] == [3]


def test_project_takes_the_touchpoints_its_own_ingest_sent_typed_and_writes_what_parsing_would(
    tmp_path: Path, chdb_path: str
) -> None:
    app, outbox = build(tmp_path, chdb_path)
    pipeline: Pipeline = app.touchstream_pipeline  # type: ignore[attr-defined]
    events = [email_opened("cy@acme-widgets.com", m) for m in range(3)]
    raw = [(b"email:cy@acme-widgets.com", orjson.dumps(e)) for e in events]

    async def test() -> None:
        await feed(app, "touchstream.ingest", raw, lambda: len(outbox.sent) == 3)
        sent = [(key, value) for topic, key, value in outbox.sent if topic == topology.RESOLVED]
        # What the project agent is handed is what parsing the record it reads would give.
        held = pipeline._sent.take([LogRecord(0, i, key, value, 0.0) for i, (key, value) in enumerate(sent)])
        assert [held[0, i] for i in range(3)] == [parse_resolved(value) for _, value in sent]
        pipeline._sent.remember([value for _, value in sent], [held[0, i] for i in range(3)])
        other = resolved_record(email_opened("dee@acme.com"), str(uuid.uuid4()))  # another worker's record
        await feed(
            app,
            "touchstream.project",
            [*sent, other],
            lambda: bool(outbox.on(topology.CUSTOMER360_CHANGES)),
        )

    run(test)
    assert pipeline.metrics.handed == 3  # its own three taken typed; the other worker's record parsed
    assert query(chdb_path, "SELECT count() FROM touchpoints FINAL") == [(4,)]
    touches = [m["touches"] for _, m in outbox.on(topology.CUSTOMER360_CHANGES)]
    assert sorted(touches) == [1, 3]


def test_masterdata_merges_become_contact_merges_rows_keyed_by_notification_order(
    tmp_path: Path, chdb_path: str
) -> None:
    app, outbox = build(tmp_path, chdb_path)
    a, b, c = (str(uuid.uuid4()) for _ in range(3))

    def merged(merged_id: str, survivor: str, notification: int) -> tuple[bytes, bytes]:
        message = {
            "event_id": str(uuid.uuid4()),
            "type": "ContactsMerged",
            "aggregate_type": "Contact",
            "aggregate_id": survivor,
            "aggregate_version": 2,
            "notification_id": notification,
            "data": {"merged_id": merged_id, "reason": "shared email"},
        }
        return survivor.encode(), orjson.dumps(message)

    other = (b"k", orjson.dumps({"type": "ContactAttributeChanged", "aggregate_id": a, "data": {}}))
    records = [merged(a, b, 7), other, merged(b, c, 9)]
    pipeline: Pipeline = app.touchstream_pipeline  # type: ignore[attr-defined]

    async def test() -> None:
        await feed(app, "touchstream.masterdata", records, lambda: pipeline.metrics.merges == 2)

    run(test)
    got = query(
        chdb_path, "SELECT merged_id, survivor_id, version FROM contact_merges FINAL ORDER BY version"
    )
    assert sorted(got) == sorted([(a, c, 9), (b, c, 9)])  # the chain A -> B -> C flattened
    assert outbox.sent == []


class TokenCodec:
    """Masterdata records "sealed" as a token standing for their data; counts the values it opens."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.opened = 0

    def seal_message(self, message: dict[str, Any]) -> bytes:
        token = str(uuid.uuid4())
        self.data[token] = message.pop("data")
        return orjson.dumps({**message, "sealed_data": token})

    def seal(self, records: Sequence[tuple[bytes | None, bytes]]) -> list[tuple[bytes | None, bytes]]:
        raise NotImplementedError

    def open(self, values: Sequence[bytes]) -> list[bytes]:
        self.opened += len(values)
        out = []
        for value in values:
            message = orjson.loads(value)
            out.append(orjson.dumps({**message, "data": self.data[message.pop("sealed_data")]}))
        return out


class Forwarded:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def forward(self, messages: list[dict[str, Any]]) -> int:
        self.messages += messages
        return len(messages)


@pytest.mark.parametrize("with_webhook", [False, True])
def test_masterdata_records_are_opened_only_where_their_data_is_read(
    tmp_path: Path, chdb_path: str, with_webhook: bool
) -> None:
    """Merges need their data (the identity cache, contact_merges), a webhook every event's; without
    a webhook the rest stay sealed (most masterdata records are not merges)."""
    codec, forwarded = TokenCodec(), Forwarded()
    webhook = (lambda: forwarded) if with_webhook else None
    app, _ = build(tmp_path, chdb_path, masterdata_codec=codec, webhook=webhook)
    # Without a webhook the worker reads only the merges the relay sends again to masterdata.merges.
    (topic,) = app.agents["touchstream.masterdata"].channel.topics  # type: ignore[attr-defined]
    assert topic.endswith("masterdata.events" if with_webhook else "masterdata.merges")
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    merge = {"type": "ContactsMerged", "aggregate_id": b, "notification_id": 7, "data": {"merged_id": a}}
    change = {"type": "ContactAttributeChanged", "aggregate_id": a, "notification_id": 8, "data": {"x": 1}}
    records = [(b"k", codec.seal_message(dict(m))) for m in (merge, change, change)]
    metrics = app.touchstream_pipeline.metrics  # type: ignore[attr-defined]

    def done() -> bool:
        return bool(metrics.merges == 1 and metrics.webhooks == (3 if with_webhook else 0))

    async def test() -> None:
        await feed(app, "touchstream.masterdata", records, done)

    run(test)
    assert query(chdb_path, "SELECT merged_id, survivor_id FROM contact_merges FINAL") == [(a, b)]
    assert codec.opened == (3 if with_webhook else 1)
    assert [m["data"] for m in forwarded.messages] == (
        [{"merged_id": a}, {"x": 1}, {"x": 1}] if with_webhook else []
    )


def test_the_module_level_app_is_built_lazily_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TOUCHSTREAM_TOPIC_PREFIX", "t_lazy_")
    monkeypatch.setenv("TOUCHSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:1")  # nothing listens: nothing may connect
    monkeypatch.setenv("TOUCHSTREAM_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(worker_app, "_app", None)
    app = worker_app.app
    assert app.conf.id == "t_lazy_touchstream-worker"
    assert app.conf.topic_disable_leader
    assert app.conf.producer_acks == -1
    assert set(app.agents) == {
        "touchstream.ingest",
        "touchstream.project",
        "touchstream.masterdata",
        "touchstream.deadletters",
    }
    topics_of = {name: set(agent.channel.topics) for name, agent in app.agents.items()}  # type: ignore[attr-defined]
    assert topics_of["touchstream.ingest"] == {"t_lazy_touchpoints.raw"}
    assert topics_of["touchstream.project"] == {"t_lazy_touchpoints.resolved"}
    assert topics_of["touchstream.masterdata"] == {"t_lazy_masterdata.merges"}  # no webhook configured


def test_worker_help_teaches_the_environment_and_the_first_steps() -> None:
    import typer

    from touchstream.adapters.cli.worker import faust_argv, worker

    cli = typer.Typer()
    cli.command()(worker)
    result = CliRunner().invoke(cli, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for needed in ("TOUCHSTREAM_MODE", "TOUCHSTREAM_KAFKA_BOOTSTRAP", "topics create", "relay", "--loglevel"):
        assert needed in result.output, needed
    argv = faust_argv()
    assert argv[1:5] == ["-m", "faust", "-A", "touchstream.adapters.worker_app"]
    assert "uvloop" in argv
    assert "--without-web" in argv


def test_an_attempt_that_hangs_is_logged_and_counted_until_it_returns(
    tmp_path: Path, chdb_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = build(tmp_path, chdb_path)
    pipeline: Pipeline = app.touchstream_pipeline  # type: ignore[attr-defined]
    pipeline.retry_policy = RetryPolicy(first_delay_s=0.01, max_delay_s=0.05, stall_warning_s=0.05)

    async def slow() -> str:
        await asyncio.sleep(0.32)  # a client waiting inside its call (a pool waiting for its server)
        return "done"

    with caplog.at_level("WARNING", logger="touchstream.worker"):
        assert asyncio.run(pipeline._retrying("resolve identity", slow)) == "done"
    assert pipeline.metrics.stalls["resolve identity"] >= 5
    assert "stalls={'resolve identity': " in pipeline.metrics.summary()
    warned = r"resolve identity still waiting after [\d.]+s \(attempt 1\): no answer yet"
    assert re.search(warned, caplog.text)
    assert pipeline.metrics.retries["resolve identity"] == 0  # it did not fail: nothing to retry


def test_the_account_signals_pass_announces_an_accounts_lifted_hold_once(
    tmp_path: Path, chdb_path: str
) -> None:
    """The worker's timer pass (Pipeline.account_signals): after a batch in which an account's only hold
    cause ended, `service_hold_lifted` for the account goes to signals.sales; with nothing projected since,
    the pass does not run."""
    app, outbox = build(tmp_path, chdb_path)
    pipeline: Pipeline = app.touchstream_pipeline  # type: ignore[attr-defined]
    contact, account = str(uuid.uuid4()), str(uuid.uuid4())
    at = {
        "opened": NOW - timedelta(days=6),
        "resolved": NOW - timedelta(days=5),
        "later": NOW - timedelta(days=1),
    }
    events = [
        wire_event(
            type_name,
            1,
            event_id=str(uuid.uuid4()),
            occurred_at=at[when].isoformat().replace("+00:00", "Z"),
            source="zendesk",
            identifiers={"email": "ann@acme.com"},
            payload=payload,
        )
        for type_name, when, payload in (
            (
                "TicketOpened",
                "opened",
                {"ticket_id": "T-9", "subject": "Down", "priority": "P1", "channel": "email"},
            ),
            ("TicketResolved", "resolved", {"ticket_id": "T-9"}),
            ("CsatSubmitted", "later", {"survey_id": "S-9", "ticket_id": "T-9", "score": 5}),
        )
    ]
    records = [
        (contact.encode(), ResolvedTouchpoint(parse_event(orjson.dumps(e)), contact, account, 0, 0).to_json())
        for e in events
    ]

    async def test() -> None:
        assert await pipeline.account_signals() == 0  # nothing projected yet
        await feed(app, "touchstream.project", records, lambda: bool(outbox.on(topology.CUSTOMER360_CHANGES)))
        assert await pipeline.account_signals() == 1
        assert await pipeline.account_signals() == 0  # nothing projected since

    run(test)
    lifted = [(key, m) for key, m in outbox.on(topology.SIGNALS_SALES) if m.get("scope") == "account"]
    assert [(key, m["kind"], m["status"], m["account_id"]) for key, m in lifted] == [
        (account.encode(), "service_hold_lifted", "raised", account)
    ]
    assert query(chdb_path, "SELECT account_id, status FROM account_signals FINAL") == [(account, "raised")]


def test_the_worker_keeps_the_log_level_it_is_given(tmp_path: Path, chdb_path: str) -> None:
    """`faust worker -l warn` must not leave the root logger at DEBUG: Faust's spinner did, so every library's
    debug message was made and masked on a busy worker's hot path."""
    import logging

    app, _ = build(tmp_path, chdb_path)
    worker = app.conf.Worker(app, loglevel="warn", stdout=None, stderr=None)
    root = logging.getLogger("touchstream-test-root")  # stands in for the root logger Faust configures
    root.addHandler(logging.NullHandler())
    root.setLevel(logging.WARNING)
    worker.on_setup_root_logger(root, logging.WARNING)
    assert root.level == logging.WARNING
    assert not root.isEnabledFor(logging.DEBUG)


def test_the_outbox_places_each_keyed_record_itself_once_the_producer_knows_the_topic() -> None:
    class Metadata:
        def partitions_for_topic(self, topic: str) -> set[int] | None:
            return {0, 1, 2} if topic == "known" else None

    producer = SimpleNamespace(_producer=SimpleNamespace(_metadata=Metadata()))
    assert _partition_count(producer, "known") == 3
    assert _partition_count(producer, "unknown") is None
    assert _partition_count(SimpleNamespace(), "known") is None  # not started: aiokafka decides
    keys = [str(uuid.uuid4()).encode() for _ in range(50)]
    assert [_placed(k, 3) for k in keys] == [DefaultPartitioner()(k, [0, 1, 2], [0, 1, 2]) for k in keys]
    assert _placed(None, 3) is None
    assert _placed(b"k", None) is None
