"""Spans against the emulator, through the SDK's in-memory exporter: exact attributes for plain,
streamed and tool-call calls; errors (429, 500, reset, timeout), retries, stream restarts;
cancellation and early close; the trace context sent to the server; and nothing at all with
`telemetry=False`."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from aiohttp import web
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from aiovertexchat import (
    APIConnectionError,
    APITimeoutError,
    AsyncVertexChat,
    ChatCompletion,
    InternalServerError,
    RateLimitError,
    StreamInterruptedError,
)
from aiovertexchat._protocol.pricing import PriceTable
from aiovertexchat._reliability.retry import RetryPolicy
from aiovertexchat._reliability.timeouts import Timeouts
from aiovertexchat.emulator import Emulator, EmulatorConfig
from tests.helpers import MODEL, cancel, fault, fault_once, serve_app, until, user

from .conftest import SECRET, Telemetry

TWO_ATTEMPTS = RetryPolicy(base=0.001, cap=0.01, max_attempts=2)
RESTART = RetryPolicy(base=0.001, cap=0.01, restart_on_interrupt=True)
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


def port_of(emulator: Emulator) -> int:
    return int(emulator.base_url.split(":")[2].split("/")[0])


def base(emulator: Emulator, **more: Any) -> dict[str, Any]:
    """The attributes every span of a call to `emulator` starts with."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "_OTHER",  # a loopback server is no listed provider
        "server.address": "127.0.0.1",
        "server.port": port_of(emulator),
        "gen_ai.request.model": MODEL,
        **more,
    }


def response(completion: ChatCompletion, **more: Any) -> dict[str, Any]:
    """The attributes a successful call adds at its end."""
    usage = completion.usage
    assert usage is not None
    if completion.request_id:  # a plain answer's; a stream's is given by the test
        more = {"aiovertexchat.response.request_id": completion.request_id, **more}
    return {
        "gen_ai.response.id": completion.id,
        "gen_ai.response.model": completion.model,
        "gen_ai.response.finish_reasons": tuple(c.finish_reason or "" for c in completion.choices),
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
        "aiovertexchat.cost.usd": PriceTable.default().cost(MODEL, usage).total_usd,
        **more,
    }


def without_waits(span: ReadableSpan) -> dict[str, Any]:
    """The span's attributes, the measured waits checked and left out."""
    attrs = dict(span.attributes or {})
    for kind in ("concurrency", "token"):
        waited = attrs.pop(f"aiovertexchat.wait.{kind}")
        assert isinstance(waited, float) and waited >= 0.0
    return attrs


def events(span: ReadableSpan) -> list[dict[str, Any]]:
    assert all(e.name == "aiovertexchat.attempt" for e in span.events)
    return [dict(e.attributes or {}) for e in span.events]


def delays_of(evs: list[dict[str, Any]]) -> list[float]:
    """Pop each event's retry delay (checked to be a backoff within FAST's cap)."""
    delays = []
    for event in evs:
        if "aiovertexchat.retry.delay" in event:
            delay = event.pop("aiovertexchat.retry.delay")
            assert 0.0 <= delay <= 0.01
            delays.append(delay)
    return delays


# -- successful calls -------------------------------------------------------------------------
async def test_plain_call_span(emulator: Emulator, otel: Telemetry) -> None:
    async with otel.client(emulator) as client:
        completion = await client.chat.completions.create(
            model=MODEL, messages=user("hello [[tokens=5]]"), max_tokens=10, temperature=0.5,
            top_p=0.9, seed=7, stop=["zzz"], frequency_penalty=0.1, presence_penalty=0.2, n=1,
        )
    span = otel.span()
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert without_waits(span) == base(
        emulator,
        **{"gen_ai.request.stream": False, "gen_ai.request.max_tokens": 10,
           "gen_ai.request.temperature": 0.5, "gen_ai.request.top_p": 0.9,
           "gen_ai.request.seed": 7, "gen_ai.request.stop_sequences": ("zzz",),
           "gen_ai.request.frequency_penalty": 0.1, "gen_ai.request.presence_penalty": 0.2,
           "gen_ai.request.choice.count": 1, "aiovertexchat.attempts": 1},
        **response(completion),
    )
    assert completion.choices[0].finish_reason == "stop"
    assert events(span) == [{"aiovertexchat.attempt": 1, "http.response.status_code": 200}]


