"""What each benchmark request asks: synthetic prompts, prompts from a file, cache busting.

Request i of a phase is a pure function of (seed, phase salt, i), so runs are reproducible and
prompts are built before they are due (the send path does no text work).

- Synthetic prompts (`--prompt-tokens N[:SD]`): N words drawn from a list of common English
  words, N ~ Normal(N, SD) rounded and at least 1. One word is one token on the emulator and
  roughly 1-1.5 tokens on real tokenizers; the report shows the `prompt_tokens` the server
  actually counted.
- Datasets (`--prompts FILE`: ShareGPT JSON, JSONL, CSV; see `datasets`): entries used in
  order and cycled; `--max-tokens dataset` takes each entry's answer length as its limit.
- `--tokenizer FILE`: synthetic prompts are N tokens of that tokenizer instead of N words.
- Sessions (`--turns K`): request i of a phase is then conversation i: its first turn, and K-1
  follow-up user messages (synthetic, or the conversation's own with `--turns dataset`); the
  runner sends each follow-up with the whole history, the answers it received included.
- Trace replay (`--trace`, see `trace`): request i is trace line i, a prompt of `input_length`
  tokens (its prefix blocks shared by `hash_ids`) answered with `max_tokens = output_length`.
- Cache busting (`--cache-bust`): a unique tag `[bench RUN-PHASE-i]` is put at the very start
  of the first message. Servers with prefix caching (vLLM, SGLang, Gemini implicit caching)
  would otherwise answer repeated prompts from cache and report an unrealistically low TTFT.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:
    from .tokens import TokenCounter
    from .trace import TraceEntry

__all__ = ["LengthSpec", "PromptEntry", "RequestSpec", "Turn", "Workload", "load_prompts"]

_WORD_TEXT = (
    "time year people way day man thing woman life child world school state family student "
    "group country problem hand part place case week company system program question work "
    "government number night point home water room mother area money story fact month lot "
    "right study book eye job word business issue side kind head house service friend father "
    "power hour game line end member law car city community name president team minute idea "
    "kid body information back parent face others level office door health person art war "
    "history party result change morning reason research girl guy moment air teacher force "
    "education river garden bridge market valley island mountain signal engine window light"
)
_WORDS = tuple(_WORD_TEXT.split())


@dataclass(frozen=True)
class LengthSpec:
    """A length in tokens: mean, and a standard deviation for a normal spread (0: fixed)."""

    mean: int
    sd: float = 0.0

    def __post_init__(self) -> None:
        if self.mean < 1:
            raise ValueError(f"a prompt length must be >= 1, got {self.mean}")
        if self.sd < 0:
            raise ValueError(f"a standard deviation must be >= 0, got {self.sd}")

    @classmethod
    def parse(cls, text: str) -> LengthSpec:
        """`256` or `256:64`."""
        mean, _, sd = text.partition(":")
        try:
            return cls(int(mean), float(sd) if sd else 0.0)
        except ValueError as exc:
            raise ValueError(f"bad length {text!r}: write N or N:SD ({exc})") from None

    def sample(self, rng: random.Random) -> int:
        if not self.sd:
            return self.mean
        return max(1, round(rng.gauss(self.mean, self.sd)))

    def __str__(self) -> str:
        return f"{self.mean}:{self.sd:g}" if self.sd else str(self.mean)


class Turn(NamedTuple):
    """A follow-up user message of a conversation, and the length of the answer it got."""

    text: str
    answer_tokens: int | None = None


@dataclass(frozen=True)
class PromptEntry:
    """One dataset entry: the prompt messages, an explicit `max_tokens`, the length of the
    answer that followed it in the dataset, and the conversation's further user turns."""

    messages: tuple[dict[str, Any], ...]
    max_tokens: int | None = None
    answer_tokens: int | None = None
    followups: tuple[Turn, ...] = ()


@dataclass(frozen=True)
class RequestSpec:
    """What request (or conversation) i sends: the first turn, and the turns that follow."""

    messages: list[dict[str, Any]]
    max_tokens: int | None
    prompt_words: int
    prompt_tokens: int | None = None
    """The first turn's prompt in tokenizer tokens (client-side, with `--tokenizer`)."""
    followups: tuple[tuple[str, int | None], ...] = ()
    """Further user messages of the session, each with its `max_tokens`."""

    @property
    def turns(self) -> int:
        return 1 + len(self.followups)


def load_prompts(path: str | Path) -> list[PromptEntry]:
    """Read a JSONL prompt file; ValueError names the file and line of every bad entry."""
    from .datasets import load_dataset

    return load_dataset(path, fmt="jsonl")


def count_prompt_words(messages: Sequence[dict[str, Any]]) -> int:
    count = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            count += len(content.split())
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    count += len(part["text"].split())
    return count


