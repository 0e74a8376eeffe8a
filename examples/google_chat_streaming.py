"""Google's "send a streaming request" sample for the Chat Completions API on Vertex AI
(python-docs-samples: generative_ai/chat_completions/chat_completions_streaming_text.py), moved
from the OpenAI SDK: only the constructor changes; the stream is a plain iterator.

Run: GOOGLE_CLOUD_PROJECT=my-project python examples/google_chat_streaming.py
"""

from __future__ import annotations

import os

import google.auth.transport.requests
from google.auth import default

from aiovertexchat import ChatCompletionChunk, VertexChat


def generate_text(project_id: str, location: str = "us-central1") -> list[ChatCompletionChunk]:
    credentials, _ = default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    credentials.refresh(google.auth.transport.requests.Request())

    client = VertexChat(  # was: openai.OpenAI(
        base_url=f"https://{location}-aiplatform.googleapis.com/v1/projects/{project_id}"
        f"/locations/{location}/endpoints/openapi",
        api_key=credentials.token,
    )

    response = client.chat.completions.create(
        model="google/gemini-2.0-flash-001",
        messages=[{"role": "user", "content": "Why is the sky blue?"}],
        stream=True,
    )
    chunks = []
    for chunk in response:
        print(chunk)
        chunks.append(chunk)
    return chunks


if __name__ == "__main__":
    generate_text(os.environ.get("GOOGLE_CLOUD_PROJECT", "your-project-id"))
