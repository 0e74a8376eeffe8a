"""Google's samples for a self-deployed Model Garden model behind a Vertex AI endpoint
(python-docs-samples: generative_ai/chat_completions/
chat_completions_{non_streaming,streaming}_text_self_deployed.py), moved from the OpenAI SDK:
only the constructor changes. The model is named as the server knows it (no `google/`).

Run: GOOGLE_CLOUD_PROJECT=my-project ENDPOINT_ID=123 python examples/google_self_deployed.py
"""

from __future__ import annotations

import os

import google.auth.transport.requests
from google.auth import default

from aiovertexchat import ChatCompletion, VertexChat


def generate_text(
    project_id: str,
    location: str = "us-central1",
    model_id: str = "gemma-2-9b-it",
    endpoint_id: str = "YOUR_ENDPOINT_ID",
) -> ChatCompletion:
    credentials, _ = default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    credentials.refresh(google.auth.transport.requests.Request())

    client = VertexChat(  # was: openai.OpenAI(
        base_url=f"https://{location}-aiplatform.googleapis.com/v1/projects/{project_id}"
        f"/locations/{location}/endpoints/{endpoint_id}",
        api_key=credentials.token,
    )

    response = client.chat.completions.create(
        model=model_id,
        messages=[{"role": "user", "content": "Why is the sky blue?"}],
    )
    print(response)
    return response


def stream_text(
    project_id: str,
    location: str = "us-central1",
    model_id: str = "gemma-2-9b-it",
    endpoint_id: str = "YOUR_ENDPOINT_ID",
) -> str:
    credentials, _ = default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    credentials.refresh(google.auth.transport.requests.Request())

    client = VertexChat(  # was: openai.OpenAI(
        base_url=f"https://{location}-aiplatform.googleapis.com/v1/projects/{project_id}"
        f"/locations/{location}/endpoints/{endpoint_id}",
        api_key=credentials.token,
    )

    response = client.chat.completions.create(
        model=model_id,
        messages=[{"role": "user", "content": "Why is the sky blue?"}],
        stream=True,
    )
    text = []
    for chunk in response:
        print(chunk)
        if chunk.choices:
            text.append(chunk.choices[0].delta.content or "")
    return "".join(text)


if __name__ == "__main__":
    project = os.environ.get("GOOGLE_CLOUD_PROJECT", "your-project-id")
    endpoint = os.environ.get("ENDPOINT_ID", "YOUR_ENDPOINT_ID")
    generate_text(project, endpoint_id=endpoint)
    stream_text(project, endpoint_id=endpoint)