async def test_streamed_call_span_lasts_until_the_stream_ends(otel: Telemetry) -> None:
    async with Emulator(EmulatorConfig(ttft=0.05, itl=0.001)) as emulator:
        async with otel.client(emulator) as client:
            stream = await client.chat.completions.create(
                model=MODEL, messages=user("hello [[tokens=6]]"), max_tokens=6, stream=True,
                stream_options={"include_usage": True},
            )
            assert otel.spans() == []  # open while the stream is
            chunks = [chunk async for chunk in stream]
        span = otel.span()
    attrs = without_waits(span)
    ttfc = attrs.pop("gen_ai.response.time_to_first_chunk")
    assert ttfc >= 0.05  # the emulator waits 50 ms before the first chunk
    assert ttfc <= (span.end_time - span.start_time) / 1e9  # type: ignore[operator]
    assert attrs == base(
        emulator,
        **{"gen_ai.request.stream": True, "gen_ai.request.max_tokens": 6,
           "aiovertexchat.attempts": 1, "aiovertexchat.stream.outcome": "finished",
           "aiovertexchat.response.request_id": stream.request_id},
        **response(stream.completion),
    )
    assert stream.completion.choices[0].finish_reason == "stop" and len(chunks) >= 6


async def test_stream_without_usage_has_no_tokens_or_cost(
    emulator: Emulator, otel: Telemetry
) -> None:
    async with otel.client(emulator) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=user("hello"), max_tokens=3, stream=True
        )
        async for _ in stream:
            pass
    assert stream.usage is None
    attrs = without_waits(otel.span())
    assert attrs["gen_ai.response.finish_reasons"] == ("length",)
    assert not {"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
                "aiovertexchat.cost.usd"} & set(attrs)


async def test_tool_call_span(emulator: Emulator, otel: Telemetry) -> None:
    async with otel.client(emulator) as client:
        completion = await client.chat.completions.create(
            model=MODEL, messages=user("call get_weather"), tools=[WEATHER], stream=False
        )
        stream = await client.chat.completions.create(
            model=MODEL, messages=user("call get_weather"), tools=[WEATHER], stream=True
        )
        async for _ in stream:
            pass
    plain, streamed = otel.spans()
    assert completion.choices[0].message.tool_calls
    assert without_waits(plain) == base(
        emulator, **{"gen_ai.request.stream": False, "aiovertexchat.attempts": 1},
        **response(completion, **{"gen_ai.response.finish_reasons": ("tool_calls",)}),
    )
    attrs = without_waits(streamed)
    assert attrs["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert attrs["aiovertexchat.stream.outcome"] == "finished"


# -- failures ---------------------------------------------------------------------------------
FAILURES = {
    "429": (fault("429"), RateLimitError, "429", 429, Timeouts()),
    "500": (fault("500"), InternalServerError, "500", 500, Timeouts()),
    "reset": (fault("reset-before-headers"), APIConnectionError, "connection", None, Timeouts()),
    "timeout": (fault("stall:seconds=5"), APITimeoutError, "first_byte", None,
                Timeouts(first_byte=0.2)),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
async def test_failed_call_span(case: str, emulator: Emulator, otel: Telemetry) -> None:
    headers, raised, label, status, timeouts = FAILURES[case]
    async with otel.client(emulator, retry=TWO_ATTEMPTS, timeout=timeouts) as client:
        with pytest.raises(raised):
            await client.chat.completions.create(
                model=MODEL, messages=user("hello"), extra_headers=headers
            )
    span = otel.span()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.status.description or "").startswith(raised.__name__ + ": ")
    assert without_waits(span) == base(
        emulator, **{"gen_ai.request.stream": False, "aiovertexchat.attempts": 2,
                     "error.type": label},
    )
    evs = events(span)
    assert len(delays_of(evs)) == 1
    with_status = {} if status is None else {"http.response.status_code": status}
    assert evs == [
        {"aiovertexchat.attempt": 1, **with_status, "error.type": label,
         "aiovertexchat.retry.cause": label},
        {"aiovertexchat.attempt": 2, **with_status, "error.type": label,
         "aiovertexchat.retry.stopped": "max_attempts=2 reached"},
    ]


async def test_refused_status_is_not_retried_and_says_so(
    emulator: Emulator, otel: Telemetry
) -> None:
    async with otel.client(emulator) as client:
        with pytest.raises(Exception, match="400"):
            await client.chat.completions.create(
                model=MODEL, messages=user("hello"), extra_headers=fault("400")
            )
    span = otel.span()
    assert span.attributes is not None and span.attributes["error.type"] == "400"
    assert events(span) == [
        {"aiovertexchat.attempt": 1, "http.response.status_code": 400, "error.type": "400"}
    ]


async def test_retried_call_succeeds_with_every_attempt_shown(
    emulator: Emulator, otel: Telemetry
) -> None:
    async with otel.client(emulator) as client:
        completion = await client.chat.completions.create(
            model=MODEL, messages=user("hello"), extra_headers=fault_once("r", "503")
        )
    span = otel.span()
    assert span.status.status_code is StatusCode.UNSET
    assert without_waits(span) == base(
        emulator, **{"gen_ai.request.stream": False, "aiovertexchat.attempts": 2},
        **response(completion),
    )
    evs = events(span)
    assert len(delays_of(evs)) == 1
    assert evs == [
        {"aiovertexchat.attempt": 1, "http.response.status_code": 503, "error.type": "503",
         "aiovertexchat.retry.cause": "503"},
        {"aiovertexchat.attempt": 2, "http.response.status_code": 200},
    ]


async def test_restarted_stream_is_one_span(emulator: Emulator, otel: Telemetry) -> None:
    async with otel.client(emulator, retry=RESTART) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=user("hello"), max_tokens=5, stream=True,
            extra_headers=fault_once("mid", "reset-mid-stream:after=2"),
        )
        async for _ in stream:
            pass
    assert stream.restarts == 1
    span = otel.span()
    attrs = without_waits(span)
    assert attrs["aiovertexchat.attempts"] == 2
    assert attrs["aiovertexchat.stream.outcome"] == "finished"
    assert "error.type" not in attrs
    evs = events(span)
    delays_of(evs)
    assert evs == [
        {"aiovertexchat.attempt": 1, "http.response.status_code": 200},
        {"aiovertexchat.attempt": 1, "error.type": "interrupted",
         "aiovertexchat.retry.cause": "interrupted"},
        {"aiovertexchat.attempt": 2, "http.response.status_code": 200},
    ]


