"""Google's "structured output with the Python SDK" sample for Vertex AI (Chat Completions
API examples page), moved from the OpenAI SDK: `OpenAI()` becomes `VertexChat()`, which reads
the same OPENAI_BASE_URL / OPENAI_API_KEY variables Google's docs tell OpenAI-SDK users to set.

Run: OPENAI_BASE_URL=https://us-central1-aiplatform.googleapis.com/v1/projects/P/locations/\
us-central1/endpoints/openapi OPENAI_API_KEY=$(gcloud auth print-access-token) \
python examples/google_structured_output.py
"""

from __future__ import annotations

from pydantic import BaseModel

from aiovertexchat import VertexChat


class CalendarEvent(BaseModel):
    name: str
    date: str
    participants: list[str]


def main() -> CalendarEvent | None:
    client = VertexChat()  # was: OpenAI()

    completion = client.beta.chat.completions.parse(
        model="google/gemini-2.5-flash",
        messages=[
            {"role": "system", "content": "Extract the event information."},
            {"role": "user", "content": "Alice and Bob are going to a science fair on Friday."},
        ],
        response_format=CalendarEvent,
    )

    print(completion.choices[0].message.parsed)
    return completion.choices[0].message.parsed


if __name__ == "__main__":
    main()
