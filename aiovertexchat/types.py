"""Wire objects of the Chat Completions API as msgspec Structs.

They decode straight from response bytes. Unknown fields are skipped by msgspec, so fields that
Vertex adds (or will add) never break decoding; the Vertex-specific ones we know of
(`extra_content`, `reasoning`) are declared so they survive a round trip. Every field has a
default because Gemini omits fields that OpenAI always sends (e.g. `index` on tool-call deltas).

Other servers' names for our fields (`FIELD_ALIASES`) are declared too, so the strict decoder
keeps them; they are folded into our name right after decoding (a message's `__post_init__`, the
stream accumulator for deltas) and then cleared, so callers read one field whatever the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from ._protocol.extra_content import is_thought, merge_extra, strip_thought
from ._protocol.message_params import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionContentPartParam,
    ChatCompletionDeveloperMessageParam,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionToolMessageParam,
    ChatCompletionUserMessageParam,
    MessageParam,
)

__all__ = [
    "ChatCompletion",
    "ChatCompletionAssistantMessageParam",
    "ChatCompletionChunk",
    "ChatCompletionContentPartParam",
    "ChatCompletionDeveloperMessageParam",
    "ChatCompletionMessage",
    "ChatCompletionMessageParam",
    "ChatCompletionSystemMessageParam",
    "ChatCompletionTokenLogprob",
    "ChatCompletionToolMessageParam",
    "ChatCompletionUserMessageParam",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaFunctionCall",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChoiceLogprobs",
    "ChunkChoice",
    "CompletionTokensDetails",
    "FunctionCall",
    "MessageParam",
    "PromptTokensDetails",
    "ResponseInfo",
    "ToolCall",
    "TopLogprob",
    "Usage",
]


FIELD_ALIASES: Mapping[str, str] = {
    # llama.cpp, DeepSeek, SGLang and vLLM before its rename name the thinking `reasoning_content`
    # (vLLM sent both names for a while, with the same text: ours wins when both are present).
    "reasoning_content": "reasoning",
}
"""Other servers' names for fields of ours: alias -> our field (`reasoning` on messages and
deltas). Each alias is also declared on those Structs so the strict decoder keeps it."""


def _dump(value: Any, exclude_none: bool) -> Any:
    """Every field of a Struct tree as builtins (defaults and None included unless excluded)."""
    if isinstance(value, msgspec.Struct):
        result: dict[str, Any] = {}
        for name in value.__struct_fields__:
            item = getattr(value, name)
            if item is None and exclude_none:
                continue
            result[name] = _dump(item, exclude_none)
        return result
    if isinstance(value, list):
        return [_dump(item, exclude_none) for item in value]
    if isinstance(value, dict):
        return {key: _dump(item, exclude_none) for key, item in value.items()}
    return value


class _Wire(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base: keyword construction, and `None`/default fields are left out when encoded.

    The OpenAI SDK's serialisation methods are here too (`model_dump`, `model_dump_json`,
    `to_dict`, `to_json`); they are plain methods, so decoding and iteration cost nothing more.
    """

    def to_dict(self) -> dict[str, Any]:
        """The object as plain JSON-compatible builtins, fields that are None left out (as
        the OpenAI SDK's `to_dict()`: what a server sends, readable by its models)."""
        result: dict[str, Any] = _dump(self, True)
        return result

    def to_json(self, *, indent: int | None = 2) -> str:
        """`to_dict()` as a JSON string (indented by `indent` spaces; None: one line)."""
        raw = msgspec.json.encode(self.to_dict())
        return (msgspec.json.format(raw, indent=indent) if indent else raw).decode()

    def model_dump(
        self,
        *,
        mode: Literal["python", "json"] = "python",
        exclude_none: bool = False,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
    ) -> dict[str, Any]:
        """Every field as builtins, None included (as pydantic's `model_dump()`).

        `exclude_none`, `exclude_unset` and `exclude_defaults` all give `to_dict()` (None
        fields left out). Both modes give JSON-compatible values.
        """
        result: dict[str, Any] = _dump(self, exclude_none or exclude_unset or exclude_defaults)
        return result

    def model_dump_json(
        self,
        *,
        indent: int | None = None,
        exclude_none: bool = False,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
    ) -> str:
        """`model_dump()` as a JSON string (one line unless `indent` is given)."""
        data = self.model_dump(
            exclude_none=exclude_none, exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
        )
        raw = msgspec.json.encode(data)
        return (msgspec.json.format(raw, indent=indent) if indent else raw).decode()


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
    reasoning_content: str | None = None
    """Another server's name for `reasoning` (see `FIELD_ALIASES`); folded into `reasoning`
    when the message is built, so it is always None afterwards."""

    def __post_init__(self) -> None:
        parts: Any = self.content
        if type(parts) is list:
            self._take_parts(parts)
        alias = self.reasoning_content
        if alias is not None:
            if self.reasoning is None:
                self.reasoning = alias
            self.reasoning_content = None

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


class _Exact(_Wire, omit_defaults=False):
    # Logprob fields are all meaningful at their defaults (a logprob of 0.0 is a certain
    # token): msgspec encodes them always (batch output files, a completion re-encoded).
    pass


class TopLogprob(_Exact):
    """One alternative token at a position: `token`, its `logprob`, its UTF-8 `bytes`."""

    token: str = ""
    logprob: float = 0.0
    bytes: list[int] | None = None


class ChatCompletionTokenLogprob(_Exact):
    """One generated token: `token`, `logprob`, `bytes`, and the `top_logprobs` alternatives."""

    token: str = ""
    logprob: float = 0.0
    bytes: list[int] | None = None
    top_logprobs: list[TopLogprob] = msgspec.field(default_factory=list)


class ChoiceLogprobs(_Exact):
    """`choice.logprobs`: one entry per generated token of the content (and of a refusal)."""

    content: list[ChatCompletionTokenLogprob] | None = None
    refusal: list[ChatCompletionTokenLogprob] | None = None


class Choice(_Wire):
    index: int = 0
    message: ChatCompletionMessage = msgspec.field(default_factory=ChatCompletionMessage)
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


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
    # Some servers answer HTTP 200 with an error object in the body (OpenRouter, TGI 2.4's
    # validation errors); decoding turns it into the typed exception, never a completion.
    error: Any = None

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
    # Another server's name for `reasoning` (`FIELD_ALIASES`). No `__post_init__` here: that
    # would cost every chunk a Python call; the stream's accumulator folds it into `reasoning`
    # before the chunk is yielded, so a caller of `ChatStream` sees it None.
    reasoning_content: str | None = None


class ChunkChoice(_Untracked):
    index: int = 0
    delta: ChoiceDelta = msgspec.field(default_factory=ChoiceDelta)
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


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


class ResponseInfo(msgspec.Struct, frozen=True):
    """HTTP metadata of the exchange behind a completion (`completion._response`)."""

    request_id: str | None
    headers: Mapping[str, str]
    status_code: int
