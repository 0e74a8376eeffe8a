"""Google's "send a prompt and an image" sample for the Chat Completions API on Vertex AI
(python-docs-samples: generative_ai/chat_completions/chat_completions_non_streaming_image.py),
moved from the OpenAI SDK: only the constructor changes. Vertex takes the image as a
`gs://` URL given directly as `image_url`.

Run: GOOGLE_CLOUD_PROJECT=my-project python examples/google_chat_image.py
"""

from __future__ import annotations

import os

import google.auth.transport.requests
from google.auth import default

from aiovertexchat import ChatCompletion, VertexChat


def generate_text(project_id: str, location: str = "us-central1") -> ChatCompletion:
    credentials, _ = default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    credentials.refresh(google.auth.transport.requests.Request())

    client = VertexChat(  # was: openai.OpenAI(
        base_url=f"https://{location}-aiplatform.googleapis.com/v1/projects/{project_id}"
        f"/locations/{location}/endpoints/openapi",
        api_key=credentials.token,
    )

    response = client.chat.completions.create(
        model="google/gemini-2.0-flash-001",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe the following image:"},
                    {
                        "type": "image_url",
                        "image_url": "gs://cloud-samples-data/generative-ai/image/scones.jpg",
                    },
                ],
            }
        ],
    )

    print(response)
    return response


if __name__ == "__main__":
    generate_text(os.environ.get("GOOGLE_CLOUD_PROJECT", "your-project-id"))
