"""`touchstream worker`: migrate the read store, then become the Faust worker (streams/faust_app.py).

The process execs `python -m faust -A touchstream.adapters.worker_app -L uvloop worker`, so the worker keeps
this process id (supervisors and tests signal the process they started) and Faust's own signal handling
stops it cleanly on SIGTERM / SIGINT.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

FAUST_APP = "touchstream.adapters.worker_app"
LOG_LEVELS = ("crit", "error", "warn", "info", "debug")


def faust_argv(loglevel: str = "warn", loop: str = "uvloop") -> list[str]:
    return [
        sys.executable,
        "-m",
        "faust",
        "-A",
        FAUST_APP,
        "-L",
        loop,
        "worker",
        "--without-web",
        "-l",
        loglevel,
    ]


#: How long a starting worker waits for its read store (a ClickHouse server restarting, a replica being
#: replaced) before it gives up with the last error: generous, as a supervisor restarting the worker in a
#: loop would only add noise.
READ_STORE_WAIT_S = 300.0


def prepare(migrate: bool = True, timeout_s: float = READ_STORE_WAIT_S) -> str:
    """Apply pending migrations and reload the config tables, waiting for a read store that is not reachable
    yet (adapters/storage/migrate.py `prepare_when_ready`); returns where (for the log line)."""
    from ..bootstrap import bootstrap
    from ..storage.migrate import prepare_when_ready

    def say(attempt: int, exc: Exception, pause_s: float) -> None:
        typer.echo(
            f"preparing the read store: attempt {attempt} failed (server unreachable or another process "
            f"migrating?), retrying in {pause_s:.1f} s: {exc}",
            err=True,
        )

    runtime = bootstrap()
    prepare_when_ready(runtime.read_store, apply_migrations=migrate, timeout_s=timeout_s, on_retry=say)
    settings = runtime.settings
    where = "chDB" if settings.embedded else f"{settings.clickhouse_host}:{settings.clickhouse_port}"
    return f"{where}/{settings.clickhouse_database}"


def pin_offsets() -> str:
    """Every partition the worker consumes gets a committed offset first (adapters/logs/group_offsets.py)."""
    from ...streams.topology import DLQ, RAW, RESOLVED, masterdata_source, topic_name
    from ..bootstrap import bootstrap
    from ..logs.group_offsets import pin_uncommitted_partitions
    from ..worker_app import worker_settings

    settings = bootstrap().settings
    group = worker_settings(settings).app_id
    masterdata = masterdata_source(forwarding=bool(settings.webhook_url))
    topics = [topic_name(base, settings.topic_prefix) for base in (RAW, RESOLVED, masterdata, DLQ)]
    pinned = pin_uncommitted_partitions(settings.kafka_bootstrap, group, topics)
    return f"{pinned} partition(s) of group {group} pinned to their first offset"


def worker(
    loglevel: Annotated[
        str, typer.Option("--loglevel", "-l", help="Faust log level: crit, error, warn, info or debug")
    ] = "warn",
    migrate: Annotated[
        bool, typer.Option(help="apply pending ClickHouse migrations before starting (idempotent)")
    ] = True,
    loop: Annotated[str, typer.Option(help="event loop: uvloop (measured faster) or aio")] = "uvloop",
) -> None:
    """Run the stream processors: a Faust worker consuming `touchpoints.raw`, `touchpoints.resolved`,
    `masterdata.merges` (`masterdata.events` with a webhook) and `touchpoints.dlq`, writing ClickHouse
    and publishing `touchpoints.resolved`, `customer360.changes` and `signals.*`.

    **Before the first start**: create the topics (`touchstream topics create`) — the worker never creates
    them — and start the relay of the master record (`touchstream relay`, a process of its own).

    **Environment** (read by every worker; start more workers with the same settings to share the
    partitions of one consumer group):

    - `TOUCHSTREAM_MODE=production` — ClickHouse server and PostgreSQL master record (the embedded default
      uses chDB and SQLite in `TOUCHSTREAM_DATA_DIR`); Kafka is always used.
    - `TOUCHSTREAM_KAFKA_BOOTSTRAP` (127.0.0.1:19092), `TOUCHSTREAM_TOPIC_PREFIX` (also prefixes the
      consumer group).
    - `TOUCHSTREAM_CLICKHOUSE_HOST` / `_PORT` / `_DATABASE` (127.0.0.1, 19000, touchstream).
    - `TOUCHSTREAM_MASTER_RECORD_URL` (postgresql://USER@HOST:PORT/DB; default `TOUCHSTREAM_POSTGRES_DSN`).
    - `TOUCHSTREAM_WORKER_ID` (touchstream-worker: the Faust app id and consumer group),
      `TOUCHSTREAM_WORKER_BATCH` (5,000 records) and `TOUCHSTREAM_WORKER_BATCH_WITHIN` (0.5 s) per batch,
      `TOUCHSTREAM_WORKER_DATADIR` (Faust's folder; default `$TOUCHSTREAM_DATA_DIR/faust`).
    - `TOUCHSTREAM_WEBHOOK_URL` + `TOUCHSTREAM_WEBHOOK_SECRET` — forward ContactAttributeChanged, signed.

    Offsets move only after a batch's effects are durable (rows acknowledged by ClickHouse, records by
    Kafka); failures are retried with backoff, so a worker that cannot reach ClickHouse waits, it does not
    skip. Example: `TOUCHSTREAM_MODE=production touchstream worker -l info`. More: docs/worker.md.
    """
    if loglevel not in LOG_LEVELS:
        raise typer.BadParameter(f"expected one of {', '.join(LOG_LEVELS)}", param_hint="--loglevel")
    where = prepare(migrate)
    pinned = pin_offsets()
    typer.echo(f"read store ready: {where}; {pinned}; starting the Faust worker", err=True)
    argv = faust_argv(loglevel, loop)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)


def main() -> None:
    typer.run(worker)


if __name__ == "__main__":  # `python -m touchstream.adapters.cli.worker` = `touchstream worker`
    main()
