"""Many requests at once with `asyncio.gather`, as with AsyncOpenAI. `max_concurrency` bounds
the requests in flight (100 unless given; the OpenAI SDK has no such limit and aiovertexchat
warns once when calls wait for it), and the limit adapts when Vertex answers 429.

Run: OPENAI_BASE_URL=... OPENAI_API_KEY=... python examples/async_fan_out.py
"""

from __future__ import annotations

import asyncio
import os

from aiovertexchat import AsyncVertexChat

MODEL = os.environ.get("MODEL", "google/gemini-2.5-flash")


async def main(count: int = 50) -> list[str]:
    async with AsyncVertexChat(max_concurrency=256) as client:  # was: AsyncOpenAI()

        async def one(i: int) -> str:
            completion = await client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": f"Give me fact number {i} about the sea."}],
                max_tokens=20,
            )
            return completion.choices[0].message.content or ""

        answers = await asyncio.gather(*(one(i) for i in range(count)))
        print(client.stats)
        return list(answers)


if __name__ == "__main__":
    asyncio.run(main())
