"""A fault scenario's publisher that meets the fault however slowly the machine runs.

FaultRun.publish streams every event at a fixed rate from the start, so on a loaded machine (the full
suite on two cores) the whole stream can be published, and even projected, before the test breaks
anything: the fault then meets no traffic and the test sees nothing to check. `publish_held` publishes up to
`hold_at` events and waits there until the test has broken what it breaks and calls `release()`; the rest
is published into the fault. The test then waits on what it can observe (a failed flush, a logged retry),
bounded, instead of on the clock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from pipeline_harness import FaultRun, SteadyPublisher, wait_for
from unit.test_read_models_oracle import BAD_RECORDS

from touchstream.adapters.logs.kafka_log import KafkaEventLog
from touchstream.adapters.sdk.publisher import Publisher
from touchstream.streams import topology

#: How long the publisher waits to be released, at most (a bound, not a duration of the scenario).
HOLD_S = 180.0


@dataclass
class HeldPublisher(SteadyPublisher):
    """A SteadyPublisher that stops before any chunk once `hold_at` events are acknowledged, and goes on
    when the test calls `release()` (everything) or `release(more)` (up to `more` events further)."""

    hold_at: int = 0
    holding: bool = False  # waiting to be released right now
    released: bool = False
    _gate: threading.Condition = field(default_factory=threading.Condition)

    def _may_go(self) -> bool:
        return self.released or self.published < self.hold_at

    def _publish(self, publisher: Publisher, chunk: list[dict[str, Any]]) -> None:
        with self._gate:
            self.holding = not self._may_go()
            if not self._gate.wait_for(self._may_go, HOLD_S):
                raise AssertionError(f"the publisher was held for over {HOLD_S:.0f}s")
            self.holding = False
        super()._publish(publisher, chunk)

    def release(self, more: int | None = None) -> None:
        with self._gate:
            if more is None:
                self.released = True
            else:
                self.hold_at = self.published + more
            self._gate.notify_all()


def publish_held(fault_run: FaultRun, hold_at: int, rate: float = 150.0) -> HeldPublisher:
    """FaultRun.publish, held at `hold_at` events: the records that are not events first, then the events;
    returns once the publisher holds (and so `hold_at` events were acknowledged)."""
    raw_topic = fault_run.stack.topic(topology.RAW)
    with KafkaEventLog(fault_run.stack.bootstrap, raw_topic) as raw_log:
        raw_log.append([(b"bad", record) for record in BAD_RECORDS])
    publisher = HeldPublisher(fault_run.stack.bootstrap, raw_topic, fault_run.raw, rate=rate, hold_at=hold_at)
    fault_run.publisher = publisher
    publisher.start()
    wait_for(
        f"the publisher to hold at {hold_at} events",
        lambda: (publisher.holding or publisher.error is not None, publisher.published),
        fault_run.processes,
        HOLD_S,
    )
    if publisher.error is not None:
        raise AssertionError(f"the publisher failed: {publisher.error!r}") from publisher.error
    return publisher
