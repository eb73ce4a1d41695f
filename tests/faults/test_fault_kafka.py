"""The Kafka broker stopped and restarted while events stream in: the publisher re-sends what was not
acknowledged, the worker and the relay wait for the broker and carry on, and afterwards every accepted
event is in the log (a re-sent one may be there twice: the set of ids is compared) and counted once.

The broker stopped here is a broker of this module's own (deploy/local/kafka.sh on free ports, with its
own cache and the shared jars), never the shared one on 19092; ClickHouse and PostgreSQL are shared.

Nothing here waits on the clock: the publisher holds its second half until the broker is down (so it
must meet the outage, however slowly a loaded machine runs the worker), and the broker comes back once
both the publisher and the worker have observably noticed it was gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dedicated_servers import DedicatedBroker
from held_publisher import publish_held
from pipeline_harness import FaultRun, Processes, metrics, pipeline_stack, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: A bound on the waits for what must be observed while the broker is down (not a duration of the outage).
NOTICE_S = 90.0


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


@pytest.mark.timeout(360)
def test_the_broker_stopped_and_restarted_loses_and_doubles_nothing(
    fault_run: FaultRun, broker: DedicatedBroker
) -> None:
    total = len(fault_run.raw)
    processes = fault_run.processes
    fault_run.start_relay()
    fault_run.start_worker()
    publisher = publish_held(fault_run, hold_at=total // 2, rate=100)
    # The worker is mid-stream (a quarter projected) and half is still to be published.
    fault_run.wait_projected(total // 4)
    failed, refused = len(publisher.failures), processes.log("worker").count("Connection refused")
    broker.down()
    publisher.release()
    # The broker stays down until each side has observably met the outage.
    wait_for(
        "the publisher to fail a flush",
        lambda: (len(publisher.failures) > failed, publisher.published),
        processes,
        NOTICE_S,
    )
    wait_for(
        "the worker to log that the broker refuses connections",
        lambda: (processes.log("worker").count("Connection refused") > refused, None),
        processes,
        NOTICE_S,
    )
    processes.check_alive()  # the worker and the relay wait for the broker; neither exits
    broker.up()
    outcome = fault_run.verify(raw_may_repeat=True, timeout=200)
    print(f"\nbroker down: {outcome}; publisher flushes that failed: {len(publisher.failures)}")
    assert len(set(publisher.accepted)) == total
    # The worker's metrics kept coming through the outage.
    assert metrics(processes.log("worker"))
