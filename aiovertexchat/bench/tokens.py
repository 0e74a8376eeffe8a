"""Counting in real tokens: a local `tokenizer.json` read with the `tokenizers` library.

`--tokenizer FILE` makes the bench speak the model's units instead of words:
- synthetic prompts are sized to exactly N tokens of this tokenizer (`sized_text`);
- dataset prompts are measured (and filtered) in its tokens;
- output tokens are counted client-side on the whole streamed text (`count`), which the report
  compares with `usage`, and which stands in for `usage` when a server sends none.

Nothing is downloaded: the file must be local (a model repository's `tokenizer.json`). The
`tokenizers` library is an optional dependency (`pip install 'aiovertexchat[tokenizer]'`).
A `TokenCounter` pickles as its path, so worker processes load their own copy.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["TokenCounter", "TokenizerUnavailableError", "count_words"]


class TokenizerUnavailableError(ValueError):
    """`--tokenizer` was given but the `tokenizers` library is not installed."""


def count_words(text: str) -> int:
    """Whitespace-separated words of `text` (the `--count-tokens words` counter)."""
    return len(text.split())


class TokenCounter:
    """Counts tokens with the tokenizer in `path`; callable as `counter(text) -> int`."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._tokenizer: Any = None
        self._one_token_words: list[str] | None = None
        self._load()  # fail early, with the file's name, not in the middle of a run

    def _load(self) -> Any:
        if self._tokenizer is None:
            try:
                from tokenizers import Tokenizer
            except ImportError as exc:
                raise TokenizerUnavailableError(
                    "--tokenizer needs the tokenizers library: pip install "
                    "'aiovertexchat[tokenizer]'"
                ) from exc
            if not Path(self.path).is_file():
                raise ValueError(f"tokenizer file {self.path!r} does not exist")
            try:
                self._tokenizer = Tokenizer.from_file(self.path)
            except Exception as exc:  # the library raises its own Exception type
                raise ValueError(f"{self.path}: not a tokenizer.json ({exc})") from None
        return self._tokenizer

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path = state["path"]
        self._tokenizer = None
        self._one_token_words = None

    def __repr__(self) -> str:
        return f"TokenCounter({self.path!r})"

    def __call__(self, text: str) -> int:
        return self.count(text)

    def count(self, text: str) -> int:
        """Tokens of `text`, without special tokens (no chat template: the server adds one)."""
        if not text:
            return 0
        return len(self._load().encode(text, add_special_tokens=False).ids)

    def _single_token_words(self, words: Sequence[str]) -> list[str]:
        if self._one_token_words is None:
            self._one_token_words = [w for w in words if self.count("a " + w) - self.count("a")
                                     == 1]
        return self._one_token_words

    def sized_text(self, tokens: int, rng: random.Random, words: Sequence[str]) -> str:
        """Text of random `words` that is exactly `tokens` long in this tokenizer.

        The longest prefix of a random word sequence that fits is found by bisection, then
        words that add exactly one token fill the rest. When the vocabulary has no such word
        the text stays up to one word short (the count is then below `tokens`, never above).
        """
        if tokens <= 0:
            return ""
        chosen = [rng.choice(words) for _ in range(tokens)]
        while self.count(" ".join(chosen)) < tokens:
            chosen += [rng.choice(words) for _ in range(len(chosen))]
        lo, hi = 0, len(chosen)  # count(prefix lo) <= tokens < count(prefix hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.count(" ".join(chosen[:mid])) <= tokens:
                lo = mid
            else:
                hi = mid
        text = " ".join(chosen[:lo])
        have = self.count(text)
        fillers = self._single_token_words(words)
        while have < tokens and fillers:
            for word in rng.sample(fillers, len(fillers)):
                candidate = f"{text} {word}" if text else word
                if self.count(candidate) == have + 1:
                    text, have = candidate, have + 1
                    break
            else:
                break
        return text
