"""The AsyncOpenAI quickstart, moved: `AsyncOpenAI()` becomes `AsyncVertexChat()`, which reads
OPENAI_BASE_URL and OPENAI_API_KEY as the OpenAI SDK does (or pass project=/location= and
let Application Default Credentials supply tokens).

Run: OPENAI_BASE_URL=... OPENAI_API_KEY=... python examples/async_quickstart.py
"""

from __future__ import annotations

import asyncio
import os

from aiovertexchat import AsyncVertexChat
from aiovertexchat.types import ChatCompletionMessageParam  # was: from openai.types.chat import ...

MODEL = os.environ.get("MODEL", "google/gemini-2.5-flash")


async def main() -> str:
    client = AsyncVertexChat()  # was: AsyncOpenAI()
    messages: list[ChatCompletionMessageParam] = [
        {"role": "developer", "content": "Talk like a pirate."},
        {"role": "user", "content": "How do I check if a Python object is an instance?"},
    ]
    completion = await client.chat.completions.create(
        model=MODEL,
        messages=messages,
        temperature=0.2,
        max_completion_tokens=200,
    )
    answer = completion.choices[0].message.content or ""
    print(answer)
    if completion.usage is not None:
        print("tokens:", completion.usage.total_tokens)
    await client.close()
    return answer


if __name__ == "__main__":
    asyncio.run(main())
