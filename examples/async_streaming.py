"""Streaming with the AsyncOpenAI call shape: `create(stream=True)` and `async for`, usage in
the last chunk (`stream_options`), and the typed-event helper `chat.completions.stream()`.

Run: OPENAI_BASE_URL=... OPENAI_API_KEY=... python examples/async_streaming.py
"""

from __future__ import annotations

import asyncio
import os

from aiovertexchat import AsyncVertexChat, ChatStream

MODEL = os.environ.get("MODEL", "google/gemini-2.5-flash")


async def stream_chunks(client: AsyncVertexChat) -> str:
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Say this is a test"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    parts: list[str] = []
    async for chunk in stream:
        if chunk.choices:  # the usage chunk has none
            parts.append(chunk.choices[0].delta.content or "")
        if chunk.usage is not None:
            print("\ntokens:", chunk.usage.total_tokens)
    return "".join(parts)


async def stream_events(client: AsyncVertexChat) -> str:
    async with client.chat.completions.stream(
        model=MODEL,
        messages=[{"role": "user", "content": "Say this is a test"}],
    ) as stream:
        async for event in stream:
            if event.type == "content.delta":
                print(event.delta, end="", flush=True)
            elif event.type == "content.done":
                print()
        completion = await stream.get_final_completion()
    return completion.choices[0].message.content or ""


async def ask(client: AsyncVertexChat, question: str, stream: bool) -> str:
    """Streaming or not, chosen at run time: the result is typed as either."""
    result = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": question}], stream=stream
    )
    if isinstance(result, ChatStream):
        async with result:
            async for _ in result:
                pass
        return result.completion.choices[0].message.content or ""
    return result.choices[0].message.content or ""


async def main() -> tuple[str, str]:
    async with AsyncVertexChat() as client:  # was: AsyncOpenAI()
        return await stream_chunks(client), await stream_events(client)


if __name__ == "__main__":
    asyncio.run(main())
