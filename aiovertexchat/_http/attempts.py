"""The attempt loop: one call's whole life, in one place.

A call goes through, per attempt: a concurrency slot (FIFO, adaptive) → a rate-limit token
(FIFO) → the auth header → the POST (connect / first-byte / total timeouts) → the status check.
A failure releases what the attempt held, asks the `RetryPolicy` whether and when to go again,
and records one line per failed attempt; the error finally raised carries that history.

A success returns a `Lease`: the response plus the slot and rate charge it still holds. The
caller ends the lease once the body has been read (a stream: once it closes), which frees the
slot and corrects the token estimate with the answer's `usage`.

`complete()` and `open_stream()` are the two ways a call runs: a body read and decoded (a
failed read is one more failed attempt), or a `ChatStream` handed a restart callback, so that
the decision to re-issue a broken stream is taken here too, by the same `after_failure`.

The 401 path is separate from retries: a token the server rejected is dropped, a refreshable
source mints a new one, and the request is sent once more within the same attempt.

The total deadline is one cancel scope per call (anyio's, so it behaves alike on Python 3.10 to
3.13) around everything up to a decoded answer or an open stream: the waits for a slot, a rate
token and an access token, each attempt, each backoff. `Call.stage` names what the call is
waiting for, so the error says which wait ran out. A stream's body runs outside the scope (its
chunks are read by the caller's loop): the stream carries the deadline and enforces it with
one timer, and its restarts run inside a scope of their own.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import anyio

from .._auth.sources import AuthProvider
from .._protocol.decode import decode_completion
from .._protocol.error_body import make_status_error, request_id_from_headers
from .._redact import remember_header_secrets, scrub_chain
from .._reliability.client_stats import ClientStats, Counters
from .._reliability.concurrency import ConcurrencyLimiter, Slot
from .._reliability.ratelimit import RateLimiter
from .._reliability.retry import RetryBudget, RetryPolicy, error_summary, retry_after_seconds
from .._reliability.sizes import SizeLimits
from .._reliability.timeouts import Timeouts
from .._telemetry import WAIT_GATE, WAIT_RATE, WAIT_TOKEN, EndedStream
from ..errors import (
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
)
from ..types import ChatCompletion, ChatCompletionChunk, ResponseInfo, Usage
from .stream import ChatStream, StreamMetrics
from .transport import Response, Transport

if TYPE_CHECKING:
    from .._telemetry import CallTrace, Observer

__all__ = ["Call", "Dispatcher", "Lease"]

ChunkHookFactory = Callable[[], Callable[[ChatCompletionChunk], None] | None]

_OVERLOAD_STATUSES = frozenset({429, 503})


@dataclass
class Call:
    """One logical request across its attempts."""

    body: bytes
    headers: Mapping[str, str]
    timeouts: Timeouts
    policy: RetryPolicy
    token_estimate: int = 0
    # Where and with which credentials this call goes, when not the dispatcher's own (a client
    # copy with other settings, `extra_query`, a project found at first use).
    url: str | None = None
    auth: AuthProvider | None = None
    started: float = field(default_factory=time.monotonic)
    attempts: list[str] = field(default_factory=list)
    sent: int = 0
    stage: str = "queue"
    """What the call waits for now (`APITimeoutError.stage` when the deadline cuts it)."""
    # For telemetry only (read when it is on): the model and parameters as the caller gave
    # them, and the call's trace once it has started.
    model: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    trace: CallTrace | None = None

    @property
    def deadline(self) -> float | None:
        total = self.timeouts.total
        return None if total is None else self.started + total

    def loop_deadline(self) -> float:
        """The deadline on the event loop's clock (what cancel scopes and timers use); inf for
        none."""
        deadline = self.deadline
        if deadline is None:
            return math.inf
        return asyncio.get_running_loop().time() + (deadline - time.monotonic())


_STAGE_WORDS = {
    "queue": "waiting for a concurrency slot (max_concurrency)",
    "rate_limit": "waiting for the rate limit",
    "token": "waiting for an access token",
    "response": "waiting for the response headers",
    "body": "reading the answer",
    "backoff": "in the backoff before a retry",
    "stream": "reading the stream",
}


class Lease:
    """A 2xx response and what its attempt still holds; `end()` gives it back (once)."""

    __slots__ = ("_dispatcher", "_ended", "call", "response", "slot")

    def __init__(self, dispatcher: Dispatcher, call: Call, response: Response, slot: Slot) -> None:
        self._dispatcher = dispatcher
        self.call = call
        self.response = response
        self.slot = slot
        self._ended = False

    def end(self, usage: Usage | None) -> None:
        if self._ended:
            return
        self._ended = True
        self._dispatcher._end_attempt(self.call, self.slot, usage)


class Dispatcher:
    """Owns the limits, the retry budget and the counters of one client."""

    def __init__(
        self,
        *,
        transport: Transport,
        auth: AuthProvider,
        url: str,
        limiter: ConcurrencyLimiter,
        rate_limiter: RateLimiter | None,
        policy: RetryPolicy,
        sleep: Callable[[float], Awaitable[object]],
        rng: random.Random | None = None,
        size_limits: SizeLimits | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.size_limits = size_limits if size_limits is not None else SizeLimits()
        self._transport = transport
        self._auth = auth
        self._url = url
        self.limiter = limiter
        self.rate_limiter = rate_limiter
        self.policy = policy
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._budgets: dict[tuple[float, int], RetryBudget] = {}
        self.counters = Counters()
        self._auth_seen: Mapping[str, str] | None = None
        # Telemetry (None: off, and then the loop makes no telemetry call at all).
        self.observer = observer

    # -- sending ------------------------------------------------------------------------------
    async def send(
        self,
        call: Call,
        *,
        on_admitted: Callable[[], None] | None = None,
        count: bool = True,
    ) -> Lease:
        """Send until an attempt answers 2xx; raise the last error when retries are over.

        `on_admitted` runs each time an attempt has its slot and rate token, just before it is
        sent. `count=False` for a call already counted (a restarted stream).
        """
        if count:
            self.counters.requests += 1
        trace = call.trace
        while True:
            call.stage = "queue"
            acquire = self.limiter.acquire()
            slot = await (acquire if trace is None else trace.timed(WAIT_GATE, acquire))
            try:
                response = await self._attempt(call, on_admitted)
            except APIError as error:
                self.limiter.release(slot)
                await self.after_failure(call, error, slot=slot)
                continue
            except BaseException:
                self.limiter.release(slot)
                raise
            self.limiter.on_success()
            if call.sent == 1:
                self._earn(call.policy)
            if trace is not None:
                trace.answered(call.sent, response.status)
            return Lease(self, call, response, slot)

    async def _attempt(self, call: Call, on_admitted: Callable[[], None] | None) -> Response:
        trace = call.trace
        if self.rate_limiter is not None:
            call.stage = "rate_limit"
            taken = self.rate_limiter.acquire(call.token_estimate, within=self._remaining(call))
            await (taken if trace is None else trace.timed(WAIT_RATE, taken))
        if on_admitted is not None:
            on_admitted()
        auth = call.auth or self._auth
        url = call.url or self._url
        auth_retry_left = auth.refreshable
        while True:
            call.stage = "token"
            pending = auth.headers()
            auth_headers = await (pending if trace is None else trace.timed(WAIT_TOKEN, pending))
            if auth_headers is not self._auth_seen:
                # A new token from any AuthProvider becomes a known secret before it is sent
                # (sources hand out the same mapping until the token changes: one check).
                remember_header_secrets(auth_headers)
                self._auth_seen = auth_headers
            headers = {**call.headers, **auth_headers}
            if trace is not None:
                trace.inject(headers)
            self._remaining(call)  # a deadline already past: not sent at all
            call.stage = "response"
            call.sent += 1
            self.counters.attempts += 1
            timeouts = call.timeouts
            response = await self._transport.post(
                url,
                call.body,
                headers,
                connect=timeouts.connect,
                first_byte=timeouts.first_byte,
            )
            if response.status < 300:
                return response
            call.stage = "body"
            error = await self._status_error(response)
            if isinstance(error, AuthenticationError):
                auth.invalidate()
                if auth_retry_left:
                    auth_retry_left = False
                    call.sent -= 1  # a token refresh, not a retry
                    continue
            raise error

    async def _status_error(self, response: Response) -> APIStatusError:
        raw = await response.read_error_body()
        if 300 <= response.status < 400:
            location = response.headers.get("Location", "?")
            return make_status_error(
                response.status,
                f"redirect to {location} not followed: credentials stay with the configured "
                "origin; point base_url at the final URL".encode(),
                headers=response.headers,
            )
        return make_status_error(response.status, raw, headers=response.headers)

    # -- a call's two shapes -----------------------------------------------------------------
    async def complete(self, call: Call) -> ChatCompletion:
        """Run a non-streamed call to its decoded completion (or its final error), within its
        total deadline."""
        observer = self.observer
        if observer is not None and call.trace is None:
            return await self._traced_complete(call, observer)
        with anyio.CancelScope(deadline=call.loop_deadline()):
            return await self._complete(call)
        self._deadline_passed(call)  # only reached when the deadline cut the call

    async def _complete(self, call: Call) -> ChatCompletion:
        max_body = self.size_limits.body
        while True:
            lease = await self.send(call)
            response = lease.response
            try:
                call.stage = "body"
                raw = await response.read(max_body)
                completion = decode_completion(
                    raw,
                    status=response.status,
                    headers=response.headers,
                    request_id=request_id_from_headers(response.headers),
                )
            except APIError as error:
                # A body that broke (reset, cut short) is a failed attempt like any other; one
                # that arrived whole but unreadable is final (`RetryPolicy.classify`).
                lease.end(None)
                await self.after_failure(call, error)
                continue
            except BaseException:
                lease.end(None)
                raise
            lease.end(completion.usage)
            completion._response = ResponseInfo(  # type: ignore[attr-defined]
                request_id_from_headers(response.headers), dict(response.headers),
                response.status,
            )
            return completion

    async def _traced_complete(self, call: Call, observer: Observer) -> ChatCompletion:
        """`complete` inside the call's trace (with telemetry off, `complete` runs alone)."""
        trace = call.trace = observer.start_call(
            model=call.model, params=call.params, body=call.body, stream=False
        )
        try:
            completion = await self.complete(call)
        except BaseException as error:
            trace.failed(error, call.sent)
            raise
        trace.completed(completion, call.sent)
        return completion

    async def open_stream(
        self, call: Call, *, new_chunk_hook: ChunkHookFactory | None = None
    ) -> ChatStream:
        """Send a streamed call; the `ChatStream` reads it and comes back here to restart.

        `new_chunk_hook` makes the per-chunk rewriter (thought separation) for each attempt.
        """
        observer = self.observer
        trace = None
        if observer is not None:
            trace = call.trace = observer.start_call(
                model=call.model, params=call.params, body=call.body, stream=True
            )
        metrics = StreamMetrics(started_at=time.perf_counter())
        deadline = call.loop_deadline()
        with anyio.CancelScope(deadline=deadline):
            # `started_at` is when the request is about to be sent: after any wait for a slot
            # or a rate token, so TTFT measures the server, not our own queue.
            try:
                lease = await self.send(call, on_admitted=lambda: _restart_clock(metrics))
            except BaseException as error:
                if trace is not None:
                    trace.failed(error, call.sent)
                raise
            metrics.headers_at = time.perf_counter()
            attempt = _StreamAttempt(self, call, lease)
            call.stage = "stream"
            return ChatStream(
                lease.response,
                metrics=metrics,
                request_id=request_id_from_headers(lease.response.headers),
                on_close=attempt.end,
                restart=attempt.restart,
                new_chunk_hook=new_chunk_hook,
                idle_timeout=call.timeouts.idle,
                limits=self.size_limits,
                deadline=deadline,
                total_timeout=call.timeouts.total,
                on_end=None if trace is None else attempt.ended,
            )
        self._deadline_passed(call)  # only reached when the deadline cut the call

    # -- failures -----------------------------------------------------------------------------
    async def after_failure(
        self,
        call: Call,
        error: APIError,
        *,
        slot: Slot | None = None,
        chunks_shown: int = 0,
    ) -> None:
        """Record a failed attempt; return after the backoff if it should be retried, else
        raise `error` with the history of every attempt."""
        counters = self.counters
        status = error.status_code if isinstance(error, APIStatusError) else None
        if status == 429:
            counters.rate_limited += 1
        if status in _OVERLOAD_STATUSES and slot is not None:
            self.limiter.on_overload(slot)
        call.attempts.append(error_summary(error))
        policy = call.policy
        cause = policy.classify(error, chunks_shown=chunks_shown)
        if cause is None:
            self._give_up(call, error, None)
        if call.sent >= policy.max_attempts:
            self._give_up(call, error, f"max_attempts={policy.max_attempts} reached")
        # With an adaptive limit, 429/503 retries are throttled by the limit itself (it halves
        # per wave of them); the budget guards against the failures nothing else slows down.
        overload = status in _OVERLOAD_STATUSES and self.limiter.adaptive
        budget = None if overload else self._budget(policy)
        if budget is not None and not budget.try_spend():
            self._give_up(
                call, error,
                "retry budget exhausted: the backend keeps failing; retries resume as "
                "requests succeed",
            )
        hint = (
            retry_after_seconds(error.headers, time.time())
            if isinstance(error, APIStatusError)
            else None
        )
        delay = policy.delay(call.sent, self._rng, hint)
        deadline = call.deadline
        if deadline is not None and time.monotonic() + delay >= deadline:
            self._give_up(
                call, error,
                f"the total deadline ({call.timeouts.total:g} s) leaves no time for a retry",
            )
        counters.retries[cause] += 1
        if call.trace is not None:
            call.trace.retrying(call.sent, error, cause, delay)
        if delay > 0:
            call.stage = "backoff"
            await self._sleep(delay)

    def _deadline_passed(self, call: Call) -> NoReturn:
        """The call's cancel scope fired: raise the timeout, naming the wait it cut."""
        stage = call.stage
        error = APITimeoutError(
            f"the total deadline ({call.timeouts.total:g} s from create()) ran out "
            f"{_STAGE_WORDS.get(stage, stage)}",
            kind="total",
            stage=stage,
        )
        call.attempts.append(error_summary(error))
        self._give_up(call, error, None)

    def _give_up(self, call: Call, error: APIError, why: str | None) -> NoReturn:
        self.counters.failures += 1
        if call.trace is not None:
            call.trace.gave_up(call.sent, error, why)
        error.attempts = list(call.attempts)
        if why is not None and len(call.attempts) > 1:
            error.attempts[-1] += f" [{why}]"
        # What reaches the caller: no foreign exception (aiohttp's carry the request headers,
        # the token among them) stays in the chain. Raised while `error` itself is the one
        # being handled (or none is), so no new context is chained onto it.
        raise scrub_chain(error)

    # -- ends ---------------------------------------------------------------------------------
    def _end_attempt(self, call: Call, slot: Slot, usage: Usage | None) -> None:
        self.limiter.release(slot)
        if usage is None:
            return
        counters = self.counters
        counters.prompt_tokens += usage.prompt_tokens or 0
        counters.completion_tokens += usage.completion_tokens or 0
        used = usage.total_tokens or 0
        counters.total_tokens += used
        if self.rate_limiter is not None and used:
            self.rate_limiter.correct(call.token_estimate, used)

    def _remaining(self, call: Call) -> float | None:
        deadline = call.deadline
        if deadline is None:
            return None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            total = call.timeouts.total
            raise APITimeoutError(
                f"the total deadline ({total:g} s) passed before the request was sent "
                f"({_STAGE_WORDS.get(call.stage, call.stage)})",
                kind="total",
                stage=call.stage,
            )
        return remaining

    # -- budget -------------------------------------------------------------------------------
    def _budget(self, policy: RetryPolicy) -> RetryBudget | None:
        ratio = policy.budget_ratio
        if ratio is None:
            return None
        burst = policy.budget_burst
        if burst is None:
            burst = max(20, 2 * (self.limiter.ceiling or 100))
        key = (ratio, burst)
        budget = self._budgets.get(key)
        if budget is None:
            budget = self._budgets[key] = RetryBudget(ratio=ratio, burst=float(burst))
        return budget

    def _earn(self, policy: RetryPolicy) -> None:
        budget = self._budget(policy)
        if budget is not None:
            budget.earn()

    # -- stats --------------------------------------------------------------------------------
    def stats(self) -> ClientStats:
        c = self.counters
        limiter = self.limiter
        return ClientStats(
            in_flight=limiter.in_flight,
            queued=limiter.queued,
            waiting_for_rate=self.rate_limiter.waiting if self.rate_limiter else 0,
            concurrency_limit=limiter.limit,
            limit_cuts=limiter.cuts,
            requests=c.requests,
            attempts=c.attempts,
            retries=dict(c.retries),
            rate_limited=c.rate_limited,
            failures=c.failures,
            budget_denied=sum(b.denied for b in self._budgets.values()),
            prompt_tokens=c.prompt_tokens,
            completion_tokens=c.completion_tokens,
            total_tokens=c.total_tokens,
        )


