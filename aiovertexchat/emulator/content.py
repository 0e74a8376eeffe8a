"""Deterministic answers: a request in, a plan of what each choice says out. Sans-IO.

The emulator's tokenizer is "one word = one token": the prompt is counted in whitespace-separated
words, and the answer is a list of pieces, one per chunk (piece 0 is a word, later pieces are
" " + word), so usage counts exactly what is sent.

Words come from SHAKE-256 over a key made of the config seed, the request seed, a digest of the
messages and the choice index: stable across processes and Python versions (unlike `hash()` or
`random`), and one digest call yields a whole answer since the vocabulary has 256 words.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .request import ChatRequest, Message

__all__ = ["VOCABULARY", "ChoicePlan", "CompletionPlan", "plan_completion", "prompt_tokens"]

# Exactly 256 words, so one digest byte picks one word. A few carry multi-byte UTF-8 and JSON
# escapes so that byte-splitting faults and client decoders meet them in ordinary answers.
_WORDS = """
    the of and to in is was for on that with as by at from his her it an were are which this be
    or has had not but also they their its one after first two new more who been other time when
    into all only over three most some would can may such up out these about between under then
    both city year world state school later while than where through season since made part
    known being number four each same well like team people many early long five used high river
    film years second name area back age group north south east west around system small large
    public until before family local final good life house make found work light water stone
    cloud river-bank forest garden bridge tower market harbor valley island mountain desert
    meadow village castle library engine signal vector matrix token stream packet socket buffer
    kernel thread lambda async await future promise channel quantum photon neutron proton galaxy
    planet comet nebula orbit gravity energy motion copper silver golden crimson azure amber
    violet scarlet ivory onyx jade coral café naïve façade jalapeño Zürich señor crème
    smörgåsbord 東京 日本語 π λ Ω €uro "quoted" back\\slash tab-free semi;colon comma,s colon:
    brace{ bracket] slash/ 100% #tag swift brave calm eager fierce gentle humble jolly keen lively
    mighty noble proud quick quiet rapid silent steady bright dark warm cold soft sharp smooth
    rough heavy empty full open closed near far deep shallow narrow broad young ancient modern
    rare common simple complex honest clever patient loyal curious
"""
VOCABULARY: tuple[str, ...] = tuple(_WORDS.split())
if len(VOCABULARY) != 256 or len(set(VOCABULARY)) != 256:
    raise RuntimeError("the vocabulary must hold 256 distinct words")

_TOKENS_HOOK = re.compile(r"\[\[tokens=(\d+)\]\]")
# Keeps one request from asking the emulator for gigabytes; far above any model's output limit.
MAX_ANSWER_TOKENS = 1_000_000


@dataclass
class ChoicePlan:
    """What one choice says. New kinds of output (tool calls, thoughts) become new fields here."""

    index: int
    pieces: list[str]
    finish_reason: str

    @property
    def text(self) -> str:
        return "".join(self.pieces)


@dataclass
class CompletionPlan:
    """Everything the writers need to answer one request."""

    model: str
    choices: list[ChoicePlan]
    prompt_tokens: int
    usage_requested: bool = False
    """The request asked for usage in the stream (`stream_options.include_usage`)."""

    @property
    def completion_tokens(self) -> int:
        return sum(len(c.pieces) for c in self.choices)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def message_texts(message: Message) -> list[str]:
    """The text a message carries: string content or the `text` of its text parts."""
    content = message.content
    if isinstance(content, str):
        return [content]
    if content is None:
        return []
    return [
        part["text"]
        for part in content
        if part.get("type") == "text" and isinstance(part.get("text"), str)
    ]


def prompt_tokens(messages: list[Message]) -> int:
    return sum(len(text.split()) for m in messages for text in message_texts(m))


def _messages_digest(messages: list[Message]) -> bytes:
    h = hashlib.sha256()
    for m in messages:
        h.update(m.role.encode())
        for text in message_texts(m):
            h.update(b"\x1f")
            h.update(text.encode())
        h.update(b"\x1e")
    return h.digest()


def _tokens_hook(messages: list[Message]) -> int | None:
    for m in reversed(messages):
        if m.role == "user":
            for text in message_texts(m):
                found = _TOKENS_HOOK.search(text)
                if found:
                    return int(found.group(1))
            return None
    return None


def words(key: bytes, count: int) -> list[str]:
    """`count` vocabulary words for `key`; a longer answer extends a shorter one."""
    return [VOCABULARY[b] for b in hashlib.shake_256(key).digest(count)] if count else []


def _pieces(ws: list[str]) -> list[str]:
    return [w if i == 0 else " " + w for i, w in enumerate(ws)]


def cut_at_stop(pieces: list[str], stops: list[str]) -> list[str] | None:
    """Pieces before the first occurrence of any stop sequence, or None when none occurs.

    A stop may end inside a word: the last piece is then cut short, so the text is exactly the
    text before the stop, and empty pieces are dropped so no chunk is sent for nothing.
    """
    text = "".join(pieces)
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    if not hits:
        return None
    end = min(hits)
    kept: list[str] = []
    pos = 0
    for piece in pieces:
        if pos >= end:
            break
        kept.append(piece[: end - pos])
        pos += len(piece)
    return kept


def plan_completion(
    request: ChatRequest, *, seed: int, default_tokens: int, model: str
) -> CompletionPlan:
    """Turn a request into what each choice answers.

    Length: a `[[tokens=N]]` hook in the last user message wins; else with a token limit the
    "model" talks until the limit (finish `length`), like a benchmark server ignoring EOS; else
    `default_tokens` with finish `stop`. The limit (and MAX_ANSWER_TOKENS) always caps, with
    finish `length`. Stop sequences apply last.
    """
    limit = request.token_limit
    hook = _tokens_hook(request.messages)
    if hook is not None:
        wanted = hook
    elif limit is not None:
        wanted = limit + 1  # past the limit: cut, finish_reason "length"
    else:
        wanted = default_tokens
    count = min(wanted, MAX_ANSWER_TOKENS if limit is None else min(limit, MAX_ANSWER_TOKENS))
    finish = "length" if count < wanted else "stop"

    stops = request.stop_sequences
    base = b"%d|%s|" % (seed, b"-" if request.seed is None else str(request.seed).encode())
    base += _messages_digest(request.messages)
    choices = []
    for index in range(request.choices):
        pieces = _pieces(words(base + b"|%d" % index, count))
        choice_finish = finish
        if stops:
            cut = cut_at_stop(pieces, stops)
            if cut is not None:
                pieces, choice_finish = cut, "stop"
        choices.append(ChoicePlan(index, pieces, choice_finish))

    include_usage = bool(request.stream_options and request.stream_options.include_usage)
    return CompletionPlan(
        model=model,
        choices=choices,
        prompt_tokens=prompt_tokens(request.messages),
        usage_requested=include_usage,
    )
