"""The chat request as the emulator reads it, and the checks Vertex makes before answering.

Only the fields the emulator acts on are declared; msgspec skips the rest, which is exactly
Vertex's behaviour of silently ignoring unknown parameters. To act on a new parameter (tools,
response_format, ...) declare it here and use it in the planner.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

import msgspec

from .gemini import (
    SKIP_SIGNATURE,
    is_signature_model,
    is_thinking_model,
    recursive_ref,
    thought_signature,
)

__all__ = [
    "ChatRequest",
    "FunctionDef",
    "GoogleOptions",
    "Message",
    "RequestError",
    "RequestedResponseFormat",
    "Route",
    "StreamOptions",
    "Tool",
    "parse_request",
]


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
    # Read for the Gemini 3 thought-signature check; other message fields are not acted on.
    tool_calls: list[dict[str, Any]] | None = None
    extra_content: dict[str, Any] | None = None


class FunctionDef(msgspec.Struct):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(msgspec.Struct):
    type: str = "function"
    function: FunctionDef | None = None


class JsonSchemaSpec(msgspec.Struct):
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None


class RequestedResponseFormat(msgspec.Struct):
    type: str = "text"
    json_schema: JsonSchemaSpec | None = None


class RequestedThinking(msgspec.Struct):
    include_thoughts: bool | None = None
    thinking_budget: int | None = None
    thinking_level: str | None = None


class GoogleOptions(msgspec.Struct):
    thinking_config: RequestedThinking | None = None
    thought_tag_marker: str | None = None
    safety_settings: list[dict[str, Any]] | None = None
    cached_content: str | None = None


class ExtraBody(msgspec.Struct):
    google: GoogleOptions | None = None


class StreamOptions(msgspec.Struct):
    include_usage: bool | None = None
    # vLLM's and SGLang's extension: usage on every chunk (acted on in those dialects only).
    continuous_usage_stats: bool | None = None


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
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    functions: list[FunctionDef] | None = None
    function_call: str | dict[str, Any] | None = None
    response_format: RequestedResponseFormat | None = None
    reasoning_effort: str | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, msgspec.Meta(ge=0, le=20)] | None = None
    # Gemini's extras sit under a JSON key literally named `extra_body`.
    extra_body: ExtraBody | None = None

    @property
    def google(self) -> GoogleOptions | None:
        return self.extra_body.google if self.extra_body is not None else None

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
    check_gemini_rules(request)
    return request


def _signature_of(call: dict[str, Any]) -> Any:
    extra = call.get("extra_content")
    if not isinstance(extra, dict):
        return None
    for namespace in ("google", "vertex"):
        inner = extra.get(namespace)
        if isinstance(inner, dict) and "thought_signature" in inner:
            return inner["thought_signature"]
    return None


def _check_signatures(request: ChatRequest) -> None:
    """Gemini 3: every assistant step of the current turn (since the last user message) must
    send back, on its first tool call, the thought signature it was given, unchanged."""
    messages = request.messages
    start = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1) + 1
    for position, message in enumerate(messages[start:], start + 1):
        if message.role != "assistant" or not message.tool_calls:
            continue
        call = message.tool_calls[0]
        function = call.get("function")
        if not isinstance(function, dict):
            function = {}
        name = str(function.get("name", ""))
        arguments = str(function.get("arguments", ""))
        signature = _signature_of(call)
        if signature is None:
            raise RequestError(
                f"Unable to submit request because function call `{name}` in message "
                f"{position} is missing a `thought_signature`. Send back the assistant "
                "message's tool calls with their extra_content unchanged."
            )
        if signature != SKIP_SIGNATURE and signature != thought_signature(name, arguments):
            raise RequestError(
                f"Unable to submit request because the thought signature of function call "
                f"`{name}` in message {position} is not valid."
            )


def check_gemini_rules(request: ChatRequest) -> None:
    """The checks Vertex makes on Gemini-specific fields; RequestError carries the 400."""
    google = request.google
    thinking = google.thinking_config if google is not None else None
    if thinking is not None and request.reasoning_effort is not None:
        raise RequestError(
            "reasoning_effort and extra_body.google.thinking_config cannot both be set; "
            "send only one of them."
        )
    model = request.model or ""
    if thinking is not None and thinking.include_thoughts and not is_thinking_model(model):
        raise RequestError(
            f"Unable to submit request because thinking is not supported by model {model!r}: "
            "include_thoughts needs a thinking model."
        )
    fmt = request.response_format
    if fmt is not None and fmt.type == "json_schema":
        schema = fmt.json_schema.schema if fmt.json_schema is not None else None
        if schema is None:
            raise RequestError("response_format json_schema needs json_schema.schema.")
        cycle = recursive_ref(schema)
        if cycle is not None:
            raise RequestError(
                f"Invalid JSON schema: recursive schemas are not supported ({cycle})."
            )
    if is_signature_model(model):
        _check_signatures(request)
