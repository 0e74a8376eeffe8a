"""Every emulator fault against the real client over loopback HTTP, as one table.

Each row of CASES is one fault and what its outcome must show: what the caller sees (the
answer, or the error's class, `.kind`, `.partial`, message and attempt history), how many
attempts and retries the client counted (`client.stats`), what the emulator saw
(`emulator.stats`), and the backoff the attempt loop chose. A column left at its default is not
checked for that row; every row checks the retries and that no connection is left checked out.
Backoff is in milliseconds (or recorded without waiting); nothing asserts on time.
"""

from __future__ import annotations

import operator
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from pytest import approx

from aiovertexchat import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AsyncVertexChat,
    BadRequestError,
    ChatCompletion,
    ChatStream,
    InternalServerError,
    RateLimitError,
    StreamInterruptedError,
)
from aiovertexchat._reliability.retry import RetryPolicy, retry_after_seconds
from aiovertexchat._reliability.timeouts import Timeouts
from aiovertexchat.emulator import Emulator
from aiovertexchat.errors import StreamTimeoutError
from tests.helpers import (
    FAST,
    HELLO,
    MODEL,
    chat,
    fault,
    fault_once,
    record_backoff,
    reference_text,
)

TWO_ATTEMPTS = RetryPolicy(base=0.001, cap=0.01, max_attempts=2)
THREE_ATTEMPTS = RetryPolicy(base=0.001, cap=0.01, max_attempts=3)
RESTART = RetryPolicy(base=0.001, cap=0.01, restart_on_interrupt=True)
# Obeys a server hint up to 10 ms only: shows both which header was read and the cut.
CAPPED_HINT = RetryPolicy(base=0.001, cap=0.01, max_retry_after=0.01, max_attempts=3)


@dataclass(frozen=True)
class Case:
    """One fault and its outcome. None (or an empty collection) in a column: not checked."""

    # -- the request ------------------------------------------------------------------------------
    headers: Mapping[str, str]
    stream: bool = False
    max_tokens: int | None = None
    policy: RetryPolicy = FAST
    timeouts: Timeouts | None = None
    create_kwargs: Mapping[str, Any] = field(default_factory=dict)
    # Ask for the fault-free answer of this many tokens first (it counts as a request and a 200),
    # then compare answers and partials with it.
    reference: int | None = None

    # -- the error the caller sees (raises=None: the call succeeds) ---------------------------
    raises: type[APIError] | None = None
    raised_by: Literal["create", "iteration"] = "create"
    also_is: tuple[type[BaseException], ...] = ()
    is_not: tuple[type[BaseException], ...] = ()
    match: str | None = None  # re.search on str(error)
    error: Mapping[str, Any] = field(default_factory=dict)  # attribute path -> value
    cause: type[BaseException] | None = None  # isinstance(error.cause, ...); type(None): no cause
    message_starts: str | None = None
    message_has: tuple[str, ...] = ()
    message_lacks: tuple[str, ...] = ()
    str_has: tuple[str, ...] = ()
    str_lacks: tuple[str, ...] = ()
    attempts: int | None = None  # len(error.attempts)
    attempt_lines: tuple[str, ...] = ()  # one re.search pattern per line of error.attempts
    error_headers: Mapping[str, str] = field(default_factory=dict)
    headers_absent: tuple[str, ...] = ()
    body_items: int | None = None  # error.body is a list of this many items
    hint: Any = None  # retry_after_seconds(error.headers)
    policy_delay: Any = None  # policy.delay(1, Random(0), hint)
    shown: int | None = None  # chunks handed to the caller before the error
    # error.partial holds exactly the text handed over (non-empty, unfinished, and a prefix of
    # the reference answer when there is one).
    partial: bool = False

    # -- the answer (raises=None) -----------------------------------------------------------------
    finish_reason: str | None = None
    # A restarted stream first hands over this many chunks of the broken attempt, then the
    # whole new answer (whose first chunks repeat them).
    shown_before_restart: int = 0
    usage_tokens: int | None = None  # usage.completion_tokens
    restarts: int | None = None  # stream.restarts

    # -- the counts -------------------------------------------------------------------------------
    retries: Mapping[str, int] = field(default_factory=dict)  # client.stats.retries, always
    client: Mapping[str, Any] = field(default_factory=dict)  # client.stats attributes
    emulator: Mapping[str, Any] = field(default_factory=dict)  # emulator.stats attributes
    # Backoff waits the attempt loop chose (recorded, not slept): values, or "jittered" for full
    # jitter within the policy's exponential bound, one wait per retry.
    delays: list[Any] | Literal["jittered"] | None = None
    # Send the same request once more and check these client / emulator counts afterwards.
    again_client: Mapping[str, Any] | None = None
    again_emulator: Mapping[str, Any] | None = None


