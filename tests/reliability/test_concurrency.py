"""`ConcurrencyLimiter` as a unit: FIFO slots, cancellation, and the adaptive limit (cut on
overload, grown on success). How the client uses it is in tests/http/test_attempts.py.

Nothing here asserts on wall-clock time.
"""

from __future__ import annotations

import asyncio

import pytest

from aiovertexchat._reliability.concurrency import ConcurrencyLimiter, Slot
from tests.helpers import settle, within

# -- ConcurrencyLimiter ---------------------------------------------------------------------------


async def test_admits_up_to_the_ceiling_then_queues() -> None:
    limiter = ConcurrencyLimiter(3)
    slots = [await limiter.acquire() for _ in range(3)]
    assert limiter.in_flight == 3 and limiter.queued == 0
    fourth = asyncio.create_task(limiter.acquire())
    await settle()
    assert not fourth.done()
    assert limiter.queued == 1 and limiter.in_flight == 3
    limiter.release(slots[0])
    slot = await within(fourth)
    assert limiter.in_flight == 3 and limiter.queued == 0
    for s in [*slots[1:], slot]:
        limiter.release(s)
    assert limiter.in_flight == 0


async def test_waiters_are_served_in_arrival_order() -> None:
    limiter = ConcurrencyLimiter(1)
    held = await limiter.acquire()
    order: list[int] = []

    async def worker(i: int) -> None:
        slot = await limiter.acquire()
        order.append(i)
        await asyncio.sleep(0)
        limiter.release(slot)

    tasks = []
    for i in range(6):
        tasks.append(asyncio.create_task(worker(i)))
        await asyncio.sleep(0)  # each one queues before the next is created
    assert limiter.queued == 6
    limiter.release(held)
    await within(asyncio.gather(*tasks))
    assert order == list(range(6))
    assert limiter.in_flight == 0 and limiter.queued == 0


async def test_a_newcomer_does_not_overtake_queued_waiters() -> None:
    limiter = ConcurrencyLimiter(2)
    a, b = await limiter.acquire(), await limiter.acquire()
    order: list[str] = []

    async def worker(name: str) -> None:
        slot = await limiter.acquire()
        order.append(name)
        limiter.release(slot)

    first = asyncio.create_task(worker("first"))
    await settle()
    limiter.release(a)  # granted to "first", which has not run yet
    late = asyncio.create_task(worker("late"))
    await within(asyncio.gather(first, late))
    assert order == ["first", "late"]
    limiter.release(b)
    assert limiter.in_flight == 0


async def test_release_is_idempotent() -> None:
    limiter = ConcurrencyLimiter(1)
    slot = await limiter.acquire()
    first = asyncio.create_task(limiter.acquire())
    second = asyncio.create_task(limiter.acquire())
    await settle()
    limiter.release(slot)
    limiter.release(slot)  # must not free a second slot
    assert slot.released
    granted = await within(first)
    await settle()
    assert not second.done()
    assert limiter.in_flight == 1 and limiter.queued == 1
    limiter.release(granted)
    last = await within(second)
    limiter.release(last)
    limiter.release(last)
    assert limiter.in_flight == 0


async def test_cancelling_a_queued_waiter_removes_it() -> None:
    limiter = ConcurrencyLimiter(1)
    held = await limiter.acquire()
    order: list[int] = []

    async def worker(i: int) -> None:
        slot = await limiter.acquire()
        order.append(i)
        limiter.release(slot)

    tasks = [asyncio.create_task(worker(i)) for i in range(3)]
    await settle()
    assert limiter.queued == 3
    tasks[1].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[1]
    assert limiter.queued == 2
    limiter.release(held)
    await within(asyncio.gather(tasks[0], tasks[2]))
    assert order == [0, 2]
    assert limiter.in_flight == 0 and limiter.queued == 0


async def test_cancelled_waiter_skipped_when_released_in_the_same_tick() -> None:
    # The waiter's future is cancelled but its task has not yet removed it from the queue when
    # the slot comes back: the slot must go to the next waiter.
    limiter = ConcurrencyLimiter(1)
    held = await limiter.acquire()
    first = asyncio.create_task(limiter.acquire())
    second = asyncio.create_task(limiter.acquire())
    await settle()
    first.cancel()
    limiter.release(held)
    slot = await within(second)
    with pytest.raises(asyncio.CancelledError):
        await within(first)
    assert limiter.in_flight == 1 and limiter.queued == 0
    limiter.release(slot)
    assert limiter.in_flight == 0


async def test_waiter_cancelled_as_it_is_granted_passes_the_slot_on() -> None:
    limiter = ConcurrencyLimiter(1)
    held = await limiter.acquire()
    doomed = asyncio.create_task(limiter.acquire())
    done: list[int] = []

    async def worker(i: int) -> None:
        slot = await limiter.acquire()
        await asyncio.sleep(0)
        done.append(i)
        limiter.release(slot)

    others = [asyncio.create_task(worker(i)) for i in range(3)]
    await settle()
    assert limiter.queued == 4
    limiter.release(held)  # grants `doomed` (counted in flight) ...
    assert limiter.in_flight == 1
    doomed.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await within(doomed)
    await within(asyncio.gather(*others))
    assert done == [0, 1, 2]
    assert limiter.in_flight == 0 and limiter.queued == 0


