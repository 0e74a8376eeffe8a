"""Plans to wire bytes: SSE chunk events and the non-streaming `chat.completion` body. Sans-IO.

Streaming is the hot path (thousands of chunks per second): everything that is the same for all
chunks of a response is encoded once, and the JSON of every vocabulary piece is encoded once per
process, so a chunk costs one `bytes.join`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from .content import VOCABULARY, ChoicePlan, CompletionPlan

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

    def __init__(self, completion_id: str, created: int, model: str) -> None:
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

    def broken_event(self) -> bytes:
        """A chunk event whose JSON stops mid-object, as a buggy proxy or server might send."""
        return self._prefix + b'{"index":0,"delta":{"content":"\n\n'


_THOUGHT = {"google": {"thought": True}}


def _choice_deltas(
    choice: ChoicePlan, gemini_tool_deltas: bool
) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(delta, logprobs entry) per chunk of one choice, in order; never empty."""
    deltas: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
        ({"content": piece, "extra_content": _THOUGHT}, None) for piece in choice.thought_pieces
    ]
    logprobs = choice.logprobs
    for i, piece in enumerate(choice.pieces):
        deltas.append(({"content": piece}, logprobs[i] if logprobs is not None else None))
    for position, call in enumerate(choice.tool_calls):
        if gemini_tool_deltas:
            # Gemini: the whole call in one delta, without `index`, with an empty id.
            item: dict[str, Any] = {
                "id": "",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            if call.extra_content is not None:
                item["extra_content"] = call.extra_content
            deltas.append(({"tool_calls": [item]}, None))
            continue
        first: dict[str, Any] = {
            "index": position,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        if call.extra_content is not None:
            first["extra_content"] = call.extra_content
        deltas.append(({"tool_calls": [first]}, None))
        for fragment in call.fragments:
            item = {"index": position, "function": {"arguments": fragment}}
            deltas.append(({"tool_calls": [item]}, None))
    function_call = choice.function_call
    if function_call is not None:
        deltas.append(({"function_call": {"name": function_call.name, "arguments": ""}}, None))
        for fragment in function_call.fragments:
            deltas.append(({"function_call": {"arguments": fragment}}, None))
    if not deltas:
        deltas.append(({} if choice.content_null else {"content": ""}, None))
    return deltas


def _message(choice: ChoicePlan) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant"}
    if choice.thought_pieces:
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
        for call in choice.tool_calls:
            item: dict[str, Any] = {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
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


def _choice_object(choice: ChoicePlan) -> dict[str, Any]:
    result: dict[str, Any] = {
        "index": choice.index,
        "message": _message(choice),
        "finish_reason": choice.finish_reason,
    }
    if choice.logprobs is not None:
        result["logprobs"] = {"content": choice.logprobs}
    return result


def completion_body(plan: CompletionPlan, completion_id: str, created: int) -> bytes:
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": plan.model,
        "choices": [_choice_object(c) for c in plan.choices],
        "usage": usage_object(plan),
    }
    return _encode(body)
