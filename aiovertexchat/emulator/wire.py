"""Plans to wire bytes: SSE chunk events and the non-streaming `chat.completion` body. Sans-IO.

Streaming is the hot path (thousands of chunks per second): everything that is the same for all
chunks of a response is encoded once, and the JSON of every vocabulary piece is encoded once per
process, so a chunk costs one `bytes.join`.

A request answered in another server's dialect (`dialects.py`) takes the general path: each chunk
is built as a dict, shaped by the dialect, and encoded (slower, and only when asked for).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from .content import VOCABULARY, ChoicePlan, CompletionPlan, ToolCallPlan
from .dialects import Dialect

__all__ = ["DONE_EVENT", "StreamEncoder", "completion_body", "usage_object"]

DONE_EVENT = b"data: [DONE]\n\n"

_encode = msgspec.json.encode
_PIECE_JSON: dict[str, bytes] = {}
for _word in VOCABULARY:
    _PIECE_JSON[_word] = _encode(_word)
    _PIECE_JSON[" " + _word] = _encode(" " + _word)

_ROLE = b'"role":"assistant",'
_OPEN_TAIL = b'},"finish_reason":null}]}\n\n'


def _piece_json(piece: str) -> bytes:
    cached = _PIECE_JSON.get(piece)
    # Pieces cut by a stop sequence are not in the cache.
    return cached if cached is not None else _encode(piece)


def usage_object(plan: CompletionPlan) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": plan.completion_tokens,
        "total_tokens": plan.total_tokens,
    }
    reasoning = plan.reasoning_tokens
    if reasoning:
        # OpenAI's convention: completion_tokens includes the reasoning tokens.
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


class StreamEncoder:
    """Chunk events of one streamed response, sharing one pre-encoded envelope."""

    def __init__(
        self, completion_id: str, created: int, model: str, dialect: Dialect | None = None
    ) -> None:
        self.dialect = dialect
        self._envelope: dict[str, Any] = {
            "id": completion_id, "object": "chat.completion.chunk", "created": created,
            "model": model,
        }
        self._prefix = b"".join(
            (
                b'data: {"id":',
                _encode(completion_id),
                b',"object":"chat.completion.chunk","created":',
                str(created).encode(),
                b',"model":',
                _encode(model),
                b',"choices":[',
            )
        )

    def events(self, plan: CompletionPlan, *, include_usage: bool) -> Iterator[bytes]:
        """Every chunk event in order (not [DONE]): choices interleaved token by token, each
        choice's first chunk carrying the role, its last one the finish_reason, then usage."""
        if self.dialect is not None or plan.no_candidate:
            yield from self._dialect_events(plan, include_usage=include_usage)
            return
        if not all(choice.plain for choice in plan.choices):
            yield from self._feature_events(plan, include_usage=include_usage)
            return
        live = [(c, self._prefix + b'{"index":%d,"delta":{' % c.index) for c in plan.choices]
        position = 0
        while live:
            still = []
            for choice, head in live:
                pieces = choice.pieces
                last = max(len(pieces) - 1, 0)
                text = _piece_json(pieces[position]) if pieces else b'""'
                yield b"".join(
                    (
                        head,
                        _ROLE if position == 0 else b"",
                        b'"content":',
                        text,
                        _OPEN_TAIL if position < last else _closing_tail(choice),
                    )
                )
                if position < last:
                    still.append((choice, head))
            live = still
            position += 1
        if include_usage:
            yield self._prefix + b'],"usage":' + _encode(usage_object(plan)) + b"}\n\n"

    def _feature_events(self, plan: CompletionPlan, *, include_usage: bool) -> Iterator[bytes]:
        """The general (slower) path: thoughts, tool calls, logprobs; one JSON encode per chunk.
        Choices are interleaved chunk by chunk as on the fast path."""
        queues = [_choice_deltas(choice, plan.gemini_tool_deltas) for choice in plan.choices]
        position = 0
        while True:
            sent = False
            for choice, deltas in zip(plan.choices, queues, strict=True):
                if position >= len(deltas):
                    continue
                delta, logprobs = deltas[position]
                if position == 0:
                    delta = {"role": "assistant", **delta}
                last = position == len(deltas) - 1
                body: dict[str, Any] = {
                    "index": choice.index,
                    "delta": delta,
                    "finish_reason": choice.finish_reason if last else None,
                }
                if logprobs is not None:
                    body["logprobs"] = {"content": [logprobs]}
                yield self._prefix + _encode(body) + b"]}\n\n"
                sent = True
            if not sent:
                break
            position += 1
        if include_usage:
            yield self._prefix + b'],"usage":' + _encode(usage_object(plan)) + b"}\n\n"

    def _dialect_events(self, plan: CompletionPlan, *, include_usage: bool) -> Iterator[bytes]:
        """Every chunk event as the dialect's server shapes it (the default dialect when None:
        only a plan without a candidate comes here then)."""
        dialect = self.dialect
        envelope = dict(self._envelope)
        if dialect is not None:
            if dialect.chunk_id is not None:
                envelope["id"] = dialect.chunk_id
            envelope.update(dialect.chunk_extras)
        if plan.no_candidate:
            nulls = dialect is None or dialect.no_candidate_as_nulls
            chunk = {**envelope, "choices": None if nulls else []}
            if nulls:
                chunk["id"] = None
            if include_usage:
                chunk["usage"] = usage_object(plan)
            yield b"data: " + _encode(chunk) + b"\n\n"
            return
        assert dialect is not None
        running = dialect.continuous_usage and plan.continuous_usage_requested
        style = dialect.tool_deltas
        queues = [
            _choice_deltas(
                choice, plan.gemini_tool_deltas, tool_style=style, reasoning=dialect.reasoning,
                blank_content=dialect.blank_content_with_reasoning,
            )
            for choice in plan.choices
        ]
        emitted = 0
        position = 0
        while True:
            sent = False
            for choice, deltas in zip(plan.choices, queues, strict=True):
                if position >= len(deltas):
                    continue
                delta, logprobs = deltas[position]
                if position == 0 or dialect.role_on_every_chunk:
                    delta = {"role": "assistant", **delta}
                last = position == len(deltas) - 1
                body: dict[str, Any] = {"index": choice.index, "delta": delta}
                body.update(dialect.choice_extras)
                body["finish_reason"] = choice.finish_reason if last else dialect.pending_finish
                if logprobs is not None:
                    body["logprobs"] = {"content": [logprobs]}
                chunk = {**envelope, "choices": [body]}
                if running:
                    emitted += 1 if _carries_output(delta) else 0
                    chunk["usage"] = {
                        "prompt_tokens": plan.prompt_tokens,
                        "completion_tokens": min(emitted, plan.completion_tokens),
                        "total_tokens": plan.prompt_tokens + min(emitted, plan.completion_tokens),
                    }
                yield b"data: " + _encode(chunk) + b"\n\n"
                sent = True
            if not sent:
                break
            position += 1
        if include_usage:
            yield b"data: " + _encode({**envelope, "choices": [], "usage": usage_object(plan)}) + (
                b"\n\n"
            )

    def broken_event(self) -> bytes:
        """A chunk event whose JSON stops mid-object, as a buggy proxy or server might send."""
        return self._prefix + b'{"index":0,"delta":{"content":"\n\n'


