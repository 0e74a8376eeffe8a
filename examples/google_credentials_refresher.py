"""Google's "automatically refresh OpenAI API credentials" sample for Vertex AI
(python-docs-samples: generative_ai/chat_completions/chat_completions_credentials_refresher.py),
moved from the OpenAI SDK: only the constructor inside the class changes. The class sets
`client.api_key` whenever the Google credentials have expired; the next request uses it.

(Without the class, `VertexChat(project=..., location=...)` refreshes Application Default
Credentials by itself, in the background.)

Run: GOOGLE_CLOUD_PROJECT=my-project python examples/google_credentials_refresher.py
"""

from __future__ import annotations

import os
from typing import Any

import google.auth
import google.auth.transport.requests

from aiovertexchat import ChatCompletion, VertexChat


class OpenAICredentialsRefresher:
    def __init__(self, **kwargs: Any) -> None:
        # A placeholder key: the real one is set before the first request.
        self.client = VertexChat(**kwargs, api_key="DUMMY")  # was: openai.OpenAI(
        self.creds, self.project = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )

    def __getattr__(self, name: str) -> Any:
        if not self.creds.valid:
            auth_req = google.auth.transport.requests.Request()
            self.creds.refresh(auth_req)

            if not self.creds.valid:
                raise RuntimeError("Unable to refresh auth")

            self.client.api_key = self.creds.token
        return getattr(self.client, name)


def generate_text(project_id: str, location: str = "us-central1") -> ChatCompletion:
    client = OpenAICredentialsRefresher(
        base_url=f"https://{location}-aiplatform.googleapis.com/v1beta1/projects/{project_id}"
        f"/locations/{location}/endpoints/openapi",
    )

    response: ChatCompletion = client.chat.completions.create(
        model="google/gemini-2.0-flash-001",
        messages=[{"role": "user", "content": "Why is the sky blue?"}],
    )

    print(response)
    return response


if __name__ == "__main__":
    generate_text(os.environ.get("GOOGLE_CLOUD_PROJECT", "your-project-id"))
