"""Records Faust never hands to an agent must not be committed past (streams/offsets.py).

The cluster suite once lost the first 16 and 21 records of two partitions of `touchpoints.resolved`: their
offsets were committed, their rows never written. The state a rebalance can leave behind in
faust-streaming 0.15.3 — the consumer's read offset of a partition ahead of its fetch position, while the
group's commit of that partition is still at 0 — is injected here into one worker
(tests/faults/stale_read_offset_worker.py): Faust drops that partition's first records and hands over the
rest. With Faust's own acking the commit then moved past the dropped records and they were lost; with the
worker's own commits the partition is sought back and every event is projected, exactly once.

The second case drops every record of the partition (the read offset past its end): no record after the
gap ever reaches the agent to reveal it — the cluster suite's stall after a rebalance, two partitions of
`touchpoints.resolved` never projected. The worker's timer finds the partition idle and behind the log's
end, and seeks it back.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_harness import FAULT_WORKER_ENV, FaultRun, Processes, pipeline_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STALE_PARTITION = 6
GAP_REVEALED = 16  # as in the first cluster run: offsets 0..15 dropped, the rest handed over
NOTHING_AFTER = 1_000_000  # every record of the partition dropped: nothing reveals the gap


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
    with pipeline_stack(kafka_bootstrap, clickhouse_endpoint, postgres_endpoint, tmp_path, "fo") as stack:
        try:
            yield FaultRun(stack, processes, raw, events)
        finally:
            processes.stop_all()


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "stale_offset",
    [GAP_REVEALED, NOTHING_AFTER],
    ids=["later-records-reveal-the-gap", "nothing-after-the-gap"],
)
def test_records_faust_drops_before_the_agent_are_read_again_not_committed_past(
    fault_run: FaultRun, stale_offset: int
) -> None:
    fault_run.start_relay()
    env = fault_run.stack.env(
        **FAULT_WORKER_ENV, TOUCHSTREAM_TEST_STALE_READ_OFFSET=f"{STALE_PARTITION}:{stale_offset}"
    )
    fault_run.processes.start("worker", [sys.executable, str(Path(__file__).with_name(_WORKER))], env)
    fault_run.publish(rate=300)
    fault_run.wait_projected(len(fault_run.raw) // 2)  # the worker is up (it migrates ClickHouse first)
    outcome = fault_run.verify()
    log = fault_run.processes.log("worker")
    assert "injected: read offset of" in log, "the fault was never injected"
    assert f"[{STALE_PARTITION}]: records from 0 never reached the agent" in log
    print(f"\nstale read offset at {STALE_PARTITION}:{stale_offset}: {outcome}")


_WORKER = "stale_read_offset_worker.py"