_THOUGHT = {"google": {"thought": True}}


def _carries_output(delta: dict[str, Any]) -> bool:
    return any(
        delta.get(key) for key in ("content", "reasoning", "reasoning_content", "tool_calls",
                                   "function_call")
    )


def _choice_deltas(
    choice: ChoicePlan,
    gemini_tool_deltas: bool,
    *,
    tool_style: str | None = None,
    reasoning: str = "parts",
    blank_content: bool = False,
) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(delta, logprobs entry) per chunk of one choice, in order; never empty.

    `tool_style` and `reasoning` are a dialect's (see `Dialect`); None / "parts" is Vertex.
    """
    if tool_style is None:
        tool_style = "gemini" if gemini_tool_deltas else "openai"
    deltas: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for piece in choice.thought_pieces:
        if reasoning == "parts":
            deltas.append(({"content": piece, "extra_content": _THOUGHT}, None))
        elif reasoning != "hidden":
            thought: dict[str, Any] = {"content": ""} if blank_content else {}
            thought[reasoning] = piece
            deltas.append((thought, None))
    logprobs = choice.logprobs
    for i, piece in enumerate(choice.pieces):
        deltas.append(({"content": piece}, logprobs[i] if logprobs is not None else None))
    for position, call in enumerate(choice.tool_calls):
        deltas.extend((delta, None) for delta in _tool_deltas(call, position, tool_style))
    function_call = choice.function_call
    if function_call is not None:
        deltas.append(({"function_call": {"name": function_call.name, "arguments": ""}}, None))
        for fragment in function_call.fragments:
            deltas.append(({"function_call": {"arguments": fragment}}, None))
    if not deltas:
        deltas.append(({} if choice.content_null else {"content": ""}, None))
    return deltas


def _tool_deltas(call: ToolCallPlan, position: int, style: str) -> list[dict[str, Any]]:
    """The deltas of one streamed tool call in a server's style (see `Dialect.tool_deltas`)."""
    if style in ("gemini", "whole_same_index"):
        # The whole call in one delta: Gemini without `index` and with an empty id, Ollama
        # at index 0 for every call, each with its own id.
        item: dict[str, Any] = (
            {"id": ""} if style == "gemini" else {"index": 0, "id": call.id}
        )
        item["type"] = "function"
        item["function"] = {"name": call.name, "arguments": call.arguments}
        if call.extra_content is not None:
            item["extra_content"] = call.extra_content
        return [{"tool_calls": [item]}]
    if style == "object":
        # TGI: `tool_calls` is one object, the id is always "", the name only comes first.
        first = {"index": position, "id": "", "type": "function",
                 "function": {"name": call.name, "arguments": ""}}
        rest = [
            {"index": position, "id": "", "type": "function",
             "function": {"name": None, "arguments": fragment}}
            for fragment in call.fragments
        ]
        return [{"tool_calls": item} for item in (first, *rest)]
    index = 0 if style == "same_index" else position
    head: dict[str, Any] = {
        "index": index,
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": ""},
    }
    if call.extra_content is not None:
        head["extra_content"] = call.extra_content
    return [
        {"tool_calls": [head]},
        *({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
          for fragment in call.fragments),
    ]


def _message(choice: ChoicePlan, dialect: Dialect | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant"}
    reasoning = dialect.reasoning if dialect is not None else "parts"
    if choice.thought_pieces and reasoning != "parts":
        message["content"] = None if choice.content_null else choice.text
        if reasoning != "hidden":
            message[reasoning] = "".join(choice.thought_pieces)
    elif choice.thought_pieces:
        # Thoughts as their own content part, flagged as Gemini flags them.
        parts: list[dict[str, Any]] = [
            {"type": "text", "text": "".join(choice.thought_pieces), "extra_content": _THOUGHT}
        ]
        if choice.pieces:
            parts.append({"type": "text", "text": choice.text})
        message["content"] = parts
    else:
        message["content"] = None if choice.content_null else choice.text
    if choice.tool_calls:
        calls = []
        as_object = dialect is not None and dialect.arguments_as_object
        for call in choice.tool_calls:
            arguments: Any = msgspec.json.decode(call.arguments) if as_object else call.arguments
            item: dict[str, Any] = {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": arguments},
            }
            if call.extra_content is not None:
                item["extra_content"] = call.extra_content
            calls.append(item)
        message["tool_calls"] = calls
    if choice.function_call is not None:
        call = choice.function_call
        message["function_call"] = {"name": call.name, "arguments": call.arguments}
    return message


def _closing_tail(choice: ChoicePlan) -> bytes:
    return b'},"finish_reason":' + _encode(choice.finish_reason) + b"}]}\n\n"


def _choice_object(choice: ChoicePlan, dialect: Dialect | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"index": choice.index, "message": _message(choice, dialect)}
    if dialect is not None:
        result.update(dialect.choice_extras)
    result["finish_reason"] = choice.finish_reason
    if choice.logprobs is not None:
        result["logprobs"] = {"content": choice.logprobs}
    return result


def completion_body(
    plan: CompletionPlan, completion_id: str, created: int, dialect: Dialect | None = None
) -> bytes:
    body: dict[str, Any] = {}
    if dialect is not None:
        body.update((k, v) for k, v in dialect.chunk_extras.items() if k != "usage")
    body.update(
        id=completion_id,
        object="chat.completion",
        created=created,
        model=plan.model,
        choices=[_choice_object(c, dialect) for c in plan.choices],
        usage=usage_object(plan),
    )
    if plan.no_candidate:
        # No candidate at all: Gemini (and Vertex) send nulls, other servers an empty list.
        nulls = dialect is None or dialect.no_candidate_as_nulls
        body["choices"] = None if nulls else []
        if nulls:
            body["id"] = None
    return _encode(body)
