"""Google's "function calling with the OpenAI SDK" sample for Vertex AI (python-docs-samples:
generative_ai/chat_completions/chat_completions_function_calling_config.py), moved from the
OpenAI SDK: only the constructor changes.

Run: GOOGLE_CLOUD_PROJECT=my-project python examples/google_function_calling.py
"""

from __future__ import annotations

import os
from typing import Any

from google.auth import default, transport

from aiovertexchat import ChatCompletion, VertexChat

PROJECT_ID = os.environ.get("GOOGLE_CLOUD_PROJECT", "your-project-id")


def generate_text(question: str = "What is the weather in Boston, MA?") -> ChatCompletion:
    location = "us-central1"

    credentials, _ = default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    auth_request = transport.requests.Request()
    credentials.refresh(auth_request)

    client = VertexChat(  # was: openai.OpenAI(
        base_url=f"https://{location}-aiplatform.googleapis.com/v1beta1/projects/{PROJECT_ID}"
        f"/locations/{location}/endpoints/openapi",
        api_key=credentials.token,
    )

    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_current_weather",
                "description": "Get the current weather in a given location",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "location": {
                            "type": "string",
                            "description": "The city and state, e.g. San Francisco, CA",
                        },
                    },
                    "required": ["location"],
                },
            },
        }
    ]

    messages: list[dict[str, Any]] = []
    messages.append(
        {
            "role": "system",
            "content": "Don't make assumptions about what values to plug into functions. "
            "Ask for clarification if a user request is ambiguous.",
        }
    )
    messages.append({"role": "user", "content": question})

    response = client.chat.completions.create(
        model="google/gemini-2.5-flash",
        messages=messages,
        tools=tools,
        tool_choice="auto",
    )

    tool_calls = response.choices[0].message.tool_calls or []
    print("Function:", tool_calls[0].id)
    print("Arguments:", tool_calls[0].function.arguments)
    return response


if __name__ == "__main__":
    generate_text()
