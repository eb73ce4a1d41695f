"""Faults of our own processes, on the shared servers (nothing here stops a server): a worker killed with
SIGKILL mid-batch and restarted, two workers in one consumer group with one killed (the survivor takes
its partitions), and the master record's relay killed with SIGKILL and restarted.

Each scenario streams ~1,100 generated events through the Python publisher at a steady rate, breaks
something mid-stream, and then `FaultRun.verify()` asserts (docs/faults.md): every accepted event is on
`touchpoints.raw` exactly once and in `touchpoints` exactly once (FINAL), every read model equals the
plain-Python oracle, and the consumer group's lag reaches 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from held_publisher import publish_held
from pipeline_harness import FaultRun, Processes, kcat, metrics, pipeline_stack, wait_for

from touchstream.adapters.master_record.application import MasterRecord
from touchstream.streams import topology

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def fault_run(
    kafka_bootstrap: str,
    clickhouse_endpoint: tuple[str, int],
    postgres_endpoint: tuple[str, int, str],
    tmp_path: Path,
) -> Iterator[FaultRun]:
    from pipeline_harness import fault_events

    raw, events = fault_events()
    processes = Processes(tmp_path)
    with pipeline_stack(kafka_bootstrap, clickhouse_endpoint, postgres_endpoint, tmp_path, "fw") as stack:
        try:
            yield FaultRun(stack, processes, raw, events)
        finally:
            processes.stop_all()


@pytest.mark.timeout(240)
def test_a_worker_killed_mid_batch_and_restarted_loses_and_doubles_nothing(fault_run: FaultRun) -> None:
    total = len(fault_run.raw)
    fault_run.start_relay()
    fault_run.start_worker()
    # Half is held back until the worker is dead: it is killed mid-stream however slowly it started.
    publisher = publish_held(fault_run, hold_at=total // 2, rate=150)
    fault_run.wait_projected(total // 4)
    done_before = fault_run.projected()
    assert done_before < total, "the worker finished before it could be killed mid-stream"
    fault_run.processes.kill("worker")  # SIGKILL: no shutdown, no commit of the batch in hand
    publisher.release()
    fault_run.start_worker()
    outcome = fault_run.verify()
    print(f"\nworker kill -9 at {done_before}/{total} touchpoints: {outcome}")
    # Both lives of the worker logged their metrics; the second one started from the committed offsets.
    assert metrics(fault_run.processes.log("worker"))


@pytest.mark.timeout(240)
def test_two_workers_in_one_group_one_killed_the_survivor_takes_over(fault_run: FaultRun) -> None:
    fault_run.start_relay()
    fault_run.start_worker("worker-a")
    fault_run.start_worker("worker-b")
    total = len(fault_run.raw)
    # Events go out a few chunks at a time, once both workers have been given partitions, until both have
    # had records, and the rest only once worker-b is dead: the survivor takes over partitions with
    # traffic still to come, however slowly the two workers joined the group (on a busy box worker-b may
    # join after worker-a has read every event released so far).
    publisher = publish_held(fault_run, hold_at=total // 4, rate=150)

    def both_working() -> tuple[bool, int]:
        logs = [metrics(fault_run.processes.log(name)) for name in ("worker-a", "worker-b")]
        working = all(m and m[-1]["records"].get("ingest", 0) > 0 for m in logs)
        joined = all(m and m[-1]["rebalances"] > 0 for m in logs)
        if joined and not working and publisher.holding and publisher.published < total * 3 // 4:
            publisher.release(more=30)
        return working, publisher.published

    wait_for("the two workers both to get partitions", both_working, fault_run.processes, 150, "worker-b")
    rebalances_before = metrics(fault_run.processes.log("worker-a"))[-1]["rebalances"]
    done_before = fault_run.projected()
    fault_run.processes.kill("worker-b")
    publisher.release()
    outcome = fault_run.verify(log_name="worker-a")
    print(f"\nworker-b kill -9 at {done_before}/{len(fault_run.raw)} touchpoints: {outcome}")
    survivor = metrics(fault_run.processes.log("worker-a"))[-1]
    assert survivor["rebalances"] > rebalances_before, "worker-a never saw the rebalance"


@pytest.mark.timeout(240)
def test_the_relay_killed_and_restarted_skips_no_notification(fault_run: FaultRun) -> None:
    total = len(fault_run.raw)
    fault_run.start_relay()
    fault_run.start_worker()
    # Half is held back until the relay is dead, so notifications must pile up while it is.
    publisher = publish_held(fault_run, hold_at=total // 2, rate=150)
    fault_run.wait_projected(total // 3)
    stack = fault_run.stack
    master = MasterRecord.from_url(stack.pg_url)
    try:
        fault_run.processes.kill("relay")
        at_kill = master.recorder.max_notification_id() or 0
        publisher.release()

        def piled_up() -> tuple[bool, int]:
            newest = master.recorder.max_notification_id() or 0
            return newest > at_kill, newest

        wait_for("notifications to pile up in the master record", piled_up, fault_run.processes, 90)
        fault_run.start_relay()
        outcome = fault_run.verify()
        last = master.recorder.max_notification_id() or 0
    finally:
        master.close()
    print(f"\nrelay kill -9 at notification {at_kill}: {outcome}")
    # The outbox's promise: every notification is on masterdata.events (a re-sent batch repeats some,
    # with the same event id), in order per aggregate.
    relayed = [orjson.loads(v) for *_, v in kcat(stack.bootstrap, stack.topic(topology.MASTERDATA))]
    assert {m["notification_id"] for m in relayed} == set(range(1, last + 1))
    by_aggregate: dict[str, list[int]] = {}
    for m in relayed:
        by_aggregate.setdefault(m["aggregate_id"], []).append(m["aggregate_version"])
    for versions in by_aggregate.values():
        firsts = list(dict.fromkeys(versions))
        assert firsts == sorted(firsts), "an aggregate's events were relayed out of order"