async def test_stream_failing_mid_way_ends_its_span_with_the_error(
    emulator: Emulator, otel: Telemetry
) -> None:
    async with otel.client(emulator) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=user("hello"), max_tokens=10, stream=True,
            extra_headers=fault("reset-mid-stream:after=2"),
        )
        with pytest.raises(StreamInterruptedError):
            async for _ in stream:
                pass
    attrs = without_waits(otel.span())
    assert attrs["aiovertexchat.stream.outcome"] == "failed"
    assert attrs["error.type"] == "interrupted"
    assert attrs["aiovertexchat.attempts"] == 1


# -- cancellation and early close -------------------------------------------------------------
async def test_cancelled_stream(held_emulator: Emulator, otel: Telemetry) -> None:
    async with otel.client(held_emulator) as client:
        received: list[object] = []

        async def consume() -> None:
            stream = await client.chat.completions.create(
                model=MODEL, messages=user("hello"), max_tokens=20, stream=True
            )
            async for chunk in stream:
                received.append(chunk)

        task = asyncio.ensure_future(consume())
        await until(lambda: len(received) >= 1)
        await cancel(task)
    span = otel.span()
    attrs = without_waits(span)
    assert attrs["aiovertexchat.stream.outcome"] == "cancelled"
    assert attrs["error.type"] == "CancelledError"
    assert "gen_ai.response.time_to_first_chunk" in attrs
    assert span.status.status_code is StatusCode.ERROR


async def test_cancelled_while_waiting_for_the_answer(
    emulator: Emulator, otel: Telemetry
) -> None:
    async with otel.client(emulator) as client:
        task = asyncio.ensure_future(client.chat.completions.create(
            model=MODEL, messages=user("hello"), extra_headers=fault("stall:seconds=5")
        ))
        await until(lambda: client.stats.attempts == 1)
        await cancel(task)
    attrs = without_waits(otel.span())
    assert attrs["error.type"] == "CancelledError"
    assert attrs["aiovertexchat.attempts"] == 1


async def test_break_then_close_ends_the_span_as_closed(
    held_emulator: Emulator, otel: Telemetry
) -> None:
    async with otel.client(held_emulator) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=user("hello"), max_tokens=20, stream=True
        )
        async with stream:
            async for _ in stream:
                break
        span = otel.span()
    attrs = without_waits(span)
    assert attrs["aiovertexchat.stream.outcome"] == "closed"
    assert "error.type" not in attrs
    assert span.status.status_code is StatusCode.UNSET


