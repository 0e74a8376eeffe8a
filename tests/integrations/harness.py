"""Real components for the scale-out tests: the emulator on a thread of its own (engines block
the test's thread, and worker processes reach it over loopback) with every request recorded,
and a real `redis-server` on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from aiovertexchat.emulator import EmulatorConfig, EmulatorState, build_app

# Requests carry their item id in the prompt, so the emulator can tell whose request it is.
_MARKER = re.compile(rb"item=([A-Za-z0-9_-]+)")
REDIS_SERVER = shutil.which("redis-server")


@dataclass
class Arrival:
    at: float
    """time.monotonic() when the request arrived (one clock for every process on a host)."""
    item: str | None
    status: int | None = None
    """The status answered; None while unanswered or when the connection was reset."""
    tokens: int = 0
    """usage.total_tokens of a 200 answer."""


@dataclass
class ObservedEmulator:
    """The project's emulator app behind a recording middleware, served on its own thread."""

    config: EmulatorConfig
    arrivals: list[Arrival] = field(default_factory=list)
    base_url: str = ""

    def __post_init__(self) -> None:
        self.state = EmulatorState(self.config)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="emulator", daemon=True)
        self._watches: list[tuple[int, threading.Event]] = []

    # -- what the tests read ----------------------------------------------------------------
    def attempts(self) -> Counter[str]:
        return Counter(a.item for a in self.arrivals if a.item is not None)

    def answered(self, status: int) -> Counter[str]:
        return Counter(a.item for a in self.arrivals if a.item is not None and a.status == status)

    def between(self, start: float, end: float) -> list[Arrival]:
        return [a for a in self.arrivals if start <= a.at < end]

    def when_arrivals(self, count: int) -> threading.Event:
        """An event set once `count` requests have arrived."""
        event = threading.Event()
        self._watches.append((count, event))
        return event

    # -- serving ------------------------------------------------------------------------------
    @web.middleware
    async def _observe(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()  # cached: the emulator's handler reads it again
        found = _MARKER.search(body)
        arrival = Arrival(time.monotonic(), found.group(1).decode() if found else None)
        self.arrivals.append(arrival)
        for count, event in self._watches:
            if len(self.arrivals) >= count:
                event.set()
        response = await handler(request)
        transport = request.transport
        if transport is not None and not transport.is_closing():
            arrival.status = response.status
            if response.status == 200 and isinstance(response, web.Response) and response.body:
                usage = json.loads(bytes(response.body)).get("usage") or {}  # type: ignore[arg-type]
                arrival.tokens = int(usage.get("total_tokens") or 0)
        return response

    async def _serve(self) -> None:
        app = build_app(self.state)
        app.middlewares.append(self._observe)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                               shutdown_timeout=0.5)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            self.base_url = f"http://127.0.0.1:{port}/v1"
            self._stop = asyncio.Event()
            self._ready.set()
            await self._stop.wait()
        finally:
            for task in list(self.state.tasks):
                task.cancel()
            await runner.cleanup()

    def _main(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    def __enter__(self) -> ObservedEmulator:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None or not self.base_url:
            raise RuntimeError(f"the emulator did not start: {self._error!r}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """`redis-server` on a free loopback port, no persistence; `stop()` kills it (the tests'
    "Redis died" event). Ready when it says so on stdout."""

    def __init__(self) -> None:
        assert REDIS_SERVER is not None
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "notice"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        seen = []
        for raw in self.process.stdout:  # ends at EOF if the server exits
            line = raw.decode(errors="replace")
            seen.append(line)
            if "Ready to accept connections" in line:
                break
        else:
            raise RuntimeError("redis-server did not start:\n" + "".join(seen[-20:]))
        # Keep draining its log so a full pipe never stalls it.
        self._drain = threading.Thread(target=self._read_rest, daemon=True)
        self._drain.start()

    def _read_rest(self) -> None:
        assert self.process.stdout is not None
        for _ in self.process.stdout:
            pass

    def command_calls(self) -> dict[str, int]:
        """Calls per command from INFO commandstats (e.g. {"evalsha": 367, ...})."""
        import redis

        with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5) as r:
            info = r.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in info.items()}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self._drain.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()


def request_line(item: str, *, poison: bool = False, max_tokens: int | None = 8) -> dict[str, Any]:
    """An OpenAI batch line whose prompt names `item`; `poison` lines are answered 400 by the
    emulator every time (thoughts asked of a model that has none)."""
    body: dict[str, Any] = {
        "model": "gemini-2.0-flash" if poison else "gemini-2.5-flash",
        "messages": [{"role": "user", "content": f"item={item} say something"}],
    }
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if poison:
        body["extra_body"] = {"google": {"thinking_config": {"include_thoughts": True}}}
    return {"custom_id": item, "method": "POST", "url": "/v1/chat/completions", "body": body}
