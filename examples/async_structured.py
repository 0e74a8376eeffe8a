"""Structured outputs with the AsyncOpenAI call shapes: `parse()` with a pydantic model (also
as `beta.chat.completions.parse`), and the `stream()` helper with `response_format`.

Run: OPENAI_BASE_URL=... OPENAI_API_KEY=... python examples/async_structured.py
"""

from __future__ import annotations

import asyncio
import os

from pydantic import BaseModel

from aiovertexchat import AsyncVertexChat

MODEL = os.environ.get("MODEL", "google/gemini-2.5-flash")


class Step(BaseModel):
    explanation: str
    output: str


class MathResponse(BaseModel):
    steps: list[Step]
    final_answer: str


async def main() -> tuple[MathResponse | None, MathResponse | None]:
    async with AsyncVertexChat() as client:  # was: AsyncOpenAI()
        completion = await client.beta.chat.completions.parse(
            model=MODEL,
            messages=[
                {"role": "system", "content": "You are a helpful math tutor."},
                {"role": "user", "content": "solve 8x + 31 = 2"},
            ],
            response_format=MathResponse,
        )
        message = completion.choices[0].message
        if message.parsed is not None:
            print(message.parsed.final_answer)
        else:
            print(message.refusal)

        async with client.chat.completions.stream(
            model=MODEL,
            messages=[{"role": "user", "content": "solve 8x + 31 = 2"}],
            response_format=MathResponse,
        ) as stream:
            async for event in stream:
                if event.type == "content.done" and event.parsed is not None:
                    print("steps:", len(event.parsed.steps))
            final = await stream.get_final_completion()
        return message.parsed, final.choices[0].message.parsed


if __name__ == "__main__":
    asyncio.run(main())
