"""Helpers shared by every test folder: `from tests.helpers import ...`.

Fixtures live in `tests/conftest.py` (and `tests/emulator/conftest.py`); plain functions, constants
and small classes used by more than one test file live here, one copy each:

- the request most client tests send, and the emulator's fault headers;
- a client with quick retries, and what a test reads off a client (backoff, drained stream);
- waiting for a condition without sleeping for a fixed time, cancelling, checking nothing leaks;
- builders for sans-IO inputs (chunks, batch lines), and a fake clock;
- a throwaway HTTP server for behaviour the emulator does not offer (redirects, hung endpoints);
- raw HTTP against the emulator, for the emulator's own tests.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import msgspec
import pytest
from aiohttp import web
from multidict import CIMultiDict

from aiovertexchat import AsyncVertexChat, ChatStream
from aiovertexchat._reliability.retry import RetryPolicy
from aiovertexchat.emulator import Emulator, EmulatorConfig
from aiovertexchat.emulator.request import ChatRequest, Message
from aiovertexchat.types import ChatCompletionChunk

T = TypeVar("T")

# -- the request --------------------------------------------------------------------------------
MODEL = "google/gemini-2.5-flash"
HELLO = [{"role": "user", "content": "hello there emulator"}]


def user(text: str) -> list[dict[str, Any]]:
    """One user message, as `messages=`."""
    return [{"role": "user", "content": text}]


def request_body(text: str, tokens: int = 3) -> dict[str, Any]:
    """A chat body whose answer is `tokens` long (the emulator's `[[tokens=N]]` hook)."""
    return {"model": MODEL, "messages": user(f"{text} [[tokens={tokens}]]")}


def batch_line(custom_id: str, text: str, tokens: int = 2) -> str:
    """One line of an OpenAI batch input file (no trailing newline)."""
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
                       "body": request_body(text, tokens)})


# -- emulator fault headers ---------------------------------------------------------------------
def fault(spec: str) -> dict[str, str]:
    """The fault on every request carrying the header (so on every retry too)."""
    return {"X-Emulator-Fault": spec}


def fault_once(key: str, spec: str, times: int = 1) -> dict[str, str]:
    """The fault on the first `times` requests with this key: fail, then succeed."""
    return {"X-Emulator-Fault-Once": f"{key}={spec}*{times}"}


# -- a client and what tests read off it ----------------------------------------------------------
# The default policy with millisecond backoff: retries behave as shipped, tests stay quick.
FAST = RetryPolicy(base=0.001, cap=0.01)


@asynccontextmanager
async def chat(
    emulator: Emulator, retry: RetryPolicy = FAST, **options: Any
) -> AsyncIterator[AsyncVertexChat]:
    """A client with a given policy that must give every connection back before it closes."""
    async with AsyncVertexChat(
        base_url=emulator.base_url, api_key="test-token", retry=retry, **options
    ) as client:
        yield client
        assert client.connections_in_use == 0


def record_backoff(client: AsyncVertexChat) -> list[float]:
    """Swap the attempt loop's sleep for one that records each backoff and does not wait."""
    delays: list[float] = []

    async def no_sleep(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0)

    client._dispatcher._sleep = no_sleep
    return delays


async def drain(stream: ChatStream) -> list[str]:
    """Iterate the stream, returning each chunk's first-choice text as it was handed over."""
    pieces: list[str] = []
    async for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
    return pieces


async def reference_text(client: AsyncVertexChat, max_tokens: int) -> str:
    """The fault-free answer to HELLO (the emulator's answers are deterministic)."""
    completion = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=max_tokens
    )
    text = completion.choices[0].message.content
    assert text
    return text


def assert_nothing_held(client: AsyncVertexChat) -> None:
    """No slot in flight, no queued or rate waiter, no connection checked out."""
    stats = client.stats
    assert (stats.in_flight, stats.queued, stats.waiting_for_rate) == (0, 0, 0)
    assert client.connections_in_use == 0


# -- waiting and cancelling -----------------------------------------------------------------------
async def until(condition: Callable[[], bool], *, polls: int = 2000) -> None:
    """Yield to the loop until `condition()` holds (bounded, so a broken test fails)."""
    for _ in range(polls):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never became true")


async def within(aw: Awaitable[T], seconds: float = 1.0) -> T:
    """A lost slot or a wait that never ends fails the test instead of hanging it."""
    return await asyncio.wait_for(aw, seconds)


