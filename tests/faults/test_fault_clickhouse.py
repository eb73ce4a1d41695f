"""ClickHouse unavailable while events stream in: the worker backs off and retries (logging why and
counting it in its metrics), holds its offsets, keeps its memory bounded, and once the server is back it
catches up with nothing lost and nothing counted twice.

The outage lasts until the worker has observably backed off several times in a row (not a set time), and
half the events are held back until the server is down, so the worker must meet the outage with traffic
still coming however slowly a loaded machine runs it.

The server stopped here is a ClickHouse of this module's own (deploy/local/clickhouse.sh on free ports,
in a temporary cache), never the shared one on 19000; Kafka and PostgreSQL are the shared servers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dedicated_servers import DedicatedClickHouse
from held_publisher import publish_held
from pipeline_harness import (
    FaultRun,
    Processes,
    metrics,
    pipeline_stack,
    retries,
    retry_delays,
    rss_kib,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The outage ends once one effect has backed off this many times (0.2, 0.4, 0.8, 1.6, 3.2 s: ~6 s).
BACK_OFFS = 5
NOTICE_S = 120.0  # a bound on that wait, not a duration of the outage


@pytest.fixture(scope="module")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DedicatedClickHouse]:
    server = DedicatedClickHouse(tmp_path_factory.mktemp("clickhouse-cache"))
    server.up()
    try:
        yield server
    finally:
        server.purge()


@pytest.fixture
def fault_run(
    kafka_bootstrap: str,
    clickhouse: DedicatedClickHouse,
    postgres_endpoint: tuple[str, int, str],
    tmp_path: Path,
) -> Iterator[FaultRun]:
    from pipeline_harness import fault_events

    raw, events = fault_events()
    processes = Processes(tmp_path)
    endpoint = (clickhouse.host, clickhouse.port)
    with pipeline_stack(kafka_bootstrap, endpoint, postgres_endpoint, tmp_path, "fc") as stack:
        try:
            yield FaultRun(stack, processes, raw, events)
        finally:
            processes.stop_all()


@pytest.mark.timeout(300)
def test_clickhouse_down_the_worker_waits_retries_and_catches_up(
    fault_run: FaultRun, clickhouse: DedicatedClickHouse
) -> None:
    total = len(fault_run.raw)
    fault_run.start_relay()
    worker = fault_run.start_worker()
    publisher = publish_held(fault_run, hold_at=total // 2, rate=100)
    fault_run.wait_projected(total // 6)
    rss_before = rss_kib(worker.pid)
    rss_peak = rss_before
    before = len(retries(fault_run.processes.log("worker")))
    clickhouse.down()
    publisher.release()

    def backed_off() -> tuple[bool, dict[str, list[float]]]:
        nonlocal rss_peak
        rss_peak = max(rss_peak, rss_kib(worker.pid))
        log = fault_run.processes.log("worker")  # wait_for checks the worker is waiting, not crashing
        since = retries(log)[before:]
        delays: dict[str, list[float]] = {}
        for effect, _attempt, delay, _reason in since:
            delays.setdefault(effect, []).append(delay)
        return any(len(d) >= BACK_OFFS for d in delays.values()), delays

    wait_for(f"the worker to back off {BACK_OFFS} times", backed_off, fault_run.processes, NOTICE_S)
    clickhouse.up()
    outcome = fault_run.verify()
    print(f"\nClickHouse restarted: {outcome}; worker RSS {rss_before} -> peak {rss_peak} KiB")

    # Why it waited is in the log, with the reason; the back-off doubles up to its cap, so an outage costs
    # a handful of attempts per effect, not a busy loop.
    log = fault_run.processes.log("worker")
    logged, by_effect = retries(log), retry_delays(log)
    assert any("Connection refused" in reason for *_, reason in logged), logged
    for effect, delays in by_effect.items():
        assert len(delays) <= 12, f"{effect}: {len(delays)} attempts in one outage"
        assert max(delays) <= 30.0
    assert any(len(d) >= 3 and d[:3] == [0.2, 0.4, 0.8] for d in by_effect.values()), by_effect
    # ... and counted in the worker's metrics (WorkerMetrics.retries, logged every 2 s here).
    counted = metrics(log)[-1]["retries"]
    assert sum(counted.values()) == len(logged), (counted, len(logged))
    assert set(counted) == set(by_effect)
    # Memory stays bounded: the agents fetch nothing more while a batch retries.
    assert rss_peak - rss_before < 100 * 1024, f"worker RSS grew from {rss_before} to {rss_peak} KiB"
