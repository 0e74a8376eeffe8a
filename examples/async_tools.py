"""A tool-calling loop with the AsyncOpenAI call shapes: typed messages, the assistant message
appended as returned (Gemini's thought signatures travel with it), a `tool` message answering
each call, and a second request for the final answer.

Run: OPENAI_BASE_URL=... OPENAI_API_KEY=... python examples/async_tools.py
"""

from __future__ import annotations

import asyncio
import json
import os

from aiovertexchat import AsyncVertexChat
from aiovertexchat.types import MessageParam

MODEL = os.environ.get("MODEL", "google/gemini-2.5-flash")

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def get_weather(city: str) -> str:
    return json.dumps({"city": city, "temperature_c": 21, "sky": "clear"})


async def main() -> str:
    async with AsyncVertexChat() as client:  # was: AsyncOpenAI()
        messages: list[MessageParam] = [
            {"role": "user", "content": "Call get_weather for Paris, then tell me what to wear."}
        ]
        completion = await client.chat.completions.create(
            model=MODEL, messages=messages, tools=TOOLS, tool_choice="auto"
        )
        message = completion.choices[0].message
        messages.append(message)
        for call in message.tool_calls or []:
            arguments = json.loads(call.function.arguments or "{}")
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call.id,
                    "content": get_weather(str(arguments.get("city", ""))),
                }
            )
        final = await client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
        answer = final.choices[0].message.content or ""
        print(answer)
        return answer


if __name__ == "__main__":
    asyncio.run(main())
