"""The engine-independent pieces: a client that owns its loop thread (what Beam workers use),
its throttled-time meter, and its closing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from aiovertexchat import RateLimit
from aiovertexchat.emulator import EmulatorConfig
from aiovertexchat.integrations._worker import WorkerClient, make_factory

from .harness import ObservedEmulator, request_line


@pytest.fixture
def emulator() -> Iterator[ObservedEmulator]:
    with ObservedEmulator(EmulatorConfig()) as emu:
        yield emu


def loop_threads() -> int:
    return sum(t.name == "aiovertexchat-client" for t in threading.enumerate())


def test_time_held_back_by_the_rate_limit_is_measured_for_the_autoscaler(
    emulator: ObservedEmulator,
) -> None:
    before = loop_threads()
    # 10 requests a second, one at a time: 25 requests wait about 2.4 s in all.
    factory = make_factory(None, {"base_url": emulator.base_url, "api_key": "k",
                                  "rate_limit": RateLimit(rpm=600, burst=0.1)})
    worker = WorkerClient(factory)
    assert loop_threads() == before + 1
    try:
        started = time.monotonic()
        records = worker.run_all([request_line(f"t{i}") for i in range(25)])
        elapsed = time.monotonic() - started
        assert [r["custom_id"] for r in records] == [f"t{i}" for i in range(25)]
        assert all(r["error"] is None for r in records)
        throttled = worker.throttle.seconds
        # The limiter makes the run last >= 2.4 s, nearly all of it with requests waiting;
        # the meter samples every 0.1 s, so it may miss a sample at either end.
        assert 2.0 <= throttled <= elapsed + 0.2
        assert worker.throttle.take_whole_seconds() == int(throttled)
        assert worker.throttle.take_whole_seconds() == 0  # each second reported once
    finally:
        worker.close()
    assert worker.closed and loop_threads() == before
    worker.close()  # idempotent


def test_a_dropped_worker_client_closes_itself(emulator: ObservedEmulator) -> None:
    before = loop_threads()
    worker = WorkerClient(make_factory(None, {"base_url": emulator.base_url, "api_key": "k"}))
    assert worker.run_all([request_line("x")])[0]["error"] is None
    del worker  # engines holding it by weak reference drop it like this
    assert loop_threads() == before


def test_factory_and_options_are_exclusive() -> None:
    with pytest.raises(TypeError, match="either client_factory or client options"):
        make_factory(lambda: None, {"base_url": "http://x"})  # type: ignore[arg-type,return-value]
