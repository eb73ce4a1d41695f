"""The Kafka broker stopped and restarted while events stream in: the publisher re-sends what was not
acknowledged, the worker and the relay wait for the broker and carry on, and afterwards every accepted
event is in the log (a re-sent one may be there twice: the set of ids is compared) and counted once.

The broker stopped here is a broker of this module's own (deploy/local/kafka.sh on free ports, with its
own cache and the shared jars), never the shared one on 19092; ClickHouse and PostgreSQL are shared.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dedicated_servers import DedicatedBroker
from pipeline_harness import FaultRun, Processes, metrics, pipeline_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOWN_S = 10.0


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DedicatedBroker]:
    server = DedicatedBroker(tmp_path_factory.mktemp("kafka-cache"))
    try:
        server.up()
        yield server
    finally:
        server.purge()


@pytest.fixture
def fault_run(
    broker: DedicatedBroker,
    clickhouse_endpoint: tuple[str, int],
    postgres_endpoint: tuple[str, int, str],
    tmp_path: Path,
) -> Iterator[FaultRun]:
    from pipeline_harness import fault_events

    raw, events = fault_events()
    processes = Processes(tmp_path)
    with pipeline_stack(broker.bootstrap, clickhouse_endpoint, postgres_endpoint, tmp_path, "fk") as stack:
        try:
            yield FaultRun(stack, processes, raw, events)
        finally:
            processes.stop_all()


@pytest.mark.timeout(300)
def test_the_broker_stopped_and_restarted_loses_and_doubles_nothing(
    fault_run: FaultRun, broker: DedicatedBroker
) -> None:
    total = len(fault_run.raw)
    fault_run.start_relay()
    fault_run.start_worker()
    publisher = fault_run.publish(rate=100)
    fault_run.wait_projected(total // 4)
    broker.down()
    time.sleep(DOWN_S)
    fault_run.processes.check_alive()  # the worker and the relay wait for the broker; neither exits
    broker.up()
    outcome = fault_run.verify(raw_may_repeat=True, timeout=200)
    print(f"\nbroker down {DOWN_S:.0f}s: {outcome}; publisher flushes that failed: {len(publisher.failures)}")
    assert publisher.failures, "the publisher never noticed the broker was gone"
    # The worker said why it stalled (its Kafka client's own log lines), and its metrics kept coming.
    log = fault_run.processes.log("worker")
    assert "Connection refused" in log, fault_run.processes.tail("worker")
    assert metrics(log)