class _StreamAttempt:
    """The lease of a stream's current attempt; a restart ends it and sends the next."""

    __slots__ = ("call", "dispatcher", "lease")

    def __init__(self, dispatcher: Dispatcher, call: Call, lease: Lease) -> None:
        self.dispatcher = dispatcher
        self.call = call
        self.lease = lease

    def end(self, usage: Usage | None) -> None:
        self.lease.end(usage)

    def ended(self, stream: EndedStream, error: BaseException | None) -> None:
        """The stream's end, for telemetry (only given to the stream when it is on)."""
        trace = self.call.trace
        if trace is not None:
            trace.stream_ended(stream, error, self.call.sent)

    async def restart(self, error: APIError, chunks_shown: int) -> Response:
        """Re-issue the call if the retry policy allows it (after its backoff), else raise
        `error` with the history of every attempt. Bounded by the call's total deadline."""
        self.lease.end(None)
        dispatcher = self.dispatcher
        call = self.call
        with anyio.CancelScope(deadline=call.loop_deadline()):
            await dispatcher.after_failure(
                call, error, slot=self.lease.slot, chunks_shown=chunks_shown
            )
            self.lease = await dispatcher.send(call, count=False)
            call.stage = "stream"
            return self.lease.response
        dispatcher._deadline_passed(call)  # only reached when the deadline cut the restart


def _restart_clock(metrics: StreamMetrics) -> None:
    metrics.started_at = time.perf_counter()
