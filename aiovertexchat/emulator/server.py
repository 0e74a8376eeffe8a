"""The aiohttp.web side: routes, the checks a request passes, and the emulator's lifecycle.

A chat request goes: route -> method -> auth -> body -> fault headers -> capacity -> faults
before headers -> plan (content.py) -> write (wire.py + writer.py). New behaviour belongs in
the planner and the encoder; a new endpoint (e.g. an OAuth token route) is one more route in
`build_app`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .capacity import CapacityGate
from .config import EmulatorConfig
from .content import CompletionPlan, plan_completion
from .counters import EmulatorStats
from .dialects import DIALECT_HEADER, Dialect, dialect_named
from .errors import ErrorReply, error_reply, fault_reply
from .faults import (
    ERROR_KINDS,
    FAULT_HEADER,
    FAULT_ONCE_HEADER,
    Fault,
    FaultInjector,
    parse_fault_headers,
)
from .oauth import TOKEN_PATH, TokenIssuer, token_handler
from .request import ChatRequest, Route, parse_request
from .wire import StreamEncoder, completion_body
from .writer import BodyWriter, abort_connection, in_body_faults, write_body, write_stream

__all__ = ["STATE_KEY", "Emulator", "EmulatorState", "build_app", "serve"]

VERTEX_CHAT_PATH = (
    "/{version:v1|v1beta1}/projects/{project}/locations/{location}"
    "/endpoints/{endpoint}/chat/completions"
)
PLAIN_CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
# Requests carry images and PDFs as data: URIs; aiohttp's 1 MiB default would refuse them.
MAX_REQUEST_BYTES = 64 * 1024 * 1024
DEFAULT_MODEL = "emulator"

_JSON = "application/json; charset=UTF-8"


@dataclass
class EmulatorState:
    """Everything the handlers share; one per emulator."""

    config: EmulatorConfig
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    stats: EmulatorStats = field(default_factory=EmulatorStats)
    injector: FaultInjector = field(init=False)
    gate: CapacityGate = field(init=False)
    tokens: TokenIssuer = field(default_factory=TokenIssuer)
    # Handlers in progress, cancelled on close so a stalled stream cannot hold up shutdown.
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.injector = FaultInjector(self.config.seed)
        self.gate = CapacityGate(self.clock)

    def next_sequence(self) -> int:
        return next(self._sequence)


STATE_KEY = web.AppKey("aiovertexchat_emulator_state", EmulatorState)


def build_app(state: EmulatorState) -> web.Application:
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[STATE_KEY] = state
    app.router.add_route("*", VERTEX_CHAT_PATH, _vertex_chat)
    app.router.add_route("*", TOKEN_PATH, token_handler(state))
    for path in PLAIN_CHAT_PATHS:
        app.router.add_route("*", path, _plain_chat)
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app


class _Exchange:
    """One request being answered: its ids, its dialect, and the bookkeeping every answer
    shares."""

    __slots__ = ("dialect", "dialect_error", "headers", "request", "sequence", "state")

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.state = request.app[STATE_KEY]
        self.state.stats.requests += 1
        self.sequence = self.state.next_sequence()
        self.headers = {"x-request-id": f"emu-{self.sequence:08d}"}
        self.dialect: Dialect | None = None
        self.dialect_error: str | None = None
        try:
            name = request.headers.get(DIALECT_HEADER) or self.state.config.dialect
            self.dialect = dialect_named(name)
        except ValueError as exc:
            self.dialect_error = f"{DIALECT_HEADER}: {exc}"

    def error(
        self,
        code: int,
        message: str | None = None,
        *,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        """An error answer in the request's dialect."""
        return self.reply(
            error_reply(code, message, reason=reason, headers=headers, dialect=self.dialect)
        )

    @property
    def completion_id(self) -> str:
        return f"chatcmpl-emu{self.sequence:08d}"

    def reply(self, error: ErrorReply) -> web.Response:
        self.state.stats.by_status[error.status] += 1
        headers = {**self.headers, **error.headers, "Content-Type": error.content_type}
        return web.Response(status=error.status, body=error.body, headers=headers)


async def _not_found(request: web.Request) -> web.StreamResponse:
    exchange = _Exchange(request)
    dialect = exchange.dialect
    if dialect is not None:
        body, content_type = dialect.not_found_body(request.path)
        return exchange.reply(ErrorReply(404, body, content_type))
    return exchange.reply(
        error_reply(404, f"The requested URL {request.path} was not found on this server.")
    )