async def settle(rounds: int = 5) -> None:
    """Let every ready task run a few steps."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def other_tasks() -> set[asyncio.Task[object]]:
    """Unfinished tasks other than the current one."""
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not current and not t.done()}


async def cancel(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and check it ends cancelled."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# -- sans-IO builders -----------------------------------------------------------------------------
def chunk(**fields: Any) -> ChatCompletionChunk:
    """A chunk with id "c1", model "m", created 7 and no choices, `fields` replacing any of them."""
    base: dict[str, Any] = {"id": "c1", "model": "m", "created": 7, "choices": []}
    base.update(fields)
    return msgspec.convert(base, ChatCompletionChunk)


def delta_chunk(
    delta: dict[str, Any], index: int = 0, finish: str | None = None
) -> ChatCompletionChunk:
    """A chunk with one choice carrying `delta`."""
    return chunk(choices=[{"index": index, "delta": delta, "finish_reason": finish}])


class FakeClock:
    """`clock()` reads `now`; `sleep(d)` moves `now` on by `d`, then yields once.

    A limiter that never stops sleeping fails the test instead of hanging it."""

    max_sleeps = 1000

    def __init__(self, now: float = 100.0) -> None:
        self.start = now
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds > 0, f"slept {seconds!r} s"
        assert len(self.sleeps) < self.max_sleeps, "the limiter keeps sleeping"
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

    @property
    def elapsed(self) -> float:
        return self.now - self.start


# -- a throwaway HTTP server ----------------------------------------------------------------------
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve_app(handler: Handler, **runner_options: Any) -> AsyncIterator[str]:
    """Serve `handler` for every method and path on a free loopback port; yields the server's
    URL (`http://127.0.0.1:PORT`) and stops the server on exit."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


class CountingServer:
    """A loopback server answering every request with `handler` and counting them; `base_url`
    is its OpenAI-style base URL (`http://127.0.0.1:PORT/v1`)."""

    def __init__(self, handler: Handler) -> None:
        self.requests = 0
        self.base_url = ""
        self._handler = handler
        self._serving: AbstractAsyncContextManager[str] | None = None

    async def _route(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        return await self._handler(request)

    async def __aenter__(self) -> CountingServer:
        self._serving = serve_app(self._route)
        self.base_url = await self._serving.__aenter__() + "/v1"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._serving is not None
        await self._serving.__aexit__(*exc)


# -- raw HTTP against the emulator (its own tests) -----------------------------------------------
AUTH = {"Authorization": "Bearer test-token"}
CHAT = "/v1/chat/completions"
VERTEX = "/v1beta1/projects/p/locations/us-central1/endpoints/openapi/chat/completions"
CREATED = 1_700_000_000


def chat_request(text: str = "hello there", **fields: Any) -> ChatRequest:
    """The emulator's parsed form of a one-message request."""
    return ChatRequest(messages=[Message("user", text)], **fields)


def frozen_emulator(config: EmulatorConfig | None = None, **kwargs: Any) -> Emulator:
    """An emulator whose wall clock stands at CREATED: its bodies are the same on every run."""
    return Emulator(config or EmulatorConfig(), wall_clock=lambda: CREATED, **kwargs)


def chat_body(text: str = "hello there", **fields: Any) -> dict[str, Any]:
    return {"model": "emu-model", "messages": [{"role": "user", "content": text}], **fields}


@dataclass
class Reply:
    status: int
    headers: CIMultiDict[str]
    raw: bytes

    def json(self) -> Any:
        return msgspec.json.decode(self.raw)

    @property
    def events(self) -> list[bytes]:
        """`data:` payloads of an SSE body."""
        parts = self.raw.split(b"\n\n")
        assert parts[-1] == b"", "a stream must end at an event boundary"
        assert all(p.startswith(b"data: ") for p in parts[:-1])
        return [p[6:] for p in parts[:-1]]

    @property
    def chunks(self) -> list[Any]:
        return [msgspec.json.decode(e) for e in self.events if e != b"[DONE]"]


async def post(
    http: aiohttp.ClientSession,
    emu: Emulator,
    payload: Any = None,
    *,
    path: str = CHAT,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> Reply:
    """POST to the emulator with a valid token and read the whole reply."""
    async with http.post(
        emu.url + path,
        json=payload if data is None else None,
        data=data,
        headers={**AUTH, **(headers or {})},
    ) as resp:
        return Reply(resp.status, CIMultiDict(resp.headers), await resp.read())


def same_but_id(a: bytes, b: bytes) -> bool:
    """Equal bytes once completion ids (which count up per request) are blanked."""

    def scrub(raw: bytes) -> bytes:
        return re.sub(rb"chatcmpl-emu\d+", b"ID", raw)

    return scrub(a) == scrub(b)


def error_of(reply: Reply) -> dict[str, Any]:
    """The `error` object of a Google-shaped error body (checked to be the only key)."""
    body = reply.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert error["code"] == reply.status
    return error


async def read_events(resp: aiohttp.ClientResponse, count: int) -> list[bytes]:
    """Read exactly `count` SSE events from a live response."""
    out = []
    for _ in range(count):
        event = b""
        while not event.endswith(b"\n\n"):
            event += await resp.content.readline()
        out.append(event)
    return out
