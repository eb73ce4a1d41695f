"""`touchstream worker` with one fault injected into Faust: after the worker's first seek to the committed
offsets, the consumer's read offset of one partition of `touchpoints.resolved` is left ahead of the fetch
position (`TOUCHSTREAM_TEST_STALE_READ_OFFSET=<partition>:<offset>`).

That is the state a rebalance can leave behind in faust-streaming 0.15.3 (streams/offsets.py): Faust then
drops the records below that offset without handing them to the agent ("DROPPED MESSAGE ROFF" in
`Consumer._drain_messages`), and hands over the ones after. Used by tests/faults/test_fault_offsets.py.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from touchstream.adapters.cli.worker import pin_offsets, prepare
from touchstream.adapters.worker_app import build_app
from touchstream.streams.topology import RESOLVED, topic_name


def main() -> None:
    partition, offset = (int(x) for x in os.environ["TOUCHSTREAM_TEST_STALE_READ_OFFSET"].split(":"))
    prepare(True)
    pin_offsets()
    app = build_app()
    topic = topic_name(RESOLVED, os.environ.get("TOUCHSTREAM_TOPIC_PREFIX", ""))
    injected: list[bool] = []

    def install(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        consumer: Any = app.consumer
        if injected or getattr(consumer, "perform_seek_wrapped", False):
            return
        seek = consumer.perform_seek

        async def perform_seek() -> None:
            await seek()
            for tp in list(consumer._read_offset):
                if not injected and tp.topic == topic and tp.partition == partition:
                    consumer._read_offset[tp] = offset
                    injected.append(True)
                    print(f"injected: read offset of {tp} set to {offset}", file=sys.stderr, flush=True)

        consumer.perform_seek = perform_seek
        consumer.perform_seek_wrapped = True

    app.on_partitions_assigned.connect(install)
    sys.argv = [sys.argv[0], "worker", "--without-web", "-l", "info"]
    app.main()


if __name__ == "__main__":
    main()
