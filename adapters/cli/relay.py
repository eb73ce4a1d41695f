"""`touchstream relay`: the master record's notification log, in order, to `masterdata.events`.

A process of its own (one per master record; a second one would only publish duplicates, which consumers
drop by event id). The work is adapters/master_record/relay.py's; this command only fills in the defaults
from the environment, like every other command.
"""

from __future__ import annotations

from typing import Annotated

import typer


def relay(
    store: Annotated[
        str | None,
        typer.Option(help="master-record URL (default: TOUCHSTREAM_MASTER_RECORD_URL, else by mode)"),
    ] = None,
    bootstrap: Annotated[
        str | None, typer.Option(help="Kafka bootstrap servers (default: TOUCHSTREAM_KAFKA_BOOTSTRAP)")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="notifications per publish")] = 500,
) -> None:
    """Relay the master record's events to Kafka (`masterdata.events`, and its merges again to
    `masterdata.merges`, which the workers read; both with `TOUCHSTREAM_TOPIC_PREFIX`).

    Publishes keyed by aggregate id with an idempotent acks=all producer and records its position in the
    master record's own database only after Kafka acknowledged; a restart resumes with no gap. Stop it
    with SIGTERM or Ctrl-C. Example: `TOUCHSTREAM_MODE=production touchstream relay`.
    """
    from ...streams import topology
    from ..bootstrap import bootstrap as compose, codec_for
    from ..master_record import relay as relay_module

    runtime = compose()
    settings = runtime.settings
    relay_module.main(
        [
            "--store",
            store or runtime.master_record_url(),
            "--bootstrap",
            bootstrap or settings.kafka_bootstrap,
            "--topic",
            topology.topic_name(topology.MASTERDATA, settings.topic_prefix),
            "--merges-topic",
            topology.topic_name(topology.MASTERDATA_MERGES, settings.topic_prefix),
            "--batch",
            str(batch),
        ],
        codec=codec_for(topology.MASTERDATA, settings),
    )


def main() -> None:
    typer.run(relay)


if __name__ == "__main__":  # `python -m touchstream.adapters.cli.relay` = `touchstream relay`
    main()