CASES: dict[str, Case] = {
    # -- error statuses -------------------------------------------------------------------------
    "429_with_retry_after_is_retried_then_succeeds": Case(
        headers=fault_once("ra", "429:retry-after=0", times=2), max_tokens=4,
        finish_reason="length",
        retries={"429": 2},
        client={"rate_limited": 2, "attempts": 3, "requests": 1, "failures": 0},
        emulator={"by_status": {429: 2, 200: 1}, "faults": {"429": 2}},
    ),
    # The server's hint replaces the jittered draw (and is above this policy's `cap`).
    "429_retry_after_hint_sets_the_backoff": Case(
        headers=fault_once("hint", "429:retry-after=0.004", times=1), max_tokens=2,
        delays=[approx(0.004)],
        retries={"429": 1},
    ),
    # retry-after-ms wins over Retry-After; an hour-long Retry-After would otherwise be capped
    # too, so the small ms value proves which header was read.
    "429_retry_after_ms_is_honoured": Case(
        headers=fault("429:retry-after=3600:retry-after-ms=3"), max_tokens=2, policy=CAPPED_HINT,
        raises=RateLimitError, attempts=3,
        error_headers={"retry-after-ms": "3", "Retry-After": "3600"},
        hint=approx(0.003), policy_delay=approx(0.003), delays=[approx(0.003)] * 2,
        retries={"429": 2}, client={"rate_limited": 3}, emulator={"by_status": {429: 3}},
    ),
    # A hint longer than max_retry_after is cut to it.
    "429_retry_after_ms_is_capped": Case(
        headers=fault("429:retry-after-ms=5000"), max_tokens=2, policy=CAPPED_HINT,
        raises=RateLimitError, attempts=3,
        hint=approx(5.0), policy_delay=0.01, delays=[0.01, 0.01],
        retries={"429": 2}, client={"rate_limited": 3}, emulator={"by_status": {429: 3}},
    ),
    "429_without_retry_after_uses_jittered_backoff": Case(
        headers=fault("429"),
        raises=RateLimitError,
        error={"status_code": 429, "google_status": "RESOURCE_EXHAUSTED",
               "reason": "RATE_LIMIT_EXCEEDED"},
        headers_absent=("Retry-After",),
        attempts=4,  # the default max_attempts
        delays="jittered",
        retries={"429": 3}, client={"rate_limited": 4, "attempts": 4, "failures": 1},
        emulator={"by_status": {429: 4}, "faults": {"429": 4}},
    ),
    "500_is_retried_until_max_attempts": Case(
        headers=fault("500"),
        raises=InternalServerError, error={"status_code": 500, "google_status": "INTERNAL"},
        attempts=4,
        attempt_lines=("^500 INTERNAL",) * 3 + (r"^500 INTERNAL.*\[max_attempts=4 reached\]$",),
        retries={"500": 3}, client={"rate_limited": 0, "failures": 1},
        emulator={"by_status": {500: 4}, "faults": {"500": 4}},
    ),
    "503_once_then_success": Case(
        headers=fault_once("u", "503"), max_tokens=3,
        finish_reason="length",
        retries={"503": 1}, client={"attempts": 2, "rate_limited": 0},
        emulator={"by_status": {503: 1, 200: 1}, "faults": {"503": 1}},
    ),
    "503_final_error_is_typed": Case(
        headers=fault("503"), policy=TWO_ATTEMPTS,
        raises=InternalServerError, error={"status_code": 503, "google_status": "UNAVAILABLE"},
        attempts=2,
        retries={"503": 1}, emulator={"by_status": {503: 2}},
    ),
    "list_error_is_parsed_and_retried": Case(
        headers=fault("list-error"),
        raises=RateLimitError,
        error={"status_code": 429, "google_status": "RESOURCE_EXHAUSTED",
               "reason": "RATE_LIMIT_EXCEEDED"},
        message_has=("Resource exhausted",), body_items=1, attempts=4,
        retries={"429": 3}, emulator={"by_status": {429: 4}, "faults": {"list-error": 4}},
    ),
    "html_error_message_is_readable": Case(
        headers=fault("html-error"),
        raises=InternalServerError, error={"status_code": 502, "google_status": None},
        message_starts="request failed with HTTP 502: ",
        message_has=("Error 502 (Server Error)!!1",), message_lacks=("<", ">"),
        attempts=4, attempt_lines=("^502",) * 4,
        retries={"502": 3}, emulator={"by_status": {502: 4}, "faults": {"html-error": 4}},
    ),
    "non_retryable_400_makes_one_attempt": Case(
        headers=fault("400"),
        raises=BadRequestError, error={"status_code": 400}, attempts=1, str_lacks=("attempts",),
        client={"attempts": 1, "failures": 1, "total_retries": 0},
        emulator={"by_status": {400: 1}, "faults": {"400": 1}},
    ),
    # The first request is reset, so the history mixes causes.
    "final_error_lists_every_attempt": Case(
        headers={**fault("503"), **fault_once("mix", "reset-before-headers")},
        policy=THREE_ATTEMPTS,
        raises=InternalServerError, attempts=3,
        attempt_lines=(
            "^APIConnectionError: ",
            "^503 UNAVAILABLE",
            r"^503 UNAVAILABLE.*\[max_attempts=3 reached\]$",
        ),
        str_has=(
            "(after 3 attempts: #1 APIConnectionError",
            "; #2 503 UNAVAILABLE",
            "; #3 503 UNAVAILABLE",
        ),
        retries={"connection": 1, "503": 1},
    ),
    # -- connection resets --------------------------------------------------------------------
    "reset_before_headers_then_success": Case(
        headers=fault_once("rst", "reset-before-headers"), max_tokens=3,
        finish_reason="length",
        retries={"connection": 1}, client={"attempts": 2},
        # A reset answers no status.
        emulator={"by_status": {200: 1}, "faults": {"reset-before-headers": 1}},
    ),
    "reset_before_headers_every_time": Case(
        headers=fault("reset-before-headers"), policy=TWO_ATTEMPTS,
        raises=APIConnectionError, is_not=(APITimeoutError,),
        attempts=2, attempt_lines=("^APIConnectionError: ",) * 2,
        retries={"connection": 1},
        emulator={"by_status": {}, "faults": {"reset-before-headers": 2}},
    ),
    "reset_mid_stream_after_chunks_is_not_retried": Case(
        headers=fault("reset-mid-stream:after=2"), stream=True, max_tokens=10, reference=10,
        raises=StreamInterruptedError, raised_by="iteration", is_not=(StreamTimeoutError,),
        cause=APIConnectionError, error={"chunks_received": 2}, shown=2, partial=True,
        attempts=1, restarts=0,
        retries={}, client={"failures": 1},
        emulator={"faults": {"reset-mid-stream": 1}, "by_status": {200: 2}},
    ),
    # The caller sees two chunks of the broken attempt, then the whole new one.
    "reset_mid_stream_restarts_with_restart_on_interrupt": Case(
        headers=fault_once("mid", "reset-mid-stream:after=2"), stream=True, max_tokens=10,
        reference=10, policy=RESTART,
        shown_before_restart=2, restarts=1, finish_reason="length",
        retries={"interrupted": 1},
        client={"requests": 2, "failures": 0},  # the reference and the stream: a restart is no call
        emulator={"faults": {"reset-mid-stream": 1}, "by_status": {200: 3}, "streamed": 2},
    ),
    # The 200 headers went out (aiohttp's StreamResponse sends them on prepare), so the reset is
    # seen while reading the body: a restart before any chunk, invisible to the caller.
    "reset_before_first_chunk_is_retried_transparently": Case(
        headers=fault_once("zero", "reset-mid-stream:after=0"), stream=True, max_tokens=6,
        reference=6,
        restarts=1,
        retries={"interrupted": 1}, client={"failures": 0},
        emulator={"by_status": {200: 3}, "faults": {"reset-mid-stream": 1}},
    ),
    "reset_mid_body_of_plain_answer_is_retried": Case(
        headers=fault_once("body", "reset-mid-stream"), max_tokens=8, reference=8,
        retries={"connection": 1}, emulator={"by_status": {200: 3}},
    ),
    # -- stalls and timeouts ------------------------------------------------------------------
    "stall_before_headers_first_byte_timeout_is_retried": Case(
        headers=fault_once("st", "stall:seconds=5"), max_tokens=3,
        timeouts=Timeouts(first_byte=0.2),
        finish_reason="length",
        retries={"first_byte": 1}, client={"attempts": 2},
        # The stalled handler never answered.
        emulator={"faults": {"stall": 1}, "by_status": {200: 1}},
    ),
    "stall_before_headers_final_error_is_first_byte": Case(
        headers=fault("stall:seconds=5"), stream=True, policy=TWO_ATTEMPTS,
        timeouts=Timeouts(first_byte=0.2),
        raises=APITimeoutError, is_not=(StreamInterruptedError,), error={"kind": "first_byte"},
        attempts=2, attempt_lines=("first_byte timeout",) * 2,
        retries={"first_byte": 1}, emulator={"faults": {"stall": 2}},
    ),
    # Chunks were shown: not retried by default.
    "stall_mid_stream_idle_timeout_keeps_partial": Case(
        headers=fault("stall:seconds=5:after=2"), stream=True, max_tokens=10, reference=10,
        timeouts=Timeouts(idle=0.2),
        raises=StreamTimeoutError, raised_by="iteration",
        also_is=(APITimeoutError, StreamInterruptedError),
        error={"kind": "idle", "cause.kind": "idle", "chunks_received": 2},
        cause=APITimeoutError, shown=2, partial=True, attempts=1,
        retries={}, client={"failures": 1}, emulator={"faults": {"stall": 1}},
    ),
    "stall_before_first_chunk_idle_timeout_is_retried": Case(
        headers=fault_once("idle0", "stall:seconds=5:after=0"), stream=True, max_tokens=5,
        reference=5, timeouts=Timeouts(idle=0.2),
        restarts=1,
        retries={"idle": 1}, emulator={"faults": {"stall": 1}},
    ),
    "total_deadline_before_headers_is_not_retried": Case(
        headers=fault("stall:seconds=5"), timeouts=Timeouts(total=0.3),
        raises=APITimeoutError, error={"kind": "total"}, attempts=1,
        retries={}, client={"attempts": 1, "failures": 1}, emulator={"faults": {"stall": 1}},
    ),
    # Even restart_on_interrupt cannot beat the deadline.
    "total_deadline_mid_stream_is_not_retried": Case(
        headers=fault("stall:seconds=5:after=2"), stream=True, max_tokens=10, policy=RESTART,
        timeouts=Timeouts(idle=None, total=0.5),
        raises=StreamTimeoutError, raised_by="iteration",
        error={"kind": "total", "chunks_received": 2}, partial=True, attempts=1, restarts=0,
        retries={}, emulator={"faults": {"stall": 1}},
    ),
    # -- damaged stream bodies ----------------------------------------------------------------
    "malformed_chunk_interrupts_with_partial": Case(
        headers=fault("malformed-chunk:after=2"), stream=True, max_tokens=10,
        raises=StreamInterruptedError, raised_by="iteration", match="not valid JSON",
        error={"chunks_received": 2}, shown=2, partial=True, attempts=1,
        retries={}, emulator={"faults": {"malformed-chunk": 1}},
    ),
    "error_in_stream_after_chunks_is_typed_with_partial": Case(
        headers=fault("error-in-stream:after=2:code=503"), stream=True, max_tokens=10,
        raises=InternalServerError, raised_by="iteration",
        error={"status_code": 503, "google_status": "UNAVAILABLE"},
        message_starts="the stream failed with HTTP 503", shown=2, partial=True, attempts=1,
        retries={}, client={"failures": 1},
        emulator={"faults": {"error-in-stream": 1}, "by_status": {200: 1}},
    ),
    "error_in_stream_before_chunks_is_retried": Case(
        headers=fault_once("ev0", "error-in-stream:after=0:code=503"), stream=True, max_tokens=5,
        reference=5,
        restarts=1,
        retries={"503": 1}, emulator={"faults": {"error-in-stream": 1}},
    ),
    "truncated_stream_interrupts_with_partial": Case(
        headers=fault("truncate:after=3"), stream=True, max_tokens=10, reference=10,
        raises=StreamInterruptedError, raised_by="iteration", match="ended before a finish reason",
        cause=type(None), error={"chunks_received": 3}, shown=3, partial=True, attempts=1,
        retries={}, emulator={"faults": {"truncate": 1}},
    ),
    "trickled_stream_completes": Case(
        headers=fault("trickle:bytes=3"), stream=True, max_tokens=20, reference=20,
        create_kwargs={"stream_options": {"include_usage": True}},
        finish_reason="length", usage_tokens=20,
        retries={}, emulator={"faults": {"trickle": 1}},
    ),
    # The key is spent after three faults: the same header again goes straight through.
    "every_fault_header_is_counted_by_the_emulator": Case(
        headers=fault_once("k", "500", times=3), max_tokens=2,
        retries={"500": 3}, emulator={"faults": {"500": 3}, "by_status": {500: 3, 200: 1}},
        again_client={"attempts": 5}, again_emulator={"faults": {"500": 3}},
    ),
}


