"""`VertexChat`, the blocking client: the same calls without `await`, from threads and from a
thread that runs its own event loop, over one private loop thread that `close()` ends.

The emulator runs on its own loop in another thread here, as a remote server would: a blocking
call would otherwise hold up the loop that has to answer it.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pydantic
import pytest

from aiovertexchat import (
    AuthenticationError,
    ChatCompletion,
    RateLimitError,
    RetryPolicy,
    SyncChatStream,
    VertexChat,
)
from aiovertexchat.emulator import Emulator, EmulatorConfig

MODEL = "google/gemini-2.5-flash"
HELLO: list[Any] = [{"role": "user", "content": "Say this is a test"}]


class Weather(pydantic.BaseModel):
    city: str
    days: int


class ThreadedEmulator:
    """An emulator serving from its own event loop in a background thread."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.loop = asyncio.new_event_loop()
        self.emu = Emulator(config)
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-emulator")

    def __enter__(self) -> Emulator:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.emu.start(), self.loop).result(10)
        return self.emu

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.emu.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "aiovertexchat-loop"]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with ThreadedEmulator(EmulatorConfig()) as emulator:
        yield emulator
    gc.collect()
    assert loop_threads() == []


@pytest.fixture
def client(emu: Emulator) -> Iterator[VertexChat]:
    with VertexChat(
        base_url=emu.vertex_base_url(), api_key="t", retry=RetryPolicy(base=0.001, cap=0.01)
    ) as chat:
        yield chat
    assert chat.connections_in_use == 0


def test_create_stream_parse_and_events(client: VertexChat) -> None:
    completion = client.chat.completions.create(model=MODEL, messages=HELLO)
    assert isinstance(completion, ChatCompletion) and completion.choices[0].message.content
    stream = client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
    assert isinstance(stream, SyncChatStream)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == completion.choices[0].message.content
    assert stream.completion.choices[0].message.content == text
    assert stream.finished and stream.response.status_code == 200
    parsed = client.beta.chat.completions.parse(
        model=MODEL, messages=HELLO, response_format=Weather
    )
    assert isinstance(parsed.choices[0].message.parsed, Weather)
    with client.chat.completions.stream(model=MODEL, messages=HELLO) as events:
        kinds = [event.type for event in events]
        final = events.get_final_completion()
    assert kinds[0] == "chunk" and kinds[-1] == "content.done" and "content.delta" in kinds
    assert final.choices[0].message.content == text


def test_raw_and_streaming_responses(client: VertexChat) -> None:
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=HELLO)
    assert raw.status_code == 200 and raw.headers["X-Request-Id"].startswith("emu-")
    assert raw.parse().choices[0].message.content
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=HELLO, stream=True
    ) as response:
        stream = response.parse()
        assert next(iter(stream)).choices  # left unfinished: the block closes it
    assert client.connections_in_use == 0


def test_a_broken_off_stream_gives_its_connection_back(client: VertexChat) -> None:
    for chunk in client.chat.completions.create(model=MODEL, messages=HELLO, stream=True):
        assert chunk.choices
        break  # the stream is dropped unclosed
    gc.collect()
    with client.chat.completions.create(model=MODEL, messages=HELLO, stream=True) as stream:
        next(stream)
    # The dropped one is closed on the client's loop; a call there lets that run first.
    client.chat.completions.create(model=MODEL, messages=HELLO)
    assert client.connections_in_use == 0


def test_errors_are_the_same_classes(emu: Emulator, client: VertexChat) -> None:
    with pytest.raises(RateLimitError) as info:
        client.chat.completions.create(
            model=MODEL, messages=HELLO, extra_headers={"X-Emulator-Fault": "429"},
            retry=RetryPolicy.never(),
        )
    assert info.value.status_code == 429 and info.value.code == "429"


def test_many_threads_share_one_client_and_one_loop(emu: Emulator, client: VertexChat) -> None:
    def work(i: int) -> str:
        completion = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"question {i}"}]
        )
        return completion.choices[0].message.content or ""

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(work, range(40)))
    assert len(answers) == 40 and all(answers)
    assert client.stats.requests == 40 and emu.stats.by_status[200] == 40
    assert len(loop_threads()) == 1


async def test_usable_from_a_thread_that_runs_an_event_loop(emu: Emulator) -> None:
    # Called straight from a coroutine: this thread's loop waits, the client's loop works.
    with VertexChat(base_url=emu.vertex_base_url(), api_key="t") as client:
        completion = client.chat.completions.create(model=MODEL, messages=HELLO)
        chunks = list(client.chat.completions.create(model=MODEL, messages=HELLO, stream=True))
    assert completion.choices[0].message.content and chunks
    assert asyncio.get_running_loop().is_running()


def test_close_ends_the_loop_thread(emu: Emulator) -> None:
    client = VertexChat(base_url=emu.vertex_base_url(), api_key="t")
    assert loop_threads() == []  # started at the first call, not before
    client.chat.completions.create(model=MODEL, messages=HELLO)
    assert len(loop_threads()) == 1
    client.close()
    client.close()
    assert loop_threads() == []
    with pytest.raises(RuntimeError, match="closed"):
        client.chat.completions.create(model=MODEL, messages=HELLO)


def test_a_dropped_client_ends_its_thread(emu: Emulator) -> None:
    client = VertexChat(base_url=emu.vertex_base_url(), api_key="t")
    client.chat.completions.create(model=MODEL, messages=HELLO)
    del client
    gc.collect()
    assert loop_threads() == []


def test_api_key_and_with_options(emu: Emulator) -> None:
    emu.state.config.accepted_tokens = frozenset({"good"})
    with VertexChat(base_url=emu.vertex_base_url(), api_key="DUMMY") as client:
        with pytest.raises(AuthenticationError):
            client.chat.completions.create(model=MODEL, messages=HELLO)
        client.api_key = "good"
        assert client.chat.completions.create(model=MODEL, messages=HELLO).choices
        quick = client.with_options(timeout=5, max_retries=0)
        assert quick.max_retries == 0 and quick.timeout.total == 5.0
        assert quick.chat.completions.create(model=MODEL, messages=HELLO).choices
        quick.close()  # the original keeps working
        assert client.chat.completions.create(model=MODEL, messages=HELLO).choices
        assert len(loop_threads()) == 1


def test_same_constructor_and_methods_as_the_async_client() -> None:
    import inspect

    from aiovertexchat import AsyncVertexChat

    def shape(func: Any) -> list[tuple[str, Any, Any]]:
        params = inspect.signature(func).parameters.values()
        return [(p.name, p.kind, p.default) for p in params]

    assert shape(VertexChat.__init__) == shape(AsyncVertexChat.__init__)
    assert shape(VertexChat.copy) == shape(AsyncVertexChat.copy)
    sync = {name for name in dir(VertexChat) if not name.startswith("_")}
    both = {name for name in dir(AsyncVertexChat) if not name.startswith("_")}
    assert both - sync == {"aclose", "batch"}  # `close()` is the sync side's `aclose()`