async def test_no_ceiling_is_unlimited_but_counted() -> None:
    limiter = ConcurrencyLimiter(None)
    assert limiter.limit is None and not limiter.adaptive
    slots = [await limiter.acquire() for _ in range(500)]
    assert limiter.in_flight == 500 and limiter.queued == 0
    assert limiter.on_overload(slots[0]) is False
    assert limiter.limit is None and limiter.cuts == 0
    for slot in slots:
        limiter.release(slot)
    assert limiter.in_flight == 0


async def test_overload_halves_once_per_generation_down_to_the_floor() -> None:
    limiter = ConcurrencyLimiter(8, floor=3)
    wave = [await limiter.acquire() for _ in range(4)]
    assert limiter.on_overload(wave[0]) is True
    assert limiter.limit == 4 and limiter.cuts == 1
    # The rest of the wave was admitted before the cut: its 429s say nothing new.
    for slot in wave[1:]:
        assert limiter.on_overload(slot) is False
    assert limiter.limit == 4 and limiter.cuts == 1
    for slot in wave:
        limiter.release(slot)

    late = await limiter.acquire()  # admitted after the cut
    assert late.generation == 1
    assert limiter.on_overload(late) is True
    assert limiter.limit == 3  # 4 * 0.5 = 2, held at the floor
    newest = await limiter.acquire()
    assert limiter.on_overload(newest) is True
    assert limiter.limit == 3 and limiter.cuts == 3
    limiter.release(late)
    limiter.release(newest)


async def test_overload_floor_defaults_to_one() -> None:
    limiter = ConcurrencyLimiter(5)
    for _ in range(6):
        slot = await limiter.acquire()
        limiter.on_overload(slot)
        limiter.release(slot)
    assert limiter.limit == 1


async def test_a_cut_limit_admits_nobody_until_in_flight_drops_below_it() -> None:
    limiter = ConcurrencyLimiter(4)
    slots = [await limiter.acquire() for _ in range(4)]
    assert limiter.on_overload(slots[0])
    assert limiter.limit == 2
    waiter = asyncio.create_task(limiter.acquire())
    await settle()
    limiter.release(slots[0])
    limiter.release(slots[1])
    await settle()
    assert not waiter.done() and limiter.in_flight == 2
    limiter.release(slots[2])
    granted = await within(waiter)
    assert limiter.in_flight == 2
    limiter.release(slots[3])
    limiter.release(granted)
    assert limiter.in_flight == 0


async def test_success_grows_the_limit_by_one_over_limit_up_to_the_ceiling() -> None:
    limiter = ConcurrencyLimiter(16)
    slot = await limiter.acquire()
    limiter.on_overload(slot)
    limiter.release(slot)
    assert limiter.limit == 8
    limiter.on_success()
    assert limiter._limit == pytest.approx(8 + 1 / 8)
    before = limiter._limit
    limiter.on_success()
    assert limiter._limit == pytest.approx(before + 1 / before)
    assert limiter.limit == 8  # a fraction of a slot admits nobody
    for _ in range(1000):
        limiter.on_success()
    assert limiter.limit == 16 and limiter._limit == 16.0
    limiter.on_success()
    assert limiter.limit == 16


async def test_growth_slows_near_the_limit_of_the_last_cut() -> None:
    limiter = ConcurrencyLimiter(16)
    slot = await limiter.acquire()
    limiter.on_overload(slot)  # pushed back at 16
    limiter.release(slot)
    while limiter._limit < 15.0:
        limiter.on_success()
    before = limiter._limit
    limiter.on_success()
    assert limiter._limit - before == pytest.approx(1 / before / 8)


async def test_success_that_raises_the_limit_admits_a_waiter() -> None:
    limiter = ConcurrencyLimiter(8)
    held = [await limiter.acquire() for _ in range(4)]
    limiter.on_overload(held[0])
    assert limiter.limit == 4
    waiter = asyncio.create_task(limiter.acquire())
    await settle()
    assert not waiter.done()
    successes = 0
    while limiter.limit == 4:
        limiter.on_success()
        successes += 1
        await settle()
        assert waiter.done() == (limiter.limit == 5)
    assert successes == 5  # 4 + 1/4 + 1/4.25 + ... crosses 5 on the fifth
    extra = await within(waiter)
    assert limiter.in_flight == 5
    for slot in [*held, extra]:
        limiter.release(slot)
    assert limiter.in_flight == 0


async def test_non_adaptive_limiter_never_moves() -> None:
    limiter = ConcurrencyLimiter(4, adaptive=False)
    slot = await limiter.acquire()
    assert limiter.on_overload(slot) is False
    limiter.on_success()
    assert limiter.limit == 4 and limiter.cuts == 0
    limiter.release(slot)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((0,), {}),
        ((-3,), {}),
        ((4,), {"floor": 0}),
        ((4,), {"floor": 5}),
        ((4,), {"decrease": 0.0}),
        ((4,), {"decrease": 1.0}),
        ((4,), {"decrease": 1.5}),
        ((4,), {"decrease": -0.5}),
    ],
)
def test_concurrency_limiter_validation(args: tuple[int], kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ConcurrencyLimiter(*args, **kwargs)  # type: ignore[arg-type]


def test_concurrency_limiter_valid_edges() -> None:
    assert ConcurrencyLimiter(1, floor=1).limit == 1
    assert ConcurrencyLimiter(None, floor=50).limit is None  # no ceiling to be above
    assert ConcurrencyLimiter(4, decrease=0.9).limit == 4
    assert Slot(0).released is False