@dataclass
class Outcome:
    """What one call produced: an answer, or an error and where it was raised."""

    completion: ChatCompletion | None = None
    stream: ChatStream | None = None
    received: list[str] = field(default_factory=list)
    error: APIError | None = None
    raised_by: str | None = None


async def send(client: AsyncVertexChat, case: Case) -> Outcome:
    kwargs: dict[str, Any] = {"model": MODEL, "messages": HELLO, "extra_headers": case.headers}
    if case.max_tokens is not None:
        kwargs["max_tokens"] = case.max_tokens
    kwargs.update(case.create_kwargs)
    outcome = Outcome()
    try:
        answer = await client.chat.completions.create(stream=case.stream, **kwargs)
    except APIError as exc:
        outcome.error, outcome.raised_by = exc, "create"
        return outcome
    if not isinstance(answer, ChatStream):
        outcome.completion = answer
        return outcome
    outcome.stream = answer
    try:
        async with answer:
            async for chunk in answer:
                if chunk.choices:
                    outcome.received.append(chunk.choices[0].delta.content or "")
    except APIError as exc:
        outcome.error, outcome.raised_by = exc, "iteration"
    return outcome


def check_error(case: Case, outcome: Outcome, reference: str | None) -> None:
    error = outcome.error
    assert case.raises is not None
    assert isinstance(error, case.raises), f"expected {case.raises.__name__}, got {error!r}"
    assert outcome.raised_by == case.raised_by
    for cls in case.also_is:
        assert isinstance(error, cls)
    for cls in case.is_not:
        assert not isinstance(error, cls)
    text = str(error)
    assert text.startswith(error.message)
    if case.match is not None:
        assert re.search(case.match, text), text
    for path, value in case.error.items():
        assert operator.attrgetter(path)(error) == value, path
    if case.cause is not None:
        assert isinstance(error.cause, case.cause)  # type: ignore[attr-defined]
    if case.message_starts is not None:
        assert error.message.startswith(case.message_starts), error.message
    for part in case.message_has:
        assert part in error.message
    for part in case.message_lacks:
        assert part not in error.message
    for part in case.str_has:
        assert part in text
    for part in case.str_lacks:
        assert part not in text
    if case.attempts is not None:
        assert len(error.attempts) == case.attempts, error.attempts
    if case.attempt_lines:
        assert len(error.attempts) == len(case.attempt_lines)
        for line, pattern in zip(error.attempts, case.attempt_lines, strict=True):
            assert re.search(pattern, line), (pattern, line)
    headers = getattr(error, "headers", {})
    for name, value in case.error_headers.items():
        assert headers[name] == value
    for name in case.headers_absent:
        assert name not in headers
    if case.body_items is not None:
        body = error.body  # type: ignore[attr-defined]
        assert isinstance(body, list) and len(body) == case.body_items
    hint = retry_after_seconds(headers, time.time())
    if case.hint is not None:
        assert hint == case.hint
    if case.policy_delay is not None:
        assert case.policy.delay(1, random.Random(0), hint) == case.policy_delay
    if case.shown is not None:
        assert len(outcome.received) == case.shown
    if case.partial:
        assert error.partial is not None
        partial_text = error.partial.choices[0].message.content
        assert partial_text and partial_text == "".join(outcome.received)
        assert error.partial.choices[0].finish_reason is None
        if reference is not None:
            assert reference.startswith(partial_text)