async def _plain_chat(request: web.Request) -> web.StreamResponse:
    return await _chat(_Exchange(request), Route.PLAIN)


async def _vertex_chat(request: web.Request) -> web.StreamResponse:
    exchange = _Exchange(request)
    endpoint = request.match_info["endpoint"]
    if endpoint == "openapi":
        return await _chat(exchange, Route.MANAGED)
    if endpoint.isdigit():
        return await _chat(exchange, Route.DEPLOYED)
    info = request.match_info
    name = f"projects/{info['project']}/locations/{info['location']}/endpoints/{endpoint}"
    return exchange.error(404, f"Endpoint `{name}` not found.")


def _auth_error(request: web.Request, state: EmulatorState) -> ErrorReply | None:
    config = state.config
    if not config.require_auth:
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return error_reply(401)
    if config.accepted_tokens is None and not config.require_issued_tokens:
        return None
    if config.accepted_tokens is not None and token in config.accepted_tokens:
        return None
    if config.require_issued_tokens and state.tokens.is_live(token, state.clock()):
        return None
    return error_reply(401)


async def _chat(exchange: _Exchange, route: Route) -> web.StreamResponse:
    request, state = exchange.request, exchange.state
    config = state.config
    if exchange.dialect_error is not None:
        return exchange.reply(error_reply(400, exchange.dialect_error))
    if request.method != "POST":
        return exchange.error(
            405, f"Method {request.method} is not allowed; use POST.", headers={"Allow": "POST"}
        )
    auth_error = _auth_error(request, state)
    if auth_error is not None:
        state.stats.rejected_auth += 1
        if exchange.dialect is not None:
            return exchange.error(auth_error.status, "Invalid authentication credentials.")
        return exchange.reply(auth_error)
    try:
        body = await request.read()
    except ConnectionError:
        return web.Response()  # the client left; aiohttp drops the answer silently
    try:
        chat = parse_request(body, route)
        requested = parse_fault_headers(
            request.headers.get(FAULT_HEADER), request.headers.get(FAULT_ONCE_HEADER)
        )
    except ValueError as exc:  # RequestError, or a malformed fault header
        return exchange.error(400, str(exc))

    stats = state.stats
    if not state.gate.admit(stats.concurrency, config.max_concurrency, config.max_rpm):
        stats.rejected_capacity += 1
        return exchange.error(429)
    stats.concurrency += 1
    stats.peak_concurrency = max(stats.peak_concurrency, stats.concurrency)
    task = asyncio.current_task()
    if task is not None:
        state.tasks.add(task)
    try:
        faults = state.injector.choose(requested, config)
        for fault in faults:
            stats.faults[fault.name] += 1
        return await _answer(exchange, chat, faults, route)
    finally:
        stats.concurrency -= 1
        if task is not None:
            state.tasks.discard(task)


async def _answer(
    exchange: _Exchange, chat: ChatRequest, faults: list[Fault], route: Route
) -> web.StreamResponse:
    request, state = exchange.request, exchange.state
    config = state.config
    streaming = bool(chat.stream)
    for fault in faults:
        if fault.kind == "stall" and fault.after is None:
            await asyncio.sleep(fault.seconds or 0.0)
        elif fault.kind == "reset-before-headers":
            abort_connection(request)
            return web.Response()  # never reaches the wire; the transport is gone
        elif fault.kind in ERROR_KINDS:
            return exchange.reply(fault_reply(fault, exchange.dialect))
        elif fault.kind == "error-in-stream" and not streaming:
            # A non-streaming answer cannot fail half-way through; fail it whole.
            return exchange.error(fault.code or 503, reason=fault.reason)

    model = chat.model or DEFAULT_MODEL
    dialect = exchange.dialect
    plan = plan_completion(
        chat,
        seed=config.seed,
        default_tokens=config.completion_tokens,
        model=model,
        inline_thoughts=config.thoughts_without_marker == "inline",
        gemini_tool_deltas=config.gemini_tool_deltas(managed=route is Route.MANAGED),
        signature_namespace=config.signature_namespace,
        shown_thoughts=_shown_thoughts(dialect),
    )
    created = int(state.wall_clock())
    trickle, positional = in_body_faults(faults)
    if streaming:
        return await _stream(exchange, plan, created, trickle, positional)

    chunks = sum(max(len(c.pieces), 1) for c in plan.choices)
    delay = config.ttft + config.itl * (chunks - 1)
    if delay > 0:
        await asyncio.sleep(delay)
    body = completion_body(plan, exchange.completion_id, created, dialect)
    headers = {**exchange.headers, "Content-Type": _JSON}
    state.stats.by_status[200] += 1
    if trickle is None and not positional:
        return web.Response(body=body, headers=headers)
    response = web.StreamResponse(headers=headers)
    try:
        await response.prepare(request)
        await write_body(BodyWriter(request, response, trickle), body, positional)
    except ConnectionError:
        pass  # the client left or a reset fault fired; aiohttp ends the exchange quietly
    return response


