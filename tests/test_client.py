"""The client against the emulator over real loopback sockets."""

import asyncio
import gc

import pytest

from aiovertexchat import (
    APIConnectionError,
    AsyncVertexChat,
    AuthenticationError,
    BadRequestError,
    ChatCompletion,
    InternalServerError,
    RateLimitError,
    StreamInterruptedError,
)
from aiovertexchat.emulator import Emulator

MODEL = "google/gemini-2.5-flash"
HELLO = [{"role": "user", "content": "hello there emulator"}]


def fault(spec: str) -> dict[str, str]:
    return {"X-Emulator-Fault": spec}


async def test_non_streaming_completion(client: AsyncVertexChat) -> None:
    completion = await client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=5)
    assert isinstance(completion, ChatCompletion)
    choice = completion.choices[0]
    assert choice.finish_reason == "length"
    assert choice.message.role == "assistant"
    assert choice.message.content is not None and len(choice.message.content.split()) == 5
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 3
    assert completion.usage.completion_tokens == 5
    assert completion.usage.total_tokens == 8
    assert completion.model == MODEL
    assert completion.request_id
    assert completion.response_headers.get("Content-Type", "").startswith("application/json")


async def test_stream_yields_chunks_and_accumulates(client: AsyncVertexChat) -> None:
    plain = await client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=6)
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=6, stream=True,
        stream_options={"include_usage": True},
    )
    pieces = []
    async with stream:
        async for chunk in stream:
            pieces.extend(c.delta.content or "" for c in chunk.choices)
    assert stream.finished
    assert "".join(pieces) == plain.choices[0].message.content
    assert stream.completion.choices[0].message.content == plain.choices[0].message.content
    assert stream.completion.choices[0].finish_reason == "length"
    assert stream.usage is not None and stream.usage.completion_tokens == 6
    metrics = stream.metrics
    assert metrics.headers_at is not None and metrics.first_chunk_at is not None
    assert metrics.first_content_at is not None and metrics.end_at is not None
    assert metrics.started_at <= metrics.headers_at <= metrics.first_chunk_at
    assert metrics.first_chunk_at <= metrics.first_content_at <= metrics.end_at
    assert len(metrics.chunk_times) >= 6
    assert metrics.chunk_times == sorted(metrics.chunk_times)
    assert len(metrics.inter_chunk_latencies) == len(metrics.chunk_times) - 1


async def test_stream_without_done_marker_ends_cleanly(emulator: Emulator) -> None:
    emulator.config.send_done = False
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="k") as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=3, stream=True
        )
        chunks = [chunk async for chunk in stream]
        assert stream.finished
        assert len(chunks) >= 3
        assert client.connections_in_use == 0


async def test_n_choices_in_stream(client: AsyncVertexChat) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=4, n=2, stream=True
    )
    async for _ in stream:
        pass
    choices = stream.completion.choices
    assert [c.index for c in choices] == [0, 1]
    assert all(c.finish_reason == "length" for c in choices)
    assert choices[0].message.content != choices[1].message.content


async def test_break_and_drop_releases_connection(emulator: Emulator) -> None:
    emulator.config.itl = 30.0  # keep the body open: aiohttp frees a fully read connection itself
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="k") as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=50, stream=True
        )
        async for _ in stream:
            break
        assert client.connections_in_use == 1
        del stream
        gc.collect()
        assert client.connections_in_use == 0


async def test_aclose_mid_stream_releases_connection(emulator: Emulator) -> None:
    emulator.config.itl = 30.0
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="k") as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=50, stream=True
        )
        await stream.__anext__()
        assert client.connections_in_use == 1
        await stream.aclose()
        await stream.aclose()  # idempotent
        assert client.connections_in_use == 0
        assert not stream.finished
        assert stream.completion.choices[0].message.content