def check_answer(case: Case, outcome: Outcome, reference: str | None) -> None:
    assert outcome.error is None, f"unexpected {outcome.error!r}"
    if outcome.stream is not None:
        stream, pieces = outcome.stream, outcome.received
        assert stream.finished
        completion = stream.completion
        k = case.shown_before_restart
        if reference is not None:
            assert "".join(pieces[k:]) == reference
        if k:
            assert "".join(pieces[:k]) == "".join(pieces[k : 2 * k])
        usage = stream.usage
    else:
        assert outcome.completion is not None
        completion = outcome.completion
        usage = completion.usage
    content = completion.choices[0].message.content
    assert content
    if reference is not None:
        assert content == reference
    if case.finish_reason is not None:
        assert completion.choices[0].finish_reason == case.finish_reason
    if case.usage_tokens is not None:
        assert usage is not None and usage.completion_tokens == case.usage_tokens


def check_counts(
    client: AsyncVertexChat,
    emulator: Emulator,
    client_counts: Mapping[str, Any],
    emulator_counts: Mapping[str, Any],
) -> None:
    stats = client.stats
    for name, value in client_counts.items():
        assert getattr(stats, name) == value, f"client.stats.{name}"
    for name, value in emulator_counts.items():
        assert getattr(emulator.stats, name) == value, f"emulator.stats.{name}"


