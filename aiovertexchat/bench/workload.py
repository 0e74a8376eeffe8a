"""What each benchmark request asks: synthetic prompts, prompts from a file, cache busting.

Request i of a phase is a pure function of (seed, phase salt, i), so runs are reproducible and
prompts are built before they are due (the send path does no text work).

- Synthetic prompts (`--prompt-tokens N[:SD]`): N words drawn from a list of common English
  words, N ~ Normal(N, SD) rounded and at least 1. One word is one token on the emulator and
  roughly 1-1.5 tokens on real tokenizers; the report shows the `prompt_tokens` the server
  actually counted.
- `--prompts FILE.jsonl`: one request per line, used in order and cycled. A line is a JSON
  string (the user prompt), or an object with `prompt` (string) or `messages` (OpenAI chat
  messages), and optionally `max_tokens`.
- Cache busting (`--cache-bust`): a unique tag `[bench RUN-PHASE-i]` is put at the very start
  of the first message. Servers with prefix caching (vLLM, SGLang, Gemini implicit caching)
  would otherwise answer repeated prompts from cache and report an unrealistically low TTFT.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["LengthSpec", "PromptEntry", "RequestSpec", "Workload", "load_prompts"]

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


@dataclass(frozen=True)
class PromptEntry:
    messages: tuple[dict[str, Any], ...]
    max_tokens: int | None = None


@dataclass(frozen=True)
class RequestSpec:
    messages: list[dict[str, Any]]
    max_tokens: int | None
    prompt_words: int


def _entry(line: Any, where: str) -> PromptEntry:
    if isinstance(line, str):
        return PromptEntry(({"role": "user", "content": line},))
    if not isinstance(line, dict):
        raise ValueError(f"{where}: expected a JSON string or object, got {type(line).__name__}")
    unknown = set(line) - {"prompt", "messages", "max_tokens"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; use prompt or messages, "
                         "and optionally max_tokens")
    max_tokens = line.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise ValueError(f"{where}: max_tokens must be a positive integer")
    if "messages" in line:
        messages = line["messages"]
        if (not isinstance(messages, list) or not messages
                or not all(isinstance(m, dict) and "role" in m for m in messages)):
            raise ValueError(f"{where}: messages must be a non-empty list of {{role, content}}")
        return PromptEntry(tuple(messages), max_tokens)
    if isinstance(line.get("prompt"), str):
        return PromptEntry(({"role": "user", "content": line["prompt"]},), max_tokens)
    raise ValueError(f"{where}: needs a string `prompt` or a `messages` list")


def load_prompts(path: str | Path) -> list[PromptEntry]:
    """Read a JSONL prompt file; ValueError names the file and line of any bad entry."""
    entries = []
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            where = f"{path}:{number}"
            try:
                decoded = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not JSON ({exc.msg})") from None
            entries.append(_entry(decoded, where))
    if not entries:
        raise ValueError(f"{path}: no prompts in the file")
    return entries


def _count_words(messages: Sequence[dict[str, Any]]) -> int:
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

    def request(self, index: int, salt: str = "") -> RequestSpec:
        if self.prompts:
            entry = self.prompts[index % len(self.prompts)]
            messages = list(entry.messages)
            max_tokens = entry.max_tokens if entry.max_tokens is not None else self.max_tokens
        else:
            rng = random.Random(f"{self.seed}:{salt}:{index}")
            count = self.prompt_tokens.sample(rng)
            text = " ".join(rng.choice(_WORDS) for _ in range(count))
            messages = [{"role": "user", "content": text}]
            max_tokens = self.max_tokens
        if self.cache_bust:
            messages = _with_prefix(messages, f"[bench {self.run_id}-{salt}-{index}] ")
        return RequestSpec(messages, max_tokens, _count_words(messages))