async def test_break_and_drop_ends_the_span_when_collected(
    held_emulator: Emulator, otel: Telemetry
) -> None:
    async with otel.client(held_emulator) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=user("hello"), max_tokens=20, stream=True
        )
        async for _ in stream:
            break
        del stream
        gc.collect()
        await until(lambda: len(otel.spans()) == 1)
    assert without_waits(otel.span())["aiovertexchat.stream.outcome"] == "closed"


# -- nesting, trace context, credentials, off -------------------------------------------------
async def test_call_span_is_a_child_of_the_current_span(
    emulator: Emulator, otel: Telemetry
) -> None:
    tracer = otel.tracer_provider.get_tracer("test")
    async with otel.client(emulator) as client:
        with tracer.start_as_current_span("job") as job:
            await client.chat.completions.create(model=MODEL, messages=user("hello"))
    call, parent = otel.spans()
    assert parent.name == "job" and call.parent is not None
    assert call.parent.span_id == job.get_span_context().span_id
    assert call.context is not None
    assert call.context.trace_id == job.get_span_context().trace_id


@pytest.fixture
async def recording_server() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A chat server that records each request's headers and answers a fixed completion."""
    seen: list[dict[str, str]] = []
    body = msgspec.json.encode({
        "id": "c1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    })

    async def handler(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(body=body, content_type="application/json")

    async with serve_app(handler) as url:
        yield url + "/v1", seen


@pytest.mark.parametrize("propagate", [True, False])
async def test_traceparent_names_the_call_span(
    recording_server: tuple[str, list[dict[str, str]]], otel: Telemetry, propagate: bool
) -> None:
    url, seen = recording_server
    async with AsyncVertexChat(
        base_url=url, api_key=SECRET, tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider, trace_propagation=propagate,
    ) as client:
        await client.chat.completions.create(model="m", messages=user("hi"))
    (headers,) = seen
    span = otel.span()
    assert span.context is not None
    if propagate:
        assert headers["traceparent"] == (
            f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-"
            f"{int(span.context.trace_flags):02x}"
        )
    else:
        assert "traceparent" not in headers
    assert headers["Authorization"] == f"Bearer {SECRET}"  # still sent, never recorded


async def test_telemetry_off_emits_nothing_and_sends_no_traceparent(
    recording_server: tuple[str, list[dict[str, str]]], otel: Telemetry
) -> None:
    url, seen = recording_server
    async with AsyncVertexChat(
        base_url=url, api_key=SECRET, tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider, telemetry=False,
    ) as client:
        assert client._dispatcher.observer is None
        tracer = otel.tracer_provider.get_tracer("test")
        with tracer.start_as_current_span("outer"):
            await client.chat.completions.create(model="m", messages=user("hi"))
            stream = await client.chat.completions.create(model="m", messages=user("hi"),
                                                          stream=True)
            await stream.aclose()
    assert [s.name for s in otel.spans()] == ["outer"]
    assert otel.metrics() == {}
    assert all("traceparent" not in headers for headers in seen)


async def test_no_credential_in_any_attribute(
    emulator: Emulator, otel: Telemetry
) -> None:
    async with otel.client(
        emulator, environ={"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"},
        default_headers={"X-Api-Key": SECRET},
    ) as client:
        await client.chat.completions.create(model=MODEL, messages=user("hello"))
        stream = await client.chat.completions.create(
            model=MODEL, messages=user("hello"), stream=True
        )
        async for _ in stream:
            pass
        with pytest.raises(RateLimitError):
            await client.chat.completions.create(
                model=MODEL, messages=user("hello"), extra_headers=fault("429"),
                retry=TWO_ATTEMPTS,
            )
    seen: list[Any] = []
    for span in otel.spans():
        seen += [span.name, dict(span.attributes or {}), span.status.description,
                 dict(span.resource.attributes)]
        seen += [(e.name, dict(e.attributes or {})) for e in span.events]
    for name, metric in otel.metrics().items():
        seen += [name] + [dict(p.attributes) for p in metric.data.data_points]
    text = json.dumps(seen, default=str)
    assert "hello" in text  # content capture was on: the check reads what was recorded
    assert SECRET not in text and "Bearer" not in text
