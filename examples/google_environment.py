"""Google's "environment variables" setup for OpenAI-SDK users on Vertex AI: set
OPENAI_BASE_URL and OPENAI_API_KEY, then construct the client with no arguments. Only the
constructor changes (`openai.OpenAI()` -> `VertexChat()`).

Run:
  export OPENAI_API_KEY="$(gcloud auth application-default print-access-token)"
  export OPENAI_BASE_URL="https://us-central1-aiplatform.googleapis.com/v1beta1/projects/\
my-project/locations/us-central1/endpoints/openapi"
  python examples/google_environment.py
"""

from __future__ import annotations

from aiovertexchat import VertexChat


def main() -> str | None:
    client = VertexChat()  # was: openai.OpenAI()

    response = client.chat.completions.create(
        model="google/gemini-2.0-flash-001",
        messages=[{"role": "user", "content": "Write a story about a magic backpack."}],
    )
    print(response.choices[0].message.content)
    return response.choices[0].message.content


if __name__ == "__main__":
    main()