async def _stream(
    exchange: _Exchange,
    plan: CompletionPlan,
    created: int,
    trickle: Fault | None,
    positional: list[Fault],
) -> web.StreamResponse:
    request, state = exchange.request, exchange.state
    config = state.config
    if config.ttft > 0:
        # Headers go out with the first chunk, as a server that answers once the model has.
        await asyncio.sleep(config.ttft)
    response = web.StreamResponse(
        headers={
            **exchange.headers,
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
        }
    )
    state.stats.by_status[200] += 1
    state.stats.streamed += 1
    usage = config.usage_in_stream == "always" or (
        config.usage_in_stream == "on_request" and plan.usage_requested
    )
    encoder = StreamEncoder(exchange.completion_id, created, plan.model, exchange.dialect)
    try:
        await response.prepare(request)
        state.stats.chunks += await write_stream(
            BodyWriter(request, response, trickle),
            encoder.events(plan, include_usage=usage),
            positional,
            encoder=encoder,
            itl=config.itl,
            send_done=config.send_done,
        )
    except ConnectionError:
        pass  # the client left or a reset fault fired; aiohttp ends the exchange quietly
    return response


def _shown_thoughts(dialect: Dialect | None) -> str:
    """When thinking is sent: Gemini's rule (`include_thoughts`), or a reasoning parser's."""
    if dialect is None or dialect.reasoning == "parts":
        return "google"
    return "never" if dialect.reasoning == "hidden" else "always"


class Emulator:
    """A running emulator: `async with Emulator(cfg) as emu: ... emu.base_url ...`."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._state = EmulatorState(config or EmulatorConfig(), clock, wall_clock)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    @property
    def config(self) -> EmulatorConfig:
        """Read on every request: mutate it (or assign a new one) between requests."""
        return self._state.config

    @config.setter
    def config(self, config: EmulatorConfig) -> None:
        # A new config restarts the fault-rate RNG from its seed, as a fresh emulator would.
        self._state.config = config
        self._state.injector = FaultInjector(config.seed)

    @property
    def stats(self) -> EmulatorStats:
        return self._state.stats

    @property
    def state(self) -> EmulatorState:
        return self._state

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the emulator has no port yet: start it first")
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def token_url(self) -> str:
        """The OAuth2 token endpoint: a service account's `token_uri` for tests and demos."""
        return f"{self.url}{TOKEN_PATH}"

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL (what goes before `/chat/completions`)."""
        return f"{self.url}/v1"

    def vertex_base_url(
        self, project: str = "p", location: str = "us-central1", endpoint: str = "openapi"
    ) -> str:
        """Base URL of a Vertex endpoint path on this emulator, for Vertex-shaped clients."""
        return f"{self.url}/v1beta1/projects/{project}/locations/{location}/endpoints/{endpoint}"

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the emulator is already started")
        runner = web.AppRunner(
            build_app(self._state),
            access_log=None,
            # A client that disconnects ends its handler at once, freeing its capacity slot.
            handler_cancellation=True,
            # close() cancels the handlers it knows; this bounds any that slipped in meanwhile.
            shutdown_timeout=0.5,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
            address = runner.addresses[0]
            self._port = int(address[1])
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        for task in list(self._state.tasks):
            task.cancel()
        await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def serve(
    host: str,
    port: int,
    config: EmulatorConfig,
    *,
    on_ready: Callable[[Emulator], None] | None = None,
) -> None:
    """Run an emulator until cancelled. Prints nothing; `on_ready` gets it once it listens
    (so a CLI can print `emu.url` even for port 0)."""
    async with Emulator(config, host, port) as emulator:
        if on_ready is not None:
            on_ready(emulator)
        await asyncio.Event().wait()
