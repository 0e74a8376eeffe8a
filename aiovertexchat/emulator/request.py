"""The chat request as the emulator reads it, and the checks Vertex makes before answering.

Only the fields the emulator acts on are declared; msgspec skips the rest, which is exactly
Vertex's behaviour of silently ignoring unknown parameters. To act on a new parameter (tools,
response_format, ...) declare it here and use it in the planner.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

import msgspec

__all__ = ["ChatRequest", "Message", "RequestError", "Route", "StreamOptions", "parse_request"]


class Route(enum.Enum):
    """Which kind of URL the request came in on; it decides how `model` is checked."""

    MANAGED = "managed"  # .../endpoints/openapi/chat/completions (Gemini, model google/...)
    DEPLOYED = "deployed"  # .../endpoints/{numeric ID}/chat/completions (own container)
    PLAIN = "plain"  # /v1/chat/completions, /chat/completions (OpenAI-compatible)


class RequestError(ValueError):
    """The body cannot be served; the message is what Vertex-like servers put in a 400."""


class Message(msgspec.Struct):
    role: str
    # String, list of parts (text, image_url, input_audio, ...), or null for tool-call turns.
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(msgspec.Struct):
    include_usage: bool | None = None


_Positive = Annotated[int, msgspec.Meta(ge=1)]


class ChatRequest(msgspec.Struct):
    messages: Annotated[list[Message], msgspec.Meta(min_length=1)]
    model: str | None = None
    max_tokens: _Positive | None = None
    max_completion_tokens: _Positive | None = None
    # Gemini caps candidateCount at 8.
    n: Annotated[int, msgspec.Meta(ge=1, le=8)] | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None

    @property
    def token_limit(self) -> int | None:
        """`max_completion_tokens` is an alias of `max_tokens`; when both are set the lower wins."""
        limits = [x for x in (self.max_tokens, self.max_completion_tokens) if x is not None]
        return min(limits) if limits else None

    @property
    def choices(self) -> int:
        return self.n if self.n is not None else 1

    @property
    def stop_sequences(self) -> list[str]:
        if self.stop is None:
            return []
        stops = [self.stop] if isinstance(self.stop, str) else self.stop
        return [s for s in stops if s]


_decoder = msgspec.json.Decoder(ChatRequest)


def parse_request(body: bytes, route: Route) -> ChatRequest:
    """Decode and check a request body; RequestError carries the 400 message."""
    if not body.strip():
        raise RequestError("The request body is empty; expected a JSON object.")
    try:
        request = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise RequestError(f"Invalid request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise RequestError(f"Invalid JSON payload received. {exc}") from None
    if route is Route.MANAGED:
        model = request.model or ""
        prefix, _, model_id = model.partition("/")
        if prefix != "google" or not model_id:
            raise RequestError(
                f"Invalid model {model!r}: the model must be google/{{MODEL_ID}}, "
                "e.g. google/gemini-2.5-flash, on the openapi endpoint."
            )
    return request
