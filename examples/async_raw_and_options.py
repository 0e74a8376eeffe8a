"""AsyncOpenAI client idioms: response headers through `with_raw_response` and
`with_streaming_response`, per-request options through `with_options()`, `NOT_GIVEN` for
"leave it out", serialising a response, and the error classes and attributes.

Run: OPENAI_BASE_URL=... OPENAI_API_KEY=... python examples/async_raw_and_options.py
"""

from __future__ import annotations

import asyncio
import os

from aiovertexchat import (
    NOT_GIVEN,
    APIConnectionError,
    APIStatusError,
    AsyncVertexChat,
    NotGiven,
    RateLimitError,
)

MODEL = os.environ.get("MODEL", "google/gemini-2.5-flash")


async def ask(client: AsyncVertexChat, question: str, temperature: float | None = None) -> str:
    chosen: float | NotGiven = temperature if temperature is not None else NOT_GIVEN
    completion = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": question}],
        temperature=chosen,
        max_tokens=50,
    )
    return completion.choices[0].message.content or ""


async def careful_ask(client: AsyncVertexChat, question: str) -> str:
    """The OpenAI SDK's error handling, unchanged but for the import line."""
    try:
        return await ask(client, question, temperature=0.0)
    except RateLimitError as e:
        return f"rate limited: {e.status_code} code={e.code} id={e.response.request_id}"
    except APIStatusError as e:
        return f"failed: {e.status_code} {e.message}"
    except APIConnectionError as e:
        return f"could not connect: {e.__cause__}"


async def main() -> dict[str, object]:
    client = AsyncVertexChat(max_retries=2, timeout=60.0)  # was: AsyncOpenAI(...)
    seen: dict[str, object] = {}

    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "Say this is a test"}]
    )
    seen["request_id"] = raw.headers.get("x-request-id")
    seen["status"] = raw.status_code
    completion = raw.parse()
    seen["object"] = completion.model_dump()["object"]
    print(completion.model_dump_json(indent=2)[:200])

    async with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=[{"role": "user", "content": "Say this is a test"}], stream=True
    ) as response:
        seen["stream_status"] = response.status_code
        stream = await response.parse()
        seen["chunks"] = len([chunk async for chunk in stream])

    quick = client.with_options(timeout=20.0, max_retries=0)
    seen["answer"] = await ask(quick, "Say hello")
    seen["careful"] = await careful_ask(quick, "Say hello again")

    await client.close()
    print(seen)
    return seen


if __name__ == "__main__":
    asyncio.run(main())