def _with_prefix(messages: Sequence[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    first = dict(messages[0])
    content = first.get("content")
    if isinstance(content, list):
        first["content"] = [{"type": "text", "text": prefix}, *content]
    else:
        first["content"] = prefix + (content or "")
    return [first, *messages[1:]]


@dataclass
class Workload:
    """Builds request i of a phase; see the module docstring for the knobs."""

    prompt_tokens: LengthSpec = field(default_factory=lambda: LengthSpec(128))
    max_tokens: int | None = 128
    prompts: Sequence[PromptEntry] | None = None
    cache_bust: bool = False
    seed: int = 0
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    max_tokens_from_dataset: bool = False
    """Each dataset entry's answer length is its `max_tokens` (`--max-tokens dataset`)."""
    tokenizer: TokenCounter | None = None
    """Sizes synthetic prompts in its tokens and counts prompts client-side."""
    turns: int | Literal["dataset"] = 1
    """Turns per session (1: single requests); "dataset": each conversation's own."""
    think_time: float = 0.0
    """Seconds between the end of a turn and the next turn of its session."""
    trace: Sequence[TraceEntry] | None = None
    trace_block_tokens: int = 512
    _blocks: dict[int, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.turns, int) and self.turns < 1:
            raise ValueError(f"turns must be >= 1, got {self.turns}")
        if self.turns == "dataset" and not (self.prompts and any(
                p.followups for p in self.prompts)):
            raise ValueError("--turns dataset needs conversations with several user turns "
                             "(a ShareGPT dataset)")
        if self.think_time < 0:
            raise ValueError("think time must be >= 0")
        if self.trace is not None and self.turns != 1:
            raise ValueError("a trace replays single requests: --turns does not apply")
        if self.trace_block_tokens < 1:
            raise ValueError("trace block size must be >= 1 token")

    @property
    def sessions(self) -> bool:
        return self.turns != 1

    @property
    def max_turns(self) -> int:
        """The most turns any session has (request indices are spaced by it)."""
        if self.turns == "dataset":
            return max(1 + len(p.followups) for p in self.prompts or ())
        return self.turns

    def _text(self, rng: random.Random, count: int) -> str:
        if self.tokenizer is not None:
            return self.tokenizer.sized_text(count, rng, _WORDS)
        return " ".join(rng.choice(_WORDS) for _ in range(count))

    def _limit(self, explicit: int | None, answer: int | None) -> int | None:
        if explicit is not None:
            return explicit
        if self.max_tokens_from_dataset and answer is not None:
            return answer
        return self.max_tokens

    def _trace_prompt(self, index: int) -> tuple[str, int]:
        assert self.trace is not None
        entry = self.trace[index % len(self.trace)]
        if not entry.hash_ids:
            rng = random.Random(f"{self.seed}:trace:{index}")
            return self._text(rng, entry.input_length), entry.output_length
        size = self.trace_block_tokens
        parts = []
        left = entry.input_length
        for block in entry.hash_ids:
            if left <= 0:
                break
            text = self._blocks.get(block)
            if text is None:
                text = self._text(random.Random(f"{self.seed}:block:{block}"), size)
                self._blocks[block] = text
            if left < size:  # the last block is cut to the recorded length
                text = self._text(random.Random(f"{self.seed}:block:{block}"), left)
            parts.append(text)
            left -= size
        if left > 0:  # more tokens than the blocks cover: a unique tail
            parts.append(self._text(random.Random(f"{self.seed}:trace:{index}"), left))
        return " ".join(parts), entry.output_length

    def request(self, index: int, salt: str = "") -> RequestSpec:
        followups: list[tuple[str, int | None]] = []
        if self.trace is not None:
            text, limit = self._trace_prompt(index)
            messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
            max_tokens: int | None = limit
        elif self.prompts:
            entry = self.prompts[index % len(self.prompts)]
            messages = list(entry.messages)
            max_tokens = self._limit(entry.max_tokens, entry.answer_tokens)
            if self.sessions:
                wanted = None if self.turns == "dataset" else int(self.turns) - 1
                for turn in entry.followups[:wanted]:
                    followups.append((turn.text, self._limit(None, turn.answer_tokens)))
        else:
            rng = random.Random(f"{self.seed}:{salt}:{index}")
            count = self.prompt_tokens.sample(rng)
            messages = [{"role": "user", "content": self._text(rng, count)}]
            max_tokens = self.max_tokens
            if self.sessions:
                for _ in range(int(self.turns) - 1):
                    followups.append(
                        (self._text(rng, self.prompt_tokens.sample(rng)), self.max_tokens))
        if self.cache_bust:
            messages = _with_prefix(messages, f"[bench {self.run_id}-{salt}-{index}] ")
        tokens = None
        if self.tokenizer is not None:
            tokens = self.tokenizer.count(joined_text(messages))
        return RequestSpec(messages, max_tokens, count_prompt_words(messages), tokens,
                           tuple(followups))


def joined_text(messages: Sequence[dict[str, Any]]) -> str:
    parts = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p["text"] for p in content
                         if isinstance(p, dict) and isinstance(p.get("text"), str))
    return "\n".join(parts)
