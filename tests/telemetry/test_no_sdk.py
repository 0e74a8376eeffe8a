"""Telemetry on, nobody listening: with the API's no-op providers, or the global ones before the
application sets any, a call takes the null trace (no span, no attribute built, no wait
wrapped); a sampled-out span still measures and still passes its context on; a context
extracted upstream still reaches the server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest
from aiohttp import web
from opentelemetry import metrics, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from aiovertexchat import AsyncVertexChat
from aiovertexchat._telemetry import names
from aiovertexchat._telemetry.otel import OTelObserver
from tests.helpers import serve_app, user

from .conftest import Telemetry

BODY = msgspec.json.encode({
    "id": "c1", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
})


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(body=BODY, content_type="application/json")

    async with serve_app(handler) as url:
        yield url + "/v1", seen


def trace_of(client: AsyncVertexChat) -> object:
    observer = client._dispatcher.observer
    assert isinstance(observer, OTelObserver)
    return observer.start_call(model="m", params={}, body=b"{}", stream=False)


async def test_no_op_providers_take_the_null_trace(
    server: tuple[str, list[dict[str, str]]],
) -> None:
    url, seen = server
    async with AsyncVertexChat(base_url=url, api_key="k",
                               tracer_provider=trace.NoOpTracerProvider(),
                               meter_provider=metrics.NoOpMeterProvider()) as client:
        assert type(trace_of(client)).__name__ == "_NullTrace"
        stream = await client.chat.completions.create(model="m", messages=user("hi"))
    assert stream.choices[0].message.content == "hi"
    assert "traceparent" not in seen[0]


async def test_unset_global_providers_take_the_null_trace() -> None:
    # The test process never sets the global providers (the tests that do run in a child).
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    async with AsyncVertexChat(base_url="http://127.0.0.1:9/v1", api_key="k") as client:
        assert type(trace_of(client)).__name__ == "_NullTrace"


async def test_a_real_provider_on_either_side_takes_the_full_path(otel: Telemetry) -> None:
    for tracer_provider, meter_provider in ((otel.tracer_provider, None),
                                            (None, otel.meter_provider)):
        async with AsyncVertexChat(base_url="http://127.0.0.1:9/v1", api_key="k",
                                   tracer_provider=tracer_provider,
                                   meter_provider=meter_provider) as client:
            assert type(trace_of(client)).__name__ == "_Trace"


def _api_passes_context_through() -> bool:
    """Whether this API's no-op tracer keeps the parent's context (recent APIs do)."""
    parent = trace.NonRecordingSpan(trace.SpanContext(1, 1, is_remote=True))
    span = trace.NoOpTracer().start_span("probe", context=trace.set_span_in_context(parent))
    return span.get_span_context().is_valid


@pytest.mark.skipif(not _api_passes_context_through(),
                    reason="this opentelemetry-api's no-op tracer drops the parent context")
async def test_upstream_context_reaches_the_server_without_an_sdk(
    server: tuple[str, list[dict[str, str]]], otel: Telemetry
) -> None:
    url, seen = server
    upstream = otel.tracer_provider.get_tracer("web-framework")
    async with AsyncVertexChat(base_url=url, api_key="k") as client:  # global, unset: no-op
        with upstream.start_as_current_span("request") as span:
            await client.chat.completions.create(model="m", messages=user("hi"))
    context = span.get_span_context()
    assert seen[0]["traceparent"].startswith(f"00-{context.trace_id:032x}-")


async def test_sampled_out_call_still_measures_and_propagates(
    server: tuple[str, list[dict[str, str]]], otel: Telemetry
) -> None:
    url, seen = server
    unsampled = TracerProvider(sampler=ALWAYS_OFF)
    async with AsyncVertexChat(base_url=url, api_key="k", tracer_provider=unsampled,
                               meter_provider=otel.meter_provider) as client:
        await client.chat.completions.create(model="m", messages=user("hi"))
    assert otel.point(names.OPERATION_DURATION).count == 1
    flags = int(seen[0]["traceparent"].rsplit("-", 1)[1], 16)
    assert flags & 1 == 0  # the decision travels: not sampled


async def test_an_unusable_provider_turns_telemetry_off_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(metrics.NoOpMeterProvider):
        def get_meter(self, *args: object, **kwargs: object) -> metrics.Meter:
            raise RuntimeError("meter store is full")

    with caplog.at_level("WARNING", logger="aiovertexchat.telemetry"):
        client = AsyncVertexChat(base_url="http://127.0.0.1:9/v1", api_key="k",
                                 meter_provider=Broken())
    assert client._dispatcher.observer is None
    assert "telemetry is off for this client" in caplog.text
    assert "RuntimeError: meter store is full" in caplog.text
    await client.aclose()
