"""The bounded lazy scheduler: concurrency bound, lazy pulls, stop, cancel, failures."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiovertexchat.batch.scheduler import BoundedScheduler


class Probe:
    """A source and a work function that record what the scheduler does."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.pulled = 0
        self.consumed = 0
        self.running = 0
        self.peak = 0
        self.max_ahead = 0
        self.cancelled: list[int] = []
        self.gates: dict[int, asyncio.Event] = {}
        self.changed = asyncio.Event()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait, without polling a clock, until the probe's state satisfies `condition`."""
        while not condition():
            self.changed.clear()
            await self.changed.wait()

    def source(self) -> Iterator[int]:
        for i in range(self.count):
            self.pulled += 1
            self.changed.set()
            self.max_ahead = max(self.max_ahead, self.pulled - self.consumed)
            yield i

    async def work(self, item: int) -> int:
        self.running += 1
        self.changed.set()
        self.peak = max(self.peak, self.running)
        try:
            gate = self.gates.get(item)
            if gate is not None:
                await gate.wait()
            else:
                for _ in range(1 + item % 3):
                    await asyncio.sleep(0)
            return item * 10
        except asyncio.CancelledError:
            self.cancelled.append(item)
            raise
        finally:
            self.running -= 1
            self.changed.set()


@settings(max_examples=25, deadline=None)
@given(count=st.integers(0, 120), concurrency=st.integers(1, 12))
def test_every_item_once_bounded_and_lazy(count: int, concurrency: int) -> None:
    async def run() -> list[int]:
        probe = Probe(count)
        scheduler = BoundedScheduler(probe.source(), probe.work, concurrency=concurrency)
        results = []
        async for result in scheduler:
            probe.consumed += 1
            results.append(result)
        assert probe.peak <= concurrency
        if count >= concurrency:
            assert probe.peak == concurrency
        # In flight plus finished-but-unconsumed never exceeds 2 x concurrency.
        assert probe.max_ahead <= 2 * concurrency
        assert scheduler.in_flight == 0 and scheduler.taken == count
        return results

    assert sorted(asyncio.run(run())) == [i * 10 for i in range(count)]


async def test_results_come_in_completion_order() -> None:
    probe = Probe(3)
    probe.gates = {0: asyncio.Event(), 1: asyncio.Event(), 2: asyncio.Event()}
    scheduler = BoundedScheduler(probe.source(), probe.work, concurrency=3)
    results = aiter(scheduler)
    probe.gates[2].set()
    assert await anext(results) == 20
    probe.gates[0].set()
    assert await anext(results) == 0
    probe.gates[1].set()
    assert await anext(results) == 10
    with pytest.raises(StopAsyncIteration):
        await anext(results)


async def test_async_source_is_pulled_lazily_and_closed() -> None:
    pulled = 0
    closed = False

    async def source() -> AsyncIterator[int]:
        nonlocal pulled, closed
        try:
            for i in range(1000):
                pulled += 1
                yield i
        finally:
            closed = True

    async def work(item: int) -> int:
        await asyncio.sleep(0)
        return item

    scheduler = BoundedScheduler(source(), work, concurrency=4)
    results = aiter(scheduler)
    assert await anext(results) in range(4)
    assert pulled <= 1 + 2 * 4 + 1
    assert not closed
    await results.aclose()  # type: ignore[attr-defined]
    assert closed  # now, not whenever the garbage collector gets to it


async def test_stop_takes_no_new_items_and_lets_in_flight_finish() -> None:
    probe = Probe(100)
    probe.gates = {i: asyncio.Event() for i in range(100)}
    scheduler = BoundedScheduler(probe.source(), probe.work, concurrency=4)
    results = aiter(scheduler)
    first = asyncio.ensure_future(anext(results))
    await probe.until(lambda: probe.running == 4)
    scheduler.stop()
    for i in range(4):
        probe.gates[i].set()
    got = [await first] + [r async for r in results]
    assert sorted(got) == [0, 10, 20, 30]
    assert probe.pulled == 4 and probe.cancelled == []


async def test_cancel_drops_in_flight_but_delivers_finished_results() -> None:
    probe = Probe(10)
    probe.gates = {i: asyncio.Event() for i in range(10)}
    scheduler = BoundedScheduler(probe.source(), probe.work, concurrency=3)
    while_running = aiter(scheduler)
    first = asyncio.ensure_future(anext(while_running))
    await probe.until(lambda: probe.running == 3)
    probe.gates[1].set()
    assert await first == 10
    await probe.until(lambda: probe.running == 3 and probe.pulled == 4)  # 3 replaced 1
    scheduler.cancel()
    rest = [r async for r in while_running]
    assert rest == []
    assert sorted(probe.cancelled) == [0, 2, 3]
    assert probe.pulled == 4


async def test_a_finished_result_waiting_for_the_consumer_survives_cancel() -> None:
    probe = Probe(5)
    scheduler = BoundedScheduler(probe.source(), probe.work, concurrency=1)
    results = aiter(scheduler)
    assert await anext(results) == 0
    # The lone worker queues result 10, finishes item 2 and parks handing 20 over (the queue
    # holds one); cancel must lose neither.
    await probe.until(lambda: probe.pulled == 3 and probe.running == 0)
    scheduler.cancel()
    rest = [r async for r in results]
    assert rest == [10, 20]
    assert probe.cancelled == [] and probe.pulled == 3


async def test_source_error_is_raised_after_finished_results() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("disk gone")

    async def work(item: int) -> int:
        return item

    scheduler = BoundedScheduler(source(), work, concurrency=2)
    got = []
    with pytest.raises(OSError, match="disk gone"):
        async for result in scheduler:
            got.append(result)
    assert sorted(got) == [1, 2]


async def test_breaking_out_cancels_work_in_flight() -> None:
    probe = Probe(50)
    probe.gates = {i: asyncio.Event() for i in range(1, 50)}
    scheduler = BoundedScheduler(probe.source(), probe.work, concurrency=5)
    # `break` alone leaves an async generator to the garbage collector: aclosing() is the way.
    async with contextlib.aclosing(aiter(scheduler)) as results:
        async for result in results:
            assert result == 0
            break
    assert probe.running == 0
    assert sorted(probe.cancelled) == [1, 2, 3, 4, 5]


async def test_misuse() -> None:
    async def work(item: int) -> int:
        return item

    with pytest.raises(ValueError, match="concurrency"):
        BoundedScheduler([1], work, concurrency=0)
    scheduler = BoundedScheduler([1], work, concurrency=1)
    assert [r async for r in scheduler] == [1]
    with pytest.raises(RuntimeError, match="only once"):
        async for _ in scheduler:
            pass
