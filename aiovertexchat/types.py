"""Wire objects of the Chat Completions API as msgspec Structs.

They decode straight from response bytes. Unknown fields are skipped by msgspec, so fields that
Vertex adds (or will add) never break decoding; the Vertex-specific ones we know of
(`extra_content`, `reasoning`) are declared so they survive a round trip. Every field has a
default because Gemini omits fields that OpenAI always sends (e.g. `index` on tool-call deltas).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from ._protocol.extra_content import is_thought, merge_extra, strip_thought

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaFunctionCall",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChunkChoice",
    "CompletionTokensDetails",
    "FunctionCall",
    "PromptTokensDetails",
    "ToolCall",
    "Usage",
]


class _Wire(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base: keyword construction, and `None`/default fields are left out when encoded."""

    def to_dict(self) -> dict[str, Any]:
        """The object as plain JSON-compatible builtins (what would be sent on the wire)."""
        result: dict[str, Any] = msgspec.to_builtins(self)
        return result


class _Untracked(_Wire, gc=False):
    """Base of the types decoded from stream chunks, and of `Usage`: not tracked by the GC.

    A caller holds the last chunk of every open stream while it waits for the next, and with
    thousands of streams open each GC-tracked object costs time in every full collection.
    These cannot be part of a reference cycle: decoded JSON has none, and their fields hold
    only strings, numbers, JSON values and each other (do not store one inside its own
    `extra_content` or `logprobs`).
    """


class FunctionCall(_Wire):
    name: str = ""
    arguments: str = ""


class ToolCall(_Wire):
    id: str = ""
    type: str = "function"
    function: FunctionCall = msgspec.field(default_factory=FunctionCall)
    # Gemini 3 puts `thought_signature` here; it must go back unchanged on the next turn.
    extra_content: dict[str, Any] | None = None


class ChatCompletionMessage(_Wire, dict=True):
    # Not defaulted to "assistant": `omit_defaults` would then drop it when a returned message is
    # sent back in `messages`. Servers always send it; the stream accumulator sets it.
    role: str | None = None
    if TYPE_CHECKING:
        content: str | None = None
    else:
        # A server may answer with a list of content parts (e.g. Gemini's thought parts, marked
        # `extra_content.google.thought`); `__post_init__` turns it into text right after
        # decoding, so `content` is always a string (or None) when the caller sees it.
        content: str | list[dict[str, Any]] | None = None
    reasoning: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None
    extra_content: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        parts: Any = self.content
        if type(parts) is list:
            self._take_parts(parts)

    def _take_parts(self, parts: list[Any]) -> None:
        # `dict=True` keeps the raw parts beside the wire fields (never encoded, so a message
        # appended to `messages` is sent with plain text content).
        self.__dict__["_content_parts"] = parts
        content: list[str] = []
        reasoning: list[str] = []
        extra = self.extra_content
        for part in parts:
            if not isinstance(part, dict):
                continue
            part_extra = part.get("extra_content")
            text = part.get("text")
            if isinstance(text, str):
                (reasoning if is_thought(part_extra) else content).append(text)
            if isinstance(part_extra, dict):
                # A part's signature must survive; its `thought` flag describes only that part.
                extra = merge_extra(extra, strip_thought(part_extra))
        self.content = "".join(content) if content else None
        if reasoning:
            self.reasoning = (self.reasoning or "") + "".join(reasoning)
        self.extra_content = extra

    @property
    def content_parts(self) -> list[dict[str, Any]] | None:
        """The content parts exactly as the server sent them, when it sent a list."""
        parts: list[dict[str, Any]] | None = self.__dict__.get("_content_parts")
        return parts


class Choice(_Wire):
    index: int = 0
    message: ChatCompletionMessage = msgspec.field(default_factory=ChatCompletionMessage)
    finish_reason: str | None = None
    logprobs: Any = None


class PromptTokensDetails(_Untracked):
    cached_tokens: int | None = None
    audio_tokens: int | None = None


class CompletionTokensDetails(_Untracked):
    reasoning_tokens: int | None = None
    audio_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None


class Usage(_Untracked):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None

    @property
    def reasoning_tokens(self) -> int:
        details = self.completion_tokens_details
        return (details.reasoning_tokens or 0) if details is not None else 0

    @property
    def cached_tokens(self) -> int:
        details = self.prompt_tokens_details
        return (details.cached_tokens or 0) if details is not None else 0


class ChatCompletion(_Wire, dict=True):
    # `dict=True` lets the client attach response metadata (`_response`) that is not a wire field.
    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice] = msgspec.field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None

    @property
    def request_id(self) -> str | None:
        """The server's request id (from response headers), when the client saw one."""
        info = self.__dict__.get("_response")
        return None if info is None else info.request_id

    @property
    def response_headers(self) -> dict[str, str]:
        """Response headers of the HTTP exchange that produced this completion."""
        info = self.__dict__.get("_response")
        return {} if info is None else dict(info.headers)


class ChoiceDeltaFunctionCall(_Untracked):
    name: str | None = None
    arguments: str | None = None


class ChoiceDeltaToolCallFunction(_Untracked):
    name: str | None = None
    arguments: str | None = None


class ChoiceDeltaToolCall(_Untracked):
    # Gemini may omit `index` and send `id: ""`; the accumulator synthesizes both.
    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: ChoiceDeltaToolCallFunction | None = None
    extra_content: dict[str, Any] | None = None


class ChoiceDelta(_Untracked):
    role: str | None = None
    content: str | None = None
    reasoning: str | None = None
    refusal: str | None = None
    tool_calls: list[ChoiceDeltaToolCall] | None = None
    function_call: ChoiceDeltaFunctionCall | None = None
    extra_content: dict[str, Any] | None = None


class ChunkChoice(_Untracked):
    index: int = 0
    delta: ChoiceDelta = msgspec.field(default_factory=ChoiceDelta)
    finish_reason: str | None = None
    logprobs: Any = None


class ChatCompletionChunk(_Untracked):
    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] = msgspec.field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    # An error object sent inside the stream (`data: {"error": {...}}`) lands here; the stream
    # turns it into a typed exception instead of yielding it.
    error: Any = None