async def test_cancellation_mid_stream_releases_connection(emulator: Emulator) -> None:
    emulator.config.itl = 30.0  # the second chunk never comes within the test
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="k") as client:
        first_chunk = asyncio.Event()

        async def consume() -> None:
            stream = await client.chat.completions.create(
                model=MODEL, messages=HELLO, max_tokens=5, stream=True
            )
            async for _ in stream:
                first_chunk.set()

        task = asyncio.create_task(consume())
        await first_chunk.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert client.connections_in_use == 0


async def test_truncated_stream_raises_with_partial(client: AsyncVertexChat) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=10, stream=True,
        extra_headers=fault("truncate:after=3"),
    )
    received = []
    with pytest.raises(StreamInterruptedError) as info:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content)
    assert info.value.chunks_received == 3
    assert info.value.partial.choices[0].message.content == "".join(received)
    assert len(received) == 3


async def test_reset_mid_stream_raises_with_partial(client: AsyncVertexChat) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=10, stream=True,
        extra_headers=fault("reset-mid-stream:after=2"),
    )
    with pytest.raises(StreamInterruptedError) as info:
        async for _ in stream:
            pass
    assert info.value.chunks_received == 2
    assert isinstance(info.value.cause, APIConnectionError)
    assert info.value.partial.choices[0].message.content


async def test_error_event_in_stream_is_typed(client: AsyncVertexChat) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=10, stream=True,
        extra_headers=fault("error-in-stream:after=2:code=503"),
    )
    with pytest.raises(InternalServerError) as info:
        async for _ in stream:
            pass
    assert info.value.status_code == 503
    assert info.value.google_status == "UNAVAILABLE"
    assert info.value.partial is not None
    assert info.value.partial.choices[0].message.content


async def test_malformed_chunk_raises_interrupted(client: AsyncVertexChat) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=10, stream=True,
        extra_headers=fault("malformed-chunk:after=2"),
    )
    with pytest.raises(StreamInterruptedError, match="not valid JSON") as info:
        async for _ in stream:
            pass
    assert info.value.chunks_received == 2


async def test_trickled_stream_is_reassembled(client: AsyncVertexChat) -> None:
    reference = await client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=20)
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=20, stream=True,
        extra_headers=fault("trickle:bytes=7"),
    )
    async for _ in stream:
        pass
    assert stream.completion.choices[0].message.content == reference.choices[0].message.content


@pytest.mark.parametrize(
    ("spec", "cls", "status", "google_status"),
    [
        ("429", RateLimitError, 429, "RESOURCE_EXHAUSTED"),
        ("list-error:code=429", RateLimitError, 429, "RESOURCE_EXHAUSTED"),
        ("html-error:code=502", InternalServerError, 502, None),
        ("text-error:code=503", InternalServerError, 503, None),
        ("empty-error:code=500", InternalServerError, 500, None),
    ],
)
async def test_error_statuses_are_typed(
    client: AsyncVertexChat, spec: str, cls: type, status: int, google_status: str | None
) -> None:
    for stream in (False, True):
        with pytest.raises(cls) as info:
            await client.chat.completions.create(
                model=MODEL, messages=HELLO, stream=stream, extra_headers=fault(spec)
            )
        assert info.value.status_code == status
        assert info.value.google_status == google_status
        assert f"HTTP {status}" in str(info.value)
        assert len(str(info.value)) < 600


async def test_connection_reset_before_headers(client: AsyncVertexChat) -> None:
    with pytest.raises(APIConnectionError):
        await client.chat.completions.create(
            model=MODEL, messages=HELLO, extra_headers=fault("reset-before-headers")
        )


async def test_bad_request_from_server(emulator: Emulator) -> None:
    base = f"{emulator.url}/v1/projects/p/locations/us-central1/endpoints/openapi"
    async with AsyncVertexChat(base_url=base, api_key="k") as client:
        with pytest.raises(BadRequestError, match="google/") as info:
            # extra_body overrides the checked `model` field, so the server sees a bare name.
            await client.chat.completions.create(
                model=MODEL, messages=HELLO, extra_body={"model": "bare"}
            )
        assert info.value.google_status == "INVALID_ARGUMENT"


