"""PostgreSQL, the master record's database, restarted while events stream in: identity resolution
backs off and retries (logged and counted), the relay rides it out too, and afterwards nothing is lost,
nothing is counted twice and the master record's outbox is on `masterdata.events` without a gap.

The server restarted here is a PostgreSQL of this module's own (deploy/local/postgres.sh on a free port
with its own run dir), never the shared one on 15432; Kafka and ClickHouse are the shared servers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from dedicated_servers import DedicatedPostgres
from held_publisher import publish_held
from pipeline_harness import FaultRun, Processes, kcat, metrics, pipeline_stack, retries, wait_for

from touchstream.adapters.master_record.application import MasterRecord
from touchstream.streams import topology

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOTICE_S = 90.0  # a bound on the wait for the worker to meet the outage, not a duration of it
STALL = re.compile(r"\[WARNING\] (.+?) still waiting after [\d.]+s \(attempt \d+\)")


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DedicatedPostgres]:
    server = DedicatedPostgres(tmp_path_factory.mktemp("postgres-logs"))
    try:
        server.up()
        yield server
    finally:
        server.purge()


@pytest.fixture
def fault_run(
    kafka_bootstrap: str,
    clickhouse_endpoint: tuple[str, int],
    postgres: DedicatedPostgres,
    tmp_path: Path,
) -> Iterator[FaultRun]:
    from pipeline_harness import fault_events

    raw, events = fault_events()
    processes = Processes(tmp_path)
    endpoint = (postgres.host, postgres.port, postgres.user)
    with pipeline_stack(kafka_bootstrap, clickhouse_endpoint, endpoint, tmp_path, "fp") as stack:
        try:
            yield FaultRun(stack, processes, raw, events)
        finally:
            processes.stop_all()


@pytest.mark.timeout(240)
def test_postgres_restarted_under_the_master_record_loses_and_doubles_nothing(
    fault_run: FaultRun, postgres: DedicatedPostgres
) -> None:
    total = len(fault_run.raw)
    fault_run.start_relay()
    fault_run.start_worker()
    # Half is held back until PostgreSQL is down, so identity resolution must meet the outage.
    publisher = publish_held(fault_run, hold_at=total // 2, rate=100)
    fault_run.wait_projected(total // 4)

    def identity_waits() -> int:
        log = fault_run.processes.log("worker")
        stalls = STALL.findall(log).count("resolve identity")
        return stalls + sum(e == "resolve identity" for e, *_ in retries(log))

    before = identity_waits()
    postgres.down()  # pg_ctl stop -m fast: every session is cut
    publisher.release()

    def waiting_for_identity() -> tuple[bool, int]:
        waits = identity_waits()
        return waits > before, waits

    # Down until the worker has observably waited for the master record, not for a set time.
    wait_for("the worker to wait for the master record", waiting_for_identity, fault_run.processes, NOTICE_S)
    fault_run.processes.check_alive()  # the worker and the relay wait; neither exits
    postgres.up()
    outcome = fault_run.verify()
    print(f"\nPostgreSQL restarted: {outcome}")

    # While PostgreSQL was down the master record's pool waited inside the call (its own connect timeout
    # and retries); the worker said so every 5 s, and failed attempts were retried with back-off.
    log = fault_run.processes.log("worker")
    stalled = STALL.findall(log)
    failed = [e for e, *_ in retries(log) if e == "resolve identity"]
    assert stalled or failed, fault_run.processes.tail("worker")
    counted = metrics(log)[-1]
    assert counted["stalls"].get("resolve identity", 0) == stalled.count("resolve identity")
    assert counted["retries"].get("resolve identity", 0) == len(failed)

    stack = fault_run.stack
    master = MasterRecord.from_url(stack.pg_url)
    try:
        last = master.recorder.max_notification_id() or 0
    finally:
        master.close()
    # The relay follows the notification log on its own schedule: wait (bounded) until it has caught up.
    # After the restart its back-off may have reached its 30 s cap, and a pooled connection that died with
    # the server can fail one more attempt: allow several such waits.
    deadline = time.monotonic() + 180
    while True:
        relayed = {
            orjson.loads(v)["notification_id"]
            for *_, v in kcat(stack.bootstrap, stack.topic(topology.MASTERDATA))
        }
        if relayed >= set(range(1, last + 1)) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert relayed == set(range(1, last + 1))
