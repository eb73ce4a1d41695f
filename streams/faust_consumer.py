"""The worker's Kafka consumer: Faust's aiokafka consumer, with each fetched message handed to its topic's
streams without the four asyncio tasks Faust's fetch loop creates for it.

Faust's fetch loop delivers every message by racing the delivery against the flow being suspended (a
rebalance), the consumer stopping and it crashing: `wait_first(callback(message), suspend_flow.wait())`,
which wraps each of the four in a task and waits on them. That costs ~21 us a message (measured with
uvloop), ~2 messages a touchpoint in the worker: a twelfth of its busy time. Yet a delivery almost never
waits: it puts the decoded event in its stream's queue and returns (it waits only while the flow is
suspended, the producer's buffer is over its mark, or a stream's queue is full).

So `LeanConsumer.wait_first` runs the delivery at once, as an eager task would, while the flow is active:

- it finishes without waiting (the usual case): that is the race's outcome, as nothing else could run
  in between — no task is made;
- it waits: the rest of it runs in the race exactly as before (`_Resumed`), so a rebalance still
  interrupts a delivery that waits.

With the flow suspended, the consumer stopping or crashed, any other use of `wait_first` (a timeout,
another number of awaitables) goes the library's way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any

from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.types.transports import TransportT
from mode.services import WaitArgT, WaitResults
from mode.utils.times import Seconds


class LeanConsumer(AIOKafkaConsumer):
    """Faust's aiokafka consumer whose deliveries run without tasks while they do not wait."""

    async def wait_first(self, *coros: WaitArgT, timeout: Seconds | None = None) -> WaitResults:
        if timeout is not None:
            return await super().wait_first(*coros, timeout=timeout)
        if len(coros) != 2 or self._flow_halted():
            return await super().wait_first(*coros)
        delivery, halted = coros
        if not (asyncio.iscoroutine(delivery) and asyncio.iscoroutine(halted)):
            return await super().wait_first(*coros)
        try:
            pending = delivery.send(None)
        except StopIteration as finished:
            halted.close()  # never awaited: the race was over before it began
            return WaitResults([delivery], [finished.value], False)
        except BaseException:
            halted.close()
            raise
        return await super().wait_first(_Resumed(delivery, pending), halted)

    def _flow_halted(self) -> bool:
        return bool(self.suspend_flow.is_set() or self._stopped.is_set() or self._crashed.is_set())


class _Resumed:
    """The rest of a coroutine that ran up to its first wait, where it yielded `pending` to its task."""

    __slots__ = ("coro", "pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self.coro, self.pending = coro, pending

    def __await__(self) -> Generator[Any, Any, Any]:
        return _rest_of(self.coro, self.pending)


def _rest_of(coro: Coroutine[Any, Any, Any], pending: Any) -> Generator[Any, Any, Any]:
    """Drive `coro` on from its first wait as `await` would have: what it yields goes to the task running
    this (which resumes it when that future is done), what the task sends or throws goes back into it."""
    while True:
        try:
            sent = yield pending
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # the task's cancellation, or a failed future's error
            try:
                pending = coro.throw(exc)
            except StopIteration as finished:
                return finished.value
        else:
            try:
                pending = coro.send(sent)
            except StopIteration as finished:
                return finished.value


def with_lean_consumer(transport: TransportT) -> TransportT:
    """`transport` consuming with `LeanConsumer` when it is Faust's aiokafka transport (other transports,
    as tests may use, are left as they are)."""
    if transport.Consumer is AIOKafkaConsumer:
        transport.Consumer = LeanConsumer  # type: ignore[misc]  # the transport's own class, per instance
    return transport
