"""The same generated history through the local cluster (3 KRaft brokers, ClickHouse 2 shards x 2 replicas
behind Distributed tables, PostgreSQL primary) with 3 workers, while one broker, one ClickHouse replica and
one worker are killed with SIGKILL at random moments: no event lost, none counted twice, every read model
equal to the plain-Python oracle, and equal to the single-node embedded run of the same events.

Each fault meets traffic however fast or slow the machine is: the history goes out in four parts, a fault
strikes at a random point while one part is being processed, the next part is published into the outage,
and only then is the victim brought back (`deploy/local/cluster up` restarts what is down; a new worker
joins the group). The random choices come from one seed, printed (TOUCHSTREAM_CLUSTER_SEED replays it).

Also prints a throughput line with 1, 2 and 3 workers (a benchmark, not an assertion).

Run: `.venv/bin/pytest -m cluster tests/cluster -p no:cacheprovider -s`
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from cluster_harness import LocalCluster, cluster_stack
from pipeline_harness import (
    CONSUMED,
    PEOPLES_TOUCHES,
    FaultRun,
    Processes,
    Stack,
    SteadyPublisher,
    assert_360_equals_oracle,
    assert_views_equal_oracle,
    consumer_lag,
    fault_events,
    kcat,
    merges_projected,
    oracle_dataset,
    survivors,
    wait_for,
    worker_resolution,
)
from read_model_compare import (
    ARRIVAL_LOGS,
    COMPARED,
    Model,
    canonical,
    comparable,
    differences,
    grouping,
)
from unit.test_read_models_oracle import BAD_RECORDS

from touchstream.adapters.logs.kafka_log import KafkaEventLog
from touchstream.adapters.logs.topics import open_log
from touchstream.adapters.storage.clickhouse_server import ClickHouseServerStore
from touchstream.streams import topology
from touchstream.streams.ports import ReadStoreError

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

WORKER_ENV = {"TOUCHSTREAM_CLICKHOUSE_CLUSTER": "touchstream"}


def publish(stack: Stack, raw: list[dict[str, Any]], timeout: float = 300.0) -> list[str]:
    """Publish `raw` (acks=all, idempotent; re-sent until acknowledged); return the acknowledged ids."""
    publisher = SteadyPublisher(stack.bootstrap, stack.topic(topology.RAW), raw, rate=1e9, chunk=50)
    publisher.start().join(timeout)
    return publisher.accepted


def projected(server: ClickHouseServerStore) -> int:
    try:
        return int(server.query("SELECT count() FROM touchpoints")[0][0])
    except ReadStoreError:  # the node the test reads through may be the one killed
        return 0


def wait_projected(run: FaultRun, at_least: int, timeout: float = 300.0) -> None:
    def condition() -> tuple[bool, Any]:
        done = projected(run.stack.server)
        return done >= at_least, done

    wait_for(f"{at_least} touchpoints in ClickHouse", condition, run.processes, timeout, "worker-1")


def read_models(server: ClickHouseServerStore) -> dict[str, Model]:
    return {name: comparable(name, *server.query_with_columns(q)) for name, q in COMPARED.items()}


_EMBEDDED_READ = """
import sys, orjson
from touchstream.adapters.storage.chdb_store import ChDBStore
queries = orjson.loads(sys.stdin.buffer.read())
store = ChDBStore(sys.argv[1], database="touchstream")
out = {n: [[str(v) for v in r] for r in store.query_with_columns(q)[1]] for n, q in queries.items()}
cols = {n: [c for c, _ in store.query_with_columns(q)[0]] for n, q in queries.items()}
sys.stdout.buffer.write(orjson.dumps({"rows": out, "columns": cols}))
"""


def embedded_read_models(raw: list[dict[str, Any]], folder: Path) -> dict[str, Model]:
    """The same events (and bad records) through the single-node embedded pipeline: `touchstream import`
    then `touchstream run` in a fresh data folder, read back from its chDB (in a child process: chDB keeps
    one session per process)."""
    folder.mkdir(parents=True, exist_ok=True)
    history = folder / "history.jsonl"
    history.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in raw))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHSTREAM_")}
    env |= {"TOUCHSTREAM_MODE": "embedded", "TOUCHSTREAM_DATA_DIR": str(folder / "data")}
    cli = [sys.executable, "-c", "from touchstream.adapters.cli.main import main; main()"]
    done = subprocess.run(
        [*cli, "import", str(history)], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"embedded import failed:\n{done.stdout}\n{done.stderr}"
    # The bad records go straight onto the raw log, as on the cluster (a producer bypassing the gateway).
    with open_log(topology.RAW, embedded_dir=folder / "data" / "log") as raw_log:
        raw_log.append([(b"bad", record) for record in BAD_RECORDS])
    done = subprocess.run([*cli, "run"], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"embedded run failed:\n{done.stdout}\n{done.stderr}"
    done = subprocess.run(
        [sys.executable, "-c", _EMBEDDED_READ, str(folder / "data" / "chdb")],
        input=orjson.dumps(COMPARED),
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    found = orjson.loads(done.stdout)
    return {
        name: comparable(name, [(c, "") for c in found["columns"][name]], [tuple(r) for r in rows])
        for name, rows in found["rows"].items()
    }


def verify(run: FaultRun, accepted: list[str], timeout: float = 300.0) -> int:
    """Every accepted event in `touchpoints` exactly once, the merges as the master record has them, no
    lag left, every read model equal to the oracle. Returns the number of merges."""
    server, total = run.stack.server, len(run.raw)
    ids = [str(e.event_id) for e in run.events]
    assert sorted(set(accepted)) == sorted(ids), "the publisher did not get every event acknowledged"

    def everything_projected() -> tuple[bool, Any]:
        try:
            found = server.query(
                "SELECT (SELECT count() FROM touchpoints FINAL),"
                " (SELECT uniqExact(event_id) FROM touchpoints),"
                f" {PEOPLES_TOUCHES},"
                " (SELECT count() FROM dead_letters FINAL)"
            )[0]
        except ReadStoreError as exc:
            return False, str(exc)[:200]
        return tuple(found) == (total, total, total, len(BAD_RECORDS)), found

    try:
        wait_for(
            "every event in ClickHouse exactly once", everything_projected, run.processes, timeout, "worker-1"
        )
    except AssertionError as exc:
        raise AssertionError(f"{where_missing(run)}\n{exc}") from None
    raw_ids = {
        orjson.loads(value)["event_id"]
        for _p, _o, key, value in kcat(run.stack.bootstrap, run.stack.topic(topology.RAW))
        if key != "bad"
    }
    assert raw_ids == set(ids), "touchpoints.raw does not hold exactly the accepted events"
    resolution = worker_resolution(run.stack.bootstrap, run.stack.topic(topology.RESOLVED))
    assert set(resolution.first_contact) == set(ids)
    wait_for(
        "contact_merges to match the master record",
        merges_projected(server, run.stack.pg_url, set(resolution.first_contact.values())),
        run.processes,
        120,
        "worker-1",
    )
    consumed = [run.stack.topic(t) for t in CONSUMED]

    def no_lag() -> tuple[bool, Any]:
        lag = consumer_lag(run.stack.bootstrap, run.stack.group, consumed)
        return not any(lag.values()), lag

    wait_for("the consumer group's lag to reach 0", no_lag, run.processes, 180, "worker-1")
    applied = {
        e: (c, a)
        for e, c, a in server.query("SELECT event_id, contact_id, account_id FROM touchpoints FINAL")
    }
    owners = type(resolution)(
        resolution.records,
        {e: applied.get(e, (c, ""))[0] for e, c in resolution.first_contact.items()},
        {e: applied.get(e, ("", a))[1] for e, a in resolution.accounts.items()},
    )
    survivor = survivors(run.stack.pg_url, set(owners.first_contact.values()))
    data = oracle_dataset(run.raw, run.events, owners, survivor)
    assert_views_equal_oracle(server, data)
    assert_360_equals_oracle(server, data)
    return sum(1 for c, s in survivor.items() if c != s)


def where_missing(run: FaultRun) -> str:
    """Which events `touchpoints` lacks, by their record on `touchpoints.resolved`, and the group's lag:
    tells a record the consumer group skipped from a row ClickHouse lost."""
    resolution = worker_resolution(run.stack.bootstrap, run.stack.topic(topology.RESOLVED))
    have = {row[0] for row in run.stack.server.query("SELECT DISTINCT event_id FROM touchpoints")}
    missing: dict[int, list[int]] = {}
    for partition, offset, _key, value in resolution.records:
        if orjson.loads(value)["event"]["event_id"] not in have:
            missing.setdefault(partition, []).append(offset)
    lag = consumer_lag(run.stack.bootstrap, run.stack.group, [run.stack.topic(t) for t in CONSUMED])
    spans = {p: f"{min(o)}..{max(o)} ({len(o)})" for p, o in sorted(missing.items())}
    unresolved = len(run.raw) - len(resolution.first_contact)
    return (
        f"not in touchpoints: by touchpoints.resolved partition, offsets {spans}; events never resolved: "
        f"{unresolved}; consumer-group lag {lag}"
    )


def parts(items: list[dict[str, Any]], count: int) -> list[list[dict[str, Any]]]:
    size = -(-len(items) // count)
    return [items[i : i + size] for i in range(0, len(items), size)]


@pytest.mark.timeout(1800)
def test_three_workers_lose_and_double_nothing_through_broker_replica_and_worker_kills(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    raw, events = fault_events()
    seed = int(os.environ.get("TOUCHSTREAM_CLUSTER_SEED") or time.time_ns() % 1_000_000)
    rng = random.Random(seed)
    faults = ["broker", "clickhouse", "worker"]
    rng.shuffle(faults)
    print(
        f"\ncluster run: seed {seed} (TOUCHSTREAM_CLUSTER_SEED={seed} replays it), faults in order {faults}"
    )
    processes = Processes(tmp_path)
    started = time.monotonic()
    try:
        with cluster_stack(local_cluster, tmp_path) as stack:
            run = FaultRun(stack, processes, raw, events)
            run.start_relay()
            workers = ["worker-1", "worker-2", "worker-3"]
            for name in workers:
                run.start_worker(name, **WORKER_ENV)
            with KafkaEventLog(stack.bootstrap, stack.topic(topology.RAW)) as raw_log:
                raw_log.append([(b"bad", record) for record in BAD_RECORDS])
            segments = parts(raw, len(faults) + 1)
            accepted = publish(stack, segments[0])
            published = len(segments[0])
            for i, fault in enumerate(faults):
                # A random moment while this part is being processed.
                moment = published - len(segments[i]) + int(rng.uniform(0.2, 0.9) * len(segments[i]))
                wait_projected(run, moment)
                if fault == "broker":
                    node = rng.choice([1, 2, 3])
                    local_cluster.kill_broker(node)
                    what = f"broker {node}"
                elif fault == "clickhouse":
                    node = rng.choice([1, 2, 3, 4])
                    local_cluster.kill_clickhouse(node)
                    what = f"ClickHouse replica {node}"
                else:
                    victim = rng.choice(workers)
                    processes.kill(victim)
                    workers.remove(victim)
                    what = victim
                print(
                    f"  kill -9 {what} at {projected(stack.server)} rows projected of {published} published"
                )
                # The next part goes out into the outage; then the victim comes back.
                accepted += publish(stack, segments[i + 1])
                published += len(segments[i + 1])
                if fault == "worker":
                    workers.append(f"worker-{len(workers) + 2}")
                    run.start_worker(workers[-1], **WORKER_ENV)
                else:
                    local_cluster.up()
            merges = verify(run, accepted)
            cluster_models = read_models(stack.server)
            print(f"  {len(raw)} events, {merges} merges: exactly once and equal to the oracle")
    finally:
        processes.stop_all()
        local_cluster.up()  # leave the cluster whole for whoever runs next
    embedded = embedded_read_models(raw, tmp_path / "embedded")
    apart = grouping(cluster_models) ^ grouping(embedded)
    if apart:
        print(
            f"  identity decisions differ from the embedded run's for {sum(len(g) for g in apart)} events "
            f"({len(apart)} groups)"
        )
    differ = differences(canonical(cluster_models), canonical(embedded))
    for name, detail in differ.items():
        print(f"  differs from the embedded run: {name}: {detail}")
    assert not apart, "the cluster grouped the events into other contacts than the embedded run"
    unexpected = sorted(set(differ) - set(ARRIVAL_LOGS))
    assert not unexpected, f"the cluster's read models differ from the embedded run's: {unexpected}"
    print(
        f"  equal to the embedded run in {len(COMPARED) - len(differ)} of {len(COMPARED)} read models (ids "
        f"by canonical names; logs of arrival order: {sorted(ARRIVAL_LOGS)}); "
        f"{time.monotonic() - started:.0f}s"
    )


@pytest.mark.timeout(1800)
def test_throughput_with_one_two_and_three_workers(local_cluster: LocalCluster, tmp_path: Path) -> None:
    """A benchmark line: the whole history published first, then N workers started and timed until every
    event is in ClickHouse exactly once (the oracle checks it too)."""
    raw, events = fault_events()
    lines = []
    for count in (1, 2, 3):
        processes = Processes(tmp_path / f"w{count}")
        processes.folder.mkdir()
        try:
            with cluster_stack(local_cluster, processes.folder, tag=f"b{count}") as stack:
                run = FaultRun(stack, processes, raw, events)
                with KafkaEventLog(stack.bootstrap, stack.topic(topology.RAW)) as raw_log:
                    raw_log.append([(b"bad", record) for record in BAD_RECORDS])
                accepted = publish(stack, raw)
                run.start_relay()
                began = time.monotonic()
                for n in range(1, count + 1):
                    run.start_worker(f"worker-{n}", **WORKER_ENV)
                verify(run, accepted)
                seconds = time.monotonic() - began
        finally:
            processes.stop_all()
        lines.append(
            f"{count} worker(s): {len(raw)} events in {seconds:.1f}s = {len(raw) / seconds:.0f} events/s"
        )
    print("\ncluster throughput (start to all checked, incl. group join):\n  " + "\n  ".join(lines))
