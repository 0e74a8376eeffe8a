"""Separating a model's thoughts from its answer (sans-IO).

Gemini returns thoughts in two ways on this API:
- with `extra_body.google.thought_tag_marker = "think"`, inline in the text as
  `<think>…</think>`;
- as pieces (content parts, stream deltas) whose `extra_content.google.thought` is `true`.
  The flag wins over tags: such a piece is a thought whatever it contains.

`ThoughtSplitter` is the incremental tag splitter. Operations: `feed(text)` returns the
(content, reasoning) text that is certain so far; `flush()` returns what was held back.
Goal: correct whatever the chunking, with text delayed as little as possible. Plan: search
only for the one tag that can come next (`<m>` outside a thought, `</m>` inside), and at the end
of each piece hold back just the longest suffix that is still a prefix of that tag — at most
`len(tag) - 1` characters, and nothing at all when the piece's tail holds no `<`. Every
character is scanned a bounded number of times, so the work is linear in the text.

`ChunkThoughtSeparator` applies this (and the `thought: true` rule) to stream chunks, one
splitter per choice; `separate_message` does the same for a whole non-streaming message. A
choice's held-back text is released on the chunk carrying its `finish_reason` (every server
we know sends one); a stream that breaks off earlier loses at most that tag-prefix from
`.partial`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidRequestError
from ..types import ChatCompletion, ChatCompletionChunk, ChatCompletionMessage
from .decode import ABSENT_FINISH_REASONS
from .extra_content import is_thought, strip_thought

__all__ = [
    "ChunkThoughtSeparator",
    "ThoughtSplitter",
    "finish_completion",
    "rejoin_message_parts",
    "separate_message",
    "split_thoughts",
    "stream_separator",
    "thought_marker",
]


def check_thought_tag_marker(marker: str) -> None:
    """Refuse a marker that cannot be a bare tag name (the one check for both places that
    take one: `ThoughtSplitter` and `GoogleExtras.thought_tag_marker`)."""
    if not marker or "<" in marker or ">" in marker:
        raise InvalidRequestError(
            f"thought_tag_marker must be a non-empty tag name without '<' or '>' "
            f"(e.g. 'think'), got {marker!r}"
        )


class ThoughtSplitter:
    """Incremental splitter of `<marker>…</marker>` text into (content, reasoning)."""

    __slots__ = ("_close", "_held", "_inside", "_open")

    def __init__(self, marker: str) -> None:
        check_thought_tag_marker(marker)
        self._open = f"<{marker}>"
        self._close = f"</{marker}>"
        self._inside = False
        self._held = ""

    @property
    def inside(self) -> bool:
        """True between an opening and a closing tag."""
        return self._inside

    @property
    def held(self) -> str:
        """Text held back because it may be the start of a tag."""
        return self._held

    def feed(self, text: str) -> tuple[str, str]:
        """Split the next piece; returns the (content, reasoning) text that is now certain."""
        if self._held:
            text = self._held + text
            self._held = ""
        elif "<" not in text:
            # No tag can start in this piece: all of it goes where we are.
            return ("", text) if self._inside else (text, "")
        content: list[str] = []
        reasoning: list[str] = []
        pos = 0
        while True:
            tag = self._close if self._inside else self._open
            out = reasoning if self._inside else content
            found = text.find(tag, pos)
            if found < 0:
                break
            if found > pos:
                out.append(text[pos:found])
            pos = found + len(tag)
            self._inside = not self._inside
        keep = _partial_tag_start(text, pos, tag)
        if keep > pos:
            out.append(text[pos:keep])
        self._held = text[keep:]
        return "".join(content), "".join(reasoning)

    def flush(self) -> tuple[str, str]:
        """The held-back text, where it belongs now that no more text will come."""
        held, self._held = self._held, ""
        return ("", held) if self._inside else (held, "")


def _partial_tag_start(text: str, start: int, tag: str) -> int:
    """Index of the longest suffix of `text[start:]` that is a proper prefix of `tag`.

    Returns `len(text)` when there is none. Tags start with `<` and contain no other `<`, so
    only `<` positions in the last `len(tag) - 1` characters can start one.
    """
    end = len(text)
    i = text.find("<", max(start, end - len(tag) + 1))
    while i >= 0:
        if tag.startswith(text[i:]):
            return i
        i = text.find("<", i + 1)
    return end


def split_thoughts(text: str, marker: str) -> tuple[str, str]:
    """Split a whole text: (content, reasoning)."""
    splitter = ThoughtSplitter(marker)
    content, reasoning = splitter.feed(text)
    rest_content, rest_reasoning = splitter.flush()
    return content + rest_content, reasoning + rest_reasoning


def _join(first: str | None, second: str) -> str | None:
    if not second:
        return first
    return second if first is None else first + second


def separate_message(message: ChatCompletionMessage, marker: str | None) -> None:
    """Move tagged thoughts of a non-streaming message from `content` to `reasoning`, in place.

    (Parts marked `thought: true` were already separated when the message was decoded.)
    """
    if marker is None or not message.content:
        return
    content, reasoning = split_thoughts(message.content, marker)
    message.content = content or None
    message.reasoning = _join(message.reasoning, reasoning)


def rejoin_message_parts(message: ChatCompletionMessage) -> None:
    """Undo the decode-time separation of `thought: true` parts: all text back in `content`.

    For callers who asked for the raw text (`separate_thoughts=False`).
    """
    parts = message.content_parts
    if parts is None:
        return
    thought_text = "".join(
        part["text"]
        for part in parts
        if isinstance(part.get("text"), str) and is_thought(part.get("extra_content"))
    )
    message.content = "".join(
        part["text"] for part in parts if isinstance(part.get("text"), str)
    ) or None
    reasoning = message.reasoning
    if thought_text and reasoning is not None and reasoning.endswith(thought_text):
        message.reasoning = reasoning[: len(reasoning) - len(thought_text)] or None


class ChunkThoughtSeparator:
    """Rewrites stream chunks in place so thoughts travel in `delta.reasoning`.

    Called once per chunk, before the chunk is accumulated or handed to the caller, only on
    streams that can carry thoughts (the client decides that per request).
    """

    __slots__ = ("_marker", "_splitters")

    def __init__(self, marker: str | None) -> None:
        if marker is not None:
            ThoughtSplitter(marker)  # validate early, before any chunk
        self._marker = marker
        self._splitters: dict[int, ThoughtSplitter] = {}

    def __call__(self, chunk: ChatCompletionChunk) -> None:
        marker = self._marker
        for choice in chunk.choices:
            delta = choice.delta
            extra = delta.extra_content
            thought = extra is not None and is_thought(extra)
            if thought:
                if delta.content:
                    delta.reasoning = _join(delta.reasoning, delta.content)
                delta.content = None
                delta.extra_content = strip_thought(extra)
            if marker is None:
                continue
            splitter = self._splitters.get(choice.index)
            if splitter is None:
                splitter = self._splitters[choice.index] = ThoughtSplitter(marker)
            text = None if thought else delta.content
            content, reasoning = splitter.feed(text) if text else ("", "")
            finish = choice.finish_reason
            if finish is not None and finish not in ABSENT_FINISH_REASONS:
                # The choice's last chunk: nothing can complete a held-back tag any more.
                # ("" on every chunk, as Ollama and SGLang send, is not a last chunk.)
                rest_content, rest_reasoning = splitter.flush()
                content += rest_content
                reasoning += rest_reasoning
            delta.content = content or None
            delta.reasoning = _join(delta.reasoning, reasoning)


# -- per request --------------------------------------------------------------------------------
def thought_marker(google: Mapping[str, Any]) -> str | None:
    """The tag marker a request asked for (from its effective `extra_body.google`)."""
    marker = google.get("thought_tag_marker")
    return marker if isinstance(marker, str) and marker else None


def stream_separator(
    google: Mapping[str, Any], *, separate: bool
) -> ChunkThoughtSeparator | None:
    """The chunk hook for a stream, or None when it cannot carry thoughts to separate (then
    the stream keeps its plain fast path)."""
    if not separate:
        return None
    marker = thought_marker(google)
    config = google.get("thinking_config")
    include = isinstance(config, Mapping) and bool(config.get("include_thoughts"))
    if marker is None and not include:
        return None
    return ChunkThoughtSeparator(marker)


def finish_completion(
    completion: ChatCompletion, google: Mapping[str, Any], *, separate: bool
) -> None:
    """Separate (or, with `separate=False`, rejoin) thoughts in a non-streaming completion."""
    marker = thought_marker(google) if separate else None
    for choice in completion.choices:
        if not separate:
            rejoin_message_parts(choice.message)
        elif marker is not None:
            separate_message(choice.message, marker)
