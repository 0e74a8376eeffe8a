"""`client.batch(...)`: the Python API, against the emulator and a recording fake client."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiovertexchat import AsyncVertexChat, RateLimitError
from aiovertexchat.batch import BatchRequest, BatchResult, InvalidRequestError, execute_request
from aiovertexchat.emulator import Emulator
from tests.helpers import MODEL, fault, request_body


async def test_mixed_inputs_each_yield_one_result(client: AsyncVertexChat) -> None:
    items: list[Any] = [
        {"custom_id": "line", "method": "POST", "url": "/v1/chat/completions",
         "body": request_body("a")},
        {"custom_id": "plain", **request_body("b b", 5)},
        BatchRequest("struct", request_body("c c c", 2)),
        {"custom_id": "bad", "messages": []},
        42,
    ]
    async with client.batch(items, concurrency=2) as run:
        results = {r.custom_id: r async for r in run}
    assert set(results) == {"line", "plain", "struct", "bad", None}
    assert results["plain"].ok and results["plain"].usage is not None
    assert results["plain"].usage.completion_tokens == 5
    assert results["plain"].usage.prompt_tokens == 3  # "b b [[tokens=5]]": 3 words
    assert results["struct"].completion is not None
    assert results["struct"].completion.choices[0].message.content is not None
    assert len(results["struct"].completion.choices[0].message.content.split()) == 2
    for key in ("bad", None):
        assert not results[key].ok
        assert isinstance(results[key].error, InvalidRequestError)
        assert results[key].error_code == "invalid_request"
    assert results["line"].latency > 0 and results["line"].model == MODEL


async def test_failing_items_yield_errors_and_never_stop_the_batch(
    emulator: Emulator, client: AsyncVertexChat
) -> None:
    reqs = [{"custom_id": str(i), **request_body(str(i))} for i in range(20)]
    failing = client.batch(reqs, concurrency=4, extra_headers=fault("429"))
    async with failing as run:
        results = [r async for r in run]
    assert sorted(int(r.custom_id or -1) for r in results) == list(range(20))
    assert all(isinstance(r.error, RateLimitError) for r in results)
    record = results[0].to_record("batch_req_x")
    assert record["response"]["status_code"] == 429
    assert record["response"]["request_id"].startswith("emu-")
    assert record["error"]["code"] == "RESOURCE_EXHAUSTED"
    assert "HTTP 429" in record["error"]["message"]
    # Each item was tried as often as the retry policy allows, and the error says so.
    attempts = client.retry_policy.max_attempts
    assert emulator.stats.by_status[429] == 20 * attempts
    assert all(len(r.error.attempts) == attempts for r in results if r.error is not None)


async def test_success_record_is_openai_batch_output(client: AsyncVertexChat) -> None:
    direct = await client.chat.completions.create(**request_body("same prompt"))
    async with client.batch([{"custom_id": "x", **request_body("same prompt")}]) as run:
        (result,) = [r async for r in run]
    record = result.to_record("batch_req_1")
    assert set(record) == {"id", "custom_id", "response", "error"}
    assert record["id"] == "batch_req_1" and record["custom_id"] == "x"
    assert record["error"] is None
    response = record["response"]
    assert response["status_code"] == 200 and response["request_id"] == result.request_id
    out = response["body"]
    assert out["object"] == "chat.completion" and out["model"] == MODEL
    assert out["choices"][0]["index"] == 0
    assert out["choices"][0]["message"]["role"] == "assistant"
    assert out["choices"][0]["message"]["content"] == direct.choices[0].message.content
    assert out["usage"]["completion_tokens"] == 3
    line = result.to_line()
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and b'"batch_req_' in line


async def test_async_input_is_consumed_lazily(client: AsyncVertexChat) -> None:
    pulled = 0

    async def requests() -> AsyncIterator[dict[str, Any]]:
        nonlocal pulled
        for i in range(10_000):
            pulled += 1
            yield {"custom_id": str(i), **request_body(str(i), 1)}

    async with client.batch(requests(), concurrency=8) as run:
        seen = 0
        async for _ in run:
            seen += 1
            assert pulled <= seen + 2 * 8 + 1
            if seen == 50:
                break
    assert run.in_flight == 0


async def test_stop_lets_in_flight_finish(client: AsyncVertexChat) -> None:
    reqs = ({"custom_id": str(i), **request_body(str(i))} for i in range(1000))
    async with client.batch(reqs, concurrency=4) as run:
        first = await anext(run)
        run.stop()
        rest = [r async for r in run]
    assert first.ok and all(r.ok for r in rest)
    assert 1 + len(rest) == run.taken <= 1 + 2 * 4 + 1


class RecordingCompletions:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def create(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        raise asyncio.TimeoutError("not a real client")


class FakeClient:
    def __init__(self) -> None:
        self.completions = RecordingCompletions()
        self.chat = self


async def test_body_is_sent_as_create_keywords() -> None:
    fake = FakeClient()
    request = BatchRequest("a", {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 7,
        "stream": False,
        "extra_body": {"google": {"thinking_config": {"thinking_budget": 0}}},
    })
    result = await execute_request(fake, request, model="m", options={"timeout": 3.0})  # type: ignore[arg-type]
    (call,) = fake.completions.calls
    assert call == {
        "messages": [{"role": "user", "content": "hi"}],
        "model": "m",
        "max_tokens": 7,
        "timeout": 3.0,
        # Vertex's literal top-level key, not merged into the body.
        "extra_body": {"extra_body": {"google": {"thinking_config": {"thinking_budget": 0}}}},
    }
    assert isinstance(result, BatchResult) and not result.ok
    assert result.error_code == "internal_error" and result.model == "m"
    record = result.to_record()
    assert record["response"] is None and record["error"]["code"] == "internal_error"
    assert record["error"]["message"] == "not a real client"