@pytest.mark.parametrize("case", [pytest.param(case, id=name) for name, case in CASES.items()])
async def test_fault_outcome(case: Case, emulator: Emulator) -> None:
    options: dict[str, Any] = {} if case.timeouts is None else {"timeout": case.timeouts}
    async with chat(emulator, retry=case.policy, **options) as client:
        delays = record_backoff(client) if case.delays is not None else None
        reference = None
        if case.reference is not None:
            reference = await reference_text(client, case.reference)
        outcome = await send(client, case)
        if case.raises is None:
            check_answer(case, outcome, reference)
        else:
            check_error(case, outcome, reference)
        if case.restarts is not None:
            assert outcome.stream is not None and outcome.stream.restarts == case.restarts
        assert dict(client.stats.retries) == case.retries
        check_counts(client, emulator, case.client, case.emulator)
        if case.delays == "jittered":
            assert delays is not None and case.attempts is not None
            assert len(delays) == case.attempts - 1
            for n, delay in enumerate(delays, 1):
                assert 0.0 <= delay <= min(case.policy.cap, case.policy.base * 2 ** (n - 1))
        elif case.delays is not None:
            assert delays == case.delays
        assert client.connections_in_use == 0
        if case.again_client is not None or case.again_emulator is not None:
            again = await send(client, case)
            check_answer(case, again, reference)
            check_counts(client, emulator, case.again_client or {}, case.again_emulator or {})