async def test_missing_token_is_authentication_error(emulator: Emulator) -> None:
    async with AsyncVertexChat(base_url=emulator.base_url) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.chat.completions.create(model=MODEL, messages=HELLO)
        assert info.value.google_status == "UNAUTHENTICATED"


async def test_token_callable_is_cached_and_called_again_after_401(emulator: Emulator) -> None:
    calls: list[int] = []

    def token() -> str:
        calls.append(1)
        return f"token-{len(calls)}"

    async with AsyncVertexChat(base_url=emulator.base_url, token=token) as client:
        await client.chat.completions.create(model=MODEL, messages=HELLO)
        await client.chat.completions.create(model=MODEL, messages=HELLO)
        assert len(calls) == 1  # cached between requests
        completion = await client.chat.completions.create(
            model=MODEL, messages=HELLO, extra_headers={"X-Emulator-Fault-Once": "a=401"}
        )
        assert completion.choices[0].message.content
        assert len(calls) == 2  # the 401 invalidated the token; one retry with a new one


async def test_static_token_401_is_not_retried(client: AsyncVertexChat) -> None:
    with pytest.raises(AuthenticationError) as info:
        await client.chat.completions.create(
            model=MODEL, messages=HELLO, extra_headers={"X-Emulator-Fault-Once": "b=401"}
        )
    assert info.value.reason == "ACCESS_TOKEN_TYPE_UNSUPPORTED"
    assert "gcloud auth application-default login" in str(info.value)


def test_unknown_keyword_is_refused_before_sending() -> None:
    async def run() -> None:
        async with AsyncVertexChat(base_url="http://127.0.0.1:9/v1", api_key="k") as client:
            with pytest.raises(TypeError, match="did you mean 'max_tokens'"):
                await client.chat.completions.create(  # type: ignore[call-overload]
                    model=MODEL, messages=HELLO, max_token=5
                )
            assert client.connections_in_use == 0

    asyncio.run(run())


async def test_managed_endpoint_requires_publisher_prefix() -> None:
    async with AsyncVertexChat(project="my-project", location="us-central1", api_key="k") as client:
        with pytest.raises(ValueError, match=r"google/gemini-2\.5-flash"):
            await client.chat.completions.create(model="gemini-2.5-flash", messages=HELLO)


async def test_vertex_path_on_emulator(emulator: Emulator) -> None:
    base = f"{emulator.url}/v1beta1/projects/p/locations/us-central1/endpoints/openapi"
    async with AsyncVertexChat(base_url=base, api_key="k") as client:
        completion = await client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2)
        assert completion.choices[0].finish_reason == "length"


async def test_token_never_in_repr_or_errors(emulator: Emulator) -> None:
    secret = "ya29.super-secret-token"
    async with AsyncVertexChat(base_url=emulator.base_url, api_key=secret) as client:
        assert secret not in repr(client)
        assert "static" in repr(client)
        with pytest.raises(RateLimitError) as info:
            await client.chat.completions.create(
                model=MODEL, messages=HELLO, extra_headers=fault("429")
            )
        assert secret not in str(info.value) and secret not in repr(info.value)
        assert secret not in repr(info.value.headers)


async def test_closed_client_refuses_requests(emulator: Emulator) -> None:
    client = AsyncVertexChat(base_url=emulator.base_url, api_key="k")
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.chat.completions.create(model=MODEL, messages=HELLO)


async def test_timeout_fires_on_stall(emulator: Emulator) -> None:
    from aiovertexchat import APITimeoutError

    async with AsyncVertexChat(base_url=emulator.base_url, api_key="k", timeout=0.2) as client:
        with pytest.raises(APITimeoutError):
            await client.chat.completions.create(
                model=MODEL, messages=HELLO, extra_headers=fault("stall:seconds=30")
            )
        assert client.connections_in_use == 0

