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


def usage_object(plan: CompletionPlan) -> dict[str, int]:
    return {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": plan.completion_tokens,
        "total_tokens": plan.total_tokens,
    }


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

    def broken_event(self) -> bytes:
        """A chunk event whose JSON stops mid-object, as a buggy proxy or server might send."""
        return self._prefix + b'{"index":0,"delta":{"content":"\n\n'


def _closing_tail(choice: ChoicePlan) -> bytes:
    return b'},"finish_reason":' + _encode(choice.finish_reason) + b"}]}\n\n"


def completion_body(plan: CompletionPlan, completion_id: str, created: int) -> bytes:
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": plan.model,
        "choices": [
            {
                "index": c.index,
                "message": {"role": "assistant", "content": c.text},
                "finish_reason": c.finish_reason,
            }
            for c in plan.choices
        ],
        "usage": usage_object(plan),
    }
    return _encode(body)
