"""The worker's consumer delivers a fetched message without tasks while the delivery does not wait, and
races a delivery that waits against the flow's suspension exactly as Faust does (streams/faust_consumer.py).
The whole worker suite (rebalances, killed workers: tests/faults) runs on it too."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from touchstream.streams.faust_consumer import LeanConsumer


def consumer() -> LeanConsumer:
    """Only what `wait_first` reads: the flow's and the service's events, and the loop."""
    lean = LeanConsumer.__new__(LeanConsumer)
    lean.suspend_flow = asyncio.Event()
    lean._stopped = asyncio.Event()
    lean._crashed = asyncio.Event()
    lean._loop = asyncio.get_running_loop()
    return lean


def run(test: Callable[[], Awaitable[None]]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # e.g. "coroutine ... was never awaited"
        asyncio.run(test())


def test_a_delivery_that_does_not_wait_is_done_without_a_task() -> None:
    async def test() -> None:
        lean = consumer()
        made: list[Any] = []
        loop = asyncio.get_running_loop()
        default = loop.get_task_factory()

        def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
            made.append(coro)
            return asyncio.Task(coro, loop=loop, **kwargs) if default is None else default(loop, coro)

        loop.set_task_factory(counting)

        async def deliver() -> str:
            return "delivered"

        delivery = deliver()
        result = await lean.wait_first(delivery, lean.suspend_flow.wait())
        assert (result.done, result.results, result.stopped) == ([delivery], ["delivered"], False)
        assert made == []

    run(test)


def test_a_delivery_that_waits_finishes_in_the_race_with_what_it_waited_for() -> None:
    async def test() -> None:
        lean = consumer()
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, ready.set_result, 41)

        async def deliver() -> int:
            got = await ready
            await asyncio.sleep(0)  # a bare yield to the loop as well
            return got + 1

        result = await lean.wait_first(deliver(), lean.suspend_flow.wait())
        assert (result.results, result.stopped) == ([42], False)

    run(test)


def test_a_waiting_delivery_is_cancelled_when_the_flow_is_suspended() -> None:
    async def test() -> None:
        lean = consumer()
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        cancelled: list[bool] = []

        async def deliver() -> None:
            try:
                await never
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        asyncio.get_running_loop().call_later(0.01, lean.suspend_flow.set)
        halted = lean.suspend_flow.wait()
        result = await lean.wait_first(deliver(), halted)
        assert result.done == [halted]
        await asyncio.sleep(0)  # the cancelled delivery runs its handler
        assert cancelled == [True]

    run(test)


@pytest.mark.parametrize("waits_first", [False, True])
def test_a_failing_delivery_raises_its_error(waits_first: bool) -> None:
    async def test() -> None:
        lean = consumer()

        async def deliver() -> None:
            if waits_first:
                await asyncio.sleep(0.001)
            raise ValueError("undecodable")

        with pytest.raises(ValueError, match="undecodable"):
            await lean.wait_first(deliver(), lean.suspend_flow.wait())

    run(test)


def test_with_the_flow_suspended_the_library_races_as_it_always_did() -> None:
    async def test() -> None:
        lean = consumer()
        lean.suspend_flow.set()

        async def deliver() -> None:
            await asyncio.get_running_loop().create_future()  # would wait for ever

        halted = lean.suspend_flow.wait()
        result = await lean.wait_first(deliver(), halted)
        assert result.done == [halted]

    run(test)
